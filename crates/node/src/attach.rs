//! Attach to a container's own process: what it writes comes from its log
//! (followed from now on, split back into stdout and stderr), what the client
//! types goes to the shim's `stdin` FIFO, terminal sizes to its `resize` FIFO.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use skiff_runtime::{Runtime, Status};
use tokio::io::AsyncWriteExt;

use crate::logs::{parse_line, Output};
use crate::streams::{Session, SessionRequest, StreamError};

/// How often the log is read for new output.
const POLL: Duration = Duration::from_millis(50);

pub fn session(runtime: Runtime, id: String, request: &SessionRequest) -> Result<Session, StreamError> {
    let spec = runtime.spec(&id).map_err(|e| StreamError::new(500, e.to_string()))?;
    let dir = runtime.container_dir(&id).map_err(|e| StreamError::new(500, e.to_string()))?;
    if request.stdin && !spec.stdin {
        return Err(StreamError::new(
            400,
            "Unable to use a TTY - container main did not allocate one; stdin is not open for this container (set stdin: true)",
        ));
    }
    let stdin = if request.stdin {
        use std::os::unix::fs::OpenOptionsExt;
        // Non-blocking open: with no shim reading, it fails at once (ENXIO) instead of hanging.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(dir.join(skiff_runtime::shim::STDIN_FIFO))
            .map_err(|e| StreamError::new(500, format!("opening the container's stdin: {e}")))?;
        let flags = nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_GETFL)
            .map_err(|e| StreamError::new(500, e.to_string()))?;
        let blocking = nix::fcntl::OFlag::from_bits_truncate(flags) - nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_SETFL(blocking))
            .map_err(|e| StreamError::new(500, e.to_string()))?;
        Some(Box::pin(tokio::fs::File::from_std(file)) as std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>)
    } else {
        None
    };
    let (out_w, out_r) = tokio::io::duplex(64 * 1024);
    let (err_w, err_r) = tokio::io::duplex(64 * 1024);
    let log = spec.log_path.clone();
    let rt = runtime.clone();
    let id2 = id.clone();
    tokio::spawn(async move { follow(rt, id2, log, out_w, err_w).await });
    let resize_path = dir.join(skiff_runtime::shim::RESIZE_FIFO);
    let resize = spec.tty.then(|| {
        Box::new(move |cols: u16, rows: u16| {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&resize_path)
            {
                let _ = writeln!(f, "{cols} {rows}");
            }
        }) as Box<dyn Fn(u16, u16) + Send + Sync>
    });
    let exit = async move {
        loop {
            match runtime.status(&id) {
                Ok(Status::Exited(e)) => return Ok(e.exit_code),
                Ok(_) => tokio::time::sleep(POLL).await,
                Err(e) => return Err(StreamError::new(500, e.to_string())),
            }
        }
    };
    Ok(Session {
        stdin,
        stdout: request.stdout.then(|| Box::pin(out_r) as std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>),
        stderr: (request.stderr && !spec.tty)
            .then(|| Box::pin(err_r) as std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>),
        resize,
        exit: Box::pin(exit),
    })
}

/// Copies what the container writes to its log from now on, until it ends.
async fn follow(
    runtime: Runtime,
    id: String,
    log: PathBuf,
    mut out: tokio::io::DuplexStream,
    mut err: tokio::io::DuplexStream,
) {
    let mut offset = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let ended = matches!(runtime.status(&id), Ok(Status::Exited(_)) | Err(_));
        let mut chunk = Vec::new();
        if let Ok(mut f) = std::fs::File::open(&log) {
            if f.seek(SeekFrom::Start(offset)).is_ok() {
                let _ = f.read_to_end(&mut chunk);
            }
        }
        offset += chunk.len() as u64;
        pending.extend_from_slice(&chunk);
        while let Some(nl) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=nl).collect();
            let Some(parsed) = parse_line(&line[..line.len() - 1]) else { continue };
            let mut text = parsed.text.to_vec();
            if !parsed.partial {
                text.push(b'\n');
            }
            let target = if parsed.output == Output::Stderr { &mut err } else { &mut out };
            // A client that went away ends the copy.
            if target.write_all(&text).await.is_err() {
                return;
            }
        }
        if ended {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}
