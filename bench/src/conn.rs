//! One persistent HTTP connection to a loopback server, plain or TLS, speaking
//! HTTP/2 or HTTP/1.1 as ALPN decided. Both the skiff and the etcd clients are
//! built on it; each worker and each watch owns one, so connections are reused
//! for the whole run and never shared between measured requests.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::{bail, Context};
use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

/// Where to connect and how; cheap to clone into every worker.
#[derive(Clone)]
pub struct Endpoint {
    addr: SocketAddr,
    /// `scheme://host:port`, the prefix of every HTTP/2 request URI.
    base: String,
    authority: HeaderValue,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    auth: Option<HeaderValue>,
}

impl Endpoint {
    /// Parses `http://` or `https://` URLs and refuses anything that is not
    /// loopback: the benchmark must never send traffic elsewhere.
    pub fn new(url: &str, tls: Option<Arc<rustls::ClientConfig>>, bearer: Option<&str>) -> anyhow::Result<Endpoint> {
        let uri: Uri = url.parse().with_context(|| format!("parsing server URL {url:?}"))?;
        let scheme = uri.scheme_str().unwrap_or("");
        let secure = match scheme {
            "https" => true,
            "http" => false,
            _ => bail!("server URL {url:?} must be http:// or https://"),
        };
        let host = uri.host().context("server URL has no host")?;
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = if bare == "localhost" {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            bare.parse().with_context(|| format!("server host {host:?} is not an IP address or localhost"))?
        };
        if !ip.is_loopback() {
            bail!("refusing to benchmark {ip}: only loopback addresses are allowed");
        }
        let tls = match (secure, tls) {
            (true, Some(cfg)) => {
                let name =
                    ServerName::try_from(bare.to_string()).with_context(|| format!("TLS server name {bare:?}"))?;
                Some((TlsConnector::from(cfg), name))
            }
            (true, None) => bail!("https URL without a TLS configuration"),
            (false, _) => None,
        };
        let authority = HeaderValue::from_str(uri.authority().map(|a| a.as_str()).unwrap_or(host))?;
        let auth = match bearer {
            Some(t) => {
                Some(HeaderValue::from_str(&format!("Bearer {t}")).context("token is not a valid header value")?)
            }
            None => None,
        };
        Ok(Endpoint {
            addr: SocketAddr::new(ip, port),
            base: format!("{scheme}://{}", authority.to_str()?),
            authority,
            tls,
            auth,
        })
    }

    pub async fn connect(&self) -> anyhow::Result<Conn> {
        let tcp = TcpStream::connect(self.addr).await.with_context(|| format!("connecting to {}", self.addr))?;
        tcp.set_nodelay(true)?;
        match &self.tls {
            None => Conn::handshake(self.clone(), TokioIo::new(tcp), false).await,
            Some((connector, name)) => {
                let tls = connector.connect(name.clone(), tcp).await.context("TLS handshake")?;
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                Conn::handshake(self.clone(), TokioIo::new(tls), h2).await
            }
        }
    }
}

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// A live connection; dropping it closes the socket.
pub struct Conn {
    endpoint: Endpoint,
    sender: Sender,
    driver: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// A response whose body has been read in full.
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Conn {
    async fn handshake<T>(endpoint: Endpoint, io: TokioIo<T>, h2: bool) -> anyhow::Result<Conn>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, driver) = if h2 {
            let (tx, conn) = http2::handshake(TokioExecutor::new(), io).await.context("HTTP/2 handshake")?;
            (
                Sender::H2(tx),
                tokio::spawn(async move {
                    let _ = conn.await;
                }),
            )
        } else {
            let (tx, conn) = http1::handshake(io).await.context("HTTP/1.1 handshake")?;
            (
                Sender::H1(tx),
                tokio::spawn(async move {
                    let _ = conn.await;
                }),
            )
        };
        Ok(Conn { endpoint, sender, driver })
    }

    pub fn protocol(&self) -> &'static str {
        match self.sender {
            Sender::H1(_) => "HTTP/1.1",
            Sender::H2(_) => "HTTP/2",
        }
    }

    /// Sends one request and returns the response with its body still streaming (for watches).
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<Response<Incoming>> {
        let ep = &self.endpoint;
        // HTTP/2 needs scheme and authority in the URI; HTTP/1.1 servers expect origin-form plus Host.
        let uri = match self.sender {
            Sender::H2(_) => format!("{}{path}", ep.base),
            Sender::H1(_) => path.to_string(),
        };
        let mut req = Request::builder().method(method).uri(uri);
        if matches!(self.sender, Sender::H1(_)) {
            req = req.header(HOST, ep.authority.clone());
        }
        if let Some(auth) = &ep.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        let req = req.header("accept", "application/json").body(Full::new(body.unwrap_or_default()))?;
        let resp = match &mut self.sender {
            Sender::H1(tx) => {
                tx.ready().await.context("connection closed")?;
                tx.send_request(req).await?
            }
            Sender::H2(tx) => {
                tx.ready().await.context("connection closed")?;
                tx.send_request(req).await?
            }
        };
        Ok(resp)
    }

    /// Sends one request and reads the whole response body.
    pub async fn call(&mut self, method: Method, path: &str, body: Option<Bytes>) -> anyhow::Result<Reply> {
        let resp = self.send(method, path, body).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await.context("reading the response body")?.to_bytes();
        Ok(Reply { status, body })
    }
}

/// A connection that reopens itself after a transport error, so one broken
/// socket costs one counted error instead of ending a worker.
pub struct Client {
    endpoint: Endpoint,
    conn: Option<Conn>,
}

impl Client {
    pub fn new(endpoint: Endpoint) -> Client {
        Client { endpoint, conn: None }
    }

    pub async fn call(&mut self, method: Method, path: &str, body: Option<Bytes>) -> anyhow::Result<Reply> {
        if self.conn.is_none() {
            self.conn = Some(self.endpoint.connect().await?);
        }
        let conn = self.conn.as_mut().context("no connection")?;
        let result = conn.call(method, path, body).await;
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    /// Like [`Client::call`] but a non-2xx answer becomes the error, worded
    /// from the Kubernetes Status or etcd error in its body.
    pub async fn expect_ok(&mut self, method: Method, path: &str, body: Option<Bytes>) -> Result<Bytes, String> {
        match self.call(method, path, body).await {
            Ok(r) if r.status.is_success() => Ok(r.body),
            Ok(r) => Err(format!("HTTP {}: {}", r.status.as_u16(), error_message(&r.body))),
            Err(e) => {
                // The server may be gone: pause so a worker does not spin on refused connections.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Err(format!("transport: {e:#}"))
            }
        }
    }
}

/// The `message` of a Kubernetes Status (or etcd gateway error), else the start of the body.
pub fn error_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Some(m) = v.get("message").and_then(|m| m.as_str()) {
            return m.to_string();
        }
    }
    let text = String::from_utf8_lossy(body);
    let mut short: String = text.chars().take(200).collect();
    if short.is_empty() {
        short.push_str("(empty body)");
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_endpoints_are_allowed() {
        assert!(Endpoint::new("http://127.0.0.1:2379", None, None).is_ok());
        assert!(Endpoint::new("http://localhost:2379", None, None).is_ok());
        assert!(Endpoint::new("http://[::1]:2379", None, None).is_ok());
        assert!(Endpoint::new("http://10.0.0.1:2379", None, None).is_err());
        assert!(Endpoint::new("http://example.com:2379", None, None).is_err());
        assert!(Endpoint::new("https://127.0.0.1:6443", None, None).is_err(), "https needs TLS config");
    }

    #[test]
    fn error_message_prefers_the_status_message() {
        assert_eq!(
            error_message(br#"{"kind":"Status","message":"configmaps \"x\" already exists"}"#),
            "configmaps \"x\" already exists"
        );
        assert_eq!(error_message(b"plain failure"), "plain failure");
        assert_eq!(error_message(b""), "(empty body)");
    }
}
