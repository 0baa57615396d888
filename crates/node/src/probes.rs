//! Container probes as the kubelet runs them: one probe run
//! ([`probe_once`]: httpGet, tcpSocket, exec) with the kubelet's result
//! messages, and the timing rules that turn results into readiness changes
//! and restarts ([`ProbeTracker`]).
//!
//! Pods have no routable address here, so a probe without an explicit
//! `host` connects to 127.0.0.1 inside the pod's network namespace; an
//! explicit `host` is dialled from the node, as the kubelet does.

use std::collections::HashMap;
use std::fs::File;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use nix::sched::{setns, CloneFlags};
use serde_json::Value;
use skiff_apimachinery::field_error::go_quote;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::{array, str_or};

/// The kubelet's probe User-Agent (`kube-probe/<major>.<minor>`).
pub const USER_AGENT: &str = "kube-probe/1.37";
/// How much of a response body or command output a probe keeps.
const MAX_OUTPUT: usize = 10 * 1024;
const MAX_REDIRECTS: usize = 10;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeResult {
    Success,
    /// The container answered wrongly; the text is the kubelet's output.
    Failure(String),
    /// The probe could not be run (bad spec, runtime error): not counted.
    Unknown(String),
}

/// Runs a command in the container: (argv, timeout) → (exit code, combined
/// output), or Err when the command could not be run at all.
pub type ExecFn = dyn Fn(Vec<String>, Duration) -> ExecFuture + Send + Sync;

/// What an [`ExecFn`] returns.
pub type ExecFuture = Pin<Box<dyn Future<Output = Result<(i32, String), String>> + Send>>;

/// Where a probe reaches the container.
pub struct ProbeTarget<'a> {
    /// The pod's network namespace file; None: the pod uses the host network.
    pub netns: Option<&'a Path>,
    /// The container's named ports (`ports[].name` → `containerPort`).
    pub ports: &'a HashMap<String, u16>,
    pub exec: &'a ExecFn,
}

/// A container's named ports, for [`ProbeTarget::ports`].
pub fn named_ports(container: &Value) -> HashMap<String, u16> {
    array(&container["ports"])
        .filter_map(|p| {
            let name = p["name"].as_str().filter(|n| !n.is_empty())?;
            let port = u16::try_from(p["containerPort"].as_u64()?).ok()?;
            Some((name.to_string(), port))
        })
        .collect()
}

/// Runs `probe` (a container's livenessProbe, readinessProbe or
/// startupProbe) once, bounded by its `timeoutSeconds`.
pub async fn probe_once(probe: &Value, target: &ProbeTarget<'_>) -> ProbeResult {
    let timeout = ProbeTiming::from_probe(probe, ProbeKind::Readiness).timeout;
    if probe["exec"].is_object() {
        exec_probe(&probe["exec"], target, timeout).await
    } else if probe["httpGet"].is_object() {
        http_probe(&probe["httpGet"], target, timeout).await
    } else if probe["tcpSocket"].is_object() {
        tcp_probe(&probe["tcpSocket"], target, timeout).await
    } else if probe["grpc"].is_object() {
        ProbeResult::Unknown("gRPC probes are not supported by skiff yet".to_string())
    } else {
        ProbeResult::Unknown("missing probe handler".to_string())
    }
}

async fn exec_probe(exec: &Value, target: &ProbeTarget<'_>, timeout: Duration) -> ProbeResult {
    let command: Vec<String> = array(&exec["command"]).filter_map(Value::as_str).map(str::to_string).collect();
    let joined = command.join(" ");
    match tokio::time::timeout(timeout, (target.exec)(command, timeout)).await {
        Err(_) => ProbeResult::Failure(format!("command {} timed out", go_quote(&joined))),
        Ok(Ok((0, _))) => ProbeResult::Success,
        Ok(Ok((_, output))) => ProbeResult::Failure(truncate(output)),
        Ok(Err(e)) => ProbeResult::Unknown(e),
    }
}

async fn tcp_probe(tcp: &Value, target: &ProbeTarget<'_>, timeout: Duration) -> ProbeResult {
    let port = match resolve_port(&tcp["port"], target.ports) {
        Ok(p) => p,
        Err(e) => return ProbeResult::Unknown(e),
    };
    let (host, netns) = host_and_netns(&tcp["host"], target);
    match connect(netns, &host, port, timeout).await {
        Ok(_) => ProbeResult::Success,
        Err(ConnectError::Dial(msg)) => ProbeResult::Failure(msg),
        Err(ConnectError::Setup(msg)) => ProbeResult::Unknown(msg),
    }
}

/// Without a `host` the probe goes to the pod (127.0.0.1 in its network
/// namespace); with one, from the node to that host.
fn host_and_netns<'a>(host: &Value, target: &ProbeTarget<'a>) -> (String, Option<&'a Path>) {
    match host.as_str().filter(|h| !h.is_empty()) {
        Some(h) => (h.to_string(), None),
        None => ("127.0.0.1".to_string(), target.netns),
    }
}

/// The kubelet's extractPort: a number, a port name, or a number in a string.
fn resolve_port(port: &Value, ports: &HashMap<String, u16>) -> Result<u16, String> {
    let number: i64 = match port {
        Value::Number(n) => n.as_i64().unwrap_or(-1),
        Value::String(s) => match ports.get(s) {
            Some(p) => i64::from(*p),
            None => s.parse().map_err(|_| format!("strconv.Atoi: parsing {}: invalid syntax", go_quote(s)))?,
        },
        _ => return Err(format!("intOrString had no kind: {port}")),
    };
    if number > 0 && number < 65536 {
        Ok(number as u16)
    } else {
        Err(format!("invalid port number: {number}"))
    }
}

enum ConnectError {
    /// The connection failed: Go's `dial tcp …` text, a probe failure.
    Dial(String),
    /// The probe could not even try (namespace, thread): unknown.
    Setup(String),
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

async fn connect(netns: Option<&Path>, host: &str, port: u16, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let shown = join_host_port(host, port);
    let dial = |e: io::Error| {
        if e.kind() == io::ErrorKind::TimedOut {
            ConnectError::Dial(format!("dial tcp {shown}: i/o timeout"))
        } else {
            ConnectError::Dial(format!("dial tcp {shown}: connect: {}", errno_text(&e)))
        }
    };
    let addr = match host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => match tokio::net::lookup_host((host, port)).await {
            Ok(mut addrs) => match addrs.next() {
                Some(a) => a,
                None => return Err(ConnectError::Dial(format!("dial tcp: lookup {host}: no such host"))),
            },
            Err(_) => return Err(ConnectError::Dial(format!("dial tcp: lookup {host}: no such host"))),
        },
    };
    let Some(netns) = netns else {
        return match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Err(_) => Err(dial(io::Error::from(io::ErrorKind::TimedOut))),
            Ok(r) => r.map_err(dial),
        };
    };
    let std_stream = connect_in_netns(netns.to_path_buf(), addr, timeout).await?.map_err(dial)?;
    std_stream.set_nonblocking(true).map_err(|e| ConnectError::Setup(e.to_string()))?;
    TcpStream::from_std(std_stream).map_err(|e| ConnectError::Setup(e.to_string()))
}

/// A socket belongs to the network namespace it was created in, so it is
/// made on a thread of its own that enters the pod's namespace first; the
/// thread ends right after, taking the namespace switch with it.
async fn connect_in_netns(
    netns: PathBuf,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<io::Result<std::net::TcpStream>, ConnectError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let shown = netns.display().to_string();
    std::thread::Builder::new()
        .name("probe-netns".to_string())
        .spawn(move || {
            let entered = File::open(&netns)
                .map_err(|e| format!("open network namespace {}: {e}", netns.display()))
                .and_then(|f| {
                    setns(&f, CloneFlags::CLONE_NEWNET)
                        .map_err(|e| format!("enter network namespace {}: {e}", netns.display()))
                });
            let outcome = entered.map(|()| std::net::TcpStream::connect_timeout(&addr, timeout));
            let _ = tx.send(outcome);
        })
        .map_err(|e| ConnectError::Setup(format!("probe thread: {e}")))?;
    match rx.await {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(msg)) => Err(ConnectError::Setup(msg)),
        Err(_) => Err(ConnectError::Setup(format!("probe thread for {shown} ended without an answer"))),
    }
}

/// An errno as Go's syscall package words it ("connection refused").
fn errno_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_lowercase(),
        None => e.to_string(),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Url {
    https: bool,
    host: String,
    port: u16,
    /// Path and query as sent; empty means "/" (and shows as nothing).
    path: String,
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", join_host_port(&self.host, self.port), self.path)
    }
}

impl Url {
    /// Where a redirect's Location leads from here.
    fn follow(&self, location: &str) -> Option<Url> {
        let (https, rest) = if let Some(r) = location.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = location.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = location.strip_prefix("//") {
            (self.https, r)
        } else if location.starts_with('/') {
            return Some(Url { path: location.to_string(), ..self.clone() });
        } else {
            let base = self.path.split('?').next().unwrap_or("");
            let dir = base.rfind('/').map(|i| &base[..=i]).unwrap_or("/");
            return Some(Url { path: format!("{dir}{location}"), ..self.clone() });
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let default_port = if https { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']')?;
            (h.to_string(), after.strip_prefix(':').map(str::parse).transpose().ok()?.unwrap_or(default_port))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().ok()?),
                None => (authority.to_string(), default_port),
            }
        };
        Some(Url { https, host, port, path: path.to_string() })
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

async fn http_probe(get: &Value, target: &ProbeTarget<'_>, timeout: Duration) -> ProbeResult {
    let port = match resolve_port(&get["port"], target.ports) {
        Ok(p) => p,
        Err(e) => return ProbeResult::Unknown(e),
    };
    let (host, netns) = host_and_netns(&get["host"], target);
    let https = str_or(&get["scheme"], "HTTP").eq_ignore_ascii_case("HTTPS");
    let mut path = str_or(&get["path"], "").to_string();
    if !path.is_empty() && !path.starts_with('/') {
        path.insert(0, '/');
    }
    let url = Url { https, host, port, path };
    let mut headers = Vec::new();
    for h in array(&get["httpHeaders"]) {
        let (Some(name), value) = (h["name"].as_str(), str_or(&h["value"], "")) else { continue };
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            (Ok(n), Ok(v)) => headers.push((n, v)),
            _ => return ProbeResult::Unknown(format!("invalid httpHeader {name:?}")),
        }
    }
    match tokio::time::timeout(timeout, http_get(url.clone(), &headers, netns, timeout)).await {
        Ok(result) => result,
        Err(_) => ProbeResult::Failure(format!(
            "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )),
    }
}

/// GET `url`, following redirects on the same host (the kubelet's policy);
/// a redirect elsewhere ends the probe as a success with a warning.
async fn http_get(
    mut url: Url,
    headers: &[(HeaderName, HeaderValue)],
    netns: Option<&Path>,
    timeout: Duration,
) -> ProbeResult {
    let mut redirects = 0;
    loop {
        let stream: Box<dyn Stream> = match connect(netns, &url.host, url.port, timeout).await {
            Ok(s) if url.https => match tls(s, &url.host).await {
                Ok(t) => Box::new(t),
                Err(e) => return ProbeResult::Failure(format!("Get \"{url}\": {e}")),
            },
            Ok(s) => Box::new(s),
            Err(ConnectError::Dial(msg)) => return ProbeResult::Failure(format!("Get \"{url}\": {msg}")),
            Err(ConnectError::Setup(msg)) => return ProbeResult::Unknown(msg),
        };
        let (status, location, _body) = match request(stream, &url, headers).await {
            Ok(r) => r,
            Err(e) => return ProbeResult::Failure(format!("Get \"{url}\": {e}")),
        };
        let redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
        if let (true, Some(next)) = (redirect, location.as_deref().and_then(|l| url.follow(l))) {
            if next.host == url.host {
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return ProbeResult::Failure(format!("Get \"{next}\": stopped after {MAX_REDIRECTS} redirects"));
                }
                url = next;
                continue;
            }
        }
        return if status.is_success() || status.is_redirection() {
            ProbeResult::Success
        } else {
            ProbeResult::Failure(format!("HTTP probe failed with statuscode: {}", status.as_u16()))
        };
    }
}

async fn request(
    stream: Box<dyn Stream>,
    url: &Url,
    headers: &[(HeaderName, HeaderValue)],
) -> Result<(StatusCode, Option<String>, Vec<u8>), String> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(conn);
    let has = |name: &str| headers.iter().any(|(n, _)| n.as_str().eq_ignore_ascii_case(name));
    let path = if url.path.is_empty() { "/" } else { url.path.as_str() };
    let mut builder = Request::builder().method(Method::GET).uri(path);
    if !has("host") {
        builder = builder.header("host", join_host_port(&url.host, url.port));
    }
    if !has("user-agent") {
        builder = builder.header("user-agent", USER_AGENT);
    }
    if !has("accept") {
        builder = builder.header("accept", "*/*");
    }
    // The kubelet's client keeps no connections alive.
    builder = builder.header("connection", "close");
    for (name, value) in headers {
        // An empty Accept means "send none", as in the kubelet.
        if name.as_str().eq_ignore_ascii_case("accept") && value.is_empty() {
            continue;
        }
        builder = builder.header(name, value);
    }
    let req = builder.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
    let response = sender.send_request(req).await.map_err(|e| e.to_string());
    let result = match response {
        Ok(resp) => {
            let status = resp.status();
            let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
            let mut body = resp.into_body();
            let mut kept = Vec::new();
            while kept.len() < MAX_OUTPUT {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            kept.extend_from_slice(&data);
                        }
                    }
                    Some(Err(e)) => {
                        driver.abort();
                        return Err(e.to_string());
                    }
                    None => break,
                }
            }
            kept.truncate(MAX_OUTPUT);
            Ok((status, location, kept))
        }
        Err(e) => Err(e),
    };
    driver.abort();
    result
}

async fn tls(stream: TcpStream, host: &str) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let config = tls_config()?;
    let name = match host.parse::<IpAddr>() {
        Ok(ip) => rustls::pki_types::ServerName::IpAddress(ip.into()),
        Err(_) => rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?,
    };
    tokio_rustls::TlsConnector::from(config).connect(name, stream).await.map_err(|e| format!("tls: {e}"))
}

/// The kubelet probes HTTPS without verifying the certificate
/// (InsecureSkipVerify); signatures are still checked so the handshake is
/// a real one.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_OUTPUT {
        let mut end = MAX_OUTPUT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

impl ProbeKind {
    const ALL: [ProbeKind; 3] = [ProbeKind::Startup, ProbeKind::Liveness, ProbeKind::Readiness];

    /// The container field holding this probe.
    pub fn field(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "livenessProbe",
            ProbeKind::Readiness => "readinessProbe",
            ProbeKind::Startup => "startupProbe",
        }
    }

    /// As the kubelet's events name it ("Liveness probe failed: …").
    pub fn label(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Startup => "Startup",
        }
    }

    /// The Warning event (reason `Unhealthy`) the kubelet records for a result
    /// other than success.
    pub fn event_message(self, result: &ProbeResult) -> Option<String> {
        match result {
            ProbeResult::Success => None,
            ProbeResult::Failure(output) => Some(format!("{} probe failed: {output}", self.label())),
            ProbeResult::Unknown(err) => {
                Some(format!("{} probe errored and resulted in unknown state: {err}", self.label()))
            }
        }
    }

    fn index(self) -> usize {
        match self {
            ProbeKind::Startup => 0,
            ProbeKind::Liveness => 1,
            ProbeKind::Readiness => 2,
        }
    }
}

/// A probe's timing fields with the API's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeTiming {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl ProbeTiming {
    pub fn from_probe(probe: &Value, kind: ProbeKind) -> ProbeTiming {
        let field = |name: &str, default: u64| -> u64 {
            match probe[name].as_u64() {
                Some(0) | None => default,
                Some(v) => v,
            }
        };
        let success = u32::try_from(field("successThreshold", 1)).unwrap_or(u32::MAX);
        ProbeTiming {
            initial_delay: Duration::from_secs(probe["initialDelaySeconds"].as_u64().unwrap_or(0)),
            period: Duration::from_secs(field("periodSeconds", 10)),
            timeout: Duration::from_secs(field("timeoutSeconds", 1)),
            // The API allows only 1 for these two; enforce it.
            success_threshold: if kind == ProbeKind::Readiness { success } else { 1 },
            failure_threshold: u32::try_from(field("failureThreshold", 3)).unwrap_or(u32::MAX),
        }
    }
}

/// What a recorded result changed about the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The startup probe succeeded: liveness and readiness probes begin.
    /// `ready` tells whether the container is ready now (it has no
    /// readiness probe of its own).
    Started {
        ready: bool,
    },
    Ready,
    NotReady,
    /// The liveness or startup probe failed `failureThreshold` times in a
    /// row: the kubelet kills the container ("Container c failed liveness
    /// probe, will be restarted") and its restartPolicy decides the rest.
    /// The container no longer counts as ready, and nothing more is probed.
    Restart {
        kind: ProbeKind,
        output: String,
    },
}

struct Slot {
    probe: Value,
    timing: ProbeTiming,
    last_run: Option<Instant>,
    last_outcome: Option<bool>,
    run: u32,
}

/// The probe schedule and state of one container instance (a restarted
/// container gets a new tracker). Times are passed in, so the rules are
/// testable with a fake clock.
pub struct ProbeTracker {
    started_at: Instant,
    /// When the startup probe passed (the container's start without one).
    started_time: Option<Instant>,
    slots: [Option<Slot>; 3],
    ready: bool,
    /// After a restart verdict nothing is probed until the next container.
    on_hold: bool,
}

impl ProbeTracker {
    pub fn new(container: &Value, started_at: Instant) -> ProbeTracker {
        let slot = |kind: ProbeKind| {
            let probe = &container[kind.field()];
            probe.is_object().then(|| Slot {
                probe: probe.clone(),
                timing: ProbeTiming::from_probe(probe, kind),
                last_run: None,
                last_outcome: None,
                run: 0,
            })
        };
        let slots = [slot(ProbeKind::Startup), slot(ProbeKind::Liveness), slot(ProbeKind::Readiness)];
        let started = slots[0].is_none();
        let ready = started && slots[2].is_none();
        ProbeTracker { started_at, started_time: started.then_some(started_at), slots, ready, on_hold: false }
    }

    /// The container passed its startup probe (or has none).
    pub fn started(&self) -> bool {
        self.started_time.is_some()
    }

    /// The container counts as ready (its Ready condition).
    pub fn ready(&self) -> bool {
        self.ready
    }

    pub fn probe(&self, kind: ProbeKind) -> Option<&Value> {
        self.slots[kind.index()].as_ref().map(|s| &s.probe)
    }

    pub fn timing(&self, kind: ProbeKind) -> Option<&ProbeTiming> {
        self.slots[kind.index()].as_ref().map(|s| &s.timing)
    }

    /// When the `kind` probe is next due; None when it is not to run (absent,
    /// gated by the startup probe, done, or on hold after a restart verdict).
    pub fn due_at(&self, kind: ProbeKind) -> Option<Instant> {
        if self.on_hold {
            return None;
        }
        let slot = self.slots[kind.index()].as_ref()?;
        let earliest = match kind {
            ProbeKind::Startup if self.started() => return None,
            ProbeKind::Startup => self.started_at + slot.timing.initial_delay,
            // initialDelaySeconds counts from the container's start, not
            // from the startup probe's success.
            _ => (self.started_at + slot.timing.initial_delay).max(self.started_time?),
        };
        Some(match slot.last_run {
            Some(last) => (last + slot.timing.period).max(earliest),
            None => earliest,
        })
    }

    /// The earliest moment any probe is due.
    pub fn next_due(&self) -> Option<Instant> {
        ProbeKind::ALL.iter().filter_map(|k| self.due_at(*k)).min()
    }

    /// The probes due at `now`, startup first.
    pub fn due(&self, now: Instant) -> Vec<ProbeKind> {
        ProbeKind::ALL.into_iter().filter(|k| self.due_at(*k).is_some_and(|t| t <= now)).collect()
    }

    /// Records a result of the `kind` probe run at `now`. Unknown results
    /// count for the schedule but not toward any threshold (the kubelet
    /// throws them away).
    pub fn record(&mut self, kind: ProbeKind, result: &ProbeResult, now: Instant) -> Option<Verdict> {
        self.due_at(kind)?;
        let has_readiness = self.slots[ProbeKind::Readiness.index()].is_some();
        let slot = self.slots[kind.index()].as_mut()?;
        slot.last_run = Some(now);
        let (success, output) = match result {
            ProbeResult::Success => (true, String::new()),
            ProbeResult::Failure(output) => (false, output.clone()),
            ProbeResult::Unknown(_) => return None,
        };
        if slot.last_outcome == Some(success) {
            slot.run = slot.run.saturating_add(1);
        } else {
            slot.last_outcome = Some(success);
            slot.run = 1;
        }
        let threshold = if success { slot.timing.success_threshold } else { slot.timing.failure_threshold };
        if slot.run < threshold {
            return None;
        }
        match (kind, success) {
            (ProbeKind::Startup, true) => {
                self.started_time = Some(now);
                if !has_readiness {
                    self.ready = true;
                }
                Some(Verdict::Started { ready: self.ready })
            }
            (ProbeKind::Liveness, true) => None,
            (ProbeKind::Startup | ProbeKind::Liveness, false) => {
                self.on_hold = true;
                self.ready = false;
                Some(Verdict::Restart { kind, output })
            }
            (ProbeKind::Readiness, true) if !self.ready => {
                self.ready = true;
                Some(Verdict::Ready)
            }
            (ProbeKind::Readiness, false) if self.ready => {
                self.ready = false;
                Some(Verdict::NotReady)
            }
            (ProbeKind::Readiness, _) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A network namespace of the test's own with loopback up: a pod sandbox
    /// from skiff-runtime; removed on drop.
    struct NetNs {
        file: PathBuf,
        dir: tempfile::TempDir,
    }

    impl NetNs {
        fn new() -> anyhow::Result<NetNs> {
            let dir = tempfile::tempdir()?;
            let host = skiff_runtime::HostShares::default();
            let sandbox = skiff_runtime::sandbox::create(dir.path(), "probe-test", "probe-test", host)?;
            let file = sandbox.net.ok_or_else(|| anyhow::anyhow!("the sandbox has no network namespace"))?;
            Ok(NetNs { file, dir })
        }

        /// A listener on 127.0.0.1 inside the namespace.
        fn listen(&self) -> anyhow::Result<tokio::net::TcpListener> {
            let file = self.file.clone();
            let listener = std::thread::spawn(move || -> anyhow::Result<std::net::TcpListener> {
                setns(File::open(&file)?, CloneFlags::CLONE_NEWNET)?;
                Ok(std::net::TcpListener::bind("127.0.0.1:0")?)
            })
            .join()
            .map_err(|_| anyhow::anyhow!("listener thread panicked"))??;
            listener.set_nonblocking(true)?;
            Ok(tokio::net::TcpListener::from_std(listener)?)
        }
    }

    impl Drop for NetNs {
        fn drop(&mut self) {
            let _ = skiff_runtime::sandbox::remove(self.dir.path(), "probe-test");
        }
    }

    /// A small HTTP/1.1 server with a route per behaviour under test.
    fn serve(listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_lowercase();
                    let path = head.split(' ').nth(1).unwrap_or("").to_string();
                    let (status, location, body): (&str, Option<&str>, Vec<u8>) = match path.as_str() {
                        "/healthz" | "/" => ("200 OK", None, b"ok".to_vec()),
                        "/fail" => ("500 Internal Server Error", None, b"broken".to_vec()),
                        "/redirect" => ("302 Found", Some("/healthz"), Vec::new()),
                        "/redirect-fail" => ("301 Moved", Some("fail"), Vec::new()),
                        "/offhost" => ("302 Found", Some("http://elsewhere.invalid/x"), Vec::new()),
                        "/loop" => ("302 Found", Some("/loop"), Vec::new()),
                        "/big" => ("200 OK", None, vec![b'x'; 1 << 20]),
                        "/headers" => {
                            let good = head.contains("\r\nuser-agent: kube-probe/1.37\r\n")
                                && head.contains("\r\naccept: */*\r\n")
                                && head.contains("\r\nx-probe: yes\r\n")
                                && head.contains("\r\nhost: svc.local\r\n");
                            if good {
                                ("200 OK", None, Vec::new())
                            } else {
                                ("400 Bad Request", None, Vec::new())
                            }
                        }
                        "/slow" => {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                            ("200 OK", None, Vec::new())
                        }
                        _ => ("404 Not Found", None, Vec::new()),
                    };
                    let mut response =
                        format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
                    if let Some(l) = location {
                        response.push_str(&format!("Location: {l}\r\n"));
                    }
                    response.push_str("\r\n");
                    let _ = conn.write_all(response.as_bytes()).await;
                    let _ = conn.write_all(&body).await;
                });
            }
        })
    }

    fn exec_fake(cmd: Vec<String>, _timeout: Duration) -> ExecFuture {
        Box::pin(async move {
            match cmd.first().map(String::as_str) {
                Some("ok") => Ok((0, "fine".to_string())),
                Some("fail") => Ok((1, "boom".to_string())),
                Some("chatty") => Ok((2, "y".repeat(50_000))),
                Some("hang") => std::future::pending().await,
                _ => Err("container not found".to_string()),
            }
        })
    }

    fn http(port: Value, path: &str) -> Value {
        json!({"httpGet": {"port": port, "path": path}, "timeoutSeconds": 1})
    }

    async fn closed_port_in(ns: Option<&NetNs>) -> anyhow::Result<u16> {
        let listener = match ns {
            Some(ns) => ns.listen()?,
            None => tokio::net::TcpListener::bind("127.0.0.1:0").await?,
        };
        Ok(listener.local_addr()?.port())
    }

    async fn http_cases(netns: Option<&Path>, port: u16, closed: u16) {
        let ports: HashMap<String, u16> = [("web".to_string(), port)].into();
        let target = ProbeTarget { netns, ports: &ports, exec: &exec_fake };
        let p = json!(port);
        let cases = [
            (http(p.clone(), "/healthz"), ProbeResult::Success),
            (http(json!("web"), "healthz"), ProbeResult::Success),
            (http(json!(port.to_string()), "/healthz"), ProbeResult::Success),
            (http(p.clone(), "/fail"), ProbeResult::Failure("HTTP probe failed with statuscode: 500".into())),
            (http(p.clone(), "/nope"), ProbeResult::Failure("HTTP probe failed with statuscode: 404".into())),
            (http(p.clone(), "/redirect"), ProbeResult::Success),
            (http(p.clone(), "/redirect-fail"), ProbeResult::Failure("HTTP probe failed with statuscode: 500".into())),
            (http(p.clone(), "/offhost"), ProbeResult::Success),
            (
                http(p.clone(), "/loop"),
                ProbeResult::Failure(format!("Get \"http://127.0.0.1:{port}/loop\": stopped after 10 redirects")),
            ),
            (http(p.clone(), "/big"), ProbeResult::Success),
            (
                json!({"httpGet": {"port": port, "path": "/headers",
                    "httpHeaders": [{"name": "X-Probe", "value": "yes"}, {"name": "Host", "value": "svc.local"}]}}),
                ProbeResult::Success,
            ),
            (
                http(p.clone(), "/slow"),
                ProbeResult::Failure(format!(
                    "Get \"http://127.0.0.1:{port}/slow\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
                )),
            ),
            (
                http(json!(closed), "/healthz"),
                ProbeResult::Failure(format!(
                    "Get \"http://127.0.0.1:{closed}/healthz\": dial tcp 127.0.0.1:{closed}: connect: connection refused"
                )),
            ),
            (json!({"tcpSocket": {"port": port}}), ProbeResult::Success),
            (json!({"tcpSocket": {"port": "web"}}), ProbeResult::Success),
            (
                json!({"tcpSocket": {"port": closed}}),
                ProbeResult::Failure(format!("dial tcp 127.0.0.1:{closed}: connect: connection refused")),
            ),
            (json!({"tcpSocket": {"port": "http"}}), ProbeResult::Unknown("strconv.Atoi: parsing \"http\": invalid syntax".into())),
            (json!({"tcpSocket": {"port": 70000}}), ProbeResult::Unknown("invalid port number: 70000".into())),
        ];
        for (probe, want) in cases {
            assert_eq!(probe_once(&probe, &target).await, want, "{probe}");
        }
    }

    #[tokio::test]
    async fn http_and_tcp_probes_on_the_host_network() -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let server = serve(listener);
        let closed = closed_port_in(None).await?;
        http_cases(None, port, closed).await;
        server.abort();
        Ok(())
    }

    #[tokio::test]
    async fn http_and_tcp_probes_inside_a_network_namespace() -> anyhow::Result<()> {
        let ns = NetNs::new()?;
        let listener = ns.listen()?;
        let port = listener.local_addr()?.port();
        let server = serve(listener);
        let closed = closed_port_in(Some(&ns)).await?;
        http_cases(Some(&ns.file), port, closed).await;

        // The namespace is really separate: the host has nothing there.
        let host_side = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let host_port = host_side.local_addr()?.port();
        let ports = HashMap::new();
        let in_ns = ProbeTarget { netns: Some(&ns.file), ports: &ports, exec: &exec_fake };
        assert!(matches!(
            probe_once(&json!({"tcpSocket": {"port": host_port}}), &in_ns).await,
            ProbeResult::Failure(_)
        ));
        let bad = ProbeTarget { netns: Some(Path::new("/nonexistent/netns")), ports: &ports, exec: &exec_fake };
        assert!(matches!(probe_once(&json!({"tcpSocket": {"port": 80}}), &bad).await, ProbeResult::Unknown(_)));
        server.abort();
        Ok(())
    }

    #[tokio::test]
    async fn exec_and_grpc_probes() {
        let ports = HashMap::new();
        let target = ProbeTarget { netns: None, ports: &ports, exec: &exec_fake };
        let exec = |cmd: &[&str]| json!({"exec": {"command": cmd}, "timeoutSeconds": 1});
        assert_eq!(probe_once(&exec(&["ok"]), &target).await, ProbeResult::Success);
        assert_eq!(probe_once(&exec(&["fail"]), &target).await, ProbeResult::Failure("boom".into()));
        match probe_once(&exec(&["chatty"]), &target).await {
            ProbeResult::Failure(out) => assert_eq!(out.len(), MAX_OUTPUT),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            probe_once(&exec(&["hang", "-x"]), &target).await,
            ProbeResult::Failure("command \"hang -x\" timed out".into())
        );
        assert_eq!(probe_once(&exec(&["gone"]), &target).await, ProbeResult::Unknown("container not found".into()));
        assert!(matches!(probe_once(&json!({"grpc": {"port": 9000}}), &target).await, ProbeResult::Unknown(_)));
        assert!(matches!(probe_once(&json!({}), &target).await, ProbeResult::Unknown(_)));
    }

    #[test]
    fn redirect_locations() {
        let base = Url { https: false, host: "127.0.0.1".into(), port: 8080, path: "/a/b?q=1".into() };
        let cases = [
            ("/x", "http://127.0.0.1:8080/x"),
            ("c", "http://127.0.0.1:8080/a/c"),
            ("http://other:81/y", "http://other:81/y"),
            ("https://h", "https://h:443"),
            ("//h2/z", "http://h2:80/z"),
            ("http://[::1]:9/v6", "http://[::1]:9/v6"),
        ];
        for (loc, want) in cases {
            assert_eq!(base.follow(loc).map(|u| u.to_string()), Some(want.to_string()), "{loc}");
        }
    }

    #[test]
    fn timing_defaults() {
        let t = ProbeTiming::from_probe(&json!({"successThreshold": 3}), ProbeKind::Liveness);
        assert_eq!(
            t,
            ProbeTiming {
                initial_delay: Duration::ZERO,
                period: Duration::from_secs(10),
                timeout: Duration::from_secs(1),
                success_threshold: 1,
                failure_threshold: 3
            }
        );
        assert_eq!(ProbeTiming::from_probe(&json!({"successThreshold": 3}), ProbeKind::Readiness).success_threshold, 3);
    }

    enum Step {
        /// At t seconds: the probes due, and when the next one is (None: nothing).
        Due(u64, &'static [ProbeKind], Option<u64>),
        /// At t seconds, `kind` returned `result`: the expected verdict.
        Record(u64, ProbeKind, ProbeResult, Option<Verdict>),
        State {
            started: bool,
            ready: bool,
        },
    }

    use ProbeKind::{Liveness as L, Readiness as R, Startup as S};

    fn ok() -> ProbeResult {
        ProbeResult::Success
    }
    fn bad() -> ProbeResult {
        ProbeResult::Failure("nope".into())
    }

    #[test]
    fn tracker_timing_table() {
        let restart = |kind| Some(Verdict::Restart { kind, output: "nope".into() });
        let cases: Vec<(&str, Value, Vec<Step>)> = vec![
            (
                "no probes: started and ready at once",
                json!({}),
                vec![Step::State { started: true, ready: true }, Step::Due(0, &[], None)],
            ),
            (
                "readiness: not ready until the first success, then period",
                json!({"readinessProbe": {"initialDelaySeconds": 5, "periodSeconds": 10, "failureThreshold": 2}}),
                vec![
                    Step::State { started: true, ready: false },
                    Step::Due(0, &[], Some(5)),
                    Step::Due(5, &[R], Some(5)),
                    Step::Record(5, R, bad(), None),
                    Step::Due(14, &[], Some(15)),
                    Step::Record(15, R, ok(), Some(Verdict::Ready)),
                    Step::Record(25, R, ok(), None),
                    Step::Record(35, R, bad(), None),
                    Step::Record(45, R, ProbeResult::Unknown("x".into()), None),
                    Step::Due(50, &[], Some(55)),
                    Step::Record(55, R, bad(), Some(Verdict::NotReady)),
                    Step::Record(65, R, bad(), None),
                    Step::Record(75, R, ok(), Some(Verdict::Ready)),
                    Step::State { started: true, ready: true },
                ],
            ),
            (
                "readiness successThreshold 2",
                json!({"readinessProbe": {"successThreshold": 2, "periodSeconds": 1}}),
                vec![
                    Step::Record(0, R, ok(), None),
                    Step::Record(1, R, bad(), None),
                    Step::Record(2, R, ok(), None),
                    Step::Record(3, R, ok(), Some(Verdict::Ready)),
                ],
            ),
            (
                "liveness: restart after failureThreshold consecutive failures, then hold",
                json!({"livenessProbe": {"periodSeconds": 3, "failureThreshold": 3}}),
                vec![
                    Step::State { started: true, ready: true },
                    Step::Due(0, &[L], Some(0)),
                    Step::Record(0, L, bad(), None),
                    Step::Record(3, L, bad(), None),
                    Step::Record(6, L, ok(), None),
                    Step::Record(9, L, bad(), None),
                    Step::Record(12, L, bad(), None),
                    Step::Due(15, &[L], Some(15)),
                    Step::Record(15, L, bad(), restart(L)),
                    Step::Due(100, &[], None),
                    Step::Record(100, L, bad(), None),
                    Step::State { started: true, ready: false },
                ],
            ),
            (
                "startup gates liveness and readiness",
                json!({
                    "startupProbe": {"periodSeconds": 2, "failureThreshold": 30},
                    "livenessProbe": {"initialDelaySeconds": 3, "periodSeconds": 10},
                    "readinessProbe": {"periodSeconds": 5}
                }),
                vec![
                    Step::State { started: false, ready: false },
                    Step::Due(0, &[S], Some(0)),
                    Step::Record(0, S, bad(), None),
                    Step::Due(1, &[], Some(2)),
                    Step::Record(2, S, ok(), Some(Verdict::Started { ready: false })),
                    // Liveness waits out its initial delay from the container's start.
                    Step::Due(2, &[R], Some(2)),
                    Step::Record(2, R, ok(), Some(Verdict::Ready)),
                    Step::Due(3, &[L], Some(3)),
                    Step::Record(3, L, ok(), None),
                    Step::Due(7, &[R], Some(7)),
                    Step::Due(13, &[L, R], Some(7)),
                    Step::State { started: true, ready: true },
                ],
            ),
            (
                "startup without readiness: ready once started; startup failures restart",
                json!({"startupProbe": {"failureThreshold": 2, "initialDelaySeconds": 4}}),
                vec![
                    Step::Due(0, &[], Some(4)),
                    Step::Record(4, S, ok(), Some(Verdict::Started { ready: true })),
                    Step::Due(100, &[], None),
                ],
            ),
            (
                "startup failing",
                json!({"startupProbe": {"failureThreshold": 2, "periodSeconds": 1}, "livenessProbe": {}}),
                vec![
                    Step::Record(0, S, bad(), None),
                    Step::Record(1, S, bad(), restart(S)),
                    Step::Due(50, &[], None),
                    Step::State { started: false, ready: false },
                ],
            ),
        ];
        let base = Instant::now();
        let at = |s: u64| base + Duration::from_secs(s);
        for (name, container, steps) in cases {
            let mut tracker = ProbeTracker::new(&container, base);
            for (i, step) in steps.into_iter().enumerate() {
                match step {
                    Step::Due(t, kinds, next) => {
                        assert_eq!(tracker.due(at(t)), kinds.to_vec(), "{name}: step {i}: due");
                        assert_eq!(tracker.next_due(), next.map(at), "{name}: step {i}: next");
                    }
                    Step::Record(t, kind, result, want) => {
                        assert_eq!(tracker.record(kind, &result, at(t)), want, "{name}: step {i}")
                    }
                    Step::State { started, ready } => {
                        assert_eq!((tracker.started(), tracker.ready()), (started, ready), "{name}: step {i}")
                    }
                }
            }
        }
    }

    #[test]
    fn event_messages() {
        assert_eq!(
            ProbeKind::Liveness.event_message(&ProbeResult::Failure("HTTP probe failed with statuscode: 500".into())),
            Some("Liveness probe failed: HTTP probe failed with statuscode: 500".into())
        );
        assert_eq!(ProbeKind::Readiness.event_message(&ProbeResult::Success), None);
        let ports = named_ports(&json!({"ports": [{"name": "http", "containerPort": 8080}, {"containerPort": 9}]}));
        assert_eq!(ports, [("http".to_string(), 8080)].into());
    }
}
