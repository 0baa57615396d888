//! The distribution (OCI / Docker registry v2) API client and registry
//! credentials: manifests and blobs by digest, verified while they stream,
//! anonymous access first, then a Bearer token (fetched with the credentials
//! when there are any) or Basic auth, as the registry's `WWW-Authenticate`
//! challenge asks. Credentials come from `kubernetes.io/dockerconfigjson` and
//! `kubernetes.io/dockercfg` secrets and match images by host the way the
//! kubelet matches them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use futures::StreamExt;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::reference::{host_without_port, Reference, DOCKER_HUB};

pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Manifests are small; anything bigger is not one.
const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// Credentials for one registry, as in a CRI `AuthConfig` (empty = unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryAuth {
    /// The key it was given under: `host`, `host:port`, `https://host/v1/`,
    /// `host/path/prefix` or `*.example.com`.
    pub registry: String,
    pub username: String,
    pub password: String,
    /// base64 of `username:password`.
    pub auth: String,
    /// An OAuth2 refresh token (`docker login` with an identity provider).
    pub identity_token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("invalid docker config JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid docker config: the auth for {registry:?} is not base64 of username:password")]
    BadAuth { registry: String },
}

#[derive(Deserialize, Default)]
struct DockerConfigEntry {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    auth: String,
    #[serde(default, rename = "identitytoken")]
    identity_token: String,
}

impl RegistryAuth {
    /// Parses a `.dockerconfigjson` (`{"auths": {host: {...}}}`) or an old
    /// `.dockercfg` (`{host: {...}}`) secret value.
    pub fn from_docker_config_json(data: &[u8]) -> Result<Vec<RegistryAuth>, AuthConfigError> {
        let value: serde_json::Value = serde_json::from_slice(data)?;
        let auths = match value.get("auths") {
            Some(auths) => auths.clone(),
            None => value,
        };
        let entries: BTreeMap<String, DockerConfigEntry> = serde_json::from_value(auths)?;
        let mut out = Vec::with_capacity(entries.len());
        for (registry, entry) in entries {
            let mut auth = RegistryAuth {
                registry,
                username: entry.username,
                password: entry.password,
                auth: entry.auth,
                identity_token: entry.identity_token,
            };
            if !auth.auth.is_empty() && auth.username.is_empty() {
                let (user, pass) = decode_auth(&auth.auth)
                    .ok_or_else(|| AuthConfigError::BadAuth { registry: auth.registry.clone() })?;
                auth.username = user;
                auth.password = pass;
            }
            out.push(auth);
        }
        Ok(out)
    }

    /// The username and password to send, from the fields or from `auth`.
    pub fn credentials(&self) -> Option<(String, String)> {
        if !self.username.is_empty() || !self.password.is_empty() {
            return Some((self.username.clone(), self.password.clone()));
        }
        decode_auth(&self.auth)
    }

    /// How specifically this credential matches the image, or `None` when it
    /// does not: the kubelet's rules (scheme and `/v1/` ignored, host globs per
    /// label, port equal, path a prefix of the repository; Docker Hub's aliases).
    pub fn matches(&self, image: &Reference) -> Option<usize> {
        let key = self.registry.trim();
        let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
        let key = key.trim_end_matches('/');
        let key = key.strip_suffix("/v1").or_else(|| key.strip_suffix("/v2")).unwrap_or(key);
        let (host, path) = key.split_once('/').unwrap_or((key, ""));
        let (key_host, key_port) = split_port(host);
        let (image_host, image_port) = split_port(&image.registry);
        if key_port != image_port {
            return None;
        }
        let host_matches = if is_docker_hub(key_host) {
            image.registry == DOCKER_HUB
        } else {
            glob_host_matches(key_host, image_host)
        };
        if !host_matches {
            return None;
        }
        let path = path.trim_matches('/');
        if !path.is_empty() && image.repository != path && !image.repository.starts_with(&format!("{path}/")) {
            return None;
        }
        Some(key.len())
    }

    /// The credentials that apply to `image`, most specific first.
    pub fn matching<'a>(auths: &'a [RegistryAuth], image: &Reference) -> Vec<&'a RegistryAuth> {
        let mut found: Vec<(usize, &RegistryAuth)> =
            auths.iter().filter_map(|a| Some((a.matches(image)?, a))).collect();
        found.sort_by_key(|a| std::cmp::Reverse(a.0));
        found.into_iter().map(|(_, a)| a).collect()
    }
}

fn decode_auth(auth: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(auth.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

fn split_port(host: &str) -> (&str, &str) {
    let name = host_without_port(host);
    (name, host[name.len()..].trim_start_matches(':'))
}

fn is_docker_hub(host: &str) -> bool {
    matches!(host, "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com")
}

/// `*.example.com` matches `a.example.com` (one label per `*`, as the kubelet's
/// `filepath.Match` per label does), otherwise hosts compare equal.
fn glob_host_matches(pattern: &str, host: &str) -> bool {
    let pattern_labels: Vec<&str> = pattern.split('.').collect();
    let host_labels: Vec<&str> = host.split('.').collect();
    pattern_labels.len() == host_labels.len() && pattern_labels.iter().zip(&host_labels).all(|(p, h)| glob_label(p, h))
}

fn glob_label(pattern: &str, label: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern.eq_ignore_ascii_case(label),
        Some((prefix, suffix)) => {
            label.len() >= prefix.len() + suffix.len()
                && label[..prefix.len()].eq_ignore_ascii_case(prefix)
                && glob_label(suffix, &label[label.len() - suffix.len()..])
        }
    }
}

/// What went wrong talking to a registry; the messages follow containerd's so
/// the kubelet can show them in pod events as Kubernetes users know them.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{what}: not found{}", colon(message))]
    NotFound { what: String, message: String },
    #[error(
        "pull access denied, repository does not exist or may require authorization: server message: {}",
        if message.is_empty() { "authorization failed" } else { message }
    )]
    Unauthorized { message: String },
    #[error("unexpected status from {method} request to {url}: {status}{}", colon(message))]
    Status { method: &'static str, url: String, status: StatusCode, message: String },
    #[error("failed to do request: {method} {url:?}: {detail}")]
    Request { method: &'static str, url: String, detail: String },
    #[error("failed to fetch {kind} token from {realm}: {detail}")]
    Token { kind: &'static str, realm: String, detail: String },
    #[error("unsupported authentication challenge {0:?}")]
    Challenge(String),
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch { digest: String, expected: u64, actual: u64 },
    #[error("manifest is larger than {MAX_MANIFEST_BYTES} bytes")]
    TooLarge,
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    #[error("{op} {path:?}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
}

fn colon(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl RegistryError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::NotFound { .. })
    }
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, RegistryError::Unauthorized { .. })
    }
}

/// reqwest's Display stops at the outermost error; the cause (connection
/// refused, certificate unknown) is what users need.
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Builds the HTTP client shared by all pulls: the system's CA bundle, no
/// overall timeout (layers are big) but bounded connects and stalls.
pub(crate) fn http_client() -> Result<reqwest::Client, RegistryError> {
    // reqwest is built without a default crypto provider; the process may
    // already have installed one, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("skiff/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(120));
    let bundles = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from).into_iter().chain(
        ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"]
            .into_iter()
            .map(PathBuf::from),
    );
    for bundle in bundles {
        if let Ok(pem) = std::fs::read(&bundle) {
            match reqwest::Certificate::from_pem_bundle(&pem) {
                Ok(certs) => {
                    for cert in certs {
                        builder = builder.add_root_certificate(cert);
                    }
                    break;
                }
                Err(e) => tracing::warn!(bundle = %bundle.display(), error = %e, "unreadable CA bundle"),
            }
        }
    }
    builder.build().map_err(|e| RegistryError::Client(error_chain(&e)))
}

/// A manifest or index as fetched.
pub(crate) struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: String,
}

/// One repository on one registry, with the authorization it has earned.
pub(crate) struct RepositoryClient {
    http: reqwest::Client,
    base: String,
    repository: String,
    credentials: Option<(String, String)>,
    identity_token: String,
    authorization: Mutex<Option<String>>,
}

impl RepositoryClient {
    pub fn new(http: reqwest::Client, image: &Reference, plain_http: bool, auth: Option<&RegistryAuth>) -> Self {
        let scheme = if plain_http { "http" } else { "https" };
        RepositoryClient {
            http,
            base: format!("{scheme}://{}", image.api_host()),
            repository: image.repository.clone(),
            credentials: auth.and_then(RegistryAuth::credentials),
            identity_token: auth.map(|a| a.identity_token.clone()).unwrap_or_default(),
            authorization: Mutex::new(None),
        }
    }

    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some() || !self.identity_token.is_empty()
    }

    pub async fn manifest(&self, reference: &str, what: &str) -> Result<FetchedManifest, RegistryError> {
        let url = format!("{}/v2/{}/manifests/{reference}", self.base, self.repository);
        let accept = [MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST, MEDIA_OCI_MANIFEST].join(", ");
        let response = self.get(&url, Some(&accept), what).await?;
        let header_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
        if response.content_length().is_some_and(|n| n > MAX_MANIFEST_BYTES as u64) {
            return Err(RegistryError::TooLarge);
        }
        let mut bytes = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.request_error("GET", &url, &e))?;
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_MANIFEST_BYTES {
                return Err(RegistryError::TooLarge);
            }
        }
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        if reference.starts_with("sha256:") && reference != digest {
            return Err(RegistryError::DigestMismatch { expected: reference.to_string(), actual: digest });
        }
        // The body's own mediaType wins over a generic Content-Type.
        let body_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("mediaType").and_then(|m| m.as_str()).map(str::to_string));
        let media_type = body_type.or(header_type).unwrap_or_default();
        Ok(FetchedManifest { bytes, media_type, digest })
    }

    /// Streams a blob into `dest` (through a temp file beside it), checking its
    /// digest and size; `on_progress(downloaded)` is called as bytes arrive.
    pub async fn blob_to_file(
        &self,
        digest: &str,
        size: u64,
        dest: &Path,
        on_progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<(), RegistryError> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.repository);
        let response = self.get(&url, None, digest).await?;
        let tmp = dest.with_extension(format!("tmp-{}-{}", std::process::id(), unique()));
        let io = |op| move |source| RegistryError::Io { op, path: dest.to_path_buf(), source };
        let mut file = tokio::fs::File::create(&tmp).await.map_err(io("create"))?;
        let result = async {
            let mut hasher = Sha256::new();
            let mut downloaded = 0u64;
            let mut stream = response.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.request_error("GET", &url, &e))?;
                hasher.update(&chunk);
                downloaded += chunk.len() as u64;
                file.write_all(&chunk).await.map_err(io("write"))?;
                on_progress(downloaded);
            }
            file.flush().await.map_err(io("write"))?;
            file.sync_all().await.map_err(io("sync"))?;
            let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
            if actual != digest {
                return Err(RegistryError::DigestMismatch { expected: digest.to_string(), actual });
            }
            if size != 0 && downloaded != size {
                return Err(RegistryError::SizeMismatch {
                    digest: digest.to_string(),
                    expected: size,
                    actual: downloaded,
                });
            }
            tokio::fs::rename(&tmp, dest).await.map_err(io("rename into"))
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    fn request_error(&self, method: &'static str, url: &str, e: &reqwest::Error) -> RegistryError {
        RegistryError::Request { method, url: url.to_string(), detail: error_chain(e) }
    }

    /// GET with the current authorization; on a 401 answers the challenge
    /// once and retries. Error statuses become typed errors with the
    /// registry's own message.
    async fn get(&self, url: &str, accept: Option<&str>, what: &str) -> Result<reqwest::Response, RegistryError> {
        let mut challenged = false;
        loop {
            let mut request = self.http.get(url);
            if let Some(accept) = accept {
                request = request.header(ACCEPT, accept);
            }
            let authorization = self.authorization.lock().ok().and_then(|a| a.clone());
            if let Some(authorization) = authorization {
                request = request.header(AUTHORIZATION, authorization);
            }
            let response = request.send().await.map_err(|e| self.request_error("GET", url, &e))?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            if status == StatusCode::UNAUTHORIZED && !challenged {
                challenged = true;
                let challenge = header_text(response.headers(), WWW_AUTHENTICATE);
                let message = registry_message(response).await;
                if self.answer_challenge(&challenge, &message).await? {
                    continue;
                }
                return Err(RegistryError::Unauthorized { message });
            }
            let message = registry_message(response).await;
            return Err(match status {
                StatusCode::NOT_FOUND => RegistryError::NotFound { what: what.to_string(), message },
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => RegistryError::Unauthorized { message },
                _ => RegistryError::Status { method: "GET", url: url.to_string(), status, message },
            });
        }
    }

    /// Returns whether there is new authorization worth retrying with.
    async fn answer_challenge(&self, challenge: &str, message: &str) -> Result<bool, RegistryError> {
        let (scheme, params) = parse_challenge(challenge);
        let authorization = match scheme.to_ascii_lowercase().as_str() {
            "bearer" => format!("Bearer {}", self.fetch_token(&params).await?),
            "basic" => match &self.credentials {
                Some((user, pass)) => {
                    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
                    format!("Basic {encoded}")
                }
                None => return Ok(false),
            },
            "" => return Err(RegistryError::Unauthorized { message: message.to_string() }),
            _ => return Err(RegistryError::Challenge(challenge.to_string())),
        };
        if let Ok(mut slot) = self.authorization.lock() {
            *slot = Some(authorization);
        }
        Ok(true)
    }

    async fn fetch_token(&self, params: &BTreeMap<String, String>) -> Result<String, RegistryError> {
        let realm = params.get("realm").cloned().unwrap_or_default();
        if !(realm.starts_with("https://") || realm.starts_with("http://")) {
            return Err(RegistryError::Challenge(format!("Bearer realm={realm:?}")));
        }
        let scope = params.get("scope").cloned().unwrap_or_else(|| format!("repository:{}:pull", self.repository));
        let service = params.get("service").cloned().unwrap_or_default();
        let kind = if self.has_credentials() { "oauth" } else { "anonymous" };
        let request = if !self.identity_token.is_empty() {
            self.http.post(&realm).form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", self.identity_token.as_str()),
                ("service", service.as_str()),
                ("scope", scope.as_str()),
                ("client_id", "skiff"),
            ])
        } else {
            let mut query = vec![("scope", scope.as_str())];
            if !service.is_empty() {
                query.push(("service", service.as_str()));
            }
            let mut request = self.http.get(&realm).query(&query);
            if let Some((user, pass)) = &self.credentials {
                request = request.basic_auth(user, Some(pass));
            }
            request
        };
        let token_error = |detail: String| RegistryError::Token { kind, realm: realm.clone(), detail };
        let response = request.send().await.map_err(|e| token_error(error_chain(&e)))?;
        let status = response.status();
        if !status.is_success() {
            let message = registry_message(response).await;
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(RegistryError::Unauthorized { message });
            }
            return Err(token_error(format!("unexpected status {status}{}", colon(&message))));
        }
        #[derive(Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body: TokenResponse = response.json().await.map_err(|e| token_error(error_chain(&e)))?;
        body.token
            .or(body.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| token_error("the response has no token".to_string()))
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

fn header_text(headers: &HeaderMap, name: reqwest::header::HeaderName) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// The registry's error body rendered as distribution renders it
/// (`manifest unknown: manifest unknown`), or its text when not JSON.
async fn registry_message(response: reqwest::Response) -> String {
    let Ok(body) = response.bytes().await else { return String::new() };
    format_registry_errors(&body)
}

pub(crate) fn format_registry_errors(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(errors) = serde_json::from_slice::<Errors>(body) {
        let parts: Vec<String> = errors
            .errors
            .iter()
            .map(|e| {
                let code = e.code.to_ascii_lowercase().replace('_', " ");
                match (code.is_empty(), e.message.is_empty()) {
                    (false, false) => format!("{code}: {}", e.message),
                    (false, true) => code,
                    _ => e.message.clone(),
                }
            })
            .collect();
        return parts.join("; ");
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    text.chars().take(300).collect()
}

/// `Bearer realm="…",service="…",scope="repository:a:pull,push"` → scheme and
/// parameters; quoted values may hold commas.
pub(crate) fn parse_challenge(header: &str) -> (String, BTreeMap<String, String>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect::<String>().trim().to_ascii_lowercase();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect::<String>().trim().to_string();
        }
        params.insert(key, value);
    }
    (scheme.to_string(), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let (scheme, params) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        );
        assert_eq!(scheme, "Bearer");
        assert_eq!(params["realm"], "https://auth.docker.io/token");
        assert_eq!(params["service"], "registry.docker.io");
        assert_eq!(params["scope"], "repository:library/busybox:pull,push");
        let (scheme, params) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(scheme, "Basic");
        assert_eq!(params["realm"], "Registry Realm");
    }

    #[test]
    fn registry_errors_read_like_distribution() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"v1"}}]}"#;
        assert_eq!(format_registry_errors(body), "manifest unknown: manifest unknown");
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#;
        assert_eq!(format_registry_errors(body), "unauthorized: authentication required");
        assert_eq!(format_registry_errors(b"  plain text\n"), "plain text");
    }

    #[test]
    fn docker_config_formats() {
        let json = br#"{"auths": {"127.0.0.1:5000": {"auth": "dXNlcjpwYXNz"},
            "https://index.docker.io/v1/": {"username": "hub", "password": "pw"}}}"#;
        let auths = RegistryAuth::from_docker_config_json(json).unwrap();
        assert_eq!(auths.len(), 2);
        let local = auths.iter().find(|a| a.registry == "127.0.0.1:5000").unwrap();
        assert_eq!(local.credentials(), Some(("user".into(), "pass".into())));

        let old = br#"{"quay.io": {"auth": "YTpi", "email": "x@example.com"}}"#;
        let auths = RegistryAuth::from_docker_config_json(old).unwrap();
        assert_eq!(auths[0].registry, "quay.io");
        assert_eq!(auths[0].credentials(), Some(("a".into(), "b".into())));

        assert!(RegistryAuth::from_docker_config_json(br#"{"auths": {"x": {"auth": "!!"}}}"#).is_err());
        assert!(RegistryAuth::from_docker_config_json(b"not json").is_err());
    }

    #[test]
    fn matching_like_the_kubelet() {
        let image = |s: &str| Reference::parse(s).unwrap();
        let auth = |key: &str| RegistryAuth { registry: key.into(), ..Default::default() };
        let hub = image("busybox");
        for key in ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"] {
            assert!(auth(key).matches(&hub).is_some(), "{key}");
        }
        assert!(auth("quay.io").matches(&hub).is_none());
        let local = image("127.0.0.1:5000/test/busybox:v1");
        assert!(auth("127.0.0.1:5000").matches(&local).is_some());
        assert!(auth("http://127.0.0.1:5000/v2/").matches(&local).is_some());
        assert!(auth("127.0.0.1").matches(&local).is_none());
        assert!(auth("127.0.0.1:5001").matches(&local).is_none());
        assert!(auth("127.0.0.1:5000/test").matches(&local).is_some());
        assert!(auth("127.0.0.1:5000/other").matches(&local).is_none());
        assert!(auth("127.0.0.1:5000/tes").matches(&local).is_none());
        let quay = image("a.quay.io/x/y");
        assert!(auth("*.quay.io").matches(&quay).is_some());
        assert!(auth("*.quay.io").matches(&image("quay.io/x/y")).is_none());
        let ordered = [auth("127.0.0.1:5000"), auth("127.0.0.1:5000/test/busybox")];
        let found = RegistryAuth::matching(&ordered, &local);
        assert_eq!(found[0].registry, "127.0.0.1:5000/test/busybox");
    }
}
