//! A pod's volumes on this node: each materialised under the pod's folder as
//! the kubelet lays them out (`<pod_dir>/volumes/<plugin>/<name>`; hostPath
//! is used in place), refreshed on every sync so configMap, secret,
//! downwardAPI and projected changes reach running containers, and turned
//! into a container's bind mounts.
//!
//! Volume types this module does not know (persistentVolumeClaim, csi, …)
//! are listed in [`Volumes::unsupported`]; whoever prepares them adds them
//! with [`Volumes::insert`].

mod atomic_writer;
mod host_path;
mod mounts;
mod payload;
mod tmpfs;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use skiff_runtime::spec::Mount;

use crate::config::{array, parse_quantity, str_or, ConfigError, Sources, NANOS_PER_UNIT};

pub use atomic_writer::{FileProjection, Payload, WriteError};

/// The kubelet's plugin folder names.
pub const EMPTY_DIR: &str = "kubernetes.io~empty-dir";
pub const CONFIG_MAP: &str = "kubernetes.io~configmap";
pub const SECRET: &str = "kubernetes.io~secret";
pub const PROJECTED: &str = "kubernetes.io~projected";
pub const DOWNWARD_API: &str = "kubernetes.io~downward-api";
/// The plugin folders this module owns and tears down.
const OWNED: [&str; 5] = [EMPTY_DIR, CONFIG_MAP, SECRET, PROJECTED, DOWNWARD_API];

/// An emptyDir's permission bits: any user of any container may write.
const EMPTY_DIR_MODE: u32 = 0o777;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VolumeKind {
    EmptyDir {
        memory: bool,
    },
    HostPath,
    ConfigMap,
    Secret,
    DownwardApi,
    Projected,
    /// Prepared outside this module (a PVC, CSI, …).
    Other {
        read_only: bool,
    },
}

impl VolumeKind {
    /// The kubelet mounts API-data volumes read-only whatever the pod asks.
    pub fn always_read_only(&self) -> bool {
        match self {
            VolumeKind::ConfigMap | VolumeKind::Secret | VolumeKind::DownwardApi | VolumeKind::Projected => true,
            VolumeKind::Other { read_only } => *read_only,
            VolumeKind::EmptyDir { .. } | VolumeKind::HostPath => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    /// The folder (or, for hostPath, whatever the path is) on the node.
    pub path: PathBuf,
    pub kind: VolumeKind,
}

/// The pod's volumes by name, as set up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Volumes {
    volumes: BTreeMap<String, Volume>,
    /// Names of volumes of types this module leaves to others.
    pub unsupported: Vec<String>,
    /// Things set-up left out on purpose (e.g. a service account token
    /// projection without a token), worth a Warning event.
    pub warnings: Vec<String>,
}

/// Why a volume cannot be set up; shown as the kubelet's FailedMount event.
#[derive(Debug, thiserror::Error)]
pub enum SetUpFailure {
    #[error("configmap \"{0}\" not found")]
    ConfigMapNotFound(String),
    #[error("secret \"{0}\" not found")]
    SecretNotFound(String),
    #[error("configmap references non-existent config key: {0}")]
    ConfigMapKey(String),
    #[error("secret references non-existent secret key: {0}")]
    SecretKey(String),
    #[error("hostPath {0} doesn't exist")]
    HostPathMissing(String),
    #[error("hostPath type check failed: {path} is not a {expected}, it's a {actual}")]
    HostPathType { path: String, expected: &'static str, actual: &'static str },
    #[error("hostPath type check failed, {path} is not a {expected}, unable to determine its type: only recognise file, directory, socket, block device and character device")]
    HostPathUnknownType { path: String, expected: &'static str },
    #[error("{0} is an invalid volume type")]
    InvalidHostPathType(String),
    #[error(transparent)]
    Field(#[from] ConfigError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    #[error("mount tmpfs on {path}: {source}")]
    Tmpfs { path: PathBuf, source: nix::Error },
    #[error("[{}]", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", "))]
    Several(Vec<SetUpFailure>),
}

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("MountVolume.SetUp failed for volume \"{volume}\" : {failure}")]
    SetUp {
        volume: String,
        #[source]
        failure: SetUpFailure,
    },
    #[error("cannot find volume \"{volume}\" to mount into container \"{container}\"")]
    NoSuchVolume { volume: String, container: String },
    #[error("volumeMount \"{mount}\" of container \"{container}\": mountPath \"{path}\" must be an absolute path")]
    RelativeMountPath { mount: String, container: String, path: String },
    #[error("error SubPath `{0}` must not be an absolute path")]
    AbsoluteSubPath(String),
    #[error("unable to provision SubPath `{0}`: must not contain '..'")]
    SubPathBacksteps(String),
    #[error("missing value for {0}")]
    SubPathExprMissing(String),
    #[error("failed to create subPath directory for volumeMount \"{mount}\" of container \"{container}\"")]
    SubPathCreate {
        mount: String,
        container: String,
        #[source]
        source: io::Error,
    },
    #[error("failed to prepare subPath for volumeMount \"{mount}\" of container \"{container}\"")]
    SubPathPrepare { mount: String, container: String },
    #[error("unmount {path}: {source}")]
    Unmount { path: PathBuf, source: nix::Error },
    #[error("remove {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
}

impl Volumes {
    pub fn get(&self, name: &str) -> Option<&Volume> {
        self.volumes.get(name)
    }

    /// Adds a volume prepared elsewhere (a PVC's, a CSI driver's).
    pub fn insert(&mut self, name: impl Into<String>, volume: Volume) {
        self.volumes.insert(name.into(), volume);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Volume)> {
        self.volumes.iter()
    }

    /// Unmounts the memory-backed volumes under `pod_dir` and removes the
    /// plugin folders this module made. Idempotent; folders still mounted
    /// are never deleted through.
    pub fn tear_down(pod_dir: &Path) -> Result<(), VolumeError> {
        for plugin in OWNED {
            let dir = pod_dir.join("volumes").join(plugin);
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(VolumeError::Remove { path: dir, source }),
            };
            for entry in entries {
                let path = entry.map_err(|source| VolumeError::Remove { path: dir.clone(), source })?.path();
                if path.is_dir() {
                    tmpfs::unmount(&path).map_err(|source| VolumeError::Unmount { path: path.clone(), source })?;
                    if tmpfs::is_mount_point(&path).unwrap_or(true) {
                        return Err(VolumeError::Unmount { path, source: nix::Error::EBUSY });
                    }
                }
            }
            fs::remove_dir_all(&dir).map_err(|source| VolumeError::Remove { path: dir, source })?;
        }
        Ok(())
    }
}

/// Container mounts for `container`'s volumeMounts (see [`mounts_with_env`];
/// a `subPathExpr` fails here as every variable is unset).
pub fn mounts(container: &Value, volumes: &Volumes) -> Result<Vec<Mount>, VolumeError> {
    mounts::mounts(container, volumes, &[])
}

/// Container mounts, with `subPathExpr` expanded against the container's
/// environment (from [`crate::config::environment`]).
pub fn mounts_with_env(
    container: &Value,
    volumes: &Volumes,
    env: &[(String, String)],
) -> Result<Vec<Mount>, VolumeError> {
    mounts::mounts(container, volumes, env)
}

/// Materialises every volume of `pod` under `pod_dir`; safe to call again
/// on every sync. All volumes are attempted; the first failure is returned.
pub fn set_up(pod: &Value, pod_dir: &Path, sources: &Sources) -> Result<Volumes, VolumeError> {
    let mut volumes = Volumes::default();
    let mut first_error = None;
    for volume in array(&pod["spec"]["volumes"]) {
        let name = str_or(&volume["name"], "");
        match set_up_one(pod, volume, name, pod_dir, sources, &mut volumes.warnings) {
            Ok(Some(v)) => {
                volumes.volumes.insert(name.to_string(), v);
            }
            Ok(None) => volumes.unsupported.push(name.to_string()),
            Err(failure) => {
                first_error.get_or_insert(VolumeError::SetUp { volume: name.to_string(), failure });
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(volumes),
    }
}

fn set_up_one(
    pod: &Value,
    volume: &Value,
    name: &str,
    pod_dir: &Path,
    sources: &Sources,
    warnings: &mut Vec<String>,
) -> Result<Option<Volume>, SetUpFailure> {
    let dir = |plugin: &str| pod_dir.join("volumes").join(plugin).join(name);
    if volume["emptyDir"].is_object() {
        let ed = &volume["emptyDir"];
        let path = dir(EMPTY_DIR);
        make_volume_dir(&path)?;
        let memory = str_or(&ed["medium"], "") == "Memory";
        if memory {
            let limit = match &ed["sizeLimit"] {
                Value::Null => None,
                q => Some(quantity_bytes(q)?),
            };
            mount_tmpfs(&path, memory_size(pod, limit, sources)?)?;
        }
        return Ok(Some(Volume { path, kind: VolumeKind::EmptyDir { memory } }));
    }
    if volume["hostPath"].is_object() {
        let hp = &volume["hostPath"];
        let path = PathBuf::from(str_or(&hp["path"], ""));
        host_path::check(&path, str_or(&hp["type"], ""))?;
        return Ok(Some(Volume { path, kind: VolumeKind::HostPath }));
    }
    if volume["configMap"].is_object() {
        let source = &volume["configMap"];
        let payload =
            payload::config_map(source, sources, payload::mode_of(&source["defaultMode"], payload::DEFAULT_MODE))?;
        let path = dir(CONFIG_MAP);
        make_volume_dir(&path)?;
        atomic_writer::write(&path, &payload)?;
        return Ok(Some(Volume { path, kind: VolumeKind::ConfigMap }));
    }
    if volume["secret"].is_object() {
        let source = &volume["secret"];
        let secret_name = str_or(&source["secretName"], "");
        let payload = payload::secret(
            source,
            secret_name,
            sources,
            payload::mode_of(&source["defaultMode"], payload::DEFAULT_MODE),
        )?;
        let path = dir(SECRET);
        make_volume_dir(&path)?;
        // Secrets never touch the node's disk.
        mount_tmpfs(&path, memory_size(pod, None, sources)?)?;
        atomic_writer::write(&path, &payload)?;
        return Ok(Some(Volume { path, kind: VolumeKind::Secret }));
    }
    if volume["downwardAPI"].is_object() {
        let source = &volume["downwardAPI"];
        let payload = payload::downward_api(
            &source["items"],
            pod,
            sources,
            payload::mode_of(&source["defaultMode"], payload::DEFAULT_MODE),
        )?;
        let path = dir(DOWNWARD_API);
        make_volume_dir(&path)?;
        atomic_writer::write(&path, &payload)?;
        return Ok(Some(Volume { path, kind: VolumeKind::DownwardApi }));
    }
    if volume["projected"].is_object() {
        let payload = payload::projected(&volume["projected"], pod, sources, warnings)?;
        let path = dir(PROJECTED);
        make_volume_dir(&path)?;
        // May hold a secret or a token.
        mount_tmpfs(&path, memory_size(pod, None, sources)?)?;
        atomic_writer::write(&path, &payload)?;
        return Ok(Some(Volume { path, kind: VolumeKind::Projected }));
    }
    Ok(None)
}

fn make_volume_dir(path: &Path) -> Result<(), SetUpFailure> {
    let io_fail = |op| move |source| SetUpFailure::Io { op, path: path.to_path_buf(), source };
    fs::create_dir_all(path).map_err(io_fail("mkdir"))?;
    let mode = fs::metadata(path).map_err(io_fail("stat"))?.permissions().mode() & 0o7777;
    // A tmpfs already mounted here has its own mode; only fix a plain folder.
    if mode != EMPTY_DIR_MODE && !tmpfs::is_mount_point(path).unwrap_or(false) {
        fs::set_permissions(path, fs::Permissions::from_mode(EMPTY_DIR_MODE)).map_err(io_fail("chmod"))?;
    }
    Ok(())
}

fn mount_tmpfs(path: &Path, size: Option<u64>) -> Result<(), SetUpFailure> {
    tmpfs::ensure(path, size).map_err(|source| SetUpFailure::Tmpfs { path: path.to_path_buf(), source })
}

fn quantity_bytes(q: &Value) -> Result<u64, ConfigError> {
    let text = match q {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let nanos = parse_quantity(&text)?;
    let bytes = (nanos + NANOS_PER_UNIT - 1).div_euclid(NANOS_PER_UNIT);
    Ok(u64::try_from(bytes.max(0)).unwrap_or(u64::MAX))
}

/// A memory-backed volume's size as the kubelet computes it: the node's
/// allocatable memory, lowered to the pod's memory limit and then to the
/// volume's sizeLimit when those are smaller. None: no size option (the
/// kernel's default), when nothing is known.
fn memory_size(pod: &Value, size_limit: Option<u64>, sources: &Sources) -> Result<Option<u64>, ConfigError> {
    let allocatable = sources.node_allocatable.1;
    let mut size = if allocatable > 0 { allocatable } else { u64::MAX };
    if let Some(pod_limit) = pod_memory_limit(pod)? {
        if pod_limit > 0 && pod_limit <= size {
            size = pod_limit;
        }
    }
    if let Some(limit) = size_limit {
        if limit > 0 && limit <= size {
            size = limit;
        }
    }
    Ok((size != u64::MAX).then_some(size))
}

/// The pod's memory limit: the sum over its containers (at least the
/// largest init container's), or None when any container has none.
fn pod_memory_limit(pod: &Value) -> Result<Option<u64>, ConfigError> {
    let limit_of = |c: &Value| -> Result<Option<u64>, ConfigError> {
        match &c["resources"]["limits"]["memory"] {
            Value::Null => Ok(None),
            q => quantity_bytes(q).map(Some),
        }
    };
    let mut sum: u64 = 0;
    for c in array(&pod["spec"]["containers"]) {
        match limit_of(c)? {
            Some(l) => sum = sum.saturating_add(l),
            None => return Ok(None),
        }
    }
    for c in array(&pod["spec"]["initContainers"]) {
        match limit_of(c)? {
            Some(l) => sum = sum.max(l),
            None => return Ok(None),
        }
    }
    Ok(Some(sum))
}

#[cfg(test)]
mod tests;
