//! pods/log, pods/exec and pods/attach: resolves the pod's container and
//! node as kube-apiserver does, then hands the request to that node's agent
//! (skiff's kubelet) — the log as a streamed body, exec and attach as an
//! upgraded connection copied both ways, so the WebSocket and its
//! subprotocol run between kubectl and the agent untouched.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Extensions, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use skiff_node::server::query_pairs;

use super::error::{ApiError, ApiResult, Cause};
use super::http::HttpState;
use super::request::Target;

/// The kubelet's port, for a Node that does not say.
const DEFAULT_AGENT_PORT: u16 = 10250;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an agent's error answer relayed.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Address types in the order they are tried (kube-apiserver's
/// --kubelet-preferred-address-types, with the internal address first as
/// skiff's agents register it).
const ADDRESS_TYPES: [&str; 5] = ["InternalIP", "Hostname", "InternalDNS", "ExternalIP", "ExternalDNS"];
/// The container kubectl picks when none is named, if the pod has several.
const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

/// Which of a pod's stream subresources a request names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    Log,
    Exec,
    Attach,
}

impl StreamKind {
    pub fn of(target: &Target) -> Option<StreamKind> {
        if !target.rt.is("", "pods") || target.name.is_none() {
            return None;
        }
        match target.subresource.as_deref()? {
            "log" => Some(StreamKind::Log),
            "exec" => Some(StreamKind::Exec),
            "attach" => Some(StreamKind::Attach),
            _ => None,
        }
    }

    fn agent_path(self) -> &'static str {
        match self {
            StreamKind::Log => "containerLogs",
            StreamKind::Exec => "exec",
            StreamKind::Attach => "attach",
        }
    }
}

pub async fn serve(
    state: &HttpState,
    kind: StreamKind,
    target: &Target,
    method: &Method,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    extensions: &mut Extensions,
) -> ApiResult<Response> {
    let allowed = match kind {
        StreamKind::Log => method == Method::GET,
        StreamKind::Exec | StreamKind::Attach => method == Method::GET || method == Method::POST,
    };
    if !allowed {
        return Err(ApiError::method_not_allowed(format!("{method} is not supported on pods/{}", subresource(kind))));
    }
    let namespace = target.namespace.as_deref().unwrap_or_default();
    let name = target.name.as_deref().unwrap_or_default();
    let query = query_pairs(raw_query);
    let api = &state.api;
    let pods = api.registry().lookup("", "v1", "pods").cloned().ok_or_else(ApiError::path_not_found)?;
    let pod = api.get(&pods, Some(namespace), name).await?;
    let container = resolve_container(&pod, name, first(&query, "container"))?;
    let agent_query = match kind {
        StreamKind::Log => log_query(&query, name)?,
        StreamKind::Exec | StreamKind::Attach => session_query(&query, kind)?,
    };
    let node = pod["spec"]["nodeName"].as_str().unwrap_or("");
    if node.is_empty() {
        if kind == StreamKind::Log {
            // As kube-apiserver: an unscheduled pod has no log yet, and that is not an error.
            return Ok(([(header::CONTENT_TYPE, "text/plain")], "").into_response());
        }
        return Err(ApiError::bad_request(format!("pod {name} does not have a host assigned")));
    }
    if kind == StreamKind::Log {
        check_log_state(&pod, name, &container, flag(&query, "previous")?)?;
    }
    let nodes = api.registry().lookup("", "v1", "nodes").cloned().ok_or_else(ApiError::path_not_found)?;
    let node_obj = api.get(&nodes, None, node).await?;
    let (host, port) = agent_address(&node_obj, node)?;
    let path = format!(
        "/{}/{}/{}/{}{}",
        kind.agent_path(),
        escape(namespace),
        escape(name),
        escape(&container),
        if agent_query.is_empty() { String::new() } else { format!("?{agent_query}") }
    );
    let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let upstream = Upstream { node, authority: &authority, token: &state.admin_token };
    match kind {
        StreamKind::Log => upstream.log(&path).await,
        StreamKind::Exec | StreamKind::Attach => upstream.upgrade(method, &path, headers, extensions).await,
    }
}

fn subresource(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Log => "log",
        StreamKind::Exec => "exec",
        StreamKind::Attach => "attach",
    }
}

/// Percent-encodes all but the unreserved characters, for a path segment or a query value.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn first<'q>(query: &'q [(String, String)], key: &str) -> Option<&'q str> {
    query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// A boolean parameter as Go's strconv.ParseBool reads it.
fn flag(query: &[(String, String)], key: &str) -> ApiResult<bool> {
    match first(query, key) {
        None => Ok(false),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(other) => {
            Err(ApiError::bad_request(format!("invalid value for query parameter {key}: {other:?} is not a boolean")))
        }
    }
}

fn int(query: &[(String, String)], key: &str) -> ApiResult<Option<i64>> {
    first(query, key)
        .map(|v| {
            v.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid value for query parameter {key}: {v:?} is not an integer"))
            })
        })
        .transpose()
}

fn container_names(list: &Value) -> Vec<&str> {
    list.as_array().map(|l| l.iter().filter_map(|c| c["name"].as_str()).collect()).unwrap_or_default()
}

/// The container a request means: the one named, else the only one, else the
/// default-container annotation, with kube-apiserver's wording when none fits.
fn resolve_container(pod: &Value, name: &str, asked: Option<&str>) -> ApiResult<String> {
    let spec = &pod["spec"];
    let containers = container_names(&spec["containers"]);
    if let Some(asked) = asked {
        let known = containers.contains(&asked)
            || container_names(&spec["initContainers"]).contains(&asked)
            || container_names(&spec["ephemeralContainers"]).contains(&asked);
        if !known {
            return Err(ApiError::bad_request(format!("container {asked} is not valid for pod {name}")));
        }
        return Ok(asked.to_string());
    }
    match containers.as_slice() {
        [only] => return Ok(only.to_string()),
        [] => return Err(ApiError::bad_request(format!("a container name must be specified for pod {name}"))),
        _ => {}
    }
    let annotated = pod["metadata"]["annotations"][DEFAULT_CONTAINER_ANNOTATION].as_str();
    if let Some(default) = annotated.filter(|d| containers.contains(d)) {
        return Ok(default.to_string());
    }
    let mut message =
        format!("a container name must be specified for pod {name}, choose one of: [{}]", containers.join(" "));
    let init = container_names(&spec["initContainers"]);
    if !init.is_empty() {
        message.push_str(&format!(" or one of the init containers: [{}]", init.join(" ")));
    }
    Err(ApiError::bad_request(message))
}

/// Validates PodLogOptions as kube-apiserver does and builds the kubelet's query.
fn log_query(query: &[(String, String)], name: &str) -> ApiResult<String> {
    let mut causes = Vec::new();
    let mut out = Vec::new();
    for key in ["follow", "previous", "timestamps"] {
        if flag(query, key)? {
            out.push(format!("{key}=true"));
        }
    }
    let since_seconds = int(query, "sinceSeconds")?;
    let since_time = first(query, "sinceTime");
    if let Some(t) = since_time {
        chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|e| ApiError::bad_request(format!("invalid value for query parameter sinceTime: {t:?}: {e}")))?;
    }
    match (since_seconds, since_time) {
        (Some(_), Some(_)) => {
            causes.push(Cause::forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified"))
        }
        (Some(s), None) if s < 1 => causes.push(Cause::invalid("sinceSeconds", &json!(s), "must be greater than 0")),
        (Some(s), None) => out.push(format!("sinceSeconds={s}")),
        (None, Some(t)) => out.push(format!("sinceTime={}", escape(t))),
        (None, None) => {}
    }
    if let Some(n) = int(query, "tailLines")? {
        if n < 0 {
            causes.push(Cause::invalid("tailLines", &json!(n), "must be greater than or equal to 0"));
        } else {
            out.push(format!("tailLines={n}"));
        }
    }
    if let Some(n) = int(query, "limitBytes")? {
        if n < 1 {
            causes.push(Cause::invalid("limitBytes", &json!(n), "must be greater than 0"));
        } else {
            out.push(format!("limitBytes={n}"));
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid("", "PodLogOptions", name, causes));
    }
    Ok(out.join("&"))
}

/// Builds the kubelet's exec/attach query (`input`, `output`, `error`, `tty`, `command`).
fn session_query(query: &[(String, String)], kind: StreamKind) -> ApiResult<String> {
    let stdin = flag(query, "stdin")?;
    let stdout = flag(query, "stdout")?;
    let stderr = flag(query, "stderr")?;
    if !(stdin || stdout || stderr) {
        return Err(ApiError::bad_request("you must specify at least 1 of stdin, stdout, stderr"));
    }
    let mut out = Vec::new();
    for (on, key) in [(stdin, "input"), (stdout, "output"), (stderr, "error"), (flag(query, "tty")?, "tty")] {
        if on {
            out.push(format!("{key}=1"));
        }
    }
    if kind == StreamKind::Exec {
        out.extend(query.iter().filter(|(k, _)| k == "command").map(|(_, v)| format!("command={}", escape(v))));
    }
    Ok(out.join("&"))
}

/// What the kubelet answers for a container whose log cannot be read yet,
/// decided here from the pod's status when it says so.
fn check_log_state(pod: &Value, name: &str, container: &str, previous: bool) -> ApiResult<()> {
    let status = &pod["status"];
    let found = ["containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"]
        .iter()
        .filter_map(|list| status[*list].as_array())
        .flatten()
        .find(|s| s["name"] == container);
    // No status yet: the agent knows best.
    let Some(cs) = found else { return Ok(()) };
    let last_terminated = cs["lastState"]["terminated"].is_object();
    if previous {
        if !last_terminated {
            return Err(ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            )));
        }
        return Ok(());
    }
    let state = &cs["state"];
    if state["running"].is_object() || state["terminated"].is_object() || last_terminated {
        return Ok(());
    }
    if let Some(waiting) = state["waiting"].as_object() {
        let why = match waiting.get("reason").and_then(Value::as_str).unwrap_or("") {
            "ErrImagePull" => "image can't be pulled".to_string(),
            "ImagePullBackOff" => "trying and failing to pull image".to_string(),
            other => other.to_string(),
        };
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {why}"
        )));
    }
    Ok(())
}

/// Where a node's agent listens: its preferred address and kubelet port.
fn agent_address(node: &Value, name: &str) -> ApiResult<(String, u16)> {
    let addresses = node["status"]["addresses"].as_array().map(Vec::as_slice).unwrap_or_default();
    let address = ADDRESS_TYPES.iter().find_map(|kind| {
        addresses.iter().find(|a| a["type"] == *kind).and_then(|a| a["address"].as_str()).filter(|a| !a.is_empty())
    });
    let Some(address) = address else {
        return Err(unavailable(format!(
            "node {name:?} has no address to reach its agent at (status.addresses is empty)"
        )));
    };
    let port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .unwrap_or(DEFAULT_AGENT_PORT);
    Ok((address.to_string(), port))
}

fn unavailable(message: String) -> ApiError {
    ApiError { code: 503, reason: "ServiceUnavailable", message, details: None }
}

struct Upstream<'a> {
    node: &'a str,
    authority: &'a str,
    token: &'a str,
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

impl Upstream<'_> {
    fn unreachable(&self, why: impl std::fmt::Display) -> ApiError {
        unavailable(format!(
            "error dialing backend: the agent of node {:?} at {} is unreachable: {why}",
            self.node, self.authority
        ))
    }

    async fn connect(&self) -> ApiResult<Sender> {
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(self.authority))
            .await
            .map_err(|_| self.unreachable("timed out"))?
            .map_err(|e| self.unreachable(e))?;
        let _ = tcp.set_nodelay(true);
        let (sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(|e| self.unreachable(e))?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "connection to a node agent ended");
            }
        });
        Ok(sender)
    }

    fn request(&self, method: &Method, path: &str) -> ApiResult<axum::http::request::Builder> {
        let bearer = HeaderValue::from_str(&format!("Bearer {}", self.token))
            .map_err(|_| ApiError::internal("the admin token is not a valid header value"))?;
        Ok(Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::HOST, self.authority)
            .header(header::AUTHORIZATION, bearer))
    }

    async fn send(&self, request: Request<Empty<Bytes>>) -> ApiResult<Response<hyper::body::Incoming>> {
        let mut sender = self.connect().await?;
        sender.send_request(request).await.map_err(|e| self.unreachable(e))
    }

    async fn log(&self, path: &str) -> ApiResult<Response> {
        let request = self
            .request(&Method::GET, path)?
            .body(Empty::new())
            .map_err(|e| ApiError::internal(format!("building the agent request: {e}")))?;
        let response = self.send(request).await?;
        if !response.status().is_success() {
            return Err(relay_error(response).await);
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("text/plain"));
        let mut out = Response::new(Body::new(response.into_body()));
        out.headers_mut().insert(header::CONTENT_TYPE, content_type);
        Ok(out)
    }

    /// Forwards an upgrade request; once both sides switched protocols, copies bytes both ways.
    async fn upgrade(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        extensions: &mut Extensions,
    ) -> ApiResult<Response> {
        let wants_upgrade = headers
            .get(header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")))
            && headers.contains_key(header::UPGRADE);
        if !wants_upgrade {
            return Err(ApiError::bad_request(
                "Upgrade request required: exec and attach speak WebSocket (subprotocol v5.channel.k8s.io)",
            ));
        }
        let Some(client_side) = extensions.remove::<hyper::upgrade::OnUpgrade>() else {
            return Err(ApiError::bad_request("this connection cannot be upgraded: use HTTP/1.1 for exec and attach"));
        };
        let mut request = self.request(method, path)?.header(header::CONNECTION, "Upgrade");
        for name in [
            header::UPGRADE,
            header::SEC_WEBSOCKET_KEY,
            header::SEC_WEBSOCKET_VERSION,
            header::SEC_WEBSOCKET_PROTOCOL,
            header::HeaderName::from_static("x-stream-protocol-version"),
        ] {
            for value in headers.get_all(&name) {
                request = request.header(&name, value);
            }
        }
        let request =
            request.body(Empty::new()).map_err(|e| ApiError::internal(format!("building the agent request: {e}")))?;
        let mut response = self.send(request).await?;
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(relay_error(response).await);
        }
        let agent_side = hyper::upgrade::on(&mut response);
        let mut out = Response::new(Body::empty());
        *out.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        *out.headers_mut() = response.headers().clone();
        let node = self.node.to_string();
        tokio::spawn(async move {
            let (client, agent) = match tokio::join!(client_side, agent_side) {
                (Ok(c), Ok(a)) => (c, a),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::debug!(error = %e, %node, "a stream upgrade did not complete");
                    return;
                }
            };
            let (mut client, mut agent) = (TokioIo::new(client), TokioIo::new(agent));
            if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut agent).await {
                tracing::debug!(error = %e, %node, "a proxied stream ended with an error");
            }
        });
        Ok(out)
    }
}

/// An agent's error answer as the client should see it: its `Status` as it
/// is, or its text made into one.
async fn relay_error(response: Response<hyper::body::Incoming>) -> ApiError {
    let code = response.status().as_u16();
    let body = match Limited::new(response.into_body(), MAX_ERROR_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => Bytes::from(format!("the agent's answer could not be read: {e}")),
    };
    if let Ok(status) = serde_json::from_slice::<Value>(&body) {
        if status["kind"] == "Status" {
            if let Some(message) = status["message"].as_str() {
                let mut err = ApiError::refused(code, message);
                err.details = status.get("details").cloned();
                return err;
            }
        }
    }
    ApiError::refused(code, String::from_utf8_lossy(&body).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(containers: &[&str], annotation: Option<&str>) -> Value {
        let mut pod = json!({
            "metadata": {"name": "p"},
            "spec": {"containers": containers.iter().map(|c| json!({"name": c})).collect::<Vec<_>>()},
        });
        if let Some(a) = annotation {
            pod["metadata"]["annotations"] = json!({DEFAULT_CONTAINER_ANNOTATION: a});
        }
        pod
    }

    #[test]
    fn containers_resolve_as_kube_apiserver_does() {
        assert_eq!(resolve_container(&pod(&["a"], None), "p", None).unwrap(), "a");
        assert_eq!(resolve_container(&pod(&["a", "b"], Some("b")), "p", None).unwrap(), "b");
        assert_eq!(resolve_container(&pod(&["a", "b"], None), "p", Some("b")).unwrap(), "b");
        let e = resolve_container(&pod(&["a", "b"], None), "p", None).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (400, "a container name must be specified for pod p, choose one of: [a b]")
        );
        let mut with_init = pod(&["a", "b"], None);
        with_init["spec"]["initContainers"] = json!([{"name": "i"}]);
        let e = resolve_container(&with_init, "p", None).unwrap_err();
        assert!(e.message.ends_with("choose one of: [a b] or one of the init containers: [i]"), "{}", e.message);
        assert_eq!(resolve_container(&with_init, "p", Some("i")).unwrap(), "i");
        let e = resolve_container(&pod(&["a"], None), "p", Some("x")).unwrap_err();
        assert_eq!(e.message, "container x is not valid for pod p");
    }

    #[test]
    fn log_options_become_the_kubelet_query() {
        let q =
            query_pairs(Some("container=c&follow=true&tailLines=10&timestamps=1&sinceTime=2024-01-02T03%3A04%3A05Z"));
        assert_eq!(
            log_query(&q, "p").unwrap(),
            "follow=true&timestamps=true&sinceTime=2024-01-02T03%3A04%3A05Z&tailLines=10"
        );
        let e = log_query(&query_pairs(Some("tailLines=-1&limitBytes=0")), "p").unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e.message.starts_with("PodLogOptions \"p\" is invalid"), "{}", e.message);
        assert_eq!(
            log_query(&query_pairs(Some("sinceSeconds=1&sinceTime=2024-01-02T03:04:05Z")), "p").unwrap_err().code,
            422
        );
        assert_eq!(log_query(&query_pairs(Some("follow=maybe")), "p").unwrap_err().code, 400);
    }

    #[test]
    fn exec_options_become_the_kubelet_query() {
        let q =
            query_pairs(Some("command=sh&command=-c&command=echo%20a%26b&stdin=true&stdout=true&tty=true&container=c"));
        assert_eq!(
            session_query(&q, StreamKind::Exec).unwrap(),
            "input=1&output=1&tty=1&command=sh&command=-c&command=echo%20a%26b"
        );
        assert_eq!(session_query(&q, StreamKind::Attach).unwrap(), "input=1&output=1&tty=1");
        assert_eq!(session_query(&query_pairs(Some("command=ls")), StreamKind::Exec).unwrap_err().code, 400);
    }

    #[test]
    fn waiting_containers_answer_as_the_kubelet() {
        let mut p = pod(&["c"], None);
        assert!(check_log_state(&p, "p", "c", false).is_ok());
        p["status"]["containerStatuses"] =
            json!([{"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}}]);
        let e = check_log_state(&p, "p", "c", false).unwrap_err();
        assert_eq!(e.message, "container \"c\" in pod \"p\" is waiting to start: ContainerCreating");
        let e = check_log_state(&p, "p", "c", true).unwrap_err();
        assert_eq!(e.message, "previous terminated container \"c\" in pod \"p\" not found");
        p["status"]["containerStatuses"][0]["lastState"] = json!({"terminated": {"exitCode": 1}});
        assert!(check_log_state(&p, "p", "c", false).is_ok());
        assert!(check_log_state(&p, "p", "c", true).is_ok());
    }

    #[test]
    fn the_agent_address_prefers_the_internal_ip() {
        let node = json!({"status": {
            "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 12345}},
        }});
        assert_eq!(agent_address(&node, "n1").unwrap(), ("10.0.0.1".to_string(), 12345));
        let bare = json!({"status": {"addresses": [{"type": "Hostname", "address": "n1"}]}});
        assert_eq!(agent_address(&bare, "n1").unwrap(), ("n1".to_string(), DEFAULT_AGENT_PORT));
        assert_eq!(agent_address(&json!({}), "n1").unwrap_err().code, 503);
    }
}
