//! The kubelet's AtomicWriter layout for file-set volumes (configMap, secret,
//! downwardAPI, projected), so a running container sees either the old set
//! of files or the new one, never a mix:
//!
//! ```text
//! <volume>/..2026_01_02_03_04_05.123456789/  the files of one version
//! <volume>/..data -> ..2026_01_02_03_04_05.123456789
//! <volume>/<key>  -> ..data/<key>             (first path component only)
//! ```
//!
//! A new version is written in full into a fresh timestamped folder and
//! published by renaming a `..data_tmp` symlink over `..data`, one atomic
//! step.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const DATA_DIR: &str = "..data";
const DATA_DIR_TMP: &str = "..data_tmp";
const MAX_PATH_LENGTH: usize = 4096;
const MAX_FILE_NAME_LENGTH: usize = 255;

/// One file of a volume: its bytes and permission bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileProjection {
    pub data: Vec<u8>,
    pub mode: u32,
}

/// Relative path in the volume → file.
pub type Payload = BTreeMap<String, FileProjection>;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The kubelet's validatePath messages.
    #[error("invalid path: {0}")]
    InvalidPath(String),
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: io::Error },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> WriteError + 'a {
    move |source| WriteError::Io { op, path: path.to_path_buf(), source }
}

/// Publishes `payload` in `target` (which must exist). Returns whether a new
/// version was written: nothing happens when every file already has the
/// same bytes and mode and no file went away.
pub fn write(target: &Path, payload: &Payload) -> Result<bool, WriteError> {
    let mut clean = Payload::new();
    for (path, file) in payload {
        validate_path(path)?;
        clean.insert(clean_path(path), file.clone());
    }

    let data_link = target.join(DATA_DIR);
    let old_ts = match fs::read_link(&data_link) {
        Ok(p) => Some(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err("readlink", &data_link)(e)),
    };

    let mut to_remove = BTreeSet::new();
    if let Some(old) = &old_ts {
        to_remove = paths_to_remove(&clean, &target.join(old))?;
        if to_remove.is_empty() && !should_write(&clean, target)? {
            return Ok(false);
        }
    }

    let ts_name = new_timestamp_dir(target)?;
    let ts_dir = target.join(&ts_name);
    for (path, file) in &clean {
        let full = ts_dir.join(path);
        if let Some(parent) = full.parent() {
            create_dirs(parent)?;
        }
        fs::write(&full, &file.data).map_err(io_err("write", &full))?;
        // Set explicitly: the umask must not narrow the requested mode.
        fs::set_permissions(&full, fs::Permissions::from_mode(file.mode & 0o7777)).map_err(io_err("chmod", &full))?;
    }

    for first in clean.keys().map(|p| first_component(p)).collect::<BTreeSet<_>>() {
        let visible = target.join(first);
        if let Err(e) = fs::read_link(&visible) {
            if e.kind() == io::ErrorKind::NotFound {
                symlink(Path::new(DATA_DIR).join(first), &visible).map_err(io_err("symlink", &visible))?;
            }
        }
    }

    let tmp_link = target.join(DATA_DIR_TMP);
    match fs::remove_file(&tmp_link) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err("remove", &tmp_link)(e)),
        _ => {}
    }
    symlink(&ts_name, &tmp_link).map_err(io_err("symlink", &tmp_link))?;
    fs::rename(&tmp_link, &data_link).map_err(io_err("rename", &tmp_link))?;

    for path in to_remove.iter().filter(|p| !p.contains('/')) {
        let visible = target.join(path);
        match fs::remove_file(&visible) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err("remove", &visible)(e)),
            _ => {}
        }
    }

    // Also sweeps versions left behind by a write that was interrupted.
    for entry in fs::read_dir(target).map_err(io_err("readdir", target))? {
        let entry = entry.map_err(io_err("readdir", target))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("..") && name != DATA_DIR && *name != *ts_name && entry.path().is_dir() {
            fs::remove_dir_all(entry.path()).map_err(io_err("remove", &entry.path()))?;
        }
    }
    Ok(true)
}

/// The kubelet's validatePath: relative, no `..` element, no leading `..`
/// (those names are the writer's own), bounded lengths.
pub fn validate_path(path: &str) -> Result<(), WriteError> {
    if path.is_empty() {
        return Err(WriteError::InvalidPath(format!("must not be empty: {path:?}")));
    }
    if path.starts_with('/') {
        return Err(WriteError::InvalidPath(format!("must be relative path: {path}")));
    }
    if path.len() > MAX_PATH_LENGTH {
        return Err(WriteError::InvalidPath(format!("must be less than or equal to {MAX_PATH_LENGTH} characters")));
    }
    let items: Vec<&str> = path.split('/').collect();
    for item in &items {
        if *item == ".." {
            return Err(WriteError::InvalidPath(format!("must not contain '..': {path}")));
        }
        if item.len() > MAX_FILE_NAME_LENGTH {
            return Err(WriteError::InvalidPath(format!(
                "filenames must be less than or equal to {MAX_FILE_NAME_LENGTH} characters"
            )));
        }
    }
    if items[0].starts_with("..") && items[0].len() > 2 {
        return Err(WriteError::InvalidPath(format!("must not start with '..': {path}")));
    }
    Ok(())
}

/// Go's path.Clean for the relative paths validate_path lets through.
fn clean_path(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

fn first_component(path: &str) -> &str {
    path.split('/').next().unwrap_or(path)
}

/// Files and folders of the old version that the new payload does not
/// keep; folders that still hold a new file stay.
fn paths_to_remove(payload: &Payload, old_dir: &Path) -> Result<BTreeSet<String>, WriteError> {
    let mut old = BTreeSet::new();
    walk(old_dir, "", &mut old)?;
    let mut keep = BTreeSet::new();
    for path in payload.keys() {
        let mut prefix = String::new();
        for part in path.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            keep.insert(prefix.clone());
        }
    }
    Ok(old.difference(&keep).cloned().collect())
}

fn walk(dir: &Path, rel: &str, into: &mut BTreeSet<String>) -> Result<(), WriteError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("readdir", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err("readdir", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel_path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        let is_dir = entry.file_type().map_err(io_err("stat", &entry.path()))?.is_dir();
        if is_dir {
            walk(&entry.path(), &rel_path, into)?;
        }
        into.insert(rel_path);
    }
    Ok(())
}

fn should_write(payload: &Payload, target: &Path) -> Result<bool, WriteError> {
    for (path, file) in payload {
        let visible = target.join(path);
        let meta = match fs::metadata(&visible) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(io_err("stat", &visible)(e)),
        };
        if !meta.is_file() || meta.permissions().mode() & 0o7777 != file.mode & 0o7777 {
            return Ok(true);
        }
        if fs::read(&visible).map_err(io_err("read", &visible))? != file.data {
            return Ok(true);
        }
    }
    Ok(false)
}

fn create_dirs(dir: &Path) -> Result<(), WriteError> {
    fs::create_dir_all(dir).map_err(io_err("mkdir", dir))
}

/// A fresh `..YYYY_MM_DD_HH_MM_SS.<digits>` folder, mode 0755.
fn new_timestamp_dir(target: &Path) -> Result<String, WriteError> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let now = chrono::Utc::now();
    loop {
        let unique = u64::from(now.timestamp_subsec_nanos())
            .wrapping_mul(1_000)
            .wrapping_add(SEQUENCE.fetch_add(1, Ordering::Relaxed) % 1_000);
        let name = format!("..{}.{unique}", now.format("%Y_%m_%d_%H_%M_%S"));
        let dir = target.join(&name);
        match fs::create_dir(&dir) {
            Ok(()) => {
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).map_err(io_err("chmod", &dir))?;
                return Ok(name);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err("mkdir", &dir)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(data: &str, mode: u32) -> FileProjection {
        FileProjection { data: data.as_bytes().to_vec(), mode }
    }

    fn hidden_versions(dir: &Path) -> anyhow::Result<Vec<String>> {
        let mut v = Vec::new();
        for e in fs::read_dir(dir)? {
            let name = e?.file_name().to_string_lossy().into_owned();
            if name.starts_with("..") && name != DATA_DIR {
                v.push(name);
            }
        }
        Ok(v)
    }

    #[test]
    fn writes_swaps_and_prunes() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let t = dir.path();
        let mut p = Payload::new();
        p.insert("a".into(), file("1", 0o644));
        p.insert("nested/deep/b".into(), file("2", 0o600));
        p.insert("gone".into(), file("3", 0o644));
        assert!(write(t, &p)?);

        let v1 = fs::read_link(t.join(DATA_DIR))?;
        assert!(v1.to_string_lossy().starts_with("..20"));
        assert_eq!(fs::read_link(t.join("a"))?, Path::new("..data/a"));
        assert_eq!(fs::read_link(t.join("nested"))?, Path::new("..data/nested"));
        assert_eq!(fs::read_to_string(t.join("nested/deep/b"))?, "2");
        assert_eq!(fs::metadata(t.join("nested/deep/b"))?.permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(t.join(&v1))?.permissions().mode() & 0o777, 0o755);

        // Same content: no new version.
        assert!(!write(t, &p)?);
        assert_eq!(fs::read_link(t.join(DATA_DIR))?, v1);

        // A mode change alone is a change.
        p.insert("a".into(), file("1", 0o400));
        assert!(write(t, &p)?);
        let v2 = fs::read_link(t.join(DATA_DIR))?;
        assert_ne!(v1, v2);
        assert_eq!(fs::metadata(t.join("a"))?.permissions().mode() & 0o777, 0o400);

        // Content change plus a removed key.
        p.insert("a".into(), file("changed", 0o400));
        p.remove("gone");
        assert!(write(t, &p)?);
        assert_eq!(fs::read_to_string(t.join("a"))?, "changed");
        assert!(fs::symlink_metadata(t.join("gone")).is_err());
        // Only the current version stays.
        let v3 = fs::read_link(t.join(DATA_DIR))?;
        assert_eq!(hidden_versions(t)?, vec![v3.to_string_lossy().into_owned()]);

        // Removing one file of a folder keeps the folder's link.
        p.insert("nested/c".into(), file("4", 0o644));
        p.remove("nested/deep/b");
        assert!(write(t, &p)?);
        assert_eq!(fs::read_to_string(t.join("nested/c"))?, "4");
        assert!(!t.join("nested/deep").exists());

        // An empty payload empties the volume.
        assert!(write(t, &Payload::new())?);
        let mut left: Vec<String> = Vec::new();
        for e in fs::read_dir(t)? {
            left.push(e?.file_name().to_string_lossy().into_owned());
        }
        left.sort();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left.contains(&DATA_DIR.to_string()));
        Ok(())
    }

    #[test]
    fn rejects_bad_paths() {
        let bad = ["", "/abs", "a/../b", "..", "..hidden", "..data"];
        for p in bad {
            assert!(validate_path(p).is_err(), "{p}");
        }
        for p in ["a", "a/b", ".config", "a/..b", "./a"] {
            assert!(validate_path(p).is_ok(), "{p}");
        }
        assert_eq!(
            validate_path("a/../b").map_err(|e| e.to_string()),
            Err("invalid path: must not contain '..': a/../b".into())
        );
        assert_eq!(clean_path("./a//b/"), "a/b");
    }
}
