//! Reading image archives for import: `docker save` tarballs (`manifest.json`
//! with `RepoTags`) and OCI image-layout tarballs (`oci-layout`, `index.json`
//! with `io.containerd.image.name` / `org.opencontainers.image.ref.name`
//! annotations), gzip-compressed or not. The archive's files are extracted
//! into a scratch directory; nothing in it is trusted as a path.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::registry::{MEDIA_DOCKER_LIST, MEDIA_OCI_INDEX};
use crate::store::{choose_platform, sha256_digest, synthesize_manifest, valid_digest, ImageManifest, IndexManifest};
use crate::unpack;

const CONTAINERD_NAME: &str = "io.containerd.image.name";
const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";
const MAX_SYMLINK_HOPS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("failed to import {archive:?}: {reason}")]
    Invalid { archive: PathBuf, reason: String },
    #[error("failed to import {archive:?}: {op} {path:?}: {source}")]
    Io { archive: PathBuf, op: &'static str, path: PathBuf, source: io::Error },
}

/// One image found in an archive, its layers still as files in the scratch dir.
pub(crate) struct ImportedImage {
    pub names: Vec<String>,
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub config: Vec<u8>,
    pub config_digest: String,
    pub layers: Vec<ArchiveLayer>,
}

pub(crate) struct ArchiveLayer {
    pub path: PathBuf,
    pub size: u64,
}

struct Extracted<'a> {
    archive: &'a Path,
    scratch: &'a Path,
    symlinks: HashMap<PathBuf, PathBuf>,
}

pub(crate) fn read_archive(archive: &Path, scratch: &Path) -> Result<Vec<ImportedImage>, crate::ImageError> {
    let extracted = extract(archive, scratch)?;
    if extracted.exists("manifest.json") {
        Ok(extracted.docker_save()?)
    } else if extracted.exists("index.json") {
        Ok(extracted.oci_layout()?)
    } else {
        Err(extracted.invalid("neither manifest.json (docker save) nor index.json (OCI image layout) found").into())
    }
}

fn extract<'a>(archive: &'a Path, scratch: &'a Path) -> Result<Extracted<'a>, ArchiveError> {
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError::Io { archive: archive.to_path_buf(), op, path, source }
    };
    fs::create_dir_all(scratch).map_err(io("create", scratch))?;
    let file = File::open(archive).map_err(io("open", archive))?;
    let reader = unpack::decompress(io::BufReader::new(file)).map_err(io("read", archive))?;
    let mut tar = tar::Archive::new(reader);
    let mut extracted = Extracted { archive, scratch, symlinks: HashMap::new() };
    for entry in tar.entries().map_err(io("read", archive))? {
        let mut entry = entry.map_err(io("read", archive))?;
        let raw = entry.path().map_err(io("read", archive))?.into_owned();
        let Some(name) = clean(&raw) else {
            return Err(extracted.invalid(&format!("entry {raw:?} escapes the archive")));
        };
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let dest = scratch.join(&name);
                if let Some(parent) = dest.parent() {
                    fs::create_dir_all(parent).map_err(io("create", parent))?;
                }
                let mut out = File::create(&dest).map_err(io("create", &dest))?;
                io::copy(&mut entry, &mut out).map_err(io("write", &dest))?;
            }
            tar::EntryType::Symlink => {
                // `docker save` links repeated layers to their first copy.
                let target =
                    entry.link_name().map_err(io("read", archive))?.map(|t| t.into_owned()).unwrap_or_default();
                let joined = name.parent().unwrap_or(Path::new("")).join(target);
                if let Some(target) = clean(&joined) {
                    extracted.symlinks.insert(name, target);
                }
            }
            _ => {}
        }
    }
    Ok(extracted)
}

/// Normalises a path inside the archive; `None` if it climbs out.
fn clean(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

impl Extracted<'_> {
    fn invalid(&self, reason: &str) -> ArchiveError {
        ArchiveError::Invalid { archive: self.archive.to_path_buf(), reason: reason.to_string() }
    }

    fn exists(&self, name: &str) -> bool {
        self.resolve(name).is_ok()
    }

    /// The extracted file a name in the archive refers to, through the
    /// archive's own symlinks.
    fn resolve(&self, name: &str) -> Result<PathBuf, ArchiveError> {
        let mut path = clean(Path::new(name)).ok_or_else(|| self.invalid(&format!("{name:?} escapes the archive")))?;
        for _ in 0..MAX_SYMLINK_HOPS {
            match self.symlinks.get(&path) {
                Some(target) => path = target.clone(),
                None => {
                    let full = self.scratch.join(&path);
                    return match fs::symlink_metadata(&full) {
                        Ok(m) if m.is_file() => Ok(full),
                        _ => Err(self.invalid(&format!("{name:?} is missing from the archive"))),
                    };
                }
            }
        }
        Err(self.invalid(&format!("too many symlinks resolving {name:?}")))
    }

    fn read(&self, name: &str) -> Result<Vec<u8>, ArchiveError> {
        let path = self.resolve(name)?;
        fs::read(&path).map_err(|source| ArchiveError::Io {
            archive: self.archive.to_path_buf(),
            op: "read",
            path,
            source,
        })
    }

    fn read_blob(&self, digest: &str) -> Result<Vec<u8>, crate::ImageError> {
        let digest = valid_digest(digest, &self.archive.display().to_string())?;
        let bytes = self.read(&format!("blobs/{}", digest.replacen(':', "/", 1)))?;
        if sha256_digest(&bytes) != digest {
            return Err(self.invalid(&format!("blob {digest} does not match its digest")).into());
        }
        Ok(bytes)
    }

    fn layer(&self, name: &str) -> Result<(ArchiveLayer, String, bool), ArchiveError> {
        let path = self.resolve(name)?;
        let io =
            |source| ArchiveError::Io { archive: self.archive.to_path_buf(), op: "read", path: path.clone(), source };
        let mut file = File::open(&path).map_err(io)?;
        let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut size = 0u64;
        let mut head = [0u8; 2];
        loop {
            let n = file.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            if size == 0 && n >= 2 {
                head.copy_from_slice(&buf[..2]);
            }
            size += n as u64;
            sha2::Digest::update(&mut hasher, &buf[..n]);
        }
        let digest = format!("sha256:{}", hex::encode(sha2::Digest::finalize(hasher)));
        Ok((ArchiveLayer { path, size }, digest, head == [0x1f, 0x8b]))
    }

    fn docker_save(&self) -> Result<Vec<ImportedImage>, crate::ImageError> {
        #[derive(Deserialize)]
        struct Entry {
            #[serde(rename = "Config")]
            config: String,
            #[serde(rename = "RepoTags", default)]
            repo_tags: Option<Vec<String>>,
            #[serde(rename = "Layers", default)]
            layers: Vec<String>,
        }
        let entries: Vec<Entry> = serde_json::from_slice(&self.read("manifest.json")?)
            .map_err(|e| self.invalid(&format!("invalid manifest.json: {e}")))?;
        let mut images = Vec::new();
        for entry in entries {
            let config = self.read(&entry.config)?;
            let config_digest = sha256_digest(&config);
            let mut layers = Vec::new();
            let mut descriptors = Vec::new();
            for name in &entry.layers {
                let (layer, digest, gzip) = self.layer(name)?;
                descriptors.push((digest, layer.size, gzip));
                layers.push(layer);
            }
            let manifest = synthesize_manifest(&config_digest, config.len() as u64, &descriptors);
            images.push(ImportedImage {
                names: entry.repo_tags.unwrap_or_default().into_iter().filter(|t| t != "<none>:<none>").collect(),
                manifest_digest: sha256_digest(&manifest),
                manifest,
                config,
                config_digest,
                layers,
            });
        }
        Ok(images)
    }

    fn oci_layout(&self) -> Result<Vec<ImportedImage>, crate::ImageError> {
        let index: IndexManifest = serde_json::from_slice(&self.read("index.json")?)
            .map_err(|e| self.invalid(&format!("invalid index.json: {e}")))?;
        let mut images = Vec::new();
        for descriptor in &index.manifests {
            let names: Vec<String> = image_name(&descriptor.annotations).into_iter().collect();
            let mut digest = descriptor.digest.clone();
            let mut bytes = self.read_blob(&digest)?;
            let nested_index = descriptor.media_type == MEDIA_OCI_INDEX
                || descriptor.media_type == MEDIA_DOCKER_LIST
                || serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|v| v.get("manifests").is_some());
            if nested_index {
                let nested: IndexManifest = serde_json::from_slice(&bytes)
                    .map_err(|e| self.invalid(&format!("invalid index {digest}: {e}")))?;
                let chosen = choose_platform(&nested.manifests)
                    .ok_or_else(|| self.invalid(&format!("no manifest for this platform in {digest}")))?;
                digest = chosen.digest.clone();
                bytes = self.read_blob(&digest)?;
            }
            let manifest: ImageManifest =
                serde_json::from_slice(&bytes).map_err(|e| self.invalid(&format!("invalid manifest {digest}: {e}")))?;
            let config = self.read_blob(&manifest.config.digest)?;
            let mut layers = Vec::new();
            for layer in &manifest.layers {
                let layer_digest = valid_digest(&layer.digest, &self.archive.display().to_string())?;
                let path = self.resolve(&format!("blobs/{}", layer_digest.replacen(':', "/", 1)))?;
                layers.push(ArchiveLayer { path, size: layer.size });
            }
            images.push(ImportedImage {
                names,
                manifest: bytes,
                manifest_digest: digest,
                config_digest: manifest.config.digest.clone(),
                config,
                layers,
            });
        }
        Ok(images)
    }
}

/// containerd's full name first; a bare `ref.name` tag (`latest`) names no
/// repository, so only a full reference counts.
fn image_name(annotations: &std::collections::BTreeMap<String, String>) -> Option<String> {
    if let Some(name) = annotations.get(CONTAINERD_NAME) {
        return Some(name.clone());
    }
    annotations.get(OCI_REF_NAME).filter(|n| n.contains('/') || n.contains(':')).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths_stay_inside() {
        assert_eq!(clean(Path::new("./a/b/../c")), Some(PathBuf::from("a/c")));
        assert_eq!(clean(Path::new("/abs/x")), Some(PathBuf::from("abs/x")));
        assert_eq!(clean(Path::new("../x")), None);
        assert_eq!(clean(Path::new("a/../../x")), None);
    }

    #[test]
    fn names_from_annotations() {
        let mut a = std::collections::BTreeMap::new();
        a.insert(OCI_REF_NAME.to_string(), "latest".to_string());
        assert_eq!(image_name(&a), None);
        a.insert(OCI_REF_NAME.to_string(), "busybox:1".to_string());
        assert_eq!(image_name(&a).as_deref(), Some("busybox:1"));
        a.insert(CONTAINERD_NAME.to_string(), "docker.io/library/busybox:2".to_string());
        assert_eq!(image_name(&a).as_deref(), Some("docker.io/library/busybox:2"));
    }
}
