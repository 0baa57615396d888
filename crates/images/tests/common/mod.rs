//! Test helpers: build OCI images in memory, run Debian's `docker-registry`
//! on loopback, push through the distribution API, and write `docker save`
//! and OCI-layout archives.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine as _;
use sha2::{Digest, Sha256};

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
pub const USER: &str = "skiff";
pub const PASSWORD: &str = "s3cret";
/// bcrypt (cost 4, so the registry answers quickly) of PASSWORD.
const PASSWORD_BCRYPT: &str = "$2b$04$Nx4q2UqQiSFiJh.Cov/CRuBOLM9PrkoeWraBl12/X6LG0QYSfVK/a";

pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub enum Entry {
    Dir(&'static str, u32),
    File(&'static str, u32, &'static [u8]),
    Symlink(&'static str, &'static str),
    HardLink(&'static str, &'static str),
}

pub struct Layer {
    pub tar: Vec<u8>,
    pub gz: Vec<u8>,
}

impl Layer {
    pub fn new(entries: &[Entry]) -> Layer {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in entries {
            let mut header = tar::Header::new_gnu();
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(1_700_000_000);
            match entry {
                Entry::Dir(path, mode) => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(*mode);
                    header.set_size(0);
                    builder.append_data(&mut header, path, std::io::empty()).expect("dir");
                }
                Entry::File(path, mode, data) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(*mode);
                    header.set_size(data.len() as u64);
                    builder.append_data(&mut header, path, *data).expect("file");
                }
                Entry::Symlink(path, target) | Entry::HardLink(path, target) => {
                    let kind = if matches!(entry, Entry::Symlink(..)) {
                        tar::EntryType::Symlink
                    } else {
                        tar::EntryType::Link
                    };
                    header.set_entry_type(kind);
                    header.set_mode(0o777);
                    header.set_size(0);
                    builder.append_link(&mut header, path, target).expect("link");
                }
            }
        }
        let tar = builder.into_inner().expect("tar");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).expect("gzip");
        Layer { gz: gz.finish().expect("gzip"), tar }
    }

    pub fn diff_id(&self) -> String {
        digest(&self.tar)
    }
}

pub struct TestImage {
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
    pub layers: Vec<Layer>,
}

pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

impl TestImage {
    pub fn new(layers: Vec<Layer>, cmd: &[&str]) -> TestImage {
        let config = serde_json::json!({
            "architecture": host_arch(),
            "os": "linux",
            "created": "2024-05-06T07:08:09Z",
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": cmd,
                "WorkingDir": "/",
                "ExposedPorts": {"8080/tcp": {}},
                "Labels": {"test": "skiff"},
            },
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(Layer::diff_id).collect::<Vec<_>>()},
        });
        let config = serde_json::to_vec(&config).expect("config");
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(&config), "size": config.len()},
            "layers": layers.iter().map(|l| serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": digest(&l.gz),
                "size": l.gz.len(),
            })).collect::<Vec<_>>(),
        });
        let manifest = serde_json::to_vec(&manifest).expect("manifest");
        TestImage { config, manifest, layers }
    }

    pub fn id(&self) -> String {
        digest(&self.config)
    }
}

pub struct Registry {
    child: Child,
    _dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`
    pub url: String,
    pub auth: bool,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a registry, or returns `None` (test skipped) when the binary is
/// missing outside CI. In CI a missing registry is a failure.
pub fn start_registry(auth: bool) -> Option<Registry> {
    if !Path::new(REGISTRY_BIN).exists() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "{REGISTRY_BIN} is missing (install Debian's docker-registry package); CI must run the registry tests"
            );
        }
        eprintln!("SKIPPED: {REGISTRY_BIN} not found (apt-get install docker-registry) and CI is not set");
        return None;
    }
    Some(start(auth).expect("starting docker-registry"))
}

fn start(auth: bool) -> anyhow::Result<Registry> {
    let dir = tempfile::tempdir()?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let storage = dir.path().join("storage");
    std::fs::create_dir_all(&storage)?;
    let mut config = format!(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
        storage.display()
    );
    if auth {
        let htpasswd = dir.path().join("htpasswd");
        std::fs::write(&htpasswd, format!("{USER}:{PASSWORD_BCRYPT}\n"))?;
        config.push_str(&format!("auth:\n  htpasswd:\n    realm: skiff-test\n    path: {}\n", htpasswd.display()));
    }
    let config_path = dir.path().join("config.yml");
    std::fs::write(&config_path, config)?;
    let log = std::fs::File::create(dir.path().join("registry.log"))?;
    let child = Command::new(REGISTRY_BIN)
        .arg("serve")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("spawning docker-registry")?;
    let registry = Registry { child, _dir: dir, url: format!("127.0.0.1:{port}"), auth };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("docker-registry did not listen on port {port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(registry)
}

impl Registry {
    fn request(&self, client: &reqwest::Client, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let request = client.request(method, url);
        if self.auth {
            request.basic_auth(USER, Some(PASSWORD))
        } else {
            request
        }
    }

    /// Monolithic blob upload: POST for a session, PUT the bytes with the digest.
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let client = http_client();
        let base = format!("http://{}", self.url);
        let response =
            self.request(&client, reqwest::Method::POST, &format!("{base}/v2/{repo}/blobs/uploads/")).send().await?;
        if response.status() != reqwest::StatusCode::ACCEPTED {
            bail!("upload start: {} {}", response.status(), response.text().await?);
        }
        let location = response.headers().get("location").context("no Location")?.to_str()?.to_string();
        let location = if location.starts_with('/') { format!("{base}{location}") } else { location };
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={}", digest(bytes));
        let response = self
            .request(&client, reqwest::Method::PUT, &url)
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await?;
        if response.status() != reqwest::StatusCode::CREATED {
            bail!("upload: {} {}", response.status(), response.text().await?);
        }
        Ok(())
    }

    pub async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> anyhow::Result<()> {
        let client = http_client();
        let url = format!("http://{}/v2/{repo}/manifests/{reference}", self.url);
        let response = self
            .request(&client, reqwest::Method::PUT, &url)
            .header("content-type", media_type)
            .body(bytes.to_vec())
            .send()
            .await?;
        if response.status() != reqwest::StatusCode::CREATED {
            bail!("manifest: {} {}", response.status(), response.text().await?);
        }
        Ok(())
    }

    pub async fn push(&self, repo: &str, tag: &str, image: &TestImage) -> anyhow::Result<()> {
        for layer in &image.layers {
            self.push_blob(repo, &layer.gz).await?;
        }
        self.push_blob(repo, &image.config).await?;
        self.push_manifest(repo, tag, "application/vnd.oci.image.manifest.v1+json", &image.manifest).await
    }
}

/// `docker save` layout: manifest.json, repositories, `<id>.json`, `<id>/layer.tar`.
pub fn write_docker_archive(image: &TestImage, tags: &[&str], path: &Path) -> anyhow::Result<()> {
    let mut builder = tar::Builder::new(std::fs::File::create(path)?);
    let config_name = format!("{}.json", digest(&image.config).trim_start_matches("sha256:"));
    let mut layer_names = Vec::new();
    for layer in &image.layers {
        let id = layer.diff_id().trim_start_matches("sha256:").to_string();
        let name = format!("{id}/layer.tar");
        append(&mut builder, &name, &layer.tar)?;
        layer_names.push(name);
    }
    append(&mut builder, &config_name, &image.config)?;
    let manifest = serde_json::json!([{"Config": config_name, "RepoTags": tags, "Layers": layer_names}]);
    append(&mut builder, "manifest.json", &serde_json::to_vec(&manifest)?)?;
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for tag in tags {
        let (repo, tag) = tag.rsplit_once(':').context("tag")?;
        let top = image.layers.last().map(|l| l.diff_id()).unwrap_or_default();
        repositories.entry(repo.into()).or_default().insert(tag.into(), top.trim_start_matches("sha256:").into());
    }
    append(&mut builder, "repositories", &serde_json::to_vec(&repositories)?)?;
    builder.finish()?;
    Ok(())
}

/// OCI image layout, gzip-compressed; `names` become index.json annotations.
pub fn write_oci_archive(image: &TestImage, names: &[(&str, &str)], path: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
    append(&mut builder, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let manifests: Vec<serde_json::Value> = names
        .iter()
        .map(|(containerd_name, ref_name)| {
            let mut annotations = serde_json::Map::new();
            if !containerd_name.is_empty() {
                annotations.insert("io.containerd.image.name".into(), (*containerd_name).into());
            }
            annotations.insert("org.opencontainers.image.ref.name".into(), (*ref_name).into());
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest(&image.manifest),
                "size": image.manifest.len(),
                "annotations": annotations,
            })
        })
        .collect();
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
    append(&mut builder, "index.json", &serde_json::to_vec(&index)?)?;
    let mut blobs = vec![image.manifest.clone(), image.config.clone()];
    blobs.extend(image.layers.iter().map(|l| l.gz.clone()));
    for blob in blobs {
        append(&mut builder, &format!("blobs/sha256/{}", digest(&blob).trim_start_matches("sha256:")), &blob)?;
    }
    builder.into_inner()?.finish()?;
    Ok(())
}

fn append<W: Write>(builder: &mut tar::Builder<W>, name: &str, data: &[u8]) -> anyhow::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    header.set_mtime(1_700_000_000);
    builder.append_data(&mut header, name, data)?;
    Ok(())
}

/// A `.dockerconfigjson` for the test user on `registry`.
pub fn docker_config_json(registry: &str, password: &str) -> Vec<u8> {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
    serde_json::to_vec(&serde_json::json!({"auths": {registry: {"auth": auth}}})).unwrap_or_default()
}

fn http_client() -> reqwest::Client {
    // reqwest is built without a default crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Reads one xattr of a path without following symlinks.
pub fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let c_name = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and a buffer of the given length.
    let n = unsafe { libc::lgetxattr(c_path.as_ptr(), c_name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

pub fn tree(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(path);
                }
            }
        }
    }
    out.sort();
    out
}
