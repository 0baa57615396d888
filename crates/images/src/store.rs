//! The store itself: the image index, pulls, imports, lookups and removal
//! with garbage collection of what no image uses any more.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::archive::{self, ImportedImage};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::registry::{
    self, FetchedManifest, RegistryAuth, RegistryError, RepositoryClient, MEDIA_DOCKER_LIST, MEDIA_OCI_INDEX,
    MEDIA_OCI_MANIFEST,
};
use crate::unpack;
use crate::ImageError;

const INDEX_FILE: &str = "index.json";
const LOCK_FILE: &str = "lock";
const PARALLEL_LAYERS: usize = 3;
/// Leftovers of a crashed pull older than this are swept by garbage collection.
const STALE_TMP: Duration = Duration::from_secs(3600);

/// An image in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Normalised: `docker.io/library/busybox:latest`; the ID for unnamed imports.
    pub reference: String,
    /// The config digest (`sha256:…`), what `crictl images` calls IMAGE ID.
    pub id: String,
    /// The platform manifest's digest.
    pub manifest_digest: String,
    /// `name@sha256:…` of what the reference resolved to (the index for
    /// multi-platform images), what kubectl shows as a container's imageID.
    pub repo_digest: String,
    /// Compressed layers plus config, as registries and `crictl images` count.
    pub size: u64,
    pub created: Option<DateTime<Utc>>,
    /// The unpacked layer directories, lowest first.
    pub layers: Vec<PathBuf>,
    /// The layers' diff IDs, lowest first.
    pub diff_ids: Vec<String>,
    pub config: ImageConfig,
}

/// The parts of an image config a container runtime needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageConfig {
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub working_dir: String,
    pub user: String,
    /// `80/tcp`, `53/udp`, ...
    pub exposed_ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: String,
}

/// What the index keeps per reference.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    id: String,
    manifest_digest: String,
    repo_digest: String,
    diff_ids: Vec<String>,
    size: u64,
    created: Option<DateTime<Utc>>,
    config: ImageConfig,
    /// Metadata blobs (manifests, config) this image keeps in `blobs/`.
    blobs: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    images: BTreeMap<String, Record>,
}

/// A content-addressed image store rooted at one directory.
pub struct ImageStore {
    root: PathBuf,
    insecure: Mutex<Vec<String>>,
    http: OnceLock<reqwest::Client>,
}

impl ImageStore {
    pub fn open(root: &Path) -> Result<ImageStore, ImageError> {
        for dir in [root.to_path_buf(), root.join("blobs/sha256"), root.join("layers"), root.join("tmp")] {
            fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        }
        Ok(ImageStore { root: root.to_path_buf(), insecure: Mutex::new(Vec::new()), http: OnceLock::new() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Registries (`host` or `host:port`) reached over plain HTTP; loopback
    /// and `localhost` always are.
    pub fn set_insecure_registries(&self, registries: Vec<String>) {
        if let Ok(mut insecure) = self.insecure.lock() {
            *insecure = registries;
        }
    }

    /// The directory a layer with this diff ID unpacks into.
    pub fn layer_dir(&self, diff_id: &str) -> PathBuf {
        self.root.join("layers").join(diff_id.strip_prefix("sha256:").unwrap_or(diff_id))
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.strip_prefix("sha256:").unwrap_or(digest))
    }

    fn tmp_path(&self, name: &str) -> PathBuf {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        self.root.join("tmp").join(format!("{name}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)))
    }

    /// Looks an image up by reference (normalised: `busybox` finds
    /// `docker.io/library/busybox:latest`), by `name@digest`, or by ID
    /// (`sha256:…` or a unique prefix of at least 12 hex digits).
    pub fn get(&self, reference: &str) -> Option<Image> {
        let index = self.load_index().ok()?;
        let key = find(&index, reference)?.into_iter().next()?;
        index.images.get(&key).map(|r| self.image(&key, r))
    }

    /// All images, by reference.
    pub fn list(&self) -> Result<Vec<Image>, ImageError> {
        let index = self.load_index()?;
        Ok(index.images.iter().map(|(k, r)| self.image(k, r)).collect())
    }

    /// Removes a reference (or, given an ID, every reference to that image)
    /// and deletes the layers and blobs no remaining image uses.
    pub fn remove(&self, reference: &str) -> Result<(), ImageError> {
        let _lock = self.lock()?;
        let mut index = self.load_index()?;
        let keys = find(&index, reference).ok_or_else(|| ImageError::NoSuchImage { reference: reference.into() })?;
        for key in keys {
            index.images.remove(&key);
        }
        self.save_index(&index)?;
        self.collect_garbage(&index)
    }

    fn collect_garbage(&self, index: &Index) -> Result<(), ImageError> {
        let layers: BTreeSet<String> =
            index.images.values().flat_map(|r| r.diff_ids.iter().map(|d| hex_of(d))).collect();
        let blobs: BTreeSet<String> = index.images.values().flat_map(|r| r.blobs.iter().map(|d| hex_of(d))).collect();
        let layers_dir = self.root.join("layers");
        for entry in fs::read_dir(&layers_dir).map_err(io_err("read", &layers_dir))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                if is_stale(&entry.path()) {
                    let _ = fs::remove_dir_all(entry.path());
                }
                continue;
            }
            if !layers.contains(&name) {
                // Renaming first makes the layer vanish at once, never half-deleted.
                let doomed = self.tmp_path(&format!("gc-{name}"));
                if fs::rename(entry.path(), &doomed).is_ok() {
                    fs::remove_dir_all(&doomed).map_err(io_err("remove", &doomed))?;
                }
            }
        }
        let blobs_dir = self.root.join("blobs/sha256");
        for entry in fs::read_dir(&blobs_dir).map_err(io_err("read", &blobs_dir))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !blobs.contains(&name) && (name.len() == 64 || is_stale(&entry.path())) {
                let _ = fs::remove_file(entry.path());
            }
        }
        let tmp = self.root.join("tmp");
        for entry in fs::read_dir(&tmp).map_err(io_err("read", &tmp))?.flatten() {
            if is_stale(&entry.path()) {
                let path = entry.path();
                let _ = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
            }
        }
        Ok(())
    }

    /// Pulls an image from its registry, trying the matching credentials most
    /// specific first (anonymous when none match).
    pub async fn pull(
        &self,
        reference: &str,
        auth: &[RegistryAuth],
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<Image, ImageError> {
        let image_ref = Reference::parse(reference)?;
        let canonical = image_ref.to_string();
        progress(Progress::Resolving { reference: canonical.clone() });
        let http = self.http().map_err(|source| ImageError::Resolve { reference: canonical.clone(), error: source })?;
        let plain_http = self.plain_http(&image_ref);
        let candidates = RegistryAuth::matching(auth, &image_ref);
        let resolve_error = |source| ImageError::Resolve { reference: canonical.clone(), error: source };

        let mut attempts: Vec<Option<&RegistryAuth>> = candidates.into_iter().map(Some).collect();
        if attempts.is_empty() {
            attempts.push(None);
        }
        let mut last_error = None;
        let mut resolved = None;
        for credential in attempts {
            let client = RepositoryClient::new(http.clone(), &image_ref, plain_http, credential);
            match client.manifest(image_ref.manifest_ref(), &canonical).await {
                Ok(top) => {
                    resolved = Some((client, top));
                    break;
                }
                Err(e) if e.is_unauthorized() => last_error = Some(e),
                Err(e) => return Err(resolve_error(e)),
            }
        }
        let Some((client, top)) = resolved else {
            return Err(resolve_error(last_error.unwrap_or(RegistryError::Unauthorized { message: String::new() })));
        };

        let top_digest = top.digest.clone();
        let manifest = if is_index(&top) {
            let index: IndexManifest = parse_json(&top.bytes, &canonical, "image index")?;
            let chosen = choose_platform(&index.manifests)
                .ok_or_else(|| ImageError::Manifest { reference: canonical.clone(), reason: no_platform(&index) })?;
            let digest = valid_digest(&chosen.digest, &canonical)?;
            client.manifest(&digest, &canonical).await.map_err(resolve_error)?
        } else {
            top
        };
        let parsed = parse_manifest(&manifest, &canonical)?;
        let config_digest = valid_digest(&parsed.config.digest, &canonical)?;
        let config_bytes = self.fetch_metadata_blob(&client, &config_digest, parsed.config.size).await?;
        let config = parse_config(&config_bytes, &canonical)?;
        if config.diff_ids.len() != parsed.layers.len() {
            return Err(ImageError::Manifest {
                reference: canonical,
                reason: format!(
                    "the manifest has {} layers but the config lists {} diff IDs",
                    parsed.layers.len(),
                    config.diff_ids.len()
                ),
            });
        }
        let mut layers = Vec::with_capacity(parsed.layers.len());
        for (layer, diff_id) in parsed.layers.iter().zip(&config.diff_ids) {
            layers.push((valid_digest(&layer.digest, &canonical)?, layer.size, valid_digest(diff_id, &canonical)?));
        }
        progress(Progress::Resolved {
            reference: canonical.clone(),
            digest: top_digest.clone(),
            layers: layers.iter().map(|(d, s, _)| (d.clone(), *s)).collect(),
        });

        let record = Record {
            id: config_digest.clone(),
            manifest_digest: manifest.digest.clone(),
            repo_digest: format!("{}@{top_digest}", image_ref.name()),
            diff_ids: layers.iter().map(|(_, _, d)| d.clone()).collect(),
            size: parsed.config.size + layers.iter().map(|(_, s, _)| s).sum::<u64>(),
            created: config.created,
            config: config.image_config,
            blobs: vec![config_digest.clone(), manifest.digest.clone()],
        };
        self.write_blob(&manifest.digest, &manifest.bytes)?;

        // A concurrent `remove` may collect a layer between unpacking and
        // recording it; the second round finds it missing and unpacks it again.
        for _ in 0..3 {
            // Collected first: a lazy `map` held across the await makes the
            // future not `Send` (rust-lang/rust#102211).
            let fetches: Vec<_> = layers
                .iter()
                .map(|(digest, size, diff_id)| self.ensure_pulled_layer(&client, digest, *size, diff_id, progress))
                .collect();
            futures::stream::iter(fetches).buffer_unordered(PARALLEL_LAYERS).try_collect::<Vec<()>>().await?;
            let names = [canonical.clone()];
            if self.commit(&names, &record)? {
                progress(Progress::Done { reference: canonical.clone(), id: record.id.clone() });
                return Ok(self.image(&canonical, &record));
            }
        }
        Err(ImageError::Manifest { reference: canonical, reason: "layers kept disappearing while pulling".into() })
    }

    async fn ensure_pulled_layer(
        &self,
        client: &RepositoryClient,
        digest: &str,
        size: u64,
        diff_id: &str,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<(), ImageError> {
        let dir = self.layer_dir(diff_id);
        if dir.is_dir() {
            progress(Progress::LayerExists { digest: digest.to_string() });
            return Ok(());
        }
        let download = self.tmp_path(&format!("blob-{}", hex_of(digest)));
        let on_bytes = |downloaded| {
            progress(Progress::Downloading { digest: digest.to_string(), downloaded, total: size });
        };
        client
            .blob_to_file(digest, size, &download, &on_bytes)
            .await
            .map_err(|source| ImageError::Fetch { digest: digest.to_string(), error: source })?;
        progress(Progress::Unpacking { digest: digest.to_string() });
        let result = unpack_file(download.clone(), dir, diff_id.to_string()).await;
        let _ = fs::remove_file(&download);
        result?;
        progress(Progress::LayerDone { digest: digest.to_string() });
        Ok(())
    }

    /// Configs and manifests are kept; a config already here is not fetched again.
    async fn fetch_metadata_blob(
        &self,
        client: &RepositoryClient,
        digest: &str,
        size: u64,
    ) -> Result<Vec<u8>, ImageError> {
        let path = self.blob_path(digest);
        if let Ok(bytes) = fs::read(&path) {
            if sha256_digest(&bytes) == digest {
                return Ok(bytes);
            }
        }
        client
            .blob_to_file(digest, size, &path, &|_| {})
            .await
            .map_err(|source| ImageError::Fetch { digest: digest.to_string(), error: source })?;
        fs::read(&path).map_err(io_err("read", &path))
    }

    /// Imports a `docker save` or OCI image-layout tarball (gzip allowed) and
    /// records the references it names; unnamed images are kept by ID.
    pub async fn import(&self, archive_path: &Path) -> Result<Vec<Image>, ImageError> {
        let scratch = self.tmp_path("import");
        let result = self.import_from(archive_path, &scratch).await;
        let _ = fs::remove_dir_all(&scratch);
        result
    }

    async fn import_from(&self, archive_path: &Path, scratch: &Path) -> Result<Vec<Image>, ImageError> {
        let archive_path = archive_path.to_path_buf();
        let scratch_dir = scratch.to_path_buf();
        let images = tokio::task::spawn_blocking(move || archive::read_archive(&archive_path, &scratch_dir))
            .await
            .map_err(|e| io_err("import", scratch)(std::io::Error::other(e)))??;
        let mut out = Vec::new();
        for imported in images {
            out.extend(self.install_imported(imported).await?);
        }
        Ok(out)
    }

    async fn install_imported(&self, imported: ImportedImage) -> Result<Vec<Image>, ImageError> {
        let label = imported.names.first().cloned().unwrap_or_else(|| imported.config_digest.clone());
        let config = parse_config(&imported.config, &label)?;
        if config.diff_ids.len() != imported.layers.len() {
            return Err(ImageError::Manifest {
                reference: label,
                reason: format!(
                    "the archive has {} layers but the config lists {} diff IDs",
                    imported.layers.len(),
                    config.diff_ids.len()
                ),
            });
        }
        let mut names = Vec::new();
        for name in &imported.names {
            names.push(Reference::parse(name)?.to_string());
        }
        if names.is_empty() {
            names.push(imported.config_digest.clone());
        }
        let diff_ids: Vec<String> =
            config.diff_ids.iter().map(|d| valid_digest(d, &label)).collect::<Result<_, _>>()?;
        self.write_blob(&imported.config_digest, &imported.config)?;
        self.write_blob(&imported.manifest_digest, &imported.manifest)?;
        let record = Record {
            id: imported.config_digest.clone(),
            manifest_digest: imported.manifest_digest.clone(),
            repo_digest: String::new(),
            diff_ids: diff_ids.clone(),
            size: imported.config.len() as u64 + imported.layers.iter().map(|l| l.size).sum::<u64>(),
            created: config.created,
            config: config.image_config,
            blobs: vec![imported.config_digest.clone(), imported.manifest_digest.clone()],
        };
        for _ in 0..3 {
            for (layer, diff_id) in imported.layers.iter().zip(&diff_ids) {
                let dir = self.layer_dir(diff_id);
                if !dir.is_dir() {
                    unpack_file(layer.path.clone(), dir, diff_id.clone()).await?;
                }
            }
            if self.commit_each(&names, &record, &imported.manifest_digest)? {
                return Ok(names
                    .iter()
                    .map(|n| {
                        let mut record = record.clone();
                        record.repo_digest = repo_digest_for(n, &imported.manifest_digest);
                        self.image(n, &record)
                    })
                    .collect());
            }
        }
        Err(ImageError::Manifest { reference: label, reason: "layers kept disappearing while importing".into() })
    }

    /// Records `names` → `record` if every layer is (still) present.
    fn commit(&self, names: &[String], record: &Record) -> Result<bool, ImageError> {
        let _lock = self.lock()?;
        if record.diff_ids.iter().any(|d| !self.layer_dir(d).is_dir()) {
            return Ok(false);
        }
        let mut index = self.load_index()?;
        for name in names {
            index.images.insert(name.clone(), record.clone());
        }
        self.save_index(&index)?;
        Ok(true)
    }

    /// Like `commit`, with each name's own `name@digest`.
    fn commit_each(&self, names: &[String], record: &Record, manifest_digest: &str) -> Result<bool, ImageError> {
        let _lock = self.lock()?;
        if record.diff_ids.iter().any(|d| !self.layer_dir(d).is_dir()) {
            return Ok(false);
        }
        let mut index = self.load_index()?;
        for name in names {
            let mut record = record.clone();
            record.repo_digest = repo_digest_for(name, manifest_digest);
            index.images.insert(name.clone(), record);
        }
        self.save_index(&index)?;
        Ok(true)
    }

    fn image(&self, reference: &str, record: &Record) -> Image {
        Image {
            reference: reference.to_string(),
            id: record.id.clone(),
            manifest_digest: record.manifest_digest.clone(),
            repo_digest: record.repo_digest.clone(),
            size: record.size,
            created: record.created,
            layers: record.diff_ids.iter().map(|d| self.layer_dir(d)).collect(),
            diff_ids: record.diff_ids.clone(),
            config: record.config.clone(),
        }
    }

    fn http(&self) -> Result<reqwest::Client, RegistryError> {
        if let Some(client) = self.http.get() {
            return Ok(client.clone());
        }
        let client = registry::http_client()?;
        Ok(self.http.get_or_init(|| client).clone())
    }

    fn plain_http(&self, image: &Reference) -> bool {
        let host = image.hostname().trim_start_matches('[').trim_end_matches(']');
        let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        loopback
            || self
                .insecure
                .lock()
                .map(|list| list.iter().any(|r| r == &image.registry || r == image.hostname()))
                .unwrap_or(false)
    }

    fn lock(&self) -> Result<File, ImageError> {
        let path = self.root.join(LOCK_FILE);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        file.lock().map_err(io_err("lock", &path))?;
        Ok(file)
    }

    fn load_index(&self) -> Result<Index, ImageError> {
        let path = self.root.join(INDEX_FILE);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| ImageError::Index { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(io_err("read", &path)(e)),
        }
    }

    fn save_index(&self, index: &Index) -> Result<(), ImageError> {
        let path = self.root.join(INDEX_FILE);
        let bytes =
            serde_json::to_vec_pretty(index).map_err(|source| ImageError::Index { path: path.clone(), source })?;
        write_atomically(&path, &self.tmp_path("index"), &bytes)
    }

    fn write_blob(&self, digest: &str, bytes: &[u8]) -> Result<(), ImageError> {
        let path = self.blob_path(digest);
        if path.exists() {
            return Ok(());
        }
        write_atomically(&path, &self.tmp_path("blob"), bytes)
    }
}

fn write_atomically(path: &Path, tmp: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    let mut file = File::create(tmp).map_err(io_err("create", tmp))?;
    file.write_all(bytes).map_err(io_err("write", tmp))?;
    file.sync_all().map_err(io_err("sync", tmp))?;
    fs::rename(tmp, path).map_err(io_err("rename into", path))
}

async fn unpack_file(blob: PathBuf, dir: PathBuf, diff_id: String) -> Result<(), ImageError> {
    let id = diff_id.clone();
    tokio::task::spawn_blocking(move || {
        let file = File::open(&blob).map_err(io_err("open", &blob))?;
        unpack::unpack_layer_dir(std::io::BufReader::new(file), &dir, Some(&diff_id))
            .map(|_| ())
            .map_err(|source| ImageError::Unpack { diff_id: diff_id.clone(), error: source })
    })
    .await
    .map_err(|e| ImageError::Unpack {
        diff_id: id,
        error: unpack::UnpackError::Read(std::io::Error::other(e.to_string())),
    })?
}

pub(crate) fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ImageError + 'a {
    move |source| ImageError::Io { op, path: path.to_path_buf(), source }
}

fn is_stale(path: &Path) -> bool {
    fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age > STALE_TMP)
}

fn hex_of(digest: &str) -> String {
    digest.strip_prefix("sha256:").unwrap_or(digest).to_string()
}

pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn repo_digest_for(name: &str, digest: &str) -> String {
    match Reference::parse(name) {
        Ok(r) => format!("{}@{digest}", r.name()),
        Err(_) => String::new(),
    }
}

/// Digests from manifests and archives become file names: only well-formed
/// sha256 digests get that far.
pub(crate) fn valid_digest(digest: &str, reference: &str) -> Result<String, ImageError> {
    let ok = digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    if ok {
        Ok(digest.to_string())
    } else {
        Err(ImageError::Manifest { reference: reference.to_string(), reason: format!("invalid digest {digest:?}") })
    }
}

/// The keys a lookup string names: its normalised reference, a `name@digest`
/// matching an image's repo digest, or an image ID (full or 12+ hex prefix).
fn find(index: &Index, query: &str) -> Option<Vec<String>> {
    if let Ok(reference) = Reference::parse(query) {
        let key = reference.to_string();
        if index.images.contains_key(&key) {
            return Some(vec![key]);
        }
        if let Some(digest) = &reference.digest {
            let repo_digest = format!("{}@{digest}", reference.name());
            let keys: Vec<String> =
                index.images.iter().filter(|(_, r)| r.repo_digest == repo_digest).map(|(k, _)| k.clone()).collect();
            if !keys.is_empty() {
                return Some(keys);
            }
        }
    }
    if index.images.contains_key(query) {
        return Some(vec![query.to_string()]);
    }
    let hex = query.strip_prefix("sha256:").unwrap_or(query);
    if hex.len() < 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let ids: BTreeSet<&str> =
        index.images.values().map(|r| r.id.as_str()).filter(|id| hex_of(id).starts_with(hex)).collect();
    if ids.len() != 1 {
        return None;
    }
    let keys: Vec<String> =
        index.images.iter().filter(|(_, r)| ids.contains(r.id.as_str())).map(|(k, _)| k.clone()).collect();
    Some(keys)
}

#[derive(Deserialize)]
pub(crate) struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
pub(crate) struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: String,
}

#[derive(Deserialize)]
pub(crate) struct IndexManifest {
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
pub(crate) struct ImageManifest {
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

fn is_index(manifest: &FetchedManifest) -> bool {
    manifest.media_type == MEDIA_OCI_INDEX
        || manifest.media_type == MEDIA_DOCKER_LIST
        || (manifest.media_type.is_empty()
            && serde_json::from_slice::<serde_json::Value>(&manifest.bytes).is_ok_and(|v| v.get("manifests").is_some()))
}

fn parse_json<'a, T: Deserialize<'a>>(bytes: &'a [u8], reference: &str, what: &str) -> Result<T, ImageError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ImageError::Manifest { reference: reference.to_string(), reason: format!("invalid {what}: {e}") })
}

fn parse_manifest(manifest: &FetchedManifest, reference: &str) -> Result<ImageManifest, ImageError> {
    let schema1 = manifest.media_type.starts_with("application/vnd.docker.distribution.manifest.v1")
        || serde_json::from_slice::<serde_json::Value>(&manifest.bytes)
            .is_ok_and(|v| v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1));
    if schema1 {
        return Err(ImageError::Manifest {
            reference: reference.to_string(),
            reason: "Docker Image Format v1 and Docker Image manifest version 2, schema 1 are not supported".into(),
        });
    }
    parse_json(&manifest.bytes, reference, "image manifest")
}

/// The host's platform in OCI terms.
pub(crate) fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

pub(crate) fn choose_platform(manifests: &[Descriptor]) -> Option<&Descriptor> {
    let arch = host_architecture();
    let candidates: Vec<&Descriptor> = manifests
        .iter()
        .filter(|d| match &d.platform {
            Some(p) => p.os == "linux" && p.architecture == arch,
            None => false,
        })
        .collect();
    let preferred_variant = if arch == "arm64" { "v8" } else { "" };
    candidates
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| p.variant == preferred_variant))
        .or(candidates.first())
        .copied()
        .or_else(|| match manifests {
            [only] if only.platform.is_none() => Some(only),
            _ => None,
        })
}

fn no_platform(index: &IndexManifest) -> String {
    let available: Vec<String> = index
        .manifests
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .map(|p| {
            if p.variant.is_empty() {
                format!("{}/{}", p.os, p.architecture)
            } else {
                format!("{}/{}/{}", p.os, p.architecture, p.variant)
            }
        })
        .collect();
    format!("no match for platform in manifest: linux/{} not in [{}]", host_architecture(), available.join(", "))
}

/// What skiff reads from an image config.
pub(crate) struct ParsedConfig {
    pub diff_ids: Vec<String>,
    pub created: Option<DateTime<Utc>>,
    pub image_config: ImageConfig,
}

pub(crate) fn parse_config(bytes: &[u8], reference: &str) -> Result<ParsedConfig, ImageError> {
    #[derive(Deserialize)]
    struct ConfigFile {
        #[serde(default)]
        created: Option<String>,
        #[serde(default)]
        config: Option<RunConfig>,
        rootfs: RootFs,
    }
    #[derive(Deserialize)]
    struct RootFs {
        #[serde(default)]
        diff_ids: Vec<String>,
    }
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase")]
    struct RunConfig {
        #[serde(default)]
        env: Option<Vec<String>>,
        #[serde(default)]
        entrypoint: Option<Vec<String>>,
        #[serde(default)]
        cmd: Option<Vec<String>>,
        #[serde(default)]
        working_dir: Option<String>,
        #[serde(default)]
        user: Option<String>,
        #[serde(default)]
        exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
        #[serde(default)]
        labels: Option<BTreeMap<String, String>>,
        #[serde(default)]
        stop_signal: Option<String>,
    }
    let file: ConfigFile = parse_json(bytes, reference, "image config")?;
    let run = file.config.unwrap_or_default();
    Ok(ParsedConfig {
        diff_ids: file.rootfs.diff_ids,
        created: file.created.and_then(|c| DateTime::parse_from_rfc3339(&c).ok()).map(|c| c.with_timezone(&Utc)),
        image_config: ImageConfig {
            env: run.env.unwrap_or_default(),
            entrypoint: run.entrypoint.unwrap_or_default(),
            cmd: run.cmd.unwrap_or_default(),
            working_dir: run.working_dir.unwrap_or_default(),
            user: run.user.unwrap_or_default(),
            exposed_ports: run.exposed_ports.map(|p| p.into_keys().collect()).unwrap_or_default(),
            labels: run.labels.unwrap_or_default(),
            stop_signal: run.stop_signal.unwrap_or_default(),
        },
    })
}

/// The manifest `docker save` archives lack, made up as containerd does on
/// import so every image has a manifest digest.
pub(crate) fn synthesize_manifest(config_digest: &str, config_size: u64, layers: &[(String, u64, bool)]) -> Vec<u8> {
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|(digest, size, gzip)| {
            serde_json::json!({
                "mediaType": if *gzip { "application/vnd.oci.image.layer.v1.tar+gzip" } else { "application/vnd.oci.image.layer.v1.tar" },
                "digest": digest,
                "size": size,
            })
        })
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": layers,
    });
    serde_json::to_vec(&manifest).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(os: &str, arch: &str, variant: &str, digest: &str) -> Descriptor {
        Descriptor {
            media_type: String::new(),
            digest: digest.into(),
            size: 0,
            platform: Some(Platform { architecture: arch.into(), os: os.into(), variant: variant.into() }),
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn picks_the_host_platform() {
        let arch = host_architecture();
        let list = vec![
            descriptor("unknown", "unknown", "", "attestation"),
            descriptor("linux", "s390x-not-this", "", "other"),
            descriptor("windows", arch, "", "windows"),
            descriptor("linux", arch, "", "ours"),
        ];
        assert_eq!(choose_platform(&list).map(|d| d.digest.as_str()), Some("ours"));
        assert!(choose_platform(&list[..3]).is_none());
    }

    #[test]
    fn config_fields() {
        let config = br#"{"created":"2024-01-02T03:04:05.123Z","architecture":"amd64","os":"linux",
            "config":{"Env":["PATH=/bin"],"Entrypoint":null,"Cmd":["sh"],"WorkingDir":"/w","User":"65534",
            "ExposedPorts":{"80/tcp":{}},"Labels":{"a":"b"},"StopSignal":"SIGQUIT"},
            "rootfs":{"type":"layers","diff_ids":["sha256:aa"]}}"#;
        let parsed = parse_config(config, "x").unwrap();
        assert_eq!(parsed.diff_ids, vec!["sha256:aa"]);
        assert_eq!(parsed.image_config.cmd, vec!["sh"]);
        assert!(parsed.image_config.entrypoint.is_empty());
        assert_eq!(parsed.image_config.exposed_ports, vec!["80/tcp"]);
        assert_eq!(parsed.image_config.stop_signal, "SIGQUIT");
        assert_eq!(parsed.created.map(|c| c.timestamp()), Some(1_704_164_645));
    }

    #[test]
    fn operations_can_run_on_spawned_tasks() {
        fn assert_send<T: Send>(_: &T) {}
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let progress = |_| {};
        assert_send(&store.pull("busybox", &[], &progress));
        assert_send(&store.import(Path::new("x.tar")));
    }

    #[test]
    fn digests_must_be_well_formed() {
        assert!(valid_digest(&format!("sha256:{}", "a".repeat(64)), "x").is_ok());
        for bad in ["sha256:../../etc", "sha256:AA", "md5:00", ""] {
            assert!(valid_digest(bad, "x").is_err(), "{bad}");
        }
    }
}
