//! skiff as a Kubernetes API server, seen by a client: the kubeconfig it
//! writes (server URL, CA, bearer token), a TLS setup that trusts only that
//! CA, and the ConfigMap bodies every phase sends.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use anyhow::{bail, Context};
use base64::Engine;
use bytes::Bytes;
use rustls::pki_types::{pem::PemObject, CertificateDer};
use serde::Deserialize;
use serde_json::json;

use crate::conn::Endpoint;

/// The namespace all benchmark objects live in.
pub const NAMESPACE: &str = "bench";
/// Every benchmark ConfigMap's name starts with this, so watchers can tell
/// them from objects the server makes on its own.
pub const NAME_PREFIX: &str = "cm-";

pub fn collection_path() -> String {
    format!("/api/v1/namespaces/{NAMESPACE}/configmaps")
}

/// A collection the benchmark writes to and watches: its path and the name
/// prefix of the benchmark's own objects in it.
#[derive(Clone, Debug)]
pub struct Collection {
    pub path: String,
    pub prefix: &'static str,
}

impl Collection {
    pub fn configmaps() -> Collection {
        Collection { path: collection_path(), prefix: NAME_PREFIX }
    }
}

pub fn object_path(name: &str) -> String {
    format!("/api/v1/namespaces/{NAMESPACE}/configmaps/{name}")
}

/// What the benchmark needs from a kubeconfig.
pub struct KubeConfig {
    pub server: String,
    pub ca_pem: Vec<u8>,
    pub token: String,
}

#[derive(Deserialize)]
struct RawConfig {
    clusters: Vec<NamedCluster>,
    users: Vec<NamedUser>,
}

#[derive(Deserialize)]
struct NamedCluster {
    cluster: Cluster,
}

#[derive(Deserialize)]
struct Cluster {
    server: String,
    #[serde(rename = "certificate-authority-data")]
    ca_data: Option<String>,
}

#[derive(Deserialize)]
struct NamedUser {
    user: User,
}

#[derive(Deserialize)]
struct User {
    token: Option<String>,
}

impl KubeConfig {
    pub fn load(path: &Path) -> anyhow::Result<KubeConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn parse(yaml: &str) -> anyhow::Result<KubeConfig> {
        let raw: RawConfig = serde_yaml::from_str(yaml)?;
        let cluster = &raw.clusters.first().context("no clusters[0]")?.cluster;
        let ca_b64 = cluster.ca_data.as_deref().context("clusters[0].cluster has no certificate-authority-data")?;
        let ca_pem = base64::engine::general_purpose::STANDARD
            .decode(ca_b64.trim())
            .context("certificate-authority-data is not base64")?;
        let token = raw.users.first().and_then(|u| u.user.token.clone()).context("users[0].user has no token")?;
        Ok(KubeConfig { server: cluster.server.clone(), ca_pem, token })
    }

    /// An endpoint that verifies the server against the kubeconfig's CA and
    /// sends its token; `http1_only` leaves HTTP/2 out of ALPN.
    pub fn endpoint(&self, http1_only: bool) -> anyhow::Result<Endpoint> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&self.ca_pem) {
            roots.add(cert.context("reading the CA certificate")?).context("adding the CA certificate")?;
        }
        if roots.is_empty() {
            bail!("certificate-authority-data holds no certificate");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols =
            if http1_only { vec![b"http/1.1".to_vec()] } else { vec![b"h2".to_vec(), b"http/1.1".to_vec()] };
        Endpoint::new(&self.server, Some(Arc::new(tls)), Some(&self.token))
    }
}

/// Microseconds since the benchmark started: stamped into objects so
/// watchers can tell how long a change took to reach them.
pub fn clock_us() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// A ConfigMap with `value` and the send time in its data; with
/// `resource_version` it is an update body.
pub fn configmap(name: &str, value: &str, resource_version: Option<&str>) -> Bytes {
    let mut metadata = json!({"name": name, "namespace": NAMESPACE});
    if let Some(rv) = resource_version {
        metadata["resourceVersion"] = json!(rv);
    }
    let body = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {"value": value, "sentMicros": clock_us().to_string()},
    });
    Bytes::from(body.to_string())
}

/// A string of `len` printable characters, different per `seed`.
pub fn filler(len: usize, seed: u64) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

#[derive(Deserialize)]
struct WithMeta {
    metadata: Meta,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(rename = "resourceVersion")]
    resource_version: Option<String>,
}

/// `metadata.resourceVersion` of an object or list in a response body.
pub fn resource_version(body: &[u8]) -> Result<String, String> {
    let parsed: WithMeta =
        serde_json::from_slice(body).map_err(|e| format!("response is not an object with metadata: {e}"))?;
    parsed.metadata.resource_version.ok_or_else(|| "response has no metadata.resourceVersion".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: skiff
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
users:
- name: admin
  user:
    token: s3cret
contexts:
- name: skiff
  context: {cluster: skiff, user: admin}
current-context: skiff
";

    #[test]
    fn reads_server_ca_and_token() {
        let cfg = KubeConfig::parse(KUBECONFIG).expect("parses");
        assert_eq!(cfg.server, "https://127.0.0.1:6443");
        assert_eq!(cfg.token, "s3cret");
        assert!(cfg.ca_pem.starts_with(b"-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn missing_fields_are_errors_not_panics() {
        assert!(KubeConfig::parse("clusters: []\nusers: []\n").is_err());
        assert!(KubeConfig::parse("not: [valid").is_err());
    }

    #[test]
    fn configmap_bodies_carry_name_value_and_version() {
        let body = configmap("cm-1", "abc", Some("42"));
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["metadata"]["name"], "cm-1");
        assert_eq!(v["metadata"]["resourceVersion"], "42");
        assert_eq!(v["data"]["value"], "abc");
        assert_eq!(resource_version(&body), Ok("42".to_string()));
        assert_eq!(filler(16, 1).len(), 16);
        assert_ne!(filler(16, 1), filler(16, 2));
    }
}
