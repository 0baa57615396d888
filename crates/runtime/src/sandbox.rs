//! The pod sandbox: the network, IPC and UTS namespaces a pod's containers
//! share. They are kept alive by bind mounts of their namespace files (as
//! `ip netns` does), not by a pause process, so they need no supervision and
//! survive the agent. A CNI driver can later be given the network namespace's
//! path to plumb the pod's interface.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

use crate::Error;

/// A pod's shared namespaces; None where the pod shares the host's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sandbox {
    pub net: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
}

/// Which of the host's namespaces the pod shares.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostShares {
    pub network: bool,
    pub ipc: bool,
}

/// Written last: the sandbox is complete.
const READY: &str = "ready";

pub fn dir(root: &Path, pod_uid: &str) -> PathBuf {
    root.join("sandboxes").join(pod_uid)
}

/// The sandbox's namespaces as they are on disk (after an agent restart).
pub fn existing(root: &Path, pod_uid: &str) -> Option<Sandbox> {
    let d = dir(root, pod_uid);
    if !d.join(READY).exists() {
        return None;
    }
    let some = |n: &str| Some(d.join(n)).filter(|p| p.exists());
    let sandbox = Sandbox { net: some("net"), ipc: some("ipc"), uts: some("uts") };
    // After a reboot the pins are plain empty files: the namespaces are gone.
    let pinned = [&sandbox.net, &sandbox.ipc, &sandbox.uts].into_iter().flatten().all(|p| is_namespace(p));
    pinned.then_some(sandbox)
}

fn is_namespace(path: &Path) -> bool {
    const NSFS_MAGIC: libc::c_long = 0x6e73_6673;
    nix::sys::statfs::statfs(path).is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::FsType(NSFS_MAGIC as _))
}

/// Makes the namespaces on a thread of their own (unshare changes only the
/// calling thread's), names the host, brings loopback up, and pins them.
pub fn create(root: &Path, pod_uid: &str, hostname: &str, host: HostShares) -> Result<Sandbox, Error> {
    if let Some(s) = existing(root, pod_uid) {
        return Ok(s);
    }
    let d = dir(root, pod_uid);
    if d.exists() {
        // Half made, or left from before a reboot.
        remove(root, pod_uid)?;
    }
    fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    let hostname = hostname.to_string();
    let d2 = d.clone();
    let made = std::thread::spawn(move || -> Result<Sandbox, Error> {
        // A host-network pod has the node's hostname too, as in Kubernetes.
        let mut flags = CloneFlags::empty();
        if !host.network {
            flags |= CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWUTS;
        }
        if !host.ipc {
            flags |= CloneFlags::CLONE_NEWIPC;
        }
        unshare(flags).map_err(|e| Error::Sandbox(format!("unshare: {e}")))?;
        let mut sandbox = Sandbox::default();
        if !host.network {
            nix::unistd::sethostname(&hostname).map_err(|e| Error::Sandbox(format!("sethostname {hostname}: {e}")))?;
            loopback_up().map_err(|e| Error::Sandbox(format!("bringing lo up: {e}")))?;
            sandbox.net = Some(pin(&d2, "net")?);
            sandbox.uts = Some(pin(&d2, "uts")?);
        }
        if !host.ipc {
            sandbox.ipc = Some(pin(&d2, "ipc")?);
        }
        fs::write(d2.join(READY), b"").map_err(|e| Error::io(&d2, e))?;
        Ok(sandbox)
    })
    .join()
    .map_err(|_| Error::Sandbox("the namespace thread panicked".into()))?;
    if made.is_err() {
        let _ = remove(root, pod_uid);
    }
    made
}

fn pin(dir: &Path, kind: &str) -> Result<PathBuf, Error> {
    let target = dir.join(kind);
    fs::File::create(&target).map_err(|e| Error::io(&target, e))?;
    let source = format!("/proc/thread-self/ns/{kind}");
    mount(Some(source.as_str()), &target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .map_err(|e| Error::Sandbox(format!("pinning {source} at {}: {e}", target.display())))?;
    Ok(target)
}

/// Unpins the namespaces (the kernel frees them when no process is left in them).
pub fn remove(root: &Path, pod_uid: &str) -> Result<(), Error> {
    let d = dir(root, pod_uid);
    for kind in ["uts", "ipc", "net"] {
        let p = d.join(kind);
        if p.exists() {
            let _ = umount2(&p, MntFlags::MNT_DETACH);
        }
    }
    match fs::remove_dir_all(&d) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&d, e)),
        _ => Ok(()),
    }
}

/// Sets IFF_UP on `lo` in the calling thread's network namespace.
pub fn loopback_up() -> std::io::Result<()> {
    // SAFETY: a plain socket for the ioctl, closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: ifreq is plain old data; the name is NUL-terminated within its array.
    let result = unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo\0".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        let mut r = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req);
        if r == 0 {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            r = libc::ioctl(fd, libc::SIOCSIFFLAGS, &req);
        }
        r
    };
    let err = std::io::Error::last_os_error();
    // SAFETY: closing the socket made above.
    unsafe { libc::close(fd) };
    if result != 0 {
        return Err(err);
    }
    Ok(())
}
