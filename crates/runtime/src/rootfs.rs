//! The container's root filesystem, built inside its own mount namespace:
//! an overlay of the image layers with a private upper layer, /proc, /dev
//! (a small tmpfs with the usual nodes, devpts, shm, mqueue), /sys, the
//! volumes, then pivot_root into it and the kernel's sensitive paths masked.

use std::collections::VecDeque;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};

use crate::spec::{ContainerSpec, MountKind};

type Result<T> = std::result::Result<T, String>;

fn mnt(src: Option<&str>, target: &Path, fstype: Option<&str>, flags: MsFlags, data: Option<&str>) -> Result<()> {
    mount(src, target, fstype, flags, data)
        .map_err(|e| format!("mounting {} on {}: {e}", fstype.or(src).unwrap_or("?"), target.display()))
}

/// `dest` inside `root`, resolving the image's symlinks as if `root` were
/// `/` (as securejoin does): neither `..` nor a link such as `/data ->
/// /etc/cron.d` can lead a mount point out of the container's root.
pub fn within(root: &Path, dest: &str) -> PathBuf {
    let mut out = root.to_path_buf();
    let mut todo: VecDeque<PathBuf> = Path::new(dest).components().map(|c| PathBuf::from(c.as_os_str())).collect();
    let mut hops = 0;
    while let Some(part) = todo.pop_front() {
        match part.components().next() {
            Some(Component::Normal(name)) => {
                let next = out.join(name);
                match fs::symlink_metadata(&next) {
                    Ok(m) if m.file_type().is_symlink() && hops < 40 => {
                        hops += 1;
                        let Ok(target) = fs::read_link(&next) else {
                            out = next;
                            continue;
                        };
                        if target.is_absolute() {
                            out = root.to_path_buf();
                        }
                        for c in target.components().rev() {
                            todo.push_front(PathBuf::from(c.as_os_str()));
                        }
                    }
                    _ => out = next,
                }
            }
            Some(Component::ParentDir) if out != root => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

const NOSUID_NOEXEC_NODEV: MsFlags = MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC).union(MsFlags::MS_NODEV);

/// Paths a container must not read or write (what runc masks by default).
const MASKED: [&str; 9] = [
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];
const READ_ONLY: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Builds the root under `state/rootfs` and pivots into it. Runs in the
/// container's process, after it has its own mount namespace.
pub fn enter(spec: &ContainerSpec, state: &Path) -> Result<()> {
    // Nothing mounted from here on may leak back into the host's namespace.
    mnt(None, Path::new("/"), None, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None)?;
    let root = state.join("rootfs");
    let (upper, work) = (state.join("upper"), state.join("work"));
    for d in [&root, &upper, &work] {
        fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
    }
    if spec.layers.is_empty() {
        return Err("the image has no layers".into());
    }
    // overlayfs lists lower layers topmost first.
    let lower: Vec<String> = spec.layers.iter().rev().map(|l| l.display().to_string()).collect();
    let opts = format!("lowerdir={},upperdir={},workdir={}", lower.join(":"), upper.display(), work.display());
    mnt(Some("overlay"), &root, Some("overlay"), MsFlags::empty(), Some(&opts))?;

    let proc_dir = root.join("proc");
    mkdir(&proc_dir)?;
    mnt(Some("proc"), &proc_dir, Some("proc"), NOSUID_NOEXEC_NODEV, None)?;
    dev(&root)?;
    let sys = root.join("sys");
    mkdir(&sys)?;
    let sys_flags =
        if spec.security.privileged { NOSUID_NOEXEC_NODEV } else { NOSUID_NOEXEC_NODEV | MsFlags::MS_RDONLY };
    if mount(Some("sysfs"), &sys, Some("sysfs"), sys_flags, None::<&str>).is_err() {
        // sysfs may only be mounted from a network namespace of one's own; share the host's read-only.
        mnt(Some("/sys"), &sys, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
        if !spec.security.privileged {
            remount_read_only(&sys, MsFlags::MS_REC)?;
        }
    }
    for m in &spec.mounts {
        let target = within(&root, &m.destination);
        match &m.kind {
            MountKind::Bind => {
                mount_point(&m.source, &target)?;
                mnt(Some(&m.source.display().to_string()), &target, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
                if m.read_only {
                    remount_read_only(&target, MsFlags::MS_REC)?;
                }
            }
            MountKind::Tmpfs { size } => {
                mkdir(&target)?;
                let data = if *size > 0 { format!("mode=1777,size={size}") } else { "mode=1777".into() };
                let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
                if m.read_only {
                    flags |= MsFlags::MS_RDONLY;
                }
                mnt(Some("tmpfs"), &target, Some("tmpfs"), flags, Some(&data))?;
            }
        }
    }
    if spec.security.read_only_rootfs {
        remount_read_only(&root, MsFlags::empty())?;
    }
    pivot(&root)?;
    if !spec.security.privileged {
        mask()?;
    }
    Ok(())
}

fn mkdir(p: &Path) -> Result<()> {
    fs::create_dir_all(p).map_err(|e| format!("creating {}: {e}", p.display()))
}

/// A file or folder to mount `source` on, as `source` is.
fn mount_point(source: &Path, target: &Path) -> Result<()> {
    let is_dir = fs::metadata(source).map_err(|e| format!("{}: {e}", source.display()))?.is_dir();
    if is_dir {
        return mkdir(target);
    }
    if let Some(parent) = target.parent() {
        mkdir(parent)?;
    }
    if fs::symlink_metadata(target).is_err() {
        fs::File::create(target).map_err(|e| format!("creating {}: {e}", target.display()))?;
    }
    Ok(())
}

fn remount_read_only(target: &Path, extra: MsFlags) -> Result<()> {
    mnt(None, target, None, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | extra, None)
}

fn dev(root: &Path) -> Result<()> {
    let dev = root.join("dev");
    mkdir(&dev)?;
    mnt(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    for (name, major, minor) in
        [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)]
    {
        let p = dev.join(name);
        mknod(&p, SFlag::S_IFCHR, Mode::from_bits_truncate(0o666), makedev(major, minor))
            .map_err(|e| format!("mknod {}: {e}", p.display()))?;
        // The umask narrowed the mode mknod was given.
        fs::set_permissions(&p, fs::Permissions::from_mode(0o666)).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
        ("core", "/proc/kcore"),
    ] {
        symlink(target, dev.join(link)).map_err(|e| format!("linking /dev/{link}: {e}"))?;
    }
    let pts = dev.join("pts");
    mkdir(&pts)?;
    mnt(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?;
    let shm = dev.join("shm");
    mkdir(&shm)?;
    mnt(Some("shm"), &shm, Some("tmpfs"), NOSUID_NOEXEC_NODEV, Some("mode=1777,size=65536k"))?;
    let mqueue = dev.join("mqueue");
    mkdir(&mqueue)?;
    // Only possible in an IPC namespace of the container's own; without it there is no queue to show.
    let _ = mount(Some("mqueue"), &mqueue, Some("mqueue"), NOSUID_NOEXEC_NODEV, None::<&str>);
    Ok(())
}

fn pivot(root: &Path) -> Result<()> {
    nix::unistd::chdir(root).map_err(|e| format!("chdir {}: {e}", root.display()))?;
    // pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only the new.
    nix::unistd::pivot_root(".", ".").map_err(|e| format!("pivot_root: {e}"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| format!("detaching the old root: {e}"))?;
    nix::unistd::chdir("/").map_err(|e| format!("chdir /: {e}"))
}

fn mask() -> Result<()> {
    for p in MASKED {
        let path = Path::new(p);
        match fs::metadata(path) {
            Ok(m) if m.is_dir() => mnt(Some("tmpfs"), path, Some("tmpfs"), MsFlags::MS_RDONLY, None)?,
            Ok(_) => mnt(Some("/dev/null"), path, None, MsFlags::MS_BIND, None)?,
            Err(_) => {}
        }
    }
    for p in READ_ONLY {
        let path = Path::new(p);
        if path.exists() {
            mnt(Some(p), path, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
            remount_read_only(path, MsFlags::MS_REC)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_never_leaves_the_root() {
        let root = Path::new("/nonexistent-root");
        assert_eq!(within(root, "/etc/hosts"), root.join("etc/hosts"));
        assert_eq!(within(root, "../../etc"), root.join("etc"));
        assert_eq!(within(root, "/a/../../b"), root.join("b"));
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("etc")).unwrap();
        symlink("/etc/cron.d", root.join("data")).unwrap();
        symlink("../../../..", root.join("etc/up")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        assert_eq!(within(root, "/data/x"), root.join("etc/cron.d/x"));
        assert_eq!(within(root, "/etc/up/passwd"), root.join("passwd"));
        assert!(within(root, "/loop/x").starts_with(root));
    }
}
