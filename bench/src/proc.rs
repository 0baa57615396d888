//! The server processes the benchmark starts (skiff, etcd): each lives in its
//! own process group with its output in a log file inside its own temp dir,
//! and is stopped by pid — SIGTERM, then SIGKILL if it lingers — before that
//! dir is removed, whether the run ends normally, fails or is interrupted.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;
use tokio::process::{Child, Command};

/// How long a server gets to exit after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(15);

pub struct Managed {
    name: &'static str,
    child: Option<Child>,
    pid: Pid,
    log: PathBuf,
    // Declared last so the directory is removed only after the process is gone.
    dir: TempDir,
}

impl Managed {
    /// Starts `cmd` with stderr (and stdout unless the caller piped it) going
    /// to `dir/<name>.log`.
    pub fn spawn(name: &'static str, mut cmd: Command, dir: TempDir, pipe_stdout: bool) -> anyhow::Result<Managed> {
        let log = dir.path().join(format!("{name}.log"));
        let file = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let stdout = if pipe_stdout { std::process::Stdio::piped() } else { file.try_clone()?.into() };
        cmd.stdin(std::process::Stdio::null()).stdout(stdout).stderr(file);
        // Own process group: a terminal's Ctrl-C reaches only the benchmark,
        // which then stops the servers in order.
        cmd.process_group(0);
        let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        let raw = child.id().context("the child has no pid")?;
        let pid = Pid::from_raw(i32::try_from(raw).context("pid out of range")?);
        Ok(Managed { name, child: Some(child), pid, log, dir })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn take_stdout(&mut self) -> Option<tokio::process::ChildStdout> {
        self.child.as_mut().and_then(|c| c.stdout.take())
    }

    /// `Some(status)` once the process has exited on its own.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// An error with the log's tail if the process died.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        match self.exited() {
            Some(status) => anyhow::bail!("{} exited unexpectedly ({status})\n{}", self.name, self.log_tail(30)),
            None => Ok(()),
        }
    }

    /// The last `lines` lines of its log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let start = all.len().saturating_sub(lines);
        let tail = all[start..].join("\n");
        format!("--- last lines of {} ---\n{tail}", self.log.display())
    }

    /// SIGTERM by pid, wait for the exit, SIGKILL after the grace period;
    /// then the dir goes, after the log's tail is shown if the exit was unclean.
    pub async fn stop(mut self) -> anyhow::Result<ExitStatus> {
        let mut child = self.child.take().context("already stopped")?;
        let status = match child.try_wait() {
            Ok(Some(status)) => status,
            _ => {
                let _ = kill(self.pid, Signal::SIGTERM);
                match tokio::time::timeout(GRACE, child.wait()).await {
                    Ok(status) => status?,
                    Err(_) => {
                        eprintln!("{} did not exit within {GRACE:?} of SIGTERM; killing pid {}", self.name, self.pid);
                        let _ = kill(self.pid, Signal::SIGKILL);
                        child.wait().await?
                    }
                }
            }
        };
        // Dying of the SIGTERM we sent is a clean stop too (etcd does that).
        if !status.success() && status.signal() != Some(Signal::SIGTERM as i32) {
            eprintln!("{} exited with {status}\n{}", self.name, self.log_tail(20));
        }
        Ok(status)
    }
}

impl Drop for Managed {
    // The path taken on errors and interrupts: the same steps as `stop`, but blocking.
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        let _ = kill(self.pid, Signal::SIGTERM);
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = kill(self.pid, Signal::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A loopback port nobody listens on right now (the OS picks it).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// `name` as given if it contains a slash, else the first match on `$PATH`.
pub fn find_program(name: &Path) -> Option<PathBuf> {
    if name.components().count() > 1 {
        return name.is_file().then(|| name.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}
