//! Client commands (`skiff plugin ...`, `skiff dev ...`): they talk to a server through the
//! API, with the cluster, CA and token of a kubeconfig, as kubectl does.

pub mod dev;
pub mod image;
pub mod plugin;

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use base64::Engine as _;
use serde_json::Value;

/// An API client for the current context of a kubeconfig.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    server: String,
    token: Option<String>,
}

impl Client {
    /// From `--kubeconfig`, else $KUBECONFIG (its first file), else ~/.kube/config.
    pub fn from_kubeconfig(path: Option<PathBuf>) -> anyhow::Result<Client> {
        let path = path
            .or_else(|| {
                std::env::var_os("KUBECONFIG")
                    .and_then(|v| std::env::split_paths(&v).next())
                    .filter(|p| !p.as_os_str().is_empty())
            })
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config")))
            .ok_or_else(|| anyhow!("no kubeconfig: pass --kubeconfig or set KUBECONFIG"))?;
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let config: Value = serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let current = config["current-context"].as_str().unwrap_or_default();
        let named = |list: &str, name: &str| -> Option<Value> {
            config[list].as_array()?.iter().find(|e| e["name"].as_str() == Some(name)).cloned()
        };
        let context = named("contexts", current)
            .ok_or_else(|| anyhow!("the current context {current:?} is not in {}", path.display()))?;
        let cluster_name = context["context"]["cluster"].as_str().unwrap_or_default();
        let user_name = context["context"]["user"].as_str().unwrap_or_default();
        let cluster = named("clusters", cluster_name).ok_or_else(|| anyhow!("cluster {cluster_name:?} not found"))?;
        let server = cluster["cluster"]["server"].as_str().ok_or_else(|| anyhow!("the cluster has no server"))?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder().tls_built_in_root_certs(false);
        if let Some(ca) = cluster["cluster"]["certificate-authority-data"].as_str() {
            let pem =
                base64::engine::general_purpose::STANDARD.decode(ca.trim()).context("certificate-authority-data")?;
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
        } else if let Some(file) = cluster["cluster"]["certificate-authority"].as_str() {
            let pem = std::fs::read(file).with_context(|| format!("reading {file}"))?;
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
        }
        let token = named("users", user_name).and_then(|u| u["user"]["token"].as_str().map(str::to_string));
        Ok(Client { http: builder.build()?, server: server.trim_end_matches('/').to_string(), token })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.server));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// Sends and reads a JSON answer; a Kubernetes `Status` error becomes its message.
    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
        let response = request.send().await.with_context(|| format!("cannot reach {}", self.server))?;
        let code = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        Ok((code, body))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Option<Value>> {
        match self.send(self.request(reqwest::Method::GET, path)).await? {
            (200, v) => Ok(Some(v)),
            (404, _) => Ok(None),
            (_, v) => bail!("{}", status_message(&v)),
        }
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.expect_success(self.request(reqwest::Method::POST, path).json(body)).await
    }

    pub async fn post_bytes(&self, path: &str, bytes: Vec<u8>) -> anyhow::Result<Value> {
        let request = self.request(reqwest::Method::POST, path).header("content-type", "application/wasm").body(bytes);
        self.expect_success(request).await
    }

    pub async fn merge_patch(&self, path: &str, patch: &Value) -> anyhow::Result<Value> {
        let request = self
            .request(reqwest::Method::PATCH, path)
            .header("content-type", "application/merge-patch+json")
            .body(patch.to_string());
        self.expect_success(request).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.expect_success(self.request(reqwest::Method::DELETE, path)).await
    }

    async fn expect_success(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        match self.send(request).await? {
            (200..=299, v) => Ok(v),
            (_, v) => bail!("{}", status_message(&v)),
        }
    }
}

fn status_message(status: &Value) -> String {
    status["message"].as_str().map(str::to_string).unwrap_or_else(|| format!("unexpected answer: {status}"))
}
