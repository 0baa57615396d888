//! The shim: one small process per container, started as `<skiff> shim run
//! DIR`. It detaches from the agent, starts the container, holds its output
//! and writes it to the log, waits for it to end and records how — so the
//! agent can stop, crash or be upgraded while the container runs on. `shim
//! exec DIR -- CMD` runs a command inside a running container.
//!
//! Both run single-threaded, before any async runtime starts: fork, setns
//! into a mount namespace and unshare of the PID namespace need that.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe2, ForkResult, Pid};

use crate::cgroups;
use crate::init::{self, Stdio};
use crate::logs::{LogWriter, Stream};
use crate::spec::ContainerSpec;
use crate::state::{self, Exited, Started};

/// `shim run DIR` or `shim exec DIR [--tty] -- CMD...`; returns the exit code.
pub fn main(args: &[String]) -> i32 {
    match args {
        [verb, dir] if verb == "run" => run(Path::new(dir)),
        [verb, dir, rest @ ..] if verb == "exec" => {
            let tty = rest.first().is_some_and(|a| a == "--tty");
            let rest = if tty { &rest[1..] } else { rest };
            match rest.split_first() {
                Some((dashes, cmd)) if dashes == "--" && !cmd.is_empty() => exec(Path::new(dir), tty, cmd),
                _ => usage(),
            }
        }
        _ => usage(),
    }
}

fn usage() -> i32 {
    eprintln!("usage: shim run DIR | shim exec DIR [--tty] -- CMD [ARG...]");
    2
}

fn run(dir: &Path) -> i32 {
    // The agent waits only for this first process; the shim lives on in its child.
    // SAFETY: single-threaded here.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => return 0,
        Ok(ForkResult::Child) => {}
        Err(e) => {
            println!("error: fork: {e}");
            return 1;
        }
    }
    let _ = nix::unistd::setsid();
    if let Ok(f) = OpenOptions::new().create(true).append(true).open(dir.join("shim.log")) {
        // SAFETY: dup2 onto our own stderr.
        unsafe { libc::dup2(f.as_raw_fd(), 2) };
    }
    let spec = match state::read_spec(dir) {
        Ok(s) => s,
        Err(e) => {
            println!("error: {e}");
            return 1;
        }
    };
    let started_at = state::now();
    match start(&spec, dir) {
        Err(message) => {
            let _ = state::write_json(dir, state::EXITED, &Exited::failed(started_at, message.clone()));
            println!("error: {message}");
            1
        }
        Ok(running) => {
            let started = Started {
                pid: running.pid.as_raw(),
                shim_pid: std::process::id() as i32,
                started_at,
                boot_id: state::boot_id(),
            };
            if let Err(e) = state::write_json(dir, state::STARTED, &started) {
                eprintln!("recording the start: {e}");
            }
            println!("ok {}", started.pid);
            let _ = std::io::stdout().flush();
            // The agent reads until end of file: let go of its pipe.
            if let Ok(null) = File::open("/dev/null") {
                // SAFETY: dup2 onto our own stdout.
                unsafe { libc::dup2(null.as_raw_fd(), 1) };
            }
            supervise(&spec, dir, running, &started.started_at);
            0
        }
    }
}

struct Running {
    pid: Pid,
    pidfd: OwnedFd,
    /// Output descriptors: (fd, stream); a terminal's master is one of them.
    outputs: Vec<(OwnedFd, Stream)>,
    /// Kept open so the terminal does not hang up while the container runs.
    _terminal: Option<OwnedFd>,
    /// What attach writes: the `stdin` FIFO and where its bytes go (the
    /// container's stdin pipe or the terminal).
    input: Option<(OwnedFd, OwnedFd)>,
    /// The `resize` FIFO (`COLS ROWS` lines) and the terminal it sizes.
    resize: Option<(OwnedFd, OwnedFd)>,
}

/// The FIFOs attach uses, in the container's folder.
pub const STDIN_FIFO: &str = "stdin";
pub const RESIZE_FIFO: &str = "resize";

/// Makes a FIFO and opens it for reading and writing, so it never reports
/// end of file when a client goes away.
fn fifo(dir: &Path, name: &str) -> Result<OwnedFd, String> {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .map_err(|e| format!("mkfifo {}: {e}", path.display()))?;
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(f.into())
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))
}

fn start(spec: &ContainerSpec, dir: &Path) -> Result<Running, String> {
    let (go_r, go_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| format!("dup: {e}"));
    let mut console = None;
    let (stdio, mut outputs, mut terminal, mut input, mut resize) = if spec.tty {
        let (shim_end, container_end) = crate::console::pair()?;
        console = Some((shim_end, spec.stdin.then(|| fifo(dir, STDIN_FIFO)).transpose()?, fifo(dir, RESIZE_FIFO)?));
        (Stdio::Terminal(container_end), Vec::new(), None, None, None)
    } else {
        let (out_r, out_w) = pipe()?;
        let (err_out_r, err_out_w) = pipe()?;
        let (stdin, input) = if spec.stdin {
            let (r, w) = pipe()?;
            (r, Some((fifo(dir, STDIN_FIFO)?, w)))
        } else {
            (File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?.into(), None)
        };
        (
            Stdio::Pipes { stdin, stdout: out_w, stderr: err_out_w },
            vec![(out_r, Stream::Stdout), (err_out_r, Stream::Stderr)],
            None,
            input,
            None,
        )
    };
    let group = cgroups::create(&spec.cgroup, &spec.resources, spec.security.privileged).map_err(|e| e.to_string())?;
    if !spec.namespaces.host_pid {
        // Only children move into the new PID namespace: the container's process will be its PID 1.
        unshare(CloneFlags::CLONE_NEWPID).map_err(|e| format!("unshare pid: {e}"))?;
    }
    // SAFETY: single-threaded; the child only calls async-signal-safe code and execs.
    let child = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop((go_w, err_r, outputs, terminal, input.take(), resize.take(), console.take()));
            init::run(spec, dir, stdio, go_r, err_w)
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return Err(format!("fork: {e}")),
    };
    drop((go_r, err_w, stdio));
    let fail = |message: String| -> Result<Running, String> {
        let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(child, None);
        Err(message)
    };
    if let Err(e) = cgroups::add(&group, child.as_raw()) {
        return fail(e.to_string());
    }
    if let Err(e) = nix::unistd::write(&go_w, &[1]) {
        return fail(format!("starting the container: {e}"));
    }
    drop(go_w);
    if let Some((socket, stdin_fifo, resize_fifo)) = console {
        // The terminal arrives once the container has entered its root; none means its setup failed.
        if let Some(master) = crate::console::receive(&socket) {
            input = match stdin_fifo {
                Some(f) => Some((f, dup(&master)?)),
                None => None,
            };
            resize = Some((resize_fifo, dup(&master)?));
            terminal = Some(dup(&master)?);
            outputs.push((master, Stream::Stdout));
        }
    }
    // The error pipe closes on exec (close-on-exec) or carries why it failed.
    let mut message = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match nix::unistd::read(&err_r, &mut buf) {
            Ok(0) => break,
            Ok(n) => message.extend_from_slice(&buf[..n]),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return fail(format!("reading the start result: {e}")),
        }
    }
    if !message.is_empty() {
        return fail(String::from_utf8_lossy(&message).into_owned());
    }
    // SAFETY: pidfd_open with a pid we own (our child, not yet reaped).
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.as_raw(), 0) };
    if pidfd < 0 {
        return fail(format!("pidfd_open: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: a fresh descriptor the kernel just gave us.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
    Ok(Running { pid: child, pidfd, outputs, _terminal: terminal, input, resize })
}

/// Copies output to the log until the process ends, then records its end.
fn supervise(spec: &ContainerSpec, dir: &Path, running: Running, started_at: &str) {
    if let Some(parent) = spec.log_path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let mut log = match LogWriter::open(&spec.log_path) {
        Ok(w) => Some(w),
        Err(e) => {
            eprintln!("opening {}: {e}", spec.log_path.display());
            None
        }
    };
    let mut open: Vec<(OwnedFd, Stream)> = running.outputs;
    let mut buf = vec![0u8; 64 * 1024];
    let mut exited = false;
    let extra: Vec<RawFd> =
        [&running.input, &running.resize].iter().filter_map(|x| x.as_ref().map(|(f, _)| f.as_raw_fd())).collect();
    while !exited {
        let mut fds: Vec<libc::pollfd> =
            open.iter().map(|(fd, _)| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
        for fd in &extra {
            fds.push(libc::pollfd { fd: *fd, events: libc::POLLIN, revents: 0 });
        }
        fds.push(libc::pollfd { fd: running.pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        // SAFETY: fds is a valid array of pollfd for its length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            continue;
        }
        exited = fds[fds.len() - 1].revents != 0;
        for pfd in &fds[open.len()..fds.len() - 1] {
            if pfd.revents == 0 {
                continue;
            }
            if let Some((fifo, target)) = running.input.as_ref().filter(|(f, _)| f.as_raw_fd() == pfd.fd) {
                if let Ok(n) = nix::unistd::read(fifo, &mut buf) {
                    // Never block on a container that does not read its input: the output must keep flowing.
                    let _ = nix::fcntl::fcntl(target.as_fd(), nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
                    write_all(target, &buf[..n]);
                }
            } else if let Some((fifo, terminal)) = running.resize.as_ref().filter(|(f, _)| f.as_raw_fd() == pfd.fd) {
                if let Ok(n) = nix::unistd::read(fifo, &mut buf) {
                    resize_terminal(terminal, &buf[..n]);
                }
            }
        }
        let mut closed = Vec::new();
        for (i, pfd) in fds[..open.len()].iter().enumerate() {
            if pfd.revents == 0 {
                continue;
            }
            match nix::unistd::read(open[i].0.as_fd(), &mut buf) {
                Ok(0) | Err(nix::errno::Errno::EIO) => closed.push(i),
                Ok(n) => {
                    if let Some(l) = log.as_mut() {
                        l.write(open[i].1, &buf[..n]);
                    }
                }
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(_) => closed.push(i),
            }
        }
        for i in closed.into_iter().rev() {
            open.remove(i);
        }
    }
    // What the process wrote just before it ended is still in the pipes.
    for (fd, stream) in &open {
        let _ = nix::fcntl::fcntl(fd.as_fd(), nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
        while let Ok(n) = nix::unistd::read(fd.as_fd(), &mut buf) {
            if n == 0 {
                break;
            }
            if let Some(l) = log.as_mut() {
                l.write(*stream, &buf[..n]);
            }
        }
    }
    if let Some(l) = log.as_mut() {
        l.flush();
    }
    let (exit_code, signal) = match waitpid(running.pid, None) {
        Ok(WaitStatus::Exited(_, code)) => (code, None),
        Ok(WaitStatus::Signaled(_, sig, _)) => (128 + sig as i32, Some(sig as i32)),
        other => {
            eprintln!("waiting for {}: {other:?}", running.pid);
            (255, None)
        }
    };
    let exited = Exited {
        exit_code,
        signal,
        oom_killed: cgroups::oom_kills(&spec.cgroup) > 0,
        started_at: started_at.to_string(),
        finished_at: state::now(),
        error: None,
    };
    if let Err(e) = state::write_json(dir, state::EXITED, &exited) {
        eprintln!("recording the exit: {e}");
    }
}

fn write_all(fd: &OwnedFd, data: &[u8]) {
    write_all_to(fd.as_fd(), data)
}

/// Applies the last `COLS ROWS` line of `text` to the terminal.
fn resize_terminal(terminal: &OwnedFd, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    let Some(line) = text.lines().rev().find(|l| !l.trim().is_empty()) else { return };
    let mut parts = line.split_whitespace().map(|p| p.parse::<u16>());
    if let (Some(Ok(cols)), Some(Ok(rows))) = (parts.next(), parts.next()) {
        let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
        unsafe { libc::ioctl(terminal.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    }
}

/// Runs `cmd` in the running container of `dir`: its namespaces, cgroup,
/// user, capabilities and environment. Returns the command's exit code.
fn exec(dir: &Path, tty: bool, cmd: &[String]) -> i32 {
    let spec = match enter(dir) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("{e}");
            return 126;
        }
    };
    // With a TTY, the terminal is made in the container's devpts (we are in its mount namespace now).
    let terminal = if tty {
        match crate::console::open() {
            Ok(pair) => Some(pair),
            Err(e) => {
                eprintln!("{e}");
                return 126;
            }
        }
    } else {
        None
    };
    // Joining a PID namespace takes effect for children only.
    // SAFETY: single-threaded.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let slave = terminal.map(|(master, slave)| {
                drop(master);
                slave
            });
            let error = match exec_child(&spec, slave.as_ref()) {
                Ok(home) => {
                    let mut env = init::environment(&spec, &home);
                    if tty && !env.iter().any(|e| e.starts_with("TERM=")) {
                        env.push("TERM=xterm".into());
                    }
                    init::exec_args(cmd, &env)
                }
                Err(e) => e,
            };
            eprintln!("OCI runtime exec failed: exec failed: unable to start container process: {error}");
            let code = if error.contains("not found") || error.contains("no such file") { 127 } else { 126 };
            // SAFETY: leaving the forked child.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => {
            if let Some((master, slave)) = terminal {
                drop(slave);
                relay(&master, child);
            }
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, code)) => code,
                Ok(WaitStatus::Signaled(_, sig, _)) => 128 + sig as i32,
                _ => 255,
            }
        }
        Err(e) => {
            eprintln!("fork: {e}");
            126
        }
    }
}

/// Between fork and exec of an exec'd command; returns the user's home.
fn exec_child(spec: &ContainerSpec, terminal: Option<&OwnedFd>) -> Result<String, String> {
    init::reset_signals();
    // The command ends with its caller (a timed-out probe, a closed session), as under containerd.
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
    if let Some(slave) = terminal {
        nix::unistd::setsid().map_err(|e| format!("setsid: {e}"))?;
        crate::console::adopt(slave)?;
    }
    let home = init::privileges(spec)?;
    let cwd = if spec.cwd.is_empty() { "/" } else { &spec.cwd };
    nix::unistd::chdir(cwd).map_err(|e| format!("chdir {cwd}: {e}"))?;
    Ok(home)
}

/// Joins the caller's terminal (our stdin/stdout, the agent's) to the
/// container's until the command ends: bytes both ways, and the caller's
/// window size whenever it changes (SIGWINCH, as its controlling terminal).
fn relay(master: &OwnedFd, child: Pid) {
    use nix::sys::signal::{SigSet, Signal};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    crate::console::raw(0);
    if nix::unistd::setsid().is_ok() {
        // SAFETY: ioctl on our own stdin.
        unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) };
    }
    let mut winch = SigSet::empty();
    winch.add(Signal::SIGWINCH);
    let _ = winch.thread_block();
    let signals = SignalFd::with_flags(&winch, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ok();
    crate::console::copy_size(0, master.as_raw_fd());
    // SAFETY: pidfd_open on our own, not yet reaped, child.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.as_raw(), 0) } as RawFd;
    let mut stdin_open = true;
    let mut buf = vec![0u8; 32 * 1024];
    // SAFETY: fd 1 is ours for the life of the process.
    let stdout = unsafe { std::os::fd::BorrowedFd::borrow_raw(1) };
    loop {
        let mut fds = vec![
            libc::pollfd { fd: master.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: pidfd, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: signals.as_ref().map_or(-1, |s| s.as_raw_fd()), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: if stdin_open { 0 } else { -1 }, events: libc::POLLIN, revents: 0 },
        ];
        // SAFETY: a valid pollfd array of its length.
        if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) } < 0 {
            continue;
        }
        if fds[0].revents != 0 {
            match nix::unistd::read(master, &mut buf) {
                Ok(n) if n > 0 => write_all_to(stdout, &buf[..n]),
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                // EIO: no process holds the terminal any more.
                _ => break,
            }
        }
        if fds[3].revents != 0 {
            // SAFETY: fd 0 is ours.
            let stdin = unsafe { std::os::fd::BorrowedFd::borrow_raw(0) };
            match nix::unistd::read(stdin, &mut buf) {
                Ok(n) if n > 0 => write_all_to(master.as_fd(), &buf[..n]),
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                _ => stdin_open = false,
            }
        }
        if fds[2].revents != 0 {
            if let Some(s) = &signals {
                while let Ok(Some(_)) = s.read_signal() {}
            }
            crate::console::copy_size(0, master.as_raw_fd());
        }
        if fds[1].revents != 0 {
            // The command ended: pass on what it wrote last, then stop.
            let _ = nix::fcntl::fcntl(master.as_fd(), nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
            while let Ok(n) = nix::unistd::read(master, &mut buf) {
                if n == 0 {
                    break;
                }
                write_all_to(stdout, &buf[..n]);
            }
            break;
        }
    }
    if pidfd >= 0 {
        // SAFETY: closing the pidfd opened above.
        unsafe { libc::close(pidfd) };
    }
}

/// Writes what the descriptor takes; on a non-blocking one that is full, the rest is dropped.
fn write_all_to(fd: std::os::fd::BorrowedFd<'_>, mut data: &[u8]) {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// Joins the container's cgroup and namespaces.
fn enter(dir: &Path) -> Result<ContainerSpec, String> {
    let spec = state::read_spec(dir).map_err(|e| e.to_string())?;
    let started = match state::status(dir).map_err(|e| e.to_string())? {
        state::Status::Running(s) => s,
        _ => return Err(format!("container {} is not running", spec.id)),
    };
    // Opened first: once in the container's mount namespace, /proc is the container's.
    let mut namespaces = Vec::new();
    for (name, kind) in [
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ] {
        let path = format!("/proc/{}/ns/{name}", started.pid);
        let f = File::open(&path).map_err(|e| format!("container {} is not running: {path}: {e}", spec.id))?;
        namespaces.push((f, kind));
    }
    cgroups::join(&spec.cgroup).map_err(|e| e.to_string())?;
    for (f, kind) in namespaces {
        setns(&f, kind).map_err(|e| format!("joining the container's {kind:?} namespace: {e}"))?;
    }
    Ok(spec)
}
