//! skiff's container runtime: pod sandboxes (shared network, IPC and UTS
//! namespaces), containers started and supervised by a shim that outlives the
//! agent, overlay root filesystems, cgroups (v1 and v2), and exec.
//!
//! Every container has a folder under `<root>/containers/<id>` holding its
//! spec and what became of it (see [`state`]); the folder is the truth, so a
//! restarted agent finds all containers again with [`Runtime::list`].

pub mod caps;
pub mod cgroups;
mod console;
mod init;
pub mod logs;
mod rootfs;
pub mod sandbox;
pub mod shim;
pub mod spec;
pub mod state;

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub use sandbox::{HostShares, Sandbox};
use spec::ContainerSpec;
pub use state::{Exited, Started, Status};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("container state: {0}")]
    State(String),
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("container {0} already exists")]
    Exists(String),
    #[error("{0}")]
    Start(String),
    #[error("cgroup {0}")]
    Cgroup(String),
    #[error("pod sandbox: {0}")]
    Sandbox(String),
    #[error("invalid container spec: {0}")]
    Spec(String),
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io { path: path.to_path_buf(), source }
    }
}

/// The runtime of one node: its folder and how to start a shim.
#[derive(Clone, Debug)]
pub struct Runtime {
    root: PathBuf,
    /// The shim's program and the arguments before `run`/`exec` (e.g. `skiff shim`).
    shim: Vec<OsString>,
}

impl Runtime {
    pub fn new(root: impl Into<PathBuf>, shim: Vec<OsString>) -> Result<Runtime, Error> {
        let root = root.into();
        let containers = root.join("containers");
        std::fs::create_dir_all(&containers).map_err(|e| Error::io(&containers, e))?;
        if shim.is_empty() {
            return Err(Error::Spec("no shim program".into()));
        }
        Ok(Runtime { root, shim })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, id: &str) -> Result<PathBuf, Error> {
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            return Err(Error::Spec(format!("bad container id {id:?}")));
        }
        Ok(state::container_dir(&self.root, id))
    }

    fn shim_command(&self) -> Command {
        let mut c = Command::new(&self.shim[0]);
        c.args(&self.shim[1..]);
        c
    }

    pub fn create_sandbox(&self, pod_uid: &str, hostname: &str, host: HostShares) -> Result<Sandbox, Error> {
        sandbox::create(&self.root, pod_uid, hostname, host)
    }

    pub fn remove_sandbox(&self, pod_uid: &str) -> Result<(), Error> {
        sandbox::remove(&self.root, pod_uid)
    }

    /// Pod uids with a sandbox on this node.
    pub fn sandboxes(&self) -> Vec<String> {
        names(&self.root.join("sandboxes"))
    }

    /// Creates and starts the container; returns once its command runs (or
    /// could not be started: `Error::Start` with the reason, and the
    /// container is left Exited with that error for the caller to report).
    pub fn start(&self, spec: &ContainerSpec) -> Result<Started, Error> {
        let dir = self.dir(&spec.id)?;
        if dir.join(state::SPEC).exists() {
            return Err(Error::Exists(spec.id.clone()));
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        state::write_json(&dir, state::SPEC, spec)?;
        let spawned = self
            .shim_command()
            .arg("run")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => return Err(self.failed(&dir, format!("starting the shim {:?}: {e}", self.shim[0]))),
        };
        let mut answer = String::new();
        if let Some(mut out) = child.stdout.take() {
            let _ = out.read_to_string(&mut answer);
        }
        let _ = child.wait();
        let answer = answer.trim();
        if let Some(message) = answer.strip_prefix("error: ") {
            return Err(self.failed(&dir, message.to_string()));
        }
        match state::status(&dir)? {
            Status::Running(started) => Ok(started),
            // It ran and ended before we looked.
            Status::Exited(e) if e.error.is_none() => {
                Ok(Started { pid: 0, shim_pid: 0, started_at: e.started_at, boot_id: state::boot_id() })
            }
            _ => Err(self.failed(
                &dir,
                format!("the shim ended without starting the container (see {})", dir.join("shim.log").display()),
            )),
        }
    }

    /// Records a start that failed before the shim could, so the container
    /// reads as ended (StartError) rather than being created forever.
    fn failed(&self, dir: &Path, message: String) -> Error {
        if matches!(state::status(dir), Ok(Status::Creating)) {
            let now = state::now();
            let _ = state::write_json(dir, state::EXITED, &Exited::failed(now, message.clone()));
        }
        Error::Start(message)
    }

    /// The container's folder (its FIFOs for attach are there).
    pub fn container_dir(&self, id: &str) -> Result<PathBuf, Error> {
        self.dir(id)
    }

    pub fn spec(&self, id: &str) -> Result<ContainerSpec, Error> {
        state::read_spec(&self.dir(id)?)
    }

    pub fn status(&self, id: &str) -> Result<Status, Error> {
        let dir = self.dir(id)?;
        if !dir.join(state::SPEC).exists() {
            return Err(Error::NotFound(id.to_string()));
        }
        let status = state::status(&dir)?;
        if let Status::Running(s) = &status {
            // After a reboot the pids name other processes; otherwise both gone without a record.
            let rebooted = s.boot_id != state::boot_id();
            if rebooted || (!alive(s.shim_pid) && !alive(s.pid)) {
                // Read again: the shim may have written its record meanwhile.
                if let Status::Running(s) = state::status(&dir)? {
                    let exited = Exited {
                        exit_code: 255,
                        signal: None,
                        oom_killed: false,
                        started_at: s.started_at,
                        finished_at: state::now(),
                        error: Some("the container's shim ended before the container did".into()),
                    };
                    // Written once, so the end keeps its time.
                    state::write_json(&dir, state::EXITED, &exited)?;
                }
                return state::status(&dir);
            }
        }
        Ok(status)
    }

    /// Sends a signal to the container's first process.
    pub fn signal(&self, id: &str, signal: Signal) -> Result<(), Error> {
        if let Status::Running(s) = self.status(id)? {
            // status() has checked the pid is still this container's (same boot, shim or process alive).
            if s.pid > 0 {
                let _ = kill(Pid::from_raw(s.pid), signal);
            }
        }
        Ok(())
    }

    /// Waits until the container has ended, at most `timeout`.
    pub fn wait(&self, id: &str, timeout: Duration) -> Result<Option<Exited>, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Status::Exited(e) = self.status(id)? {
                return Ok(Some(e));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills the container if it runs, removes its cgroup and its folder.
    pub fn remove(&self, id: &str) -> Result<(), Error> {
        let dir = self.dir(id)?;
        let spec = match state::read_spec(&dir) {
            Ok(s) => s,
            Err(Error::NotFound(_)) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if matches!(self.status(id)?, Status::Running(_) | Status::Creating) {
            self.signal(id, Signal::SIGKILL)?;
            self.wait(id, Duration::from_secs(10))?;
        }
        cgroups::remove(&spec.cgroup)?;
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))
    }

    /// Every container this runtime holds.
    pub fn list(&self) -> Vec<String> {
        names(&self.root.join("containers"))
    }

    /// A command that runs `cmd` inside the running container; the caller
    /// chooses its stdio (a terminal's slave for `tty`).
    pub fn exec_command(&self, id: &str, cmd: &[String], tty: bool) -> Result<Command, Error> {
        let dir = self.dir(id)?;
        if !matches!(self.status(id)?, Status::Running(_)) {
            return Err(Error::State(format!("container {id} is not running")));
        }
        let mut c = self.shim_command();
        c.arg("exec").arg(&dir);
        if tty {
            c.arg("--tty");
        }
        c.arg("--").args(cmd);
        Ok(c)
    }
}

fn alive(pid: i32) -> bool {
    pid > 0 && kill(Pid::from_raw(pid), None).is_ok()
}

fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).filter_map(|e| e.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    out.sort();
    out
}
