//! Unpacking one layer tarball into a directory overlayfs can use directly as
//! a lowerdir. OCI whiteouts become what overlayfs understands (`.wh.NAME` → a
//! 0/0 character device `NAME`; `.wh..wh..opq` → `trusted.overlay.opaque=y` on
//! the directory), ownership, modes (setuid included), mtimes, hard links,
//! symlinks, devices and `SCHILY.xattr.*` attributes are kept, and nothing is
//! ever written outside the directory: `..` is refused and no symlink is
//! followed while unpacking.
//!
//! A layer is unpacked into a temporary sibling directory and renamed into
//! place only once complete, so a half-unpacked layer is never visible and two
//! processes unpacking the same layer both end up with one good copy.

use std::ffi::CString;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("reading the archive: {0}")]
    Read(#[source] io::Error),
    #[error("path {path:?} escapes the layer root")]
    PathEscape { path: String },
    #[error("path {path:?} goes through the symlink {symlink:?}")]
    ThroughSymlink { path: String, symlink: String },
    #[error("hard link {path:?} → {target:?}: {reason}")]
    HardLink { path: String, target: String, reason: &'static str },
    #[error("{op} {path:?}: {source}")]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    #[error("content digest {actual} does not match the expected diff ID {expected}")]
    DiffIdMismatch { expected: String, actual: String },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> UnpackError + 'a {
    move |source| UnpackError::Io { op, path: path.to_path_buf(), source }
}

/// Unpacks a (gzip-, zstd- or un-compressed) layer into `final_dir`, which must
/// not exist yet, checking the uncompressed content against `expected_diff_id`
/// when given. Returns the diff ID (`sha256:…` of the uncompressed tar). If
/// another process put the layer in place first, theirs is kept.
pub fn unpack_layer_dir(
    layer: impl Read,
    final_dir: &Path,
    expected_diff_id: Option<&str>,
) -> Result<String, UnpackError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let parent = final_dir.parent().unwrap_or(Path::new("."));
    let name = final_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = parent.join(format!(".tmp-{name}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    fs::create_dir_all(parent).map_err(io_err("create", parent))?;
    fs::create_dir(&tmp).map_err(io_err("create", &tmp))?;
    let result = unpack_layer(layer, &tmp).and_then(|actual| match expected_diff_id {
        Some(expected) if expected != actual => Err(UnpackError::DiffIdMismatch { expected: expected.into(), actual }),
        _ => Ok(actual),
    });
    let diff_id = match result {
        Ok(diff_id) => diff_id,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if let Err(e) = fs::rename(&tmp, final_dir) {
        let _ = fs::remove_dir_all(&tmp);
        // Losing the race to another unpacker of the same layer is fine.
        if !final_dir.is_dir() {
            return Err(UnpackError::Io { op: "rename into", path: final_dir.to_path_buf(), source: e });
        }
    }
    Ok(diff_id)
}

/// Unpacks a layer into the existing directory `dest` and returns its diff ID.
pub fn unpack_layer(layer: impl Read, dest: &Path) -> Result<String, UnpackError> {
    let decompressed = decompress(layer).map_err(UnpackError::Read)?;
    let mut digesting = DigestingReader { inner: decompressed, hasher: Sha256::new() };
    {
        let mut archive = tar::Archive::new(&mut digesting);
        let mut unpacker = Unpacker { root: dest, dirs: Vec::new(), is_root: is_root() };
        for entry in archive.entries().map_err(UnpackError::Read)? {
            let mut entry = entry.map_err(UnpackError::Read)?;
            unpacker.entry(&mut entry)?;
        }
        unpacker.finish()?;
    }
    // The tar reader stops at the end-of-archive marker; the diff ID covers
    // the whole stream, padding included.
    io::copy(&mut digesting, &mut io::sink()).map_err(UnpackError::Read)?;
    Ok(format!("sha256:{}", hex::encode(digesting.hasher.finalize())))
}

/// Picks the decompressor from the stream's magic number, as containerd does,
/// so a mislabelled media type does not matter.
pub fn decompress<'a>(reader: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut buffered = BufReader::with_capacity(128 * 1024, reader);
    let head = buffered.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(buffered)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = ruzstd::decoding::StreamingDecoder::new(buffered)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}")))?;
        Ok(Box::new(decoder))
    } else {
        Ok(Box::new(buffered))
    }
}

struct DigestingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for DigestingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A directory's mode and mtime are set after its contents are written:
/// writing a child changes the mtime, and a read-only mode would block it.
struct DeferredDir {
    path: PathBuf,
    mode: u32,
    mtime: u64,
}

struct Unpacker<'a> {
    root: &'a Path,
    dirs: Vec<DeferredDir>,
    is_root: bool,
}

/// Metadata an entry carries besides its content.
struct Meta {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl Unpacker<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<(), UnpackError> {
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let raw_path = entry.path().map_err(UnpackError::Read)?.into_owned();
        let components = clean(&raw_path)?;
        let meta = read_meta(entry)?;
        let Some((name, parents)) = components.split_last() else {
            // The layer root itself ("./").
            if kind.is_dir() {
                self.dirs.push(DeferredDir { path: self.root.to_path_buf(), mode: meta.mode, mtime: meta.mtime });
            }
            return Ok(());
        };
        let parent = self.ensure_parents(parents, &raw_path)?;
        let name_str = name.to_string_lossy();
        if name_str == OPAQUE_MARKER {
            return set_xattr(&parent, OPAQUE_XATTR, b"y");
        }
        if let Some(hidden) = name_str.strip_prefix(WHITEOUT_PREFIX) {
            // Other `.wh..wh.` names are aufs bookkeeping with no meaning here.
            if hidden.starts_with(".wh.") {
                return Ok(());
            }
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                return Err(UnpackError::PathEscape { path: raw_path.display().to_string() });
            }
            let target = parent.join(hidden);
            remove_existing(&target)?;
            mknod(&target, libc::S_IFCHR, 0, 0)?;
            return self.chown(&target, 0, 0);
        }
        let path = parent.join(name);
        match kind {
            tar::EntryType::Directory => {
                match fs::symlink_metadata(&path) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        remove_existing(&path)?;
                        fs::create_dir(&path).map_err(io_err("create directory", &path))?;
                    }
                    Err(_) => fs::create_dir(&path).map_err(io_err("create directory", &path))?,
                }
                self.chown(&path, meta.uid, meta.gid)?;
                apply_xattrs(&path, &meta.xattrs);
                self.dirs.push(DeferredDir { path, mode: meta.mode, mtime: meta.mtime });
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                remove_existing(&path)?;
                let mut file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .map_err(io_err("create", &path))?;
                io::copy(entry, &mut file).map_err(io_err("write", &path))?;
                drop(file);
                self.finish_entry(&path, &meta, true)?;
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name().map_err(UnpackError::Read)?.ok_or_else(|| {
                    UnpackError::Read(io::Error::other(format!("symlink {raw_path:?} has no target")))
                })?;
                remove_existing(&path)?;
                std::os::unix::fs::symlink(&target, &path).map_err(io_err("symlink", &path))?;
                self.finish_entry(&path, &meta, false)?;
            }
            tar::EntryType::Link => {
                let target = entry.link_name().map_err(UnpackError::Read)?.map(|t| t.into_owned()).unwrap_or_default();
                self.hard_link(&path, &raw_path, &target)?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let header = entry.header();
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                let file_type = match kind {
                    tar::EntryType::Char => libc::S_IFCHR,
                    tar::EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                remove_existing(&path)?;
                mknod(&path, file_type, major, minor)?;
                self.finish_entry(&path, &meta, true)?;
            }
            other => tracing::warn!(path = %raw_path.display(), kind = ?other, "skipping unsupported tar entry"),
        }
        Ok(())
    }

    /// Makes sure every parent exists as a real directory inside the root,
    /// creating missing ones, and refuses to go through a symlink.
    fn ensure_parents(&self, parents: &[std::ffi::OsString], raw: &Path) -> Result<PathBuf, UnpackError> {
        let mut dir = self.root.to_path_buf();
        let mut exists = true;
        for component in parents {
            dir.push(component);
            if exists {
                match fs::symlink_metadata(&dir) {
                    Ok(m) if m.file_type().is_symlink() => {
                        return Err(UnpackError::ThroughSymlink {
                            path: raw.display().to_string(),
                            symlink: dir.strip_prefix(self.root).unwrap_or(&dir).display().to_string(),
                        });
                    }
                    Ok(m) if m.is_dir() => continue,
                    Ok(_) => {
                        return Err(UnpackError::Io {
                            op: "create parent of",
                            path: raw.to_path_buf(),
                            source: io::Error::from_raw_os_error(libc::ENOTDIR),
                        })
                    }
                    Err(_) => exists = false,
                }
            }
            fs::create_dir(&dir).map_err(io_err("create directory", &dir))?;
        }
        Ok(dir)
    }

    fn hard_link(&self, path: &Path, raw: &Path, target: &Path) -> Result<(), UnpackError> {
        let fail = |reason| UnpackError::HardLink {
            path: raw.display().to_string(),
            target: target.display().to_string(),
            reason,
        };
        let components = clean(target)?;
        let Some((_, parents)) = components.split_last() else {
            return Err(fail("the target is the layer root"));
        };
        let mut full = self.root.to_path_buf();
        for component in parents {
            full.push(component);
            match fs::symlink_metadata(&full) {
                Ok(m) if m.is_dir() && !m.file_type().is_symlink() => {}
                _ => return Err(fail("the target is not inside this layer")),
            }
        }
        full.push(components.last().map(PathBuf::from).unwrap_or_default());
        match fs::symlink_metadata(&full) {
            Ok(m) if m.is_dir() => return Err(fail("the target is a directory")),
            Ok(_) => {}
            Err(_) => return Err(fail("the target is not inside this layer")),
        }
        if full == path {
            return Ok(());
        }
        remove_existing(path)?;
        // link(2) does not follow a symlink target, so this links the symlink itself.
        fs::hard_link(&full, path).map_err(io_err("hard link", path))
    }

    fn finish_entry(&self, path: &Path, meta: &Meta, chmod: bool) -> Result<(), UnpackError> {
        // chown clears setuid/setgid bits and file capabilities, so it goes first.
        self.chown(path, meta.uid, meta.gid)?;
        if chmod {
            fs::set_permissions(path, fs::Permissions::from_mode(meta.mode & 0o7777)).map_err(io_err("chmod", path))?;
        }
        apply_xattrs(path, &meta.xattrs);
        set_mtime(path, meta.mtime)
    }

    fn chown(&self, path: &Path, uid: u64, gid: u64) -> Result<(), UnpackError> {
        let (Ok(uid), Ok(gid)) = (u32::try_from(uid), u32::try_from(gid)) else {
            return Err(UnpackError::Io {
                op: "chown",
                path: path.to_path_buf(),
                source: io::Error::new(io::ErrorKind::InvalidData, format!("uid/gid {uid}:{gid} out of range")),
            });
        };
        match std::os::unix::fs::lchown(path, Some(uid), Some(gid)) {
            Ok(()) => Ok(()),
            // Unprivileged unpacking (development, tests) keeps the caller's ids.
            Err(e) if !self.is_root && e.raw_os_error() == Some(libc::EPERM) => Ok(()),
            Err(e) => Err(UnpackError::Io { op: "chown", path: path.to_path_buf(), source: e }),
        }
    }

    fn finish(&mut self) -> Result<(), UnpackError> {
        for dir in self.dirs.drain(..).rev() {
            fs::set_permissions(&dir.path, fs::Permissions::from_mode(dir.mode & 0o7777))
                .map_err(io_err("chmod", &dir.path))?;
            set_mtime(&dir.path, dir.mtime)?;
        }
        Ok(())
    }
}

/// The entry's path as plain components under the root; leading `/` and `.`
/// are dropped, `..` anywhere is refused.
fn clean(path: &Path) -> Result<Vec<std::ffi::OsString>, UnpackError> {
    let mut out = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(c) => out.push(c.to_os_string()),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(UnpackError::PathEscape { path: path.display().to_string() })
            }
        }
    }
    Ok(out)
}

fn read_meta<R: Read>(entry: &mut tar::Entry<R>) -> Result<Meta, UnpackError> {
    let header = entry.header();
    let mut meta = Meta {
        mode: header.mode().map_err(UnpackError::Read)?,
        uid: header.uid().map_err(UnpackError::Read)?,
        gid: header.gid().map_err(UnpackError::Read)?,
        mtime: header.mtime().unwrap_or(0),
        xattrs: Vec::new(),
    };
    if let Some(extensions) = entry.pax_extensions().map_err(UnpackError::Read)? {
        for extension in extensions {
            let extension = extension.map_err(UnpackError::Read)?;
            let Ok(key) = extension.key() else { continue };
            let value = extension.value_bytes();
            let number = || std::str::from_utf8(value).ok().and_then(|v| v.split('.').next()?.parse::<u64>().ok());
            match key {
                "uid" => meta.uid = number().unwrap_or(meta.uid),
                "gid" => meta.gid = number().unwrap_or(meta.gid),
                "mtime" => meta.mtime = number().unwrap_or(meta.mtime),
                _ => {
                    if let Some(name) = key.strip_prefix(PAX_XATTR_PREFIX) {
                        meta.xattrs.push((name.to_string(), value.to_vec()));
                    }
                }
            }
        }
    }
    Ok(meta)
}

fn remove_existing(path: &Path) -> Result<(), UnpackError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).map_err(io_err("remove", path)),
        Ok(_) => fs::remove_file(path).map_err(io_err("remove", path)),
        Err(_) => Ok(()),
    }
}

fn c_path(path: &Path) -> Result<CString, UnpackError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| UnpackError::PathEscape { path: path.display().to_string() })
}

fn mknod(path: &Path, file_type: libc::mode_t, major: u32, minor: u32) -> Result<(), UnpackError> {
    let c = c_path(path)?;
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    let rc = unsafe { libc::mknod(c.as_ptr(), file_type, libc::makedev(major, minor)) };
    if rc != 0 {
        return Err(UnpackError::Io { op: "mknod", path: path.to_path_buf(), source: io::Error::last_os_error() });
    }
    Ok(())
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> Result<(), UnpackError> {
    let c = c_path(path)?;
    let name_c = CString::new(name).map_err(|_| UnpackError::Io {
        op: "setxattr",
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "xattr name contains NUL"),
    })?;
    // SAFETY: both strings are NUL-terminated and `value` is valid for `value.len()` bytes.
    let rc = unsafe { libc::lsetxattr(c.as_ptr(), name_c.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if rc != 0 {
        return Err(UnpackError::Io { op: "setxattr", path: path.to_path_buf(), source: io::Error::last_os_error() });
    }
    Ok(())
}

/// Extended attributes from the layer are best effort: a filesystem without
/// support for a namespace should not make the whole image unusable.
fn apply_xattrs(path: &Path, xattrs: &[(String, Vec<u8>)]) {
    for (name, value) in xattrs {
        if let Err(e) = set_xattr(path, name, value) {
            tracing::warn!(error = %e, xattr = %name, "could not set extended attribute from layer");
        }
    }
}

fn set_mtime(path: &Path, mtime: u64) -> Result<(), UnpackError> {
    let c = c_path(path)?;
    let secs = libc::time_t::try_from(mtime).unwrap_or(libc::time_t::MAX);
    let time = libc::timespec { tv_sec: secs, tv_nsec: 0 };
    let times = [time, time];
    // SAFETY: `c` is NUL-terminated and `times` holds the two timespecs utimensat reads.
    let rc = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if rc != 0 {
        return Err(UnpackError::Io {
            op: "set mtime of",
            path: path.to_path_buf(),
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(size);
        h
    }

    fn tar_of(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]) {
        let mut h = header(tar::EntryType::Regular, mode, data.len() as u64);
        b.append_data(&mut h, path, data).unwrap();
    }

    fn dir(b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32) {
        let mut h = header(tar::EntryType::Directory, mode, 0);
        b.append_data(&mut h, path, io::empty()).unwrap();
    }

    fn link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str, target: &str) {
        let mut h = header(kind, 0o777, 0);
        b.append_link(&mut h, path, target).unwrap();
    }

    #[test]
    fn refuses_parent_dir_paths() {
        // tar::Builder refuses `..` itself, so the name goes into the header raw.
        let mut data = tar_of(|_| {});
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..9].copy_from_slice(b"../escape");
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let mut raw = h.as_bytes().to_vec();
        raw.extend_from_slice(&data);
        data = raw;
        let dest = tempfile::tempdir().unwrap();
        let inner = dest.path().join("layer");
        fs::create_dir(&inner).unwrap();
        let err = unpack_layer(&data[..], &inner).unwrap_err();
        assert!(matches!(err, UnpackError::PathEscape { .. }), "{err}");
        assert!(!dest.path().join("escape").exists());
    }

    #[test]
    fn never_writes_through_symlinks() {
        let data = tar_of(|b| {
            link(b, tar::EntryType::Symlink, "evil", "/tmp");
            file(b, "evil/owned", 0o644, b"x");
        });
        let dest = tempfile::tempdir().unwrap();
        let err = unpack_layer(&data[..], dest.path()).unwrap_err();
        assert!(matches!(err, UnpackError::ThroughSymlink { .. }), "{err}");
        assert_eq!(fs::read_link(dest.path().join("evil")).unwrap(), Path::new("/tmp"));

        let data = tar_of(|b| link(b, tar::EntryType::Link, "passwd", "/../../etc/passwd"));
        let err = unpack_layer(&data[..], dest.path()).unwrap_err();
        assert!(matches!(err, UnpackError::PathEscape { .. }), "{err}");
    }

    #[test]
    fn files_links_modes_and_digest() {
        let data = tar_of(|b| {
            dir(b, "bin", 0o755);
            file(b, "bin/tool", 0o4755, b"#!/bin/sh\n");
            link(b, tar::EntryType::Symlink, "bin/alias", "tool");
            link(b, tar::EntryType::Link, "bin/hard", "bin/tool");
            dir(b, "ro", 0o555);
            file(b, "ro/inside", 0o600, b"secret");
            file(b, "implicit/parent/file", 0o644, b"deep");
        });
        let dest = tempfile::tempdir().unwrap();
        let diff_id = unpack_layer(&data[..], dest.path()).unwrap();
        assert_eq!(diff_id, format!("sha256:{}", hex::encode(Sha256::digest(&data))));
        let tool = fs::metadata(dest.path().join("bin/tool")).unwrap();
        assert_eq!(tool.mode() & 0o7777, 0o4755);
        assert_eq!(tool.mtime(), 1_700_000_000);
        assert_eq!(tool.nlink(), 2);
        assert_eq!(fs::read_link(dest.path().join("bin/alias")).unwrap(), Path::new("tool"));
        assert_eq!(fs::metadata(dest.path().join("ro")).unwrap().mode() & 0o7777, 0o555);
        assert_eq!(fs::metadata(dest.path().join("ro")).unwrap().mtime(), 1_700_000_000);
        assert_eq!(fs::read(dest.path().join("implicit/parent/file")).unwrap(), b"deep");
    }

    #[test]
    fn whiteouts_become_overlayfs_markers() {
        if !is_root() {
            eprintln!("skipping: whiteouts need root (mknod, trusted.* xattrs)");
            return;
        }
        let data = tar_of(|b| {
            dir(b, "etc", 0o755);
            file(b, "etc/.wh.motd", 0o644, b"");
            dir(b, "var/cache", 0o755);
            file(b, "var/cache/.wh..wh..opq", 0o644, b"");
            file(b, "var/cache/new", 0o644, b"n");
        });
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("layer");
        let gz = {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            io::Write::write_all(&mut enc, &data).unwrap();
            enc.finish().unwrap()
        };
        let expected = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
        unpack_layer_dir(&gz[..], &dest, Some(&expected)).unwrap();
        let whiteout = fs::symlink_metadata(dest.join("etc/motd")).unwrap();
        assert!(whiteout.file_type().is_char_device());
        assert_eq!(whiteout.rdev(), 0);
        assert!(!dest.join("etc/.wh.motd").exists());
        let mut value = [0u8; 8];
        let c = c_path(&dest.join("var/cache")).unwrap();
        let name = CString::new(OPAQUE_XATTR).unwrap();
        // SAFETY: valid C strings and a buffer of the given length.
        let n = unsafe { libc::lgetxattr(c.as_ptr(), name.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
        assert_eq!(n, 1, "opaque xattr missing");
        assert_eq!(&value[..1], b"y");
        assert!(!dest.join("var/cache/.wh..wh..opq").exists());
        // No temp directories are left behind.
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 1);

        let err = unpack_layer_dir(&gz[..], &root.path().join("other"), Some("sha256:00")).unwrap_err();
        assert!(matches!(err, UnpackError::DiffIdMismatch { .. }));
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 1);
    }
}
