//! A process started in a container for exec, wired to a stream session:
//! pipes, or with a TTY a pseudo-terminal whose size the client sets.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::streams::{Session, SessionRequest, StreamError};

fn internal(e: impl std::fmt::Display) -> StreamError {
    StreamError::new(500, e.to_string())
}

/// Sets the terminal's size (columns, rows).
fn set_size(master: &OwnedFd, cols: u16, rows: u16) {
    let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
    unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
}

pub fn spawn(command: std::process::Command, request: &SessionRequest) -> Result<Session, StreamError> {
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    if request.tty {
        let pty = nix::pty::openpty(None, None).map_err(internal)?;
        let slave = pty.slave;
        command
            .stdin(Stdio::from(slave.try_clone().map_err(internal)?))
            .stdout(Stdio::from(slave.try_clone().map_err(internal)?))
            .stderr(Stdio::from(slave));
        let mut child = command.spawn().map_err(internal)?;
        // The child holds the slave now; ours would keep the terminal open after it exits.
        drop(command);
        // Blocking reads on tokio's blocking pool: a terminal master is not pollable by tokio::fs.
        let master = pty.master;
        let resize_fd = master.try_clone().map_err(internal)?;
        let reader = tokio::fs::File::from_std(std::fs::File::from(master.try_clone().map_err(internal)?));
        let writer = tokio::fs::File::from_std(std::fs::File::from(master));
        let exit = async move { child.wait().await.map(|s| code(&s)).map_err(internal) };
        return Ok(Session {
            stdin: request.stdin.then(|| Box::pin(writer) as std::pin::Pin<Box<dyn AsyncWrite + Send>>),
            stdout: Some(Box::pin(PtyReader(reader))),
            stderr: None,
            resize: Some(Box::new(move |cols, rows| set_size(&resize_fd, cols, rows))),
            exit: Box::pin(exit),
        });
    }
    command
        .stdin(if request.stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(if request.stdout { Stdio::piped() } else { Stdio::null() })
        .stderr(if request.stderr { Stdio::piped() } else { Stdio::null() });
    let mut child = command.spawn().map_err(internal)?;
    let stdin = child.stdin.take().map(|s| Box::pin(s) as std::pin::Pin<Box<dyn AsyncWrite + Send>>);
    let stdout = child.stdout.take().map(|s| Box::pin(s) as std::pin::Pin<Box<dyn AsyncRead + Send>>);
    let stderr = child.stderr.take().map(|s| Box::pin(s) as std::pin::Pin<Box<dyn AsyncRead + Send>>);
    let exit = async move { child.wait().await.map(|s| code(&s)).map_err(internal) };
    Ok(Session { stdin, stdout, stderr, resize: None, exit: Box::pin(exit) })
}

fn code(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Reads a terminal's master; EIO (the other side closed) is the end of the stream.
struct PtyReader(tokio::fs::File);

impl AsyncRead for PtyReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match std::pin::Pin::new(&mut self.0).poll_read(cx, buf) {
            std::task::Poll::Ready(Err(e)) if e.raw_os_error() == Some(libc::EIO) => std::task::Poll::Ready(Ok(())),
            other => other,
        }
    }
}
