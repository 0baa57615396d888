//! Test scaffolding, not a runtime: a `Streams` whose "containers" are
//! processes on the host. exec runs the command in a directory standing for
//! the container's root (with a pseudo-terminal when asked), attach runs a
//! fixed command in its place, and logs are CRI files the test writes.

use std::future::Future;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;

use skiff_node::streams::{ContainerRef, LogFile, Session, SessionRequest, StreamError, Streams};

pub struct HostStreams {
    /// Every exec's working directory: the container's root, as far as `kubectl cp` can tell.
    pub root: PathBuf,
    /// `NS_POD_CONTAINER.log` (and `.previous.log`) are the logs; the container
    /// runs while `NS_POD_CONTAINER.live` exists.
    pub log_dir: PathBuf,
    /// What attach runs in place of the container's main process.
    pub attach_command: Vec<String>,
}

impl HostStreams {
    fn file(&self, target: &ContainerRef, suffix: &str) -> PathBuf {
        self.log_dir.join(format!("{}_{}_{}.{suffix}", target.namespace, target.pod, target.container))
    }

    fn spawn(&self, command: &[String], request: &SessionRequest) -> Result<Session, StreamError> {
        let Some((program, args)) = command.split_first() else {
            return Err(StreamError::new(400, "no command"));
        };
        let mut cmd = std::process::Command::new(program);
        cmd.args(args).current_dir(&self.root);
        if request.tty {
            spawn_with_tty(cmd)
        } else {
            spawn_with_pipes(cmd, request)
        }
    }
}

fn failed(e: std::io::Error) -> StreamError {
    StreamError::new(500, format!("failed to start the process: {e}"))
}

fn exit_of(child: tokio::process::Child) -> Pin<Box<dyn Future<Output = Result<i32, StreamError>> + Send>> {
    let mut child = child;
    Box::pin(async move {
        let status = child.wait().await.map_err(|e| StreamError::new(500, e.to_string()))?;
        Ok(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
    })
}

fn spawn_with_pipes(cmd: std::process::Command, request: &SessionRequest) -> Result<Session, StreamError> {
    let pipe = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(pipe(request.stdin)).stdout(pipe(request.stdout)).stderr(pipe(request.stderr)).kill_on_drop(true);
    let mut child = cmd.spawn().map_err(failed)?;
    Ok(Session {
        stdin: child.stdin.take().map(|s| Box::pin(s) as _),
        stdout: child.stdout.take().map(|s| Box::pin(s) as _),
        stderr: child.stderr.take().map(|s| Box::pin(s) as _),
        resize: None,
        exit: exit_of(child),
    })
}

fn spawn_with_tty(mut cmd: std::process::Command) -> Result<Session, StreamError> {
    let pty = nix::pty::openpty(None, None).map_err(|e| failed(e.into()))?;
    let slave = pty.slave;
    for (i, stdio) in [0, 1, 2].into_iter().map(|i| (i, slave.try_clone())) {
        let stdio = Stdio::from(stdio.map_err(failed)?);
        match i {
            0 => cmd.stdin(stdio),
            1 => cmd.stdout(stdio),
            _ => cmd.stderr(stdio),
        };
    }
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // A session of its own with the terminal as its controlling one, so the shell gets job control and SIGWINCH.
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    let child = cmd.spawn().map_err(failed)?;
    // Only the child may hold the terminal's other side, or its end never shows on the master.
    drop(cmd);
    drop(slave);
    let master = Arc::new(pty.master);
    let file = |fd: &OwnedFd| fd.try_clone().map(|fd| tokio::fs::File::from_std(std::fs::File::from(fd)));
    let reader = file(&master).map_err(failed)?;
    let writer = file(&master).map_err(failed)?;
    let resize_master = master.clone();
    Ok(Session {
        stdin: Some(Box::pin(writer)),
        stdout: Some(Box::pin(reader)),
        stderr: None,
        resize: Some(Box::new(move |cols, rows| {
            let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
            // SAFETY: TIOCSWINSZ reads one winsize from a valid pointer.
            unsafe { libc::ioctl(resize_master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        })),
        exit: exit_of(child),
    })
}

impl Streams for HostStreams {
    fn log(&self, target: &ContainerRef, previous: bool) -> Result<LogFile, StreamError> {
        let (c, p) = (&target.container, &target.pod);
        if previous {
            let path = self.file(target, "previous.log");
            if !path.exists() {
                return Err(StreamError::new(
                    400,
                    format!("previous terminated container {c:?} in pod {p:?} not found"),
                ));
            }
            return Ok(LogFile { path, live: false });
        }
        let path = self.file(target, "log");
        let live = self.file(target, "live").exists();
        if !live && !path.exists() {
            return Err(StreamError::new(
                400,
                format!("container {c:?} in pod {p:?} is waiting to start: ContainerCreating"),
            ));
        }
        Ok(LogFile { path, live })
    }

    fn exec(
        &self,
        _target: &ContainerRef,
        request: SessionRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Session, StreamError>> + Send + '_>> {
        Box::pin(async move { self.spawn(&request.command, &request) })
    }

    fn attach(
        &self,
        _target: &ContainerRef,
        request: SessionRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Session, StreamError>> + Send + '_>> {
        Box::pin(async move { self.spawn(&self.attach_command, &request) })
    }
}
