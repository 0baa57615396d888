//! The Node object and its heartbeat: registration with the machine's real
//! capacity and addresses, status every 10 s (conditions, daemon endpoint),
//! and the Lease in kube-node-lease renewed as the node's liveness signal.

use std::time::Duration;

use serde_json::{json, Value};

use crate::client::{Client, Result};

const LEASE_NAMESPACE: &str = "kube-node-lease";
const LEASE_SECONDS: u64 = 40;
/// The kubelet renews every quarter of the lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);

/// What the node says of itself.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub name: String,
    /// The address the API server reaches the agent's server at.
    pub address: String,
    pub port: u16,
    pub max_pods: u64,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn micro_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Bytes of memory the kernel reports.
fn memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn cpus() -> u64 {
    std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1)
}

fn disk_bytes(path: &std::path::Path) -> u64 {
    nix::sys::statvfs::statvfs(path).map(|s| s.blocks() * s.fragment_size()).unwrap_or(0)
}

fn os_release() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string())))
        .unwrap_or_else(|| "Linux".into())
}

fn kernel() -> String {
    nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default()
}

fn machine_id() -> String {
    std::fs::read_to_string("/etc/machine-id").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// The status the agent reports: capacity, conditions, addresses, endpoint.
pub fn status(info: &NodeInfo, data_dir: &std::path::Path) -> Value {
    let capacity = json!({
        "cpu": cpus().to_string(),
        "memory": format!("{}Ki", memory_bytes() / 1024),
        "pods": info.max_pods.to_string(),
        "ephemeral-storage": format!("{}Ki", disk_bytes(data_dir) / 1024),
    });
    let t = now();
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": message,
               "lastHeartbeatTime": t, "lastTransitionTime": t})
    };
    json!({
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": info.address},
            {"type": "Hostname", "address": info.name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": info.port}},
        "nodeInfo": {
            "machineID": machine_id(),
            "systemUUID": machine_id(),
            "bootID": std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_default(),
            "kernelVersion": kernel(),
            "osImage": os_release(),
            "containerRuntimeVersion": format!("skiff://{}", env!("CARGO_PKG_VERSION")),
            "kubeletVersion": "v1.37.0-skiff",
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
        },
    })
}

/// Creates the Node if missing, and writes its status.
pub async fn register(client: &Client, info: &NodeInfo, data_dir: &std::path::Path) -> Result<()> {
    let path = format!("/api/v1/nodes/{}", info.name);
    if client.get_opt(&path).await?.is_none() {
        let node = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": info.name, "labels": {
                "kubernetes.io/hostname": info.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
                "node-role.kubernetes.io/control-plane": "",
            }},
            "spec": {},
        });
        match client.create("/api/v1/nodes", &node).await {
            Ok(_) => tracing::info!(node = %info.name, "registered the node"),
            Err(e) if e.code() == Some(409) => {}
            Err(e) => return Err(e),
        }
    }
    report(client, info, data_dir).await
}

pub async fn report(client: &Client, info: &NodeInfo, data_dir: &std::path::Path) -> Result<()> {
    let path = format!("/api/v1/nodes/{}/status", info.name);
    client.merge_patch(&path, &json!({"status": status(info, data_dir)})).await.map(|_| ())
}

/// Renews (or creates) the node's Lease.
pub async fn renew_lease(client: &Client, node: &str, node_uid: Option<&str>) -> Result<()> {
    let path = format!("/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{node}");
    let spec = json!({"holderIdentity": node, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": micro_now()});
    if client.get_opt(&path).await?.is_some() {
        return client.merge_patch(&path, &json!({"spec": spec})).await.map(|_| ());
    }
    let mut metadata = json!({"name": node, "namespace": LEASE_NAMESPACE});
    if let Some(uid) = node_uid {
        // As the kubelet: the lease goes when its node does.
        metadata["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Node", "name": node, "uid": uid}]);
    }
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec});
    match client.create(&format!("/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases"), &lease).await {
        Err(e) if e.code() != Some(409) => Err(e),
        _ => Ok(()),
    }
}
