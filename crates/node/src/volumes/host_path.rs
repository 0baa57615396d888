//! hostPath volumes: the node's own path, used in place after the `type`
//! check the kubelet makes (creating it for the *OrCreate types).

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::SetUpFailure;

/// What the kubelet's GetFileType calls a path's type.
fn file_type(path: &Path) -> Result<&'static str, ()> {
    let t = fs::metadata(path).map_err(|_| ())?.file_type();
    Ok(if t.is_dir() {
        "Directory"
    } else if t.is_file() {
        "File"
    } else if t.is_socket() {
        "Socket"
    } else if t.is_char_device() {
        "CharDevice"
    } else if t.is_block_device() {
        "BlockDevice"
    } else {
        return Err(());
    })
}

fn exists(path: &Path) -> bool {
    fs::metadata(path).is_ok()
}

fn expect(path: &Path, wanted: &'static str, description: &'static str) -> Result<(), SetUpFailure> {
    let shown = path.display().to_string();
    if !exists(path) {
        return Err(SetUpFailure::HostPathMissing(shown));
    }
    match file_type(path) {
        Ok(actual) if actual == wanted => Ok(()),
        Ok(actual) => Err(SetUpFailure::HostPathType { path: shown, expected: description, actual }),
        Err(()) => Err(SetUpFailure::HostPathUnknownType { path: shown, expected: description }),
    }
}

/// Checks (and for the *OrCreate types makes) `path` as `kind` says. An
/// empty type makes no check in the kubelet; the missing folder is created
/// here because containerd and Docker create it when they bind-mount it.
pub fn check(path: &Path, kind: &str) -> Result<(), SetUpFailure> {
    let io_fail = |op: &'static str| move |source: io::Error| SetUpFailure::Io { op, path: path.to_path_buf(), source };
    match kind {
        "" => {
            if !exists(path) {
                make_dir(path).map_err(io_fail("mkdir"))?;
            }
            Ok(())
        }
        "DirectoryOrCreate" if !exists(path) => make_dir(path).map_err(io_fail("mkdir")),
        "DirectoryOrCreate" | "Directory" => expect(path, "Directory", "directory"),
        "FileOrCreate" if !exists(path) => {
            // The parent must exist: FileOrCreate never makes folders.
            fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(path)
                .map(drop)
                .map_err(io_fail("open"))
        }
        "FileOrCreate" | "File" => expect(path, "File", "file"),
        "Socket" => expect(path, "Socket", "socket file"),
        "CharDevice" => expect(path, "CharDevice", "character device"),
        "BlockDevice" => expect(path, "BlockDevice", "block device"),
        other => Err(SetUpFailure::InvalidHostPathType(other.to_string())),
    }
}

fn make_dir(path: &Path) -> io::Result<()> {
    fs::create_dir_all(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn type_checks_use_kubelet_messages() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        let file = d.join("file");
        fs::write(&file, "x")?;
        let sock = d.join("sock");
        let _listener = UnixListener::bind(&sock)?;
        let missing = d.join("missing");
        let show = |p: &Path| p.display().to_string();

        let ok = [
            (d.to_path_buf(), "Directory"),
            (d.to_path_buf(), ""),
            (file.clone(), "File"),
            (file.clone(), "FileOrCreate"),
            (sock.clone(), "Socket"),
            (Path::new("/dev/null").to_path_buf(), "CharDevice"),
        ];
        for (p, kind) in ok {
            check(&p, kind).map_err(|e| anyhow::anyhow!("{kind}: {e}"))?;
        }
        let failing = [
            (
                file.clone(),
                "Directory",
                format!("hostPath type check failed: {} is not a directory, it's a File", show(&file)),
            ),
            (
                file.clone(),
                "DirectoryOrCreate",
                format!("hostPath type check failed: {} is not a directory, it's a File", show(&file)),
            ),
            (
                d.to_path_buf(),
                "File",
                format!("hostPath type check failed: {} is not a file, it's a Directory", show(d)),
            ),
            (
                file.clone(),
                "Socket",
                format!("hostPath type check failed: {} is not a socket file, it's a File", show(&file)),
            ),
            (
                file.clone(),
                "BlockDevice",
                format!("hostPath type check failed: {} is not a block device, it's a File", show(&file)),
            ),
            (missing.clone(), "Directory", format!("hostPath {} doesn't exist", show(&missing))),
            (file.clone(), "Bogus", "Bogus is an invalid volume type".to_string()),
        ];
        for (p, kind, want) in failing {
            match check(&p, kind) {
                Err(e) => assert_eq!(e.to_string(), want),
                Ok(()) => panic!("{kind} on {p:?} passed"),
            }
        }

        let made = d.join("a/b");
        check(&made, "DirectoryOrCreate")?;
        assert_eq!(fs::metadata(&made)?.permissions().mode() & 0o777, 0o755);
        let new_file = d.join("new");
        check(&new_file, "FileOrCreate")?;
        assert!(fs::metadata(&new_file)?.is_file());
        assert!(check(&d.join("no/parent"), "FileOrCreate").is_err());
        check(&d.join("plain"), "")?;
        assert!(d.join("plain").is_dir());
        Ok(())
    }
}
