//! The baseline checks: they stop known privilege escalations while admitting the default pod.
//!
//! One function per control of the standard's baseline table, named after Kubernetes' check.

use std::collections::BTreeSet;

use skiff_plugin_sdk::k8s_openapi::api::core::v1::{Probe, SELinuxOptions};
use skiff_plugin_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{containers, containers_phrase, in_user_namespace, join_quote, pluralize, Violation};
use crate::pod::PodSpec;

/// Capabilities a container may add at baseline: the container runtimes' default set.
const ALLOWED_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Sysctls that are namespaced and isolated from other pods (policy v1.37's list).
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat",
];

/// SELinux types a pod may ask for (empty means the runtime's default).
const ALLOWED_SELINUX_TYPES: &[&str] =
    &["", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"];

/// The legacy per-container AppArmor annotation; still honoured by kubelets, so still checked.
const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// Windows HostProcess containers have the host's privileges.
pub fn windows_host_process(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let pod = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.windows_options.as_ref())
        .and_then(|w| w.host_process)
        .unwrap_or(false);
    let bad: Vec<&str> = containers(spec)
        .filter(|c| {
            c.security_context.and_then(|sc| sc.windows_options.as_ref()).and_then(|w| w.host_process) == Some(true)
        })
        .map(|c| c.name)
        .collect();
    let setters = setters(pod, &bad);
    (!setters.is_empty()).then(|| {
        Violation::new("hostProcess", format!("{setters} must not set securityContext.windowsOptions.hostProcess=true"))
    })
}

/// Sharing the host's network, PID or IPC namespace.
pub fn host_namespaces(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let shared: Vec<&str> =
        [(spec.host_network, "hostNetwork=true"), (spec.host_pid, "hostPID=true"), (spec.host_ipc, "hostIPC=true")]
            .into_iter()
            .filter(|(set, _)| *set == Some(true))
            .map(|(_, what)| what)
            .collect();
    (!shared.is_empty()).then(|| Violation::new("host namespaces", shared.join(", ")))
}

/// Privileged containers turn off most isolation.
pub fn privileged(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let bad: Vec<&str> = containers(spec)
        .filter(|c| c.security_context.and_then(|sc| sc.privileged) == Some(true))
        .map(|c| c.name)
        .collect();
    (!bad.is_empty()).then(|| {
        Violation::new(
            "privileged",
            format!("{} must not set securityContext.privileged=true", containers_phrase(&bad)),
        )
    })
}

/// Adding capabilities beyond the runtime's default set.
pub fn capabilities(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut forbidden = BTreeSet::new();
    for c in containers(spec) {
        let added = c.security_context.and_then(|sc| sc.capabilities.as_ref()).and_then(|caps| caps.add.as_ref());
        let extra: Vec<&str> =
            added.into_iter().flatten().map(String::as_str).filter(|cap| !ALLOWED_CAPABILITIES.contains(cap)).collect();
        if !extra.is_empty() {
            bad.push(c.name);
            forbidden.extend(extra);
        }
    }
    (!bad.is_empty()).then(|| {
        Violation::new(
            "non-default capabilities",
            format!(
                "{} must not include {} in securityContext.capabilities.add",
                containers_phrase(&bad),
                join_quote(&forbidden)
            ),
        )
    })
}

/// hostPath volumes reach into the node's filesystem.
pub fn host_path_volumes(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let bad: Vec<&str> = spec.volumes.iter().flatten().filter(|v| v.has("hostPath")).map(|v| v.name.as_str()).collect();
    (!bad.is_empty()).then(|| {
        Violation::new(
            "hostPath volumes",
            format!("{} {}", pluralize("volume", "volumes", bad.len()), join_quote(&bad)),
        )
    })
}

/// Host ports bind on the node's addresses.
pub fn host_ports(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let mut bad = Vec::new();
    // Kubernetes sorts the ports as text ("10" before "9"); kept so messages match.
    let mut ports = BTreeSet::new();
    for c in containers(spec) {
        let used: Vec<String> =
            c.ports.iter().filter_map(|p| p.host_port).filter(|port| *port != 0).map(|p| p.to_string()).collect();
        if !used.is_empty() {
            bad.push(c.name);
            ports.extend(used);
        }
    }
    (!bad.is_empty()).then(|| {
        Violation::new(
            "hostPort",
            format!(
                "{} {} {} {}",
                containers_phrase(&bad),
                pluralize("uses", "use", bad.len()),
                pluralize("hostPort", "hostPorts", ports.len()),
                ports.into_iter().collect::<Vec<_>>().join(", ")
            ),
        )
    })
}

/// A `host` in a probe or lifecycle hook makes the kubelet connect to any address it names
/// (policy v1.34).
pub fn host_probes_and_lifecycle(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    fn probe_hosts(probe: &Probe) -> [Option<&String>; 2] {
        [probe.http_get.as_ref().and_then(|h| h.host.as_ref()), probe.tcp_socket.as_ref().and_then(|t| t.host.as_ref())]
    }
    let mut bad = BTreeSet::new();
    let mut hosts = BTreeSet::new();
    for c in containers(spec) {
        let from_probes = c.probes.into_iter().flatten().flat_map(probe_hosts);
        let handlers = c.lifecycle.into_iter().flat_map(|l| [l.post_start.as_ref(), l.pre_stop.as_ref()]).flatten();
        let from_hooks = handlers.flat_map(|h| {
            [h.http_get.as_ref().and_then(|g| g.host.as_ref()), h.tcp_socket.as_ref().and_then(|t| t.host.as_ref())]
        });
        let used: Vec<&str> =
            from_probes.chain(from_hooks).flatten().map(String::as_str).filter(|h| !h.is_empty()).collect();
        if !used.is_empty() {
            bad.insert(c.name);
            hosts.extend(used);
        }
    }
    // Unlike most checks, Kubernetes lists these containers sorted by name.
    let bad: Vec<&str> = bad.into_iter().collect();
    (!bad.is_empty()).then(|| {
        Violation::new(
            "probe or lifecycle host",
            format!(
                "{} {} {} {}",
                containers_phrase(&bad),
                pluralize("uses", "use", bad.len()),
                pluralize("probe or lifecycle host", "probe or lifecycle hosts", hosts.len()),
                join_quote(&hosts)
            ),
        )
    })
}

/// AppArmor may only be the runtime's default or a profile loaded on the node.
pub fn app_armor_profile(meta: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let allowed = |t: &str| t == "RuntimeDefault" || t == "Localhost";
    let mut setters = Vec::new();
    let mut bad_values = BTreeSet::new();
    if let Some(p) = spec.security_context.as_ref().and_then(|sc| sc.app_armor_profile.as_ref()) {
        if !allowed(&p.type_) {
            setters.push("pod".to_owned());
            bad_values.insert(p.type_.clone());
        }
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        if let Some(p) = c.security_context.and_then(|sc| sc.app_armor_profile.as_ref()) {
            if !allowed(&p.type_) {
                bad.push(c.name);
                bad_values.insert(p.type_.clone());
            }
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    let mut values: Vec<String> = bad_values.into_iter().collect();
    // Annotations come after the field values, sorted, as `key="value"`.
    let annotations: BTreeSet<String> = meta
        .annotations
        .iter()
        .flatten()
        .filter(|(k, v)| {
            k.starts_with(APPARMOR_ANNOTATION_PREFIX)
                && !(v.is_empty() || *v == "runtime/default" || v.starts_with("localhost/"))
        })
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    if !annotations.is_empty() {
        setters.push(pluralize("annotation", "annotations", annotations.len()).to_owned());
        values.extend(annotations);
    }
    (!setters.is_empty()).then(|| {
        Violation::new(
            pluralize("forbidden AppArmor profile", "forbidden AppArmor profiles", values.len()),
            format!("{} must not set AppArmor profile type to {}", setters.join(" and "), join_quote(&values)),
        )
    })
}

/// SELinux: only the container types, and never a custom user or role.
pub fn se_linux_options(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let mut bad_types = BTreeSet::new();
    let (mut set_user, mut set_role) = (false, false);
    let mut valid = |o: &SELinuxOptions| {
        let t = o.type_.as_deref().unwrap_or_default();
        let user = !o.user.as_deref().unwrap_or_default().is_empty();
        let role = !o.role.as_deref().unwrap_or_default().is_empty();
        let type_ok = ALLOWED_SELINUX_TYPES.contains(&t);
        if !type_ok {
            bad_types.insert(t.to_owned());
        }
        set_user |= user;
        set_role |= role;
        type_ok && !user && !role
    };
    let pod = spec.security_context.as_ref().and_then(|sc| sc.se_linux_options.as_ref()).is_some_and(|o| !valid(o));
    let bad: Vec<&str> = containers(spec)
        .filter(|c| c.security_context.and_then(|sc| sc.se_linux_options.as_ref()).is_some_and(|o| !valid(o)))
        .map(|c| c.name)
        .collect();
    let setters = setters(pod, &bad);
    if setters.is_empty() {
        return None;
    }
    let mut what = Vec::new();
    if !bad_types.is_empty() {
        what.push(format!("{} {}", pluralize("type", "types", bad_types.len()), join_quote(&bad_types)));
    }
    if set_user {
        what.push("user may not be set".to_owned());
    }
    if set_role {
        what.push("role may not be set".to_owned());
    }
    Some(Violation::new(
        "seLinuxOptions",
        format!("{setters} set forbidden securityContext.seLinuxOptions: {}", what.join("; ")),
    ))
}

/// The default /proc masks must stay, unless the pod has its own user namespace (policy v1.35).
pub fn proc_mount(meta: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    if in_user_namespace(spec) {
        return None;
    }
    default_proc_mount(meta, spec)
}

/// The /proc check without the user-namespace allowance: the restricted level's version.
pub(super) fn default_proc_mount(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for c in containers(spec) {
        match c.security_context.and_then(|sc| sc.proc_mount.as_deref()) {
            None | Some("Default") => {}
            Some(other) => {
                bad.push(c.name);
                types.insert(other);
            }
        }
    }
    (!bad.is_empty()).then(|| {
        Violation::new(
            "procMount",
            format!("{} must not set securityContext.procMount to {}", containers_phrase(&bad), join_quote(&types)),
        )
    })
}

/// Seccomp may be left unset at baseline, but never `Unconfined`.
pub fn seccomp_profile(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let (setters, bad_values, _) = seccomp_setters(spec);
    (!setters.is_empty()).then(|| seccomp_violation(&setters, &bad_values))
}

/// Who set seccomp to a forbidden type, which types, and which containers left it unset: shared
/// with the restricted check, which also requires it to be set.
pub(super) fn seccomp_setters(spec: &PodSpec) -> (String, BTreeSet<String>, Vec<&str>) {
    let allowed = |t: &str| t == "RuntimeDefault" || t == "Localhost";
    let mut bad_values = BTreeSet::new();
    let pod_type = spec.security_context.as_ref().and_then(|sc| sc.seccomp_profile.as_ref()).map(|p| p.type_.as_str());
    let pod_bad = pod_type.filter(|t| !allowed(t));
    bad_values.extend(pod_bad.map(str::to_owned));
    let pod_ok = pod_type.is_some_and(allowed);
    let mut explicit = Vec::new();
    let mut unset = Vec::new();
    for c in containers(spec) {
        match c.security_context.and_then(|sc| sc.seccomp_profile.as_ref()) {
            Some(p) if !allowed(&p.type_) => {
                explicit.push(c.name);
                bad_values.insert(p.type_.clone());
            }
            Some(_) => {}
            None if !pod_ok => unset.push(c.name),
            None => {}
        }
    }
    (setters(pod_bad.is_some(), &explicit), bad_values, unset)
}

pub(super) fn seccomp_violation(setters: &str, bad_values: &BTreeSet<String>) -> Violation {
    Violation::new(
        "seccompProfile",
        format!("{setters} must not set securityContext.seccompProfile.type to {}", join_quote(bad_values)),
    )
}

/// Only the safe sysctls.
pub fn sysctls(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let forbidden: Vec<&str> = spec
        .security_context
        .iter()
        .flat_map(|sc| sc.sysctls.iter().flatten())
        .map(|s| s.name.as_str())
        .filter(|name| !SAFE_SYSCTLS.contains(name))
        .collect();
    (!forbidden.is_empty()).then(|| Violation::new("forbidden sysctls", forbidden.join(", ")))
}

/// `pod`, `container "a"`, or `pod and containers "a", "b"`: who set a forbidden value.
pub(super) fn setters(pod: bool, containers: &[&str]) -> String {
    let mut who = Vec::new();
    if pod {
        who.push("pod".to_owned());
    }
    if !containers.is_empty() {
        who.push(containers_phrase(containers));
    }
    who.join(" and ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::table;
    use super::*;

    #[test]
    fn windows_host_process_table() {
        let hp = |v: bool| json!({"windowsOptions": {"hostProcess": v}});
        table(
            windows_host_process,
            &[
                (json!({"containers": [{"name": "a", "securityContext": hp(false)}]}), None),
                (
                    json!({"securityContext": hp(true), "containers": [{"name": "a"}]}),
                    Some(("hostProcess", "pod must not set securityContext.windowsOptions.hostProcess=true")),
                ),
                (
                    json!({"securityContext": hp(true), "containers": [{"name": "a", "securityContext": hp(true)}, {"name": "b", "securityContext": hp(true)}]}),
                    Some((
                        "hostProcess",
                        r#"pod and containers "a", "b" must not set securityContext.windowsOptions.hostProcess=true"#,
                    )),
                ),
            ],
        );
    }

    #[test]
    fn host_namespaces_table() {
        table(
            host_namespaces,
            &[
                (json!({"hostNetwork": false, "containers": []}), None),
                (json!({"hostPID": true, "containers": []}), Some(("host namespaces", "hostPID=true"))),
                (
                    json!({"hostNetwork": true, "hostIPC": true, "hostPID": true, "containers": []}),
                    Some(("host namespaces", "hostNetwork=true, hostPID=true, hostIPC=true")),
                ),
            ],
        );
    }

    #[test]
    fn privileged_table() {
        let p = |v: bool| json!({"privileged": v});
        table(
            privileged,
            &[
                (json!({"containers": [{"name": "a", "securityContext": p(false)}]}), None),
                (
                    json!({"containers": [{"name": "c", "securityContext": p(true)}]}),
                    Some(("privileged", r#"container "c" must not set securityContext.privileged=true"#)),
                ),
                (
                    json!({"initContainers": [{"name": "i", "securityContext": p(true)}], "containers": [{"name": "a"}],
                           "ephemeralContainers": [{"name": "e", "securityContext": p(true)}]}),
                    Some(("privileged", r#"containers "i", "e" must not set securityContext.privileged=true"#)),
                ),
            ],
        );
    }

    #[test]
    fn capabilities_table() {
        let add = |caps: &[&str]| json!({"capabilities": {"add": caps}});
        table(
            capabilities,
            &[
                (
                    json!({"containers": [{"name": "a", "securityContext": add(&["CHOWN", "NET_BIND_SERVICE", "SYS_CHROOT"])}]}),
                    None,
                ),
                (
                    json!({"containers": [
                        {"name": "a", "securityContext": add(&["NET_RAW", "CHOWN"])},
                        {"name": "b", "securityContext": add(&["SYS_ADMIN", "NET_RAW"])},
                        {"name": "c", "securityContext": add(&["KILL"])}
                    ]}),
                    Some((
                        "non-default capabilities",
                        r#"containers "a", "b" must not include "NET_RAW", "SYS_ADMIN" in securityContext.capabilities.add"#,
                    )),
                ),
            ],
        );
    }

    #[test]
    fn host_path_volumes_table() {
        table(
            host_path_volumes,
            &[
                (json!({"containers": [], "volumes": [{"name": "e", "emptyDir": {}}]}), None),
                (
                    json!({"containers": [], "volumes": [{"name": "v", "hostPath": {"path": "/"}}]}),
                    Some(("hostPath volumes", r#"volume "v""#)),
                ),
                (
                    json!({"containers": [], "volumes": [{"name": "a", "hostPath": {"path": "/a"}}, {"name": "b", "hostPath": {"path": "/b"}}]}),
                    Some(("hostPath volumes", r#"volumes "a", "b""#)),
                ),
            ],
        );
    }

    #[test]
    fn host_ports_table() {
        let ports = |ps: &[i32]| -> serde_json::Value {
            ps.iter().map(|p| json!({"containerPort": 80, "hostPort": p})).collect()
        };
        table(
            host_ports,
            &[
                (
                    json!({"containers": [{"name": "a", "ports": ports(&[0])}, {"name": "b", "ports": [{"containerPort": 80}]}]}),
                    None,
                ),
                (
                    json!({"containers": [{"name": "a", "ports": ports(&[8080])}]}),
                    Some(("hostPort", r#"container "a" uses hostPort 8080"#)),
                ),
                (
                    json!({"containers": [{"name": "a", "ports": ports(&[9, 8080])}, {"name": "b", "ports": ports(&[10])}]}),
                    Some(("hostPort", r#"containers "a", "b" use hostPorts 10, 8080, 9"#)),
                ),
            ],
        );
    }

    #[test]
    fn host_probes_and_lifecycle_table() {
        table(
            host_probes_and_lifecycle,
            &[
                (
                    json!({"containers": [{"name": "a", "livenessProbe": {"httpGet": {"port": 80, "host": ""}},
                                           "readinessProbe": {"tcpSocket": {"port": 80}}}]}),
                    None,
                ),
                (
                    json!({"containers": [{"name": "a", "livenessProbe": {"httpGet": {"port": 80, "host": "10.0.0.1"}}}]}),
                    Some(("probe or lifecycle host", r#"container "a" uses probe or lifecycle host "10.0.0.1""#)),
                ),
                (
                    json!({
                        "initContainers": [{"name": "i", "startupProbe": {"tcpSocket": {"port": 1, "host": "b.example"}}}],
                        "containers": [{"name": "a", "lifecycle": {
                            "postStart": {"httpGet": {"port": 1, "host": "a.example"}},
                            "preStop": {"tcpSocket": {"port": 1, "host": "b.example"}}
                        }}]
                    }),
                    Some((
                        "probe or lifecycle host",
                        r#"containers "a", "i" use probe or lifecycle hosts "a.example", "b.example""#,
                    )),
                ),
            ],
        );
    }

    #[test]
    fn app_armor_table() {
        let aa = |t: &str| json!({"appArmorProfile": {"type": t}});
        table(
            app_armor_profile,
            &[
                (
                    json!({"metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/a": "localhost/p"}},
                           "spec": {"securityContext": aa("RuntimeDefault"), "containers": [{"name": "a", "securityContext": aa("Localhost")}]}}),
                    None,
                ),
                (
                    json!({"securityContext": aa("Unconfined"), "containers": [{"name": "a"}]}),
                    Some(("forbidden AppArmor profile", r#"pod must not set AppArmor profile type to "Unconfined""#)),
                ),
                (
                    json!({"metadata": {"annotations": {
                                "container.apparmor.security.beta.kubernetes.io/b": "unconfined",
                                "container.apparmor.security.beta.kubernetes.io/a": "unconfined"}},
                           "spec": {"containers": [{"name": "a", "securityContext": aa("Unconfined")}, {"name": "b"}]}}),
                    Some((
                        "forbidden AppArmor profiles",
                        r#"container "a" and annotations must not set AppArmor profile type to "Unconfined", "container.apparmor.security.beta.kubernetes.io/a="unconfined"", "container.apparmor.security.beta.kubernetes.io/b="unconfined"""#,
                    )),
                ),
            ],
        );
    }

    #[test]
    fn se_linux_options_table() {
        let se = |o: serde_json::Value| json!({"seLinuxOptions": o});
        table(
            se_linux_options,
            &[
                (
                    json!({"securityContext": se(json!({"type": "container_engine_t", "level": "s0:c1"})),
                           "containers": [{"name": "a", "securityContext": se(json!({"type": "container_init_t"}))}]}),
                    None,
                ),
                (
                    json!({"securityContext": se(json!({"type": "foo", "user": "bar", "role": "baz"})), "containers": [{"name": "a"}]}),
                    Some((
                        "seLinuxOptions",
                        r#"pod set forbidden securityContext.seLinuxOptions: type "foo"; user may not be set; role may not be set"#,
                    )),
                ),
                (
                    json!({"containers": [
                        {"name": "d", "securityContext": se(json!({"type": "bar"}))},
                        {"name": "e", "securityContext": se(json!({"user": "bar"}))},
                        {"name": "f", "securityContext": se(json!({"role": "baz"}))}
                    ]}),
                    Some((
                        "seLinuxOptions",
                        r#"containers "d", "e", "f" set forbidden securityContext.seLinuxOptions: type "bar"; user may not be set; role may not be set"#,
                    )),
                ),
                (
                    json!({"containers": [{"name": "e", "securityContext": se(json!({"user": "u"}))}]}),
                    Some((
                        "seLinuxOptions",
                        r#"container "e" set forbidden securityContext.seLinuxOptions: user may not be set"#,
                    )),
                ),
            ],
        );
    }

    #[test]
    fn proc_mount_table() {
        let pm = |t: &str| json!({"procMount": t});
        table(
            proc_mount,
            &[
                (json!({"containers": [{"name": "a", "securityContext": pm("Default")}, {"name": "b"}]}), None),
                // A pod in its own user namespace may unmask /proc at baseline.
                (json!({"hostUsers": false, "containers": [{"name": "a", "securityContext": pm("Unmasked")}]}), None),
                (
                    json!({"containers": [{"name": "a", "securityContext": pm("Unmasked")}, {"name": "b", "securityContext": pm("Other")}]}),
                    Some((
                        "procMount",
                        r#"containers "a", "b" must not set securityContext.procMount to "Other", "Unmasked""#,
                    )),
                ),
            ],
        );
    }

    #[test]
    fn seccomp_profile_table() {
        let sp = |t: &str| json!({"seccompProfile": {"type": t}});
        table(
            seccomp_profile,
            &[
                // Unset is fine at baseline.
                (json!({"containers": [{"name": "a"}, {"name": "b", "securityContext": sp("Localhost")}]}), None),
                (
                    json!({"securityContext": sp("Unconfined"), "containers": [{"name": "a"}]}),
                    Some(("seccompProfile", r#"pod must not set securityContext.seccompProfile.type to "Unconfined""#)),
                ),
                (
                    json!({"securityContext": sp("RuntimeDefault"), "containers": [
                        {"name": "c", "securityContext": sp("Unconfined")},
                        {"name": "d", "securityContext": sp("Bogus")}
                    ]}),
                    Some((
                        "seccompProfile",
                        r#"containers "c", "d" must not set securityContext.seccompProfile.type to "Bogus", "Unconfined""#,
                    )),
                ),
            ],
        );
    }

    #[test]
    fn sysctls_table() {
        let sc = |names: &[&str]| -> serde_json::Value {
            json!({"sysctls": names.iter().map(|n| json!({"name": n, "value": "1"})).collect::<Vec<_>>()})
        };
        table(
            sysctls,
            &[
                (
                    json!({"securityContext": sc(&["kernel.shm_rmid_forced", "net.ipv4.tcp_rmem", "net.ipv4.tcp_notsent_lowat"]), "containers": []}),
                    None,
                ),
                (
                    json!({"securityContext": sc(&["kernel.msgmax", "net.ipv4.tcp_syncookies", "net.core.somaxconn"]), "containers": []}),
                    Some(("forbidden sysctls", "kernel.msgmax, net.core.somaxconn")),
                ),
            ],
        );
    }
}
