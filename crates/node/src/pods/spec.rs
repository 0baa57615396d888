//! From a pod's container to the runtime's container spec: command and
//! environment (from `config`), volumes (from `volumes`), the pod's files
//! (/etc/hosts, /etc/hostname, /etc/resolv.conf, the termination log), the
//! security context and the resources as the kubelet maps them to cgroups.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use skiff_runtime::spec::{ContainerSpec, Mount, MountKind, Namespaces, Resources, Security, User};
use skiff_runtime::Sandbox;

use crate::config::{parse_quantity, NANOS_PER_UNIT};

/// The CFS period the kubelet uses, in µs.
const CPU_PERIOD: u64 = 100_000;

/// What the spec is made from.
pub struct Parts<'a> {
    pub pod: &'a Value,
    pub container: &'a Value,
    pub id: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub image_env: &'a [String],
    pub image_user: &'a str,
    pub image_workdir: &'a str,
    pub layers: Vec<PathBuf>,
    pub volume_mounts: Vec<Mount>,
    pub sandbox: &'a Sandbox,
    pub pod_dir: &'a Path,
    pub log_path: PathBuf,
    pub cgroup: String,
    pub labels: BTreeMap<String, String>,
    pub pids_limit: Option<i64>,
}

/// Why the spec cannot be made: CreateContainerConfigError, in the kubelet's words.
pub type SpecError = String;

fn millis(q: &Value) -> Option<i128> {
    parse_quantity(q.as_str().map(str::to_string).unwrap_or_else(|| q.to_string()).as_str())
        .ok()
        .map(|n| (n * 1000 + NANOS_PER_UNIT - 1) / NANOS_PER_UNIT)
}

fn units(q: &Value) -> Option<i128> {
    parse_quantity(q.as_str().map(str::to_string).unwrap_or_else(|| q.to_string()).as_str())
        .ok()
        .map(|n| (n + NANOS_PER_UNIT - 1) / NANOS_PER_UNIT)
}

/// cgroup values as the kubelet computes them from requests and limits.
pub fn resources(container: &Value, pids_limit: Option<i64>) -> Resources {
    let r = &container["resources"];
    let cpu_request = millis(&r["requests"]["cpu"]).or_else(|| millis(&r["limits"]["cpu"]));
    let cpu_limit = millis(&r["limits"]["cpu"]);
    // The kubelet's MilliCPUToShares: 1024 per cpu, at least 2.
    let shares = cpu_request.map(|m| ((m * 1024) / 1000).max(2) as u64).unwrap_or(2);
    let quota = cpu_limit.map(|m| ((m * CPU_PERIOD as i128) / 1000).max(1000) as i64);
    Resources {
        cpu_shares: Some(shares),
        cpu_quota: quota,
        cpu_period: quota.map(|_| CPU_PERIOD),
        memory_limit: units(&r["limits"]["memory"]).map(|b| b as i64),
        pids_limit,
    }
}

fn field<'v>(pod: &'v Value, container: &'v Value, name: &str) -> &'v Value {
    let c = &container["securityContext"][name];
    if c.is_null() {
        &pod["spec"]["securityContext"][name]
    } else {
        c
    }
}

/// The pod's name as the kubelet writes it in messages: `name_namespace(uid)`.
pub fn pod_ref(pod: &Value) -> String {
    let m = &pod["metadata"];
    format!(
        "{}_{}({})",
        m["name"].as_str().unwrap_or_default(),
        m["namespace"].as_str().unwrap_or_default(),
        m["uid"].as_str().unwrap_or_default()
    )
}

/// uid, gid, whether a gid was given, and a user name to look up.
fn user(pod: &Value, container: &Value, image_user: &str) -> Result<User, SpecError> {
    let cname = container["name"].as_str().unwrap_or_default();
    let (image_name, image_group) = match image_user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (image_user, None),
    };
    let mut u = User::default();
    match field(pod, container, "runAsUser").as_u64() {
        Some(uid) => u.uid = uid as u32,
        None if image_name.is_empty() => {}
        None => match image_name.parse::<u32>() {
            Ok(uid) => u.uid = uid,
            Err(_) => u.name = Some(image_name.to_string()),
        },
    }
    if let Some(gid) = field(pod, container, "runAsGroup").as_u64() {
        u.gid = gid as u32;
        u.gid_set = true;
    } else if let Some(g) = image_group.and_then(|g| g.parse::<u32>().ok()) {
        u.gid = g;
        u.gid_set = true;
    }
    if field(pod, container, "runAsNonRoot").as_bool() == Some(true) {
        if let Some(name) = &u.name {
            return Err(format!(
                "container has runAsNonRoot and image has non-numeric user ({name}), cannot verify user is non-root (pod: \"{}\", container: {cname})",
                pod_ref(pod)
            ));
        }
        if u.uid == 0 {
            return Err(format!(
                "container has runAsNonRoot and image will run as root (pod: \"{}\", container: {cname})",
                pod_ref(pod)
            ));
        }
    }
    let psc = &pod["spec"]["securityContext"];
    for g in psc["supplementalGroups"].as_array().into_iter().flatten().chain(std::iter::once(&psc["fsGroup"])) {
        if let Some(g) = g.as_u64() {
            u.additional_gids.push(g as u32);
        }
    }
    Ok(u)
}

fn security(container: &Value) -> Security {
    let sc = &container["securityContext"];
    let names = |v: &Value| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(|c| c.as_str().map(str::to_string)).collect()
    };
    let privileged = sc["privileged"].as_bool() == Some(true);
    let add = names(&sc["capabilities"]["add"]);
    let sys_admin = add.iter().any(|c| c.trim_start_matches("CAP_") == "SYS_ADMIN");
    Security {
        privileged,
        add_capabilities: add,
        drop_capabilities: names(&sc["capabilities"]["drop"]),
        read_only_rootfs: sc["readOnlyRootFilesystem"].as_bool() == Some(true),
        // As the API defaults it: escalation is allowed unless refused, and always for privileged/SYS_ADMIN.
        no_new_privileges: sc["allowPrivilegeEscalation"].as_bool() == Some(false) && !privileged && !sys_admin,
    }
}

/// Variables of the image first, replaced by the pod's of the same name.
fn environment(image_env: &[String], env: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in image_env {
        let name = e.split('=').next().unwrap_or_default();
        if !env.iter().any(|(n, _)| n == name) {
            out.push(e.clone());
        }
    }
    out.extend(env.iter().map(|(n, v)| format!("{n}={v}")));
    if !out.iter().any(|e| e.starts_with("PATH=")) {
        out.insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    out
}

/// The pod's hostname: spec.hostname or its name (the node's with hostNetwork), at most 63 characters.
pub fn hostname(pod: &Value) -> String {
    if pod["spec"]["hostNetwork"].as_bool() == Some(true) {
        return nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    }
    pod["spec"]["hostname"]
        .as_str()
        .filter(|h| !h.is_empty())
        .unwrap_or(pod["metadata"]["name"].as_str().unwrap_or("pod"))
        .chars()
        .take(63)
        .collect()
}

/// The files every container of the pod gets, in the pod's folder.
pub fn pod_files(pod_dir: &Path) -> [(PathBuf, &'static str); 3] {
    [
        (pod_dir.join("etc-hosts"), "/etc/hosts"),
        (pod_dir.join("etc-hostname"), "/etc/hostname"),
        (pod_dir.join("resolv.conf"), "/etc/resolv.conf"),
    ]
}

/// Where a container's termination message is written, on the host.
pub fn termination_log(pod_dir: &Path, container: &str, attempt: u32) -> PathBuf {
    pod_dir.join("containers").join(container).join(format!("{attempt}.termination-log"))
}

pub fn container_spec(p: Parts<'_>) -> Result<ContainerSpec, SpecError> {
    let spec = &p.pod["spec"];
    let host_network = spec["hostNetwork"].as_bool() == Some(true);
    let mut mounts: Vec<Mount> = Vec::new();
    for (source, destination) in pod_files(p.pod_dir) {
        // A volume mounted at the same path wins, as in Kubernetes.
        if !p.volume_mounts.iter().any(|m| m.destination == destination) && source.exists() {
            mounts.push(Mount { source, destination: destination.into(), kind: MountKind::Bind, read_only: false });
        }
    }
    let name = p.container["name"].as_str().unwrap_or_default();
    let attempt: u32 = p.labels.get(super::LABEL_ATTEMPT).and_then(|a| a.parse().ok()).unwrap_or(0);
    let termination = termination_log(p.pod_dir, name, attempt);
    if let Some(parent) = termination.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(&termination, b"").map_err(|e| format!("{}: {e}", termination.display()))?;
    let message_path = p.container["terminationMessagePath"].as_str().unwrap_or("/dev/termination-log");
    mounts.push(Mount {
        source: termination,
        destination: message_path.into(),
        kind: MountKind::Bind,
        read_only: false,
    });
    mounts.extend(p.volume_mounts);
    let working_dir = p.container["workingDir"].as_str().filter(|w| !w.is_empty()).unwrap_or(p.image_workdir);
    let mut env = environment(p.image_env, &p.env);
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        // As container runtimes set it: the name the container's UTS namespace has.
        env.push(format!("HOSTNAME={}", hostname(p.pod)));
    }
    Ok(ContainerSpec {
        id: p.id,
        layers: p.layers,
        args: p.args,
        env,
        cwd: working_dir.to_string(),
        user: user(p.pod, p.container, p.image_user)?,
        mounts,
        namespaces: Namespaces {
            net: p.sandbox.net.clone(),
            ipc: p.sandbox.ipc.clone(),
            uts: p.sandbox.uts.clone(),
            host_network,
            host_ipc: spec["hostIPC"].as_bool() == Some(true),
            host_pid: spec["hostPID"].as_bool() == Some(true),
        },
        security: security(p.container),
        resources: resources(p.container, p.pids_limit),
        tty: p.container["tty"].as_bool() == Some(true),
        stdin: p.container["stdin"].as_bool() == Some(true),
        log_path: p.log_path,
        cgroup: p.cgroup,
        hostname: String::new(),
        labels: p.labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resources_as_the_kubelet_maps_them() {
        let c = json!({"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}}});
        let r = resources(&c, Some(1024));
        assert_eq!(r.cpu_shares, Some(256));
        assert_eq!(r.cpu_quota, Some(50_000));
        assert_eq!(r.cpu_period, Some(100_000));
        assert_eq!(r.memory_limit, Some(128 << 20));
        assert_eq!(r.pids_limit, Some(1024));
        let none = resources(&json!({}), None);
        assert_eq!((none.cpu_shares, none.cpu_quota, none.memory_limit), (Some(2), None, None));
        let tiny = resources(&json!({"resources": {"limits": {"cpu": "1m"}}}), None);
        assert_eq!((tiny.cpu_shares, tiny.cpu_quota), (Some(2), Some(1000)));
    }

    #[test]
    fn users_and_run_as_non_root() {
        let pod = json!({"metadata": {"name": "p", "namespace": "d", "uid": "u"}, "spec": {"securityContext": {"runAsUser": 1000, "supplementalGroups": [5], "fsGroup": 7}}});
        let u = user(&pod, &json!({"name": "c"}), "").unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids.clone()), (1000, 0, vec![5, 7]));
        let u = user(&pod, &json!({"name": "c", "securityContext": {"runAsUser": 0, "runAsGroup": 3}}), "").unwrap();
        assert_eq!((u.uid, u.gid, u.gid_set), (0, 3, true));
        let plain = json!({"metadata": {"name": "p", "namespace": "d", "uid": "u"}, "spec": {}});
        let u = user(&plain, &json!({"name": "c"}), "nobody").unwrap();
        assert_eq!(u.name.as_deref(), Some("nobody"));
        let u = user(&plain, &json!({"name": "c"}), "10:20").unwrap();
        assert_eq!((u.uid, u.gid), (10, 20));
        let strict = json!({"name": "c", "securityContext": {"runAsNonRoot": true}});
        let e = user(&plain, &strict, "").unwrap_err();
        assert_eq!(e, "container has runAsNonRoot and image will run as root (pod: \"p_d(u)\", container: c)");
        let e = user(&plain, &strict, "nobody").unwrap_err();
        assert!(e.contains("non-numeric user (nobody)"), "{e}");
        assert!(user(&plain, &strict, "1000").is_ok());
    }

    #[test]
    fn security_context() {
        let s = security(
            &json!({"securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}}),
        );
        assert!(s.no_new_privileges && s.read_only_rootfs && !s.privileged);
        assert_eq!(s.add_capabilities, vec!["NET_ADMIN"]);
        let p = security(&json!({"securityContext": {"privileged": true, "allowPrivilegeEscalation": false}}));
        assert!(p.privileged && !p.no_new_privileges);
    }

    #[test]
    fn pod_env_replaces_the_image_env() {
        let env = environment(&["PATH=/bin".into(), "A=image".into(), "B=keep".into()], &[("A".into(), "pod".into())]);
        assert_eq!(env, vec!["PATH=/bin", "B=keep", "A=pod"]);
    }
}
