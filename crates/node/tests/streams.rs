//! The agent's server end to end over real sockets: logs over HTTP, exec and
//! attach over the WebSocket stream protocol kubectl speaks, with host
//! processes standing in for containers.

#[path = "support/host_streams.rs"]
mod host_streams;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use host_streams::HostStreams;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const TOKEN: &str = "test-token";

struct Agent {
    addr: SocketAddr,
    root: tempfile::TempDir,
    logs: tempfile::TempDir,
    _stop: watch::Sender<bool>,
}

async fn start() -> Agent {
    let root = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let streams = HostStreams {
        root: root.path().to_path_buf(),
        log_dir: logs.path().to_path_buf(),
        attach_command: vec!["cat".into()],
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(skiff_node::server::serve(listener, Arc::new(TOKEN.into()), Arc::new(streams), shutdown));
    Agent { addr, root, logs, _stop: stop }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(agent: &Agent, path: &str, protocols: &str) -> (Socket, Option<String>) {
    let mut request = format!("ws://{}{path}", agent.addr).into_client_request().unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
    request.headers_mut().insert("Sec-WebSocket-Protocol", protocols.parse().unwrap());
    let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    let protocol = response.headers().get("sec-websocket-protocol").map(|v| v.to_str().unwrap().to_string());
    (socket, protocol)
}

fn exec_path(command: &[&str], query: &str) -> String {
    let mut path = "/exec/ns/pod/c?".to_string();
    for arg in command {
        path.push_str("command=");
        for b in arg.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                path.push(char::from(b));
            } else {
                path.push_str(&format!("%{b:02X}"));
            }
        }
        path.push('&');
    }
    path + query
}

/// What came back on each channel, until the server closed the socket.
#[derive(Debug, Default)]
struct Transcript {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    error: Vec<u8>,
    close: Option<CloseCode>,
}

impl Transcript {
    fn status(&self) -> Value {
        serde_json::from_slice(&self.error).unwrap_or_else(|e| panic!("error channel {:?}: {e}", self.error))
    }
}

async fn read_all(socket: &mut Socket) -> Transcript {
    let mut t = Transcript::default();
    let read = async {
        while let Some(message) = socket.next().await {
            match message.unwrap() {
                Message::Binary(data) => match data.split_first() {
                    Some((1, rest)) => t.stdout.extend_from_slice(rest),
                    Some((2, rest)) => t.stderr.extend_from_slice(rest),
                    Some((3, rest)) => t.error.extend_from_slice(rest),
                    other => panic!("unexpected message {other:?}"),
                },
                Message::Close(frame) => {
                    t.close = frame.map(|f| f.code);
                    break;
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read).await.expect("the session must end");
    t
}

#[tokio::test]
async fn exec_sends_stdout_stderr_and_the_exit_code() {
    let agent = start().await;
    let path = exec_path(&["sh", "-c", "echo out; echo err >&2; exit 3"], "output=1&error=1");
    let (mut socket, protocol) = connect(&agent, &path, "v5.channel.k8s.io, v4.channel.k8s.io").await;
    assert_eq!(protocol.as_deref(), Some("v5.channel.k8s.io"));
    let t = read_all(&mut socket).await;
    assert_eq!(t.stdout, b"out\n");
    assert_eq!(t.stderr, b"err\n");
    let status = t.status();
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["reason"], "ExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "3");
    assert_eq!(t.close, Some(CloseCode::Normal));

    let (mut socket, _) = connect(&agent, &exec_path(&["true"], "stdout=true"), "v5.channel.k8s.io").await;
    let t = read_all(&mut socket).await;
    assert_eq!(t.status(), serde_json::json!({"metadata": {}, "status": "Success"}));
}

#[tokio::test]
async fn exec_runs_in_the_root_directory() {
    let agent = start().await;
    std::fs::write(agent.root.path().join("marker"), "here\n").unwrap();
    let (mut socket, _) = connect(&agent, &exec_path(&["cat", "marker"], "output=1"), "v5.channel.k8s.io").await;
    assert_eq!(read_all(&mut socket).await.stdout, b"here\n");
}

#[tokio::test]
async fn stdin_reaches_the_process_and_v5_close_ends_it() {
    let agent = start().await;
    let (mut socket, _) = connect(&agent, &exec_path(&["cat"], "input=1&output=1"), "v5.channel.k8s.io").await;
    socket.send(Message::Binary(b"\x00hello ".to_vec().into())).await.unwrap();
    socket.send(Message::Binary(b"\x00world".to_vec().into())).await.unwrap();
    socket.send(Message::Binary(vec![255, 0].into())).await.unwrap();
    let t = read_all(&mut socket).await;
    assert_eq!(t.stdout, b"hello world");
    assert_eq!(t.status()["status"], "Success");
}

#[tokio::test]
async fn a_tty_session_is_resized() {
    let agent = start().await;
    let (mut socket, _) = connect(&agent, &exec_path(&["sh"], "input=1&output=1&tty=1"), "v5.channel.k8s.io").await;
    let mut resize = vec![4u8];
    resize.extend_from_slice(br#"{"Width":123,"Height":45}"#);
    socket.send(Message::Binary(resize.into())).await.unwrap();
    socket.send(Message::Binary(b"\x00stty size; exit 7\n".to_vec().into())).await.unwrap();
    let t = read_all(&mut socket).await;
    let out = String::from_utf8_lossy(&t.stdout);
    assert!(out.contains("45 123"), "stty size said: {out:?}");
    assert!(t.stderr.is_empty(), "a terminal has no separate stderr");
    assert_eq!(t.status()["details"]["causes"][0]["message"], "7");
}

#[tokio::test]
async fn attach_and_the_older_protocols() {
    let agent = start().await;
    let (mut socket, protocol) = connect(&agent, "/attach/ns/pod/c?input=1&output=1", "v4.channel.k8s.io").await;
    assert_eq!(protocol.as_deref(), Some("v4.channel.k8s.io"));
    socket.send(Message::Binary(b"\x00ping\n".to_vec().into())).await.unwrap();
    let mut echoed = Vec::new();
    while !echoed.ends_with(b"ping\n") {
        match socket.next().await.unwrap().unwrap() {
            Message::Binary(data) if data.first() == Some(&1) => echoed.extend_from_slice(&data[1..]),
            other => panic!("unexpected {other:?}"),
        }
    }
    drop(socket);

    let (mut socket, protocol) =
        connect(&agent, &exec_path(&["echo", "b64"], "output=1"), "base64.channel.k8s.io").await;
    assert_eq!(protocol.as_deref(), Some("base64.channel.k8s.io"));
    match socket.next().await.unwrap().unwrap() {
        Message::Text(text) => assert_eq!(text.as_str(), "1YjY0Cg=="),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_process_that_cannot_start_fails_on_the_error_channel() {
    let agent = start().await;
    let (mut socket, _) = connect(&agent, &exec_path(&["/no/such/program"], "output=1"), "v5.channel.k8s.io").await;
    let t = read_all(&mut socket).await;
    let status = t.status();
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["code"], 500);
    assert!(status["message"].as_str().unwrap().contains("failed to start"), "{status}");
    assert_eq!(t.close, Some(CloseCode::Normal));
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

#[tokio::test]
async fn requests_without_the_token_are_refused() {
    let agent = start().await;
    let url = format!("http://{}/containerLogs/ns/pod/c", agent.addr);
    let response = http().get(&url).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["reason"], "Unauthorized");
    let response = http().get(&url).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(response.status(), 401);

    let request = format!("ws://{}{}", agent.addr, exec_path(&["true"], "output=1")).into_client_request().unwrap();
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected 401, got {other:?}"),
    }
}

#[tokio::test]
async fn spdy_is_refused_with_a_reason() {
    let agent = start().await;
    let url = format!("http://{}{}", agent.addr, exec_path(&["true"], "output=1"));
    let response = http()
        .post(&url)
        .bearer_auth(TOKEN)
        .header("Connection", "Upgrade")
        .header("Upgrade", "SPDY/3.1")
        .header("X-Stream-Protocol-Version", "v4.channel.k8s.io")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let status: Value = response.json().await.unwrap();
    assert!(status["message"].as_str().unwrap().contains("WebSocket only"), "{status}");
}

#[tokio::test]
async fn logs_are_rendered_and_followed() {
    let agent = start().await;
    let log = agent.logs.path().join("ns_pod_c.log");
    let live = agent.logs.path().join("ns_pod_c.live");
    std::fs::write(
        &log,
        "2024-01-02T03:04:05.100Z stdout F one\n2024-01-02T03:04:06Z stderr F two\n2024-01-02T03:04:07Z stdout F three\n",
    )
    .unwrap();
    let base = format!("http://{}/containerLogs/ns/pod/c", agent.addr);
    let get = |query: &str| {
        let url = format!("{base}?{query}");
        async move { http().get(url).bearer_auth(TOKEN).send().await.unwrap() }
    };
    assert_eq!(get("").await.text().await.unwrap(), "one\ntwo\nthree\n");
    assert_eq!(
        get("tailLines=2&timestamps=true").await.text().await.unwrap(),
        "2024-01-02T03:04:06Z two\n2024-01-02T03:04:07Z three\n"
    );
    assert_eq!(get("limitBytes=5").await.text().await.unwrap(), "one\nt");
    assert_eq!(get("sinceTime=2024-01-02T03:04:06Z").await.text().await.unwrap(), "two\nthree\n");
    let bad = get("sinceSeconds=1&sinceTime=2024-01-02T03:04:06Z").await;
    assert_eq!(bad.status(), 400);
    let missing =
        http().get(format!("http://{}/containerLogs/ns/other/c", agent.addr)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(missing.status(), 400);
    let status: Value = missing.json().await.unwrap();
    assert_eq!(status["message"], "container \"c\" in pod \"other\" is waiting to start: ContainerCreating");

    std::fs::write(&live, "").unwrap();
    let mut body = get("follow=true&tailLines=1").await.bytes_stream();
    let first = tokio::time::timeout(Duration::from_secs(5), body.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(&first[..], b"three\n");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(b"2024-01-02T03:04:08Z stdout F four\n").unwrap();
    }
    let next = tokio::time::timeout(Duration::from_secs(5), body.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(&next[..], b"four\n");
    std::fs::remove_file(&live).unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), body.next())
        .await
        .expect("follow must end when the container stops");
    assert!(end.is_none(), "nothing more was written: {end:?}");
}
