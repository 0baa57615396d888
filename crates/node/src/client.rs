//! The agent's API client: plain HTTPS to the API server with a bearer token,
//! as a remote agent joins; the local agent inside `skiff server` uses it too,
//! so there is one way in and every write passes the API's checks.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{method} {path}: {code}: {message}")]
    Status { method: String, path: String, code: u16, reason: String, message: String },
    #[error("{0}")]
    Transport(String),
}

impl ClientError {
    pub fn code(&self) -> Option<u16> {
        match self {
            ClientError::Status { code, .. } => Some(*code),
            ClientError::Transport(_) => None,
        }
    }
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    server: String,
    token: String,
}

/// A watch event: ADDED, MODIFIED, DELETED, BOOKMARK or ERROR, and the object.
#[derive(Debug)]
pub struct WatchEvent {
    pub kind: String,
    pub object: Value,
}

impl Client {
    /// `ca_pem`: the cluster CA to trust (the server's own CA).
    pub fn new(server: &str, token: &str, ca_pem: Option<&[u8]>) -> Result<Client> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = reqwest::Client::builder().tls_built_in_root_certs(false).connect_timeout(Duration::from_secs(10));
        if let Some(pem) = ca_pem {
            let cert = reqwest::Certificate::from_pem(pem).map_err(|e| ClientError::Transport(format!("CA: {e}")))?;
            b = b.add_root_certificate(cert);
        }
        let http = b.build().map_err(|e| ClientError::Transport(e.to_string()))?;
        Ok(Client { http, server: server.trim_end_matches('/').to_string(), token: token.to_string() })
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<(&str, &Value)>) -> Result<Value> {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.server)).bearer_auth(&self.token);
        if let Some((content_type, body)) = body {
            req = req.header("Content-Type", content_type).body(body.to_string());
        }
        let resp =
            req.timeout(Duration::from_secs(60)).send().await.map_err(|e| ClientError::Transport(e.to_string()))?;
        let code = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| ClientError::Transport(e.to_string()))?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if code >= 400 {
            return Err(ClientError::Status {
                method: method.to_string(),
                path: path.to_string(),
                code,
                reason: value["reason"].as_str().unwrap_or_default().to_string(),
                message: value["message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into()),
            });
        }
        Ok(value)
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// The object, or None when it does not exist.
    pub async fn get_opt(&self, path: &str) -> Result<Option<Value>> {
        match self.get(path).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn create(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(reqwest::Method::POST, path, Some(("application/json", body))).await
    }

    pub async fn replace(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(reqwest::Method::PUT, path, Some(("application/json", body))).await
    }

    pub async fn merge_patch(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(reqwest::Method::PATCH, path, Some(("application/merge-patch+json", body))).await
    }

    pub async fn delete(&self, path: &str, options: &Value) -> Result<Value> {
        self.send(reqwest::Method::DELETE, path, Some(("application/json", options))).await
    }

    /// Streams watch events from `path` (which carries `watch=1` and its
    /// selectors) into `tx` until the server ends the watch or `tx` closes.
    pub async fn watch(&self, path: &str, tx: &tokio::sync::mpsc::Sender<WatchEvent>) -> Result<()> {
        let resp = self
            .http
            .get(format!("{}{path}", self.server))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let code = resp.status().as_u16();
        if code >= 400 {
            let text = resp.text().await.unwrap_or_default();
            return Err(ClientError::Status {
                method: "GET".into(),
                path: path.into(),
                code,
                reason: String::new(),
                message: text,
            });
        }
        let mut body = resp.bytes_stream();
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| ClientError::Transport(e.to_string()))?;
            buf.extend_from_slice(&chunk);
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let Ok(v) = serde_json::from_slice::<Value>(&line) else { continue };
                let kind = v["type"].as_str().unwrap_or_default().to_string();
                let event = WatchEvent { kind, object: v["object"].clone() };
                if tx.send(event).await.is_err() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// `/api/v1/namespaces/NS/pods/NAME` and friends.
pub fn pod_path(namespace: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/pods/{name}")
}

/// Percent-encodes a query value.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
