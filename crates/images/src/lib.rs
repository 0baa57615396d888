//! skiff's node-local image store: what containerd's content store, image
//! service and overlayfs snapshotter do for a kubelet, in one small crate.
//!
//! ```text
//! <root>/
//!   index.json                 reference → image (manifest, config, diff IDs), replaced atomically
//!   lock                       flock(2) around every index update and garbage collection
//!   blobs/sha256/<hex>         manifests and configs, by digest
//!   layers/<diff-id hex>/      each layer unpacked once, usable as an overlayfs lowerdir
//!   tmp/                       downloads and unpacks in progress
//! ```
//!
//! - [`ImageStore::pull`] speaks the distribution API (OCI and Docker v2
//!   manifests and indexes, the host's platform chosen from an index),
//!   anonymous, Bearer-token or Basic auth with [`RegistryAuth`] credentials
//!   (parsed from `kubernetes.io/dockerconfigjson` secrets), plain HTTP for
//!   loopback and configured insecure registries. Blobs are verified by sha256
//!   while they stream, layers by their diff ID while they unpack.
//! - [`ImageStore::import`] loads `docker save` and OCI image-layout tarballs.
//! - Layers are keyed by diff ID (the digest of the uncompressed tar), so images
//!   sharing a base share its directories and a second pull unpacks nothing.
//!   Compressed layer blobs are not kept once unpacked.
//! - Whiteouts are stored the way overlayfs reads them (0/0 character devices
//!   and `trusted.overlay.opaque=y`), so a container's rootfs is simply
//!   `lowerdir=<top layer>:…:<bottom layer>` from [`Image::layers`] reversed.
//! - [`ImageStore::remove`] drops a reference and deletes the layers and blobs
//!   no remaining image uses.
//! - Several processes may share one store: unpacks happen in private temp
//!   dirs renamed into place, index updates happen under the lock.
//!
//! Error messages follow containerd's (`failed to resolve reference "…": …:
//! not found`, `pull access denied, …: server message: unauthorized: …`) and
//! carry the registry's own message, so pod events read as on Kubernetes.

mod archive;
mod progress;
mod reference;
mod registry;
mod store;
mod unpack;

use std::path::PathBuf;

pub use archive::ArchiveError;
pub use progress::{human, short, Progress, ProgressView};
pub use reference::{Reference, ReferenceError};
pub use registry::{AuthConfigError, RegistryAuth, RegistryError};
pub use store::{Image, ImageConfig, ImageStore};
pub use unpack::{unpack_layer, unpack_layer_dir, UnpackError};

/// Everything the image store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    // The causes are part of the message (as in containerd's), so they are
    // not also exposed as `source()`: error chains would print them twice.
    #[error("failed to resolve reference {reference:?}: {error}")]
    Resolve { reference: String, error: RegistryError },
    #[error("failed to pull {reference:?}: {reason}")]
    Manifest { reference: String, reason: String },
    #[error("failed to fetch {digest}: {error}")]
    Fetch { digest: String, error: RegistryError },
    #[error("failed to extract layer {diff_id}: {error}")]
    Unpack { diff_id: String, error: UnpackError },
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("image {reference:?}: not found")]
    NoSuchImage { reference: String },
    #[error("image store: {op} {path:?}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("image store index {path:?} is corrupt: {source}")]
    Index { path: PathBuf, source: serde_json::Error },
}

impl ImageError {
    /// The image or reference does not exist (registry 404, or not in the store).
    pub fn is_not_found(&self) -> bool {
        match self {
            ImageError::Resolve { error, .. } | ImageError::Fetch { error, .. } => error.is_not_found(),
            ImageError::NoSuchImage { .. } => true,
            _ => false,
        }
    }

    /// The registry refused access (missing or wrong credentials).
    pub fn is_unauthorized(&self) -> bool {
        match self {
            ImageError::Resolve { error, .. } | ImageError::Fetch { error, .. } => error.is_unauthorized(),
            _ => false,
        }
    }
}
