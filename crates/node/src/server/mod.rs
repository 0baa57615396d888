//! The agent's HTTP server, which the API server proxies `pods/log`,
//! `pods/exec` and `pods/attach` to (the kubelet's paths and parameters):
//! bearer-token authentication, the log stream and the WebSocket sessions.

mod channel;
mod session;

pub use channel::{exit_status, parse_resize, Protocol, SUPPORTED as SUPPORTED_PROTOCOLS};

use std::sync::Arc;

use axum::body::Body;
use axum::extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use tokio::sync::watch;

use crate::logs::{self, LogOptions};
use crate::streams::{ContainerRef, SessionRequest, StreamError, Streams};

#[derive(Clone)]
struct Agent {
    token: Arc<String>,
    streams: Arc<dyn Streams>,
    shutdown: watch::Receiver<bool>,
}

/// Serves until `shutdown` turns true; open log streams and sessions end then too.
pub async fn serve(
    listener: tokio::net::TcpListener,
    token: Arc<String>,
    streams: Arc<dyn Streams>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let agent = Agent { token, streams, shutdown: shutdown.clone() };
    let mut stop = shutdown;
    axum::serve(listener, router(agent))
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
}

fn router(agent: Agent) -> Router {
    Router::new()
        .route("/containerLogs/{namespace}/{pod}/{container}", get(container_logs))
        .route("/exec/{namespace}/{pod}/{container}", get(exec).post(exec))
        .route("/attach/{namespace}/{pod}/{container}", get(attach).post(attach))
        .route("/metrics", get(metrics))
        .fallback(|| async { status(404, "the node agent serves /containerLogs, /exec, /attach and /metrics only") })
        .layer(middleware::from_fn_with_state(agent.clone(), authenticate))
        .with_state(agent)
}

async fn authenticate(State(agent): State<Agent>, request: Request, next: Next) -> Response {
    if !authorized(agent.token.as_bytes(), request.headers()) {
        return status(401, "Unauthorized");
    }
    next.run(request).await
}

async fn metrics(State(agent): State<Agent>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], agent.streams.metrics()).into_response()
}

fn authorized(expected: &[u8], headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
    let Some(token) = value.strip_prefix("Bearer ").map(str::trim) else { return false };
    // Constant time: the token is what stands between the network and every container.
    let token = token.as_bytes();
    token.len() == expected.len() && token.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// A Kubernetes `Status` for a failed request.
pub fn status(code: u16, message: &str) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason(code),
        "code": code,
    });
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn error(e: StreamError) -> Response {
    status(e.code, &e.message)
}

/// The `reason` Kubernetes gives a status code.
pub fn reason(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Gone",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    }
}

pub use skiff_apimachinery::query::{percent_decode, query_pairs};

fn target(namespace: String, pod: String, container: String) -> ContainerRef {
    ContainerRef { namespace, pod, container }
}

async fn container_logs(
    State(agent): State<Agent>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = query_pairs(query.as_deref());
    let opts = match LogOptions::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), chrono::Utc::now()) {
        Ok(o) => o,
        Err(e) => return error(e),
    };
    let target = target(namespace, pod, container);
    let file = match agent.streams.log(&target, opts.previous) {
        Ok(f) => f,
        Err(e) => return error(e),
    };
    let rx = logs::stream(agent.streams.clone(), target, file, opts, logs::FOLLOW_POLL, agent.shutdown.clone());
    let body = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) });
    ([(header::CONTENT_TYPE, "text/plain")], Body::from_stream(body)).into_response()
}

/// exec/attach flags as the kubelet names them (`input`, `output`, `error`),
/// or as the API does (`stdin`, `stdout`, `stderr`).
fn session_request(pairs: &[(String, String)], exec: bool) -> Result<SessionRequest, StreamError> {
    let mut request = SessionRequest::default();
    for (key, value) in pairs {
        let on = matches!(value.as_str(), "1" | "true" | "True");
        match key.as_str() {
            "command" if exec => request.command.push(value.clone()),
            "input" | "stdin" => request.stdin = on,
            "output" | "stdout" => request.stdout = on,
            "error" | "stderr" => request.stderr = on,
            "tty" => request.tty = on,
            _ => {}
        }
    }
    // A terminal has one output: stderr goes through it.
    if request.tty {
        request.stderr = false;
    }
    if !(request.stdin || request.stdout || request.stderr) {
        return Err(StreamError::new(400, "you must specify at least 1 of stdin, stdout, stderr"));
    }
    if exec && request.command.is_empty() {
        return Err(StreamError::new(400, "you must specify at least one command for the container"));
    }
    Ok(request)
}

async fn exec(
    State(agent): State<Agent>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    start_session(agent, target(namespace, pod, container), query, headers, upgrade, true)
}

async fn attach(
    State(agent): State<Agent>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    start_session(agent, target(namespace, pod, container), query, headers, upgrade, false)
}

fn start_session(
    agent: Agent,
    target: ContainerRef,
    query: Option<String>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    exec: bool,
) -> Response {
    let pairs = query_pairs(query.as_deref());
    let request = match session_request(&pairs, exec) {
        Ok(r) => r,
        Err(e) => return error(e),
    };
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(_) if is_spdy(&headers) => {
            return status(
                400,
                "skiff's node agent serves exec, attach and cp over WebSocket only (v5.channel.k8s.io), not SPDY: \
                 use kubectl 1.31 or newer and leave KUBECTL_REMOTE_COMMAND_WEBSOCKETS unset",
            )
        }
        Err(_) => {
            return status(400, "exec and attach need a WebSocket upgrade request (subprotocol v5.channel.k8s.io)")
        }
    };
    let upgrade = upgrade.protocols(channel::SUPPORTED);
    let protocol = Protocol::from_name(upgrade.selected_protocol().and_then(|p| p.to_str().ok()));
    let shutdown = agent.shutdown.clone();
    upgrade.on_upgrade(move |socket| async move {
        let command = request.command.clone();
        // Started only once the socket is up: its failure travels as a Status on the error
        // channel, which kubectl prints, where an HTTP error would make it retry over SPDY.
        let streams = agent.streams.clone();
        let start = Box::pin(async move {
            if exec {
                streams.exec(&target, request).await
            } else {
                streams.attach(&target, request).await
            }
        });
        session::run(socket, protocol, command, start, shutdown).await;
    })
}

fn is_spdy(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("spdy/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keeps_repeated_commands_in_order() {
        let pairs = query_pairs(Some("command=sh&command=-c&command=echo%20a+b%3Bc&input=1&output=1&tty=1"));
        let request = session_request(&pairs, true).unwrap();
        assert_eq!(request.command, ["sh", "-c", "echo a b;c"]);
        assert!(request.stdin && request.stdout && request.tty && !request.stderr);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn session_requests_need_a_stream_and_a_command() {
        let none = query_pairs(Some("command=ls"));
        assert_eq!(session_request(&none, true).unwrap_err().code, 400);
        let no_command = query_pairs(Some("stdout=true"));
        assert_eq!(session_request(&no_command, true).unwrap_err().code, 400);
        assert!(session_request(&no_command, false).is_ok());
    }

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let mut headers = HeaderMap::new();
        assert!(!authorized(b"secret", &headers));
        headers.insert(header::AUTHORIZATION, "Bearer secre".parse().unwrap());
        assert!(!authorized(b"secret", &headers));
        headers.insert(header::AUTHORIZATION, "Basic secret".parse().unwrap());
        assert!(!authorized(b"secret", &headers));
        headers.insert(header::AUTHORIZATION, "Bearer secret".parse().unwrap());
        assert!(authorized(b"secret", &headers));
    }
}
