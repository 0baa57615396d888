//! The kernel calls behind memory-backed volumes (emptyDir `medium: Memory`,
//! and secret and projected volumes, which the kubelet keeps off the disk).

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// Whether something is mounted on `dir`: it sits on another device than
/// its parent (or is the root of its own).
pub fn is_mount_point(dir: &Path) -> io::Result<bool> {
    let here = fs::metadata(dir)?;
    let parent = fs::metadata(dir.join(".."))?;
    Ok(here.dev() != parent.dev() || here.ino() == parent.ino())
}

/// Mounts a tmpfs on `dir` unless one is there already (set-up runs every
/// sync, and a second mount would hide the first one's files).
pub fn ensure(dir: &Path, size: Option<u64>) -> Result<(), nix::Error> {
    if is_mount_point(dir).map_err(|e| e.raw_os_error().map_or(nix::Error::EIO, nix::Error::from_raw))? {
        return Ok(());
    }
    let options = size.map(|s| format!("size={s}"));
    mount(Some("tmpfs"), dir, Some("tmpfs"), MsFlags::empty(), options.as_deref())
}

/// Unmounts `dir` if mounted; a busy mount is detached so the pod's folder
/// can go once the last user is gone.
pub fn unmount(dir: &Path) -> Result<(), nix::Error> {
    if !is_mount_point(dir).unwrap_or(false) {
        return Ok(());
    }
    match umount2(dir, MntFlags::empty()) {
        Err(nix::Error::EBUSY) => umount2(dir, MntFlags::MNT_DETACH),
        other => other,
    }
}
