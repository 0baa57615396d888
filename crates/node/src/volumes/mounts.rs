//! A container's volumeMounts as bind mounts of the pod's volumes, with the
//! kubelet's subPath rules (makeMounts).

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use skiff_runtime::spec::{Mount, MountKind};

use super::{VolumeError, Volumes};
use crate::config::{array, expand, str_or};

pub fn mounts(container: &Value, volumes: &Volumes, env: &[(String, String)]) -> Result<Vec<Mount>, VolumeError> {
    let container_name = str_or(&container["name"], "");
    let mut out = Vec::new();
    for vm in array(&container["volumeMounts"]) {
        let name = str_or(&vm["name"], "");
        let volume = volumes.get(name).ok_or_else(|| VolumeError::NoSuchVolume {
            volume: name.to_string(),
            container: container_name.to_string(),
        })?;
        let mount_path = str_or(&vm["mountPath"], "");
        if !mount_path.starts_with('/') {
            return Err(VolumeError::RelativeMountPath {
                mount: name.to_string(),
                container: container_name.to_string(),
                path: mount_path.to_string(),
            });
        }
        let mut sub_path = str_or(&vm["subPath"], "").to_string();
        let expr = str_or(&vm["subPathExpr"], "");
        if !expr.is_empty() {
            sub_path = expand_sub_path_expr(expr, env)?;
        }
        let source = if sub_path.is_empty() {
            volume.path.clone()
        } else {
            if sub_path.starts_with('/') {
                return Err(VolumeError::AbsoluteSubPath(sub_path));
            }
            if sub_path.split('/').any(|p| p == "..") {
                return Err(VolumeError::SubPathBacksteps(sub_path));
            }
            resolve_sub_path(&volume.path, &sub_path).map_err(|failure| match failure {
                SubPathFailure::Create(source) => VolumeError::SubPathCreate {
                    mount: name.to_string(),
                    container: container_name.to_string(),
                    source,
                },
                SubPathFailure::Prepare => {
                    VolumeError::SubPathPrepare { mount: name.to_string(), container: container_name.to_string() }
                }
            })?
        };
        out.push(Mount {
            source,
            destination: mount_path.to_string(),
            kind: MountKind::Bind,
            read_only: vm["readOnly"].as_bool().unwrap_or(false) || volume.kind.always_read_only(),
        });
    }
    Ok(out)
}

/// subPathExpr: `$(VAR)` against the container's environment; a variable
/// that is unset or empty is an error, as in the kubelet.
fn expand_sub_path_expr(expr: &str, env: &[(String, String)]) -> Result<String, VolumeError> {
    let missing = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let out = expand(expr, |name| {
        let value = env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
        if value.is_empty() {
            missing.borrow_mut().insert(name.to_string());
        }
        Some(value)
    });
    let missing = missing.into_inner();
    if !missing.is_empty() {
        return Err(VolumeError::SubPathExprMissing(missing.into_iter().collect::<Vec<_>>().join(", ")));
    }
    Ok(out)
}

enum SubPathFailure {
    Create(io::Error),
    Prepare,
}

/// The subPath's real location, created (as folders with the volume's
/// mode) when missing. Every symlink on the way must stay inside the
/// volume: a container could plant one pointing at the node's files.
fn resolve_sub_path(volume: &Path, sub_path: &str) -> Result<PathBuf, SubPathFailure> {
    let existed = fs::metadata(volume.join(sub_path)).is_ok();
    let escape = || {
        if existed {
            SubPathFailure::Prepare
        } else {
            SubPathFailure::Create(io::Error::other("escapes the volume"))
        }
    };
    let root = fs::canonicalize(volume).map_err(SubPathFailure::Create)?;
    let perm = fs::metadata(&root).map_err(SubPathFailure::Create)?.permissions().mode() & 0o7777;
    let parts: Vec<&str> = sub_path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    let mut current = root.clone();
    for (i, part) in parts.iter().enumerate() {
        let candidate = current.join(part);
        match fs::symlink_metadata(&candidate) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&candidate).map_err(SubPathFailure::Create)?;
                fs::set_permissions(&candidate, fs::Permissions::from_mode(perm)).map_err(SubPathFailure::Create)?;
                current = candidate;
            }
            Err(e) => return Err(SubPathFailure::Create(e)),
            Ok(meta) if meta.file_type().is_symlink() => {
                let resolved = fs::canonicalize(&candidate).map_err(|_| escape())?;
                if !resolved.starts_with(&root) {
                    return Err(escape());
                }
                current = resolved;
            }
            Ok(meta) if meta.is_dir() || i + 1 == parts.len() => current = candidate,
            Ok(_) => return Err(SubPathFailure::Create(io::Error::from(io::ErrorKind::NotADirectory))),
        }
    }
    if !current.starts_with(&root) {
        return Err(escape());
    }
    Ok(current)
}
