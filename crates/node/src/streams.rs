//! What the agent's HTTP server (logs, exec, attach) needs from the part that
//! runs containers, so the two can be built and tested apart.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

/// A container of a pod on this node, as a URL names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRef {
    pub namespace: String,
    pub pod: String,
    /// Empty: the pod's only container (the caller resolves kubectl's default).
    pub container: String,
}

/// Why a stream request cannot be served; `code` is the HTTP status the API relays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamError {
    pub code: u16,
    pub message: String,
}

impl StreamError {
    pub fn new(code: u16, message: impl Into<String>) -> StreamError {
        StreamError { code, message: message.into() }
    }
}

/// Where a container's log is, and whether more may still be written to it.
#[derive(Clone, Debug)]
pub struct LogFile {
    /// A file in the CRI log format: `<RFC3339Nano> <stdout|stderr> <F|P> <text>` per line.
    pub path: PathBuf,
    /// The container is running and writes to this file (follow waits for more).
    pub live: bool,
}

/// A process started in a container (exec) or the container's own (attach).
pub struct Session {
    pub stdin: Option<Pin<Box<dyn AsyncWrite + Send>>>,
    pub stdout: Option<Pin<Box<dyn AsyncRead + Send>>>,
    /// None with a TTY: the terminal merges stderr into stdout.
    pub stderr: Option<Pin<Box<dyn AsyncRead + Send>>>,
    /// Sets the terminal size (columns, rows); None without a TTY.
    pub resize: Option<Box<dyn Fn(u16, u16) + Send + Sync>>,
    /// Resolves to the exit code once the process has ended.
    pub exit: Pin<Box<dyn Future<Output = Result<i32, StreamError>> + Send>>,
}

/// What a client asked of an exec or attach.
#[derive(Clone, Debug, Default)]
pub struct SessionRequest {
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// Implemented by the pod manager over the runtime.
pub trait Streams: Send + Sync + 'static {
    /// The log of the container's current run, or of its previous one.
    fn log(&self, target: &ContainerRef, previous: bool) -> Result<LogFile, StreamError>;
    fn exec(
        &self,
        target: &ContainerRef,
        request: SessionRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Session, StreamError>> + Send + '_>>;
    fn attach(
        &self,
        target: &ContainerRef,
        request: SessionRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Session, StreamError>> + Send + '_>>;
    /// The agent's metrics in the Prometheus text format (served at /metrics).
    fn metrics(&self) -> String {
        String::new()
    }
}
