//! A container's state on disk, in its folder under the runtime's root, so that
//! a restarted agent finds every container again: the spec it was made from,
//! `state.json` once its process runs, `exit.json` once it has ended.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::spec::ContainerSpec;
use crate::Error;

pub const SPEC: &str = "spec.json";
pub const STARTED: &str = "state.json";
pub const EXITED: &str = "exit.json";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    /// The container's first process, as the host sees it.
    pub pid: i32,
    pub shim_pid: i32,
    /// RFC 3339 with nanoseconds.
    pub started_at: String,
    /// The kernel's boot id: after a reboot the pids mean other processes.
    #[serde(default)]
    pub boot_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Exited {
    /// The exit code, or 128 + the signal that ended it, as a shell reports.
    pub exit_code: i32,
    pub signal: Option<i32>,
    /// The kernel's OOM killer ended a process of the container.
    pub oom_killed: bool,
    pub started_at: String,
    pub finished_at: String,
    /// Why the process never ran (reported as StartError).
    pub error: Option<String>,
}

impl Exited {
    /// A container that never ran.
    pub fn failed(at: String, message: String) -> Exited {
        Exited {
            exit_code: 128,
            signal: None,
            oom_killed: false,
            started_at: at.clone(),
            finished_at: at,
            error: Some(message),
        }
    }
}

/// This boot of the kernel.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// What the runtime knows of a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Its shim is setting it up.
    Creating,
    Running(Started),
    Exited(Exited),
}

pub fn write_json<T: Serialize>(dir: &Path, name: &str, value: &T) -> Result<(), Error> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let bytes = serde_json::to_vec(value).map_err(|e| Error::State(e.to_string()))?;
    let mut f = fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(&bytes).map_err(|e| Error::io(&tmp, e))?;
    // Renamed into place only once complete: a reader never sees half a file.
    fs::rename(&tmp, dir.join(name)).map_err(|e| Error::io(dir, e))
}

pub fn read_json<T: DeserializeOwned>(dir: &Path, name: &str) -> Result<Option<T>, Error> {
    let path = dir.join(name);
    match fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::State(format!("{}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&path, e)),
    }
}

pub fn read_spec(dir: &Path) -> Result<ContainerSpec, Error> {
    read_json(dir, SPEC)?.ok_or_else(|| Error::NotFound(dir.file_name().unwrap_or_default().to_string_lossy().into()))
}

pub fn status(dir: &Path) -> Result<Status, Error> {
    if let Some(exited) = read_json::<Exited>(dir, EXITED)? {
        return Ok(Status::Exited(exited));
    }
    match read_json::<Started>(dir, STARTED)? {
        Some(started) => Ok(Status::Running(started)),
        None => Ok(Status::Creating),
    }
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

pub fn container_dir(root: &Path, id: &str) -> PathBuf {
    root.join("containers").join(id)
}
