//! What a container is to be: the runtime's own small spec, written by the
//! agent into the container's state folder and read back by the shim.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSpec {
    /// Unique on this node; names the state folder and the cgroup.
    pub id: String,
    /// Image layers, lowest first (unpacked folders, shared read-only).
    pub layers: Vec<PathBuf>,
    /// argv; argv[0] is looked up in the container's PATH when it has no slash.
    pub args: Vec<String>,
    /// `NAME=value`.
    pub env: Vec<String>,
    /// Empty: "/".
    pub cwd: String,
    pub user: User,
    pub mounts: Vec<Mount>,
    pub namespaces: Namespaces,
    pub security: Security,
    pub resources: Resources,
    /// A pseudo-terminal for the process (`tty: true`), else pipes.
    pub tty: bool,
    /// Keep stdin open for attach (`stdin: true`).
    pub stdin: bool,
    /// Where the shim writes the output, in the CRI log format.
    pub log_path: PathBuf,
    /// The cgroup, relative to each hierarchy's root (e.g. `skiff/pod<uid>/<name>`).
    pub cgroup: String,
    /// The hostname of a container with a UTS namespace of its own.
    pub hostname: String,
    /// What the owner needs to find its containers again after a restart (pod uid, container name…).
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// A user name (the image's `USER nobody`) looked up in the container's
    /// /etc/passwd; it sets uid and, with no explicit group, gid.
    pub name: Option<String>,
    /// The gid was given (runAsGroup or `USER u:g`) and a looked-up name must not replace it.
    pub gid_set: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    /// Host path (bind) or the filesystem's source name.
    pub source: PathBuf,
    /// Path inside the container.
    pub destination: String,
    pub kind: MountKind,
    pub read_only: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum MountKind {
    Bind,
    /// A tmpfs of at most this many bytes (0: the kernel's default).
    Tmpfs {
        size: u64,
    },
}

/// Namespaces shared with the pod sandbox or the host. A None path means a
/// new namespace of the container's own.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Namespaces {
    /// Join this network namespace (the sandbox's); `host_network` shares the node's.
    pub net: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    pub host_network: bool,
    pub host_ipc: bool,
    pub host_pid: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Security {
    pub privileged: bool,
    /// Capability names as Kubernetes writes them (`NET_ADMIN`, `ALL`).
    pub add_capabilities: Vec<String>,
    pub drop_capabilities: Vec<String>,
    pub read_only_rootfs: bool,
    pub no_new_privileges: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// cpu.shares (v1) / cpu.weight derived from it (v2); from the cpu request.
    pub cpu_shares: Option<u64>,
    /// CFS quota and period in µs; from the cpu limit.
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub memory_limit: Option<i64>,
    pub pids_limit: Option<i64>,
}
