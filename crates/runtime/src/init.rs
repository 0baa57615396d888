//! The container's first process between fork and exec: it joins or makes
//! its namespaces, waits until the shim has put it in its cgroup, builds and
//! enters its root filesystem, drops privileges and execs the command. Any
//! failure is written to the error pipe for the shim to report (StartError).

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::sched::{setns, unshare, CloneFlags};
use nix::unistd::{Gid, Uid};

use crate::caps;
use crate::rootfs;
use crate::spec::ContainerSpec;

/// What the container's stdin, stdout and stderr are.
pub enum Stdio {
    Pipes {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// A terminal made in the container's devpts once its root is entered;
    /// the master goes back to the shim over this socket.
    Terminal(OwnedFd),
}

type Result<T> = std::result::Result<T, String>;

/// Never returns: execs the command, or reports why not and exits.
pub fn run(spec: &ContainerSpec, state: &Path, stdio: Stdio, go: OwnedFd, errors: OwnedFd) -> ! {
    let error = match prepare(spec, state, stdio, go) {
        Ok(home) => exec_args(&spec.args, &environment(spec, &home)),
        Err(e) => e,
    };
    let mut f = std::fs::File::from(errors);
    let _ = f.write_all(error.as_bytes());
    // SAFETY: leaving the forked child without running the parent's destructors.
    unsafe { libc::_exit(127) }
}

fn join(path: &Path, kind: CloneFlags) -> Result<()> {
    let f = std::fs::File::open(path).map_err(|e| format!("opening namespace {}: {e}", path.display()))?;
    setns(&f, kind).map_err(|e| format!("joining namespace {}: {e}", path.display()))
}

/// Default dispositions and an empty mask, as a fresh process has: the shim
/// (a Rust program) ignores SIGPIPE, and that would otherwise be inherited.
pub fn reset_signals() {
    for sig in 1..32 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: resetting a signal's disposition to its default.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
    let _ = nix::sys::signal::SigSet::empty().thread_set_mask();
}

/// Everything between fork and exec; returns the user's home.
fn prepare(spec: &ContainerSpec, state: &Path, stdio: Stdio, go: OwnedFd) -> Result<String> {
    reset_signals();
    let ns = &spec.namespaces;
    let mut fresh = CloneFlags::CLONE_NEWNS;
    // Shared with the sandbox (a path), the host's (host_*), or a new one of its own.
    for (shared, host, kind) in [
        (&ns.net, ns.host_network, CloneFlags::CLONE_NEWNET),
        (&ns.ipc, ns.host_ipc, CloneFlags::CLONE_NEWIPC),
        (&ns.uts, ns.host_network, CloneFlags::CLONE_NEWUTS),
    ] {
        match shared {
            Some(p) => join(p, kind)?,
            None if !host => fresh |= kind,
            None => {}
        }
    }
    unshare(fresh).map_err(|e| format!("unshare: {e}"))?;
    if fresh.contains(CloneFlags::CLONE_NEWUTS) && !spec.hostname.is_empty() {
        nix::unistd::sethostname(&spec.hostname).map_err(|e| format!("sethostname: {e}"))?;
    }
    if fresh.contains(CloneFlags::CLONE_NEWNET) {
        crate::sandbox::loopback_up().map_err(|e| format!("bringing lo up: {e}"))?;
    }
    // The shim writes one byte once this process is in the container's cgroup.
    let mut byte = [0u8; 1];
    let n = nix::unistd::read(&go, &mut byte).map_err(|e| format!("waiting for the shim: {e}"))?;
    if n != 1 {
        return Err("the shim went away".into());
    }
    drop(go);
    nix::unistd::setsid().map_err(|e| format!("setsid: {e}"))?;
    let console = match stdio {
        Stdio::Pipes { stdin, stdout, stderr } => {
            for (fd, to) in [(stdin.as_raw_fd(), 0), (stdout.as_raw_fd(), 1), (stderr.as_raw_fd(), 2)] {
                dup_onto(fd, to)?;
            }
            None
        }
        Stdio::Terminal(socket) => Some(socket),
    };
    rootfs::enter(spec, state)?;
    if let Some(socket) = console {
        let (master, slave) = crate::console::open()?;
        crate::console::send(&socket, &master)?;
        drop(master);
        crate::console::adopt(&slave)?;
    }
    let home = privileges(spec)?;
    let cwd = if spec.cwd.is_empty() { "/" } else { &spec.cwd };
    if std::fs::metadata(cwd).is_err() {
        // As runc: a missing working directory is created.
        std::fs::create_dir_all(cwd).map_err(|e| format!("creating the working directory {cwd}: {e}"))?;
    }
    nix::unistd::chdir(cwd).map_err(|e| format!("chdir to cwd ({cwd:?}) set in config.json failed: {e}"))?;
    Ok(home)
}

fn dup_onto(fd: RawFd, to: RawFd) -> Result<()> {
    // SAFETY: dup2 on descriptors this process owns.
    if unsafe { libc::dup2(fd, to) } < 0 {
        return Err(format!("dup2: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// A user of the container's /etc/passwd.
struct Account {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

/// The first /etc/passwd entry `matches` accepts (by name or uid).
fn account(matches: impl Fn(&str, u32) -> bool) -> Option<Account> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        let uid = f.get(2)?.parse().ok()?;
        matches(f[0], uid).then(|| Account {
            name: f[0].to_string(),
            uid,
            gid: f.get(3).and_then(|g| g.parse().ok()).unwrap_or(0),
            home: f.get(5).filter(|h| !h.is_empty()).unwrap_or(&"/").to_string(),
        })
    })
}

/// The groups /etc/group lists `user` as a member of.
fn member_of(user: &str) -> Vec<u32> {
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    groups
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let members = f.get(3)?;
            members.split(',').any(|m| m.trim() == user).then(|| f.get(2)?.parse().ok())?
        })
        .collect()
}

/// The environment the command gets: the spec's, with HOME from the user's
/// passwd entry (or `/`) when it sets none, as container runtimes do.
pub fn environment(spec: &ContainerSpec, home: &str) -> Vec<String> {
    let mut env = spec.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    env
}

/// Groups, user, capabilities and no_new_privs, in the order that keeps the
/// process able to make each change until the last. Returns the user's home.
pub fn privileges(spec: &ContainerSpec) -> Result<String> {
    let mut uid = spec.user.uid;
    let mut gid = spec.user.gid;
    let found = match &spec.user.name {
        Some(name) => Some(
            account(|n, _| n == name)
                .ok_or_else(|| format!("unable to find user {name}: no matching entries in passwd file"))?,
        ),
        None => account(|_, u| u == uid),
    };
    if let Some(a) = &found {
        uid = a.uid;
        if !spec.user.gid_set {
            // As Docker: a user without a group gets the primary group of its passwd entry.
            gid = a.gid;
        }
    }
    let home = found.as_ref().map_or_else(|| "/".to_string(), |a| a.home.clone());
    let keep = caps::effective_set(
        spec.security.privileged,
        &spec.security.add_capabilities,
        &spec.security.drop_capabilities,
    )
    .map_err(|e| e.to_string())?;
    caps::restrict(&keep).map_err(|e| format!("dropping capabilities: {e}"))?;
    let mut groups: Vec<Gid> = vec![Gid::from_raw(gid)];
    groups.extend(spec.user.additional_gids.iter().map(|g| Gid::from_raw(*g)));
    if let Some(a) = &found {
        groups.extend(member_of(&a.name).into_iter().map(Gid::from_raw));
    }
    groups.dedup();
    nix::unistd::setgroups(&groups).map_err(|e| format!("setgroups: {e}"))?;
    nix::unistd::setresgid(Gid::from_raw(gid), Gid::from_raw(gid), Gid::from_raw(gid))
        .map_err(|e| format!("setgid {gid}: {e}"))?;
    nix::unistd::setresuid(Uid::from_raw(uid), Uid::from_raw(uid), Uid::from_raw(uid))
        .map_err(|e| format!("setuid {uid}: {e}"))?;
    if spec.security.no_new_privileges {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(format!("no_new_privs: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(home)
}

/// Where `cmd` is, as execvp would find it with the container's PATH.
pub fn resolve(cmd: &str, env: &[String]) -> Result<PathBuf> {
    if cmd.contains('/') {
        return if Path::new(cmd).exists() {
            Ok(PathBuf::from(cmd))
        } else {
            Err(format!("exec: \"{cmd}\": stat {cmd}: no such file or directory"))
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(cmd);
        if let Ok(c) = CString::new(candidate.as_os_str().as_encoded_bytes()) {
            // SAFETY: access() on a NUL-terminated path.
            if unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0 {
                return Ok(candidate);
            }
        }
    }
    Err(format!("exec: \"{cmd}\": executable file not found in $PATH"))
}

/// Execs the command; returns only with the reason it could not.
pub fn exec_args(args: &[String], env: &[String]) -> String {
    let Some(first) = args.first() else { return "no command specified".into() };
    let path = match resolve(first, env) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let cstr = |s: &str| CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"));
    let argv: Result<Vec<CString>> = args.iter().map(|a| cstr(a)).collect();
    let envp: Result<Vec<CString>> = env.iter().map(|e| cstr(e)).collect();
    let (argv, envp) = match (argv, envp) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let Ok(path_c) = CString::new(path.as_os_str().as_encoded_bytes()) else { return "bad path".into() };
    match nix::unistd::execve(&path_c, &argv, &envp) {
        Ok(never) => match never {},
        Err(e) => format!("exec: \"{first}\": {}", e.desc().to_lowercase()),
    }
}
