//! The restricted checks: current pod-hardening practice, on top of baseline.
//!
//! The checks of Linux-only fields (privilege escalation, capabilities, seccomp) skip pods that
//! declare `spec.os.name: windows`; the user-ID checks skip pods in their own user namespace.

use std::collections::BTreeSet;

use skiff_plugin_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::baseline::{default_proc_mount, seccomp_setters, seccomp_violation, setters};
use super::{containers, containers_phrase, in_user_namespace, is_windows, join_quote, pluralize, Violation};
use crate::pod::{PodSpec, Volume};

/// Containers must not be able to gain privileges (setuid binaries, file capabilities).
pub fn allow_privilege_escalation(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    if is_windows(spec) {
        return None;
    }
    let bad: Vec<&str> = containers(spec)
        .filter(|c| c.security_context.and_then(|sc| sc.allow_privilege_escalation) != Some(false))
        .map(|c| c.name)
        .collect();
    (!bad.is_empty()).then(|| {
        Violation::new(
            "allowPrivilegeEscalation != false",
            format!("{} must set securityContext.allowPrivilegeEscalation=false", containers_phrase(&bad)),
        )
    })
}

/// Containers must drop ALL capabilities and may add back only NET_BIND_SERVICE.
pub fn capabilities(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    if is_windows(spec) {
        return None;
    }
    let mut missing_drop_all = Vec::new();
    let mut adding = Vec::new();
    let mut forbidden = BTreeSet::new();
    for c in containers(spec) {
        let caps = c.security_context.and_then(|sc| sc.capabilities.as_ref());
        let drops_all = caps.and_then(|caps| caps.drop.as_ref()).is_some_and(|d| d.iter().any(|cap| cap == "ALL"));
        if !drops_all {
            missing_drop_all.push(c.name);
        }
        let extra: Vec<&str> = caps
            .and_then(|caps| caps.add.as_ref())
            .into_iter()
            .flatten()
            .map(String::as_str)
            .filter(|cap| *cap != "NET_BIND_SERVICE")
            .collect();
        if !extra.is_empty() {
            adding.push(c.name);
            forbidden.extend(extra);
        }
    }
    let mut details = Vec::new();
    if !missing_drop_all.is_empty() {
        details.push(format!(
            r#"{} must set securityContext.capabilities.drop=["ALL"]"#,
            containers_phrase(&missing_drop_all)
        ));
    }
    if !adding.is_empty() {
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adding),
            join_quote(&forbidden)
        ));
    }
    (!details.is_empty()).then(|| Violation::new("unrestricted capabilities", details.join("; ")))
}

/// /proc stays masked, even in a user namespace.
pub fn proc_mount(meta: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    default_proc_mount(meta, spec)
}

/// Only volume types that do not reach the node or a storage system directly (those go through
/// PersistentVolumes instead).
pub fn volumes(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for v in spec.volumes.iter().flatten() {
        if let Some(kind) = restricted_type(v) {
            bad.push(v.name.as_str());
            types.insert(kind);
        }
    }
    (!bad.is_empty()).then(|| {
        Violation::new(
            "restricted volume types",
            format!(
                "{} {} {} {} {}",
                pluralize("volume", "volumes", bad.len()),
                join_quote(&bad),
                pluralize("uses", "use", bad.len()),
                pluralize("restricted volume type", "restricted volume types", types.len()),
                join_quote(&types)
            ),
        )
    })
}

/// Volume sources the restricted level allows.
const ALLOWED_VOLUME_SOURCES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// Volume sources it names when it forbids them, in Kubernetes' order; others are `unknown`.
const KNOWN_VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
];

/// The volume's type when the restricted level forbids it (`unknown` for none it knows).
fn restricted_type(v: &Volume) -> Option<&'static str> {
    if ALLOWED_VOLUME_SOURCES.iter().any(|s| v.has(s)) {
        return None;
    }
    Some(KNOWN_VOLUME_SOURCES.iter().copied().find(|s| v.has(s)).unwrap_or("unknown"))
}

/// Containers must be required to run as a non-root user.
pub fn run_as_non_root(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    if in_user_namespace(spec) {
        return None;
    }
    let pod = spec.security_context.as_ref().and_then(|sc| sc.run_as_non_root);
    let mut explicit = Vec::new();
    let mut implicit = Vec::new();
    for c in containers(spec) {
        match c.security_context.and_then(|sc| sc.run_as_non_root) {
            Some(false) => explicit.push(c.name),
            Some(true) => {}
            None if pod != Some(true) => implicit.push(c.name),
            None => {}
        }
    }
    let setters = setters(pod == Some(false), &explicit);
    if !setters.is_empty() {
        return Some(Violation::new(
            "runAsNonRoot != true",
            format!("{setters} must not set securityContext.runAsNonRoot=false"),
        ));
    }
    (!implicit.is_empty()).then(|| {
        Violation::new(
            "runAsNonRoot != true",
            format!("pod or {} must set securityContext.runAsNonRoot=true", containers_phrase(&implicit)),
        )
    })
}

/// No container may ask for user ID 0.
pub fn run_as_user(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    if in_user_namespace(spec) {
        return None;
    }
    let pod = spec.security_context.as_ref().and_then(|sc| sc.run_as_user) == Some(0);
    let bad: Vec<&str> = containers(spec)
        .filter(|c| c.security_context.and_then(|sc| sc.run_as_user) == Some(0))
        .map(|c| c.name)
        .collect();
    let setters = setters(pod, &bad);
    (!setters.is_empty()).then(|| Violation::new("runAsUser=0", format!("{setters} must not set runAsUser=0")))
}

/// Seccomp must be set, to RuntimeDefault or Localhost, for the pod or every container.
pub fn seccomp_profile(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    if is_windows(spec) {
        return None;
    }
    let (setters, bad_values, unset) = seccomp_setters(spec);
    if !setters.is_empty() {
        return Some(seccomp_violation(&setters, &bad_values));
    }
    (!unset.is_empty()).then(|| {
        Violation::new(
            "seccompProfile",
            format!(
                r#"pod or {} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
                containers_phrase(&unset)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::table;
    use super::*;

    #[test]
    fn allow_privilege_escalation_table() {
        let ape = |v: bool| json!({"allowPrivilegeEscalation": v});
        table(
            allow_privilege_escalation,
            &[
                (json!({"containers": [{"name": "a", "securityContext": ape(false)}]}), None),
                (json!({"os": {"name": "windows"}, "containers": [{"name": "a"}]}), None),
                (
                    json!({"containers": [
                        {"name": "a"},
                        {"name": "b", "securityContext": {}},
                        {"name": "c", "securityContext": ape(true)},
                        {"name": "d", "securityContext": ape(false)}
                    ]}),
                    Some((
                        "allowPrivilegeEscalation != false",
                        r#"containers "a", "b", "c" must set securityContext.allowPrivilegeEscalation=false"#,
                    )),
                ),
            ],
        );
    }

    #[test]
    fn capabilities_table() {
        let caps = |add: &[&str], drop: &[&str]| json!({"capabilities": {"add": add, "drop": drop}});
        table(
            capabilities,
            &[
                (
                    json!({"containers": [{"name": "a", "securityContext": caps(&["NET_BIND_SERVICE"], &["ALL"])}]}),
                    None,
                ),
                (json!({"os": {"name": "windows"}, "containers": [{"name": "a"}]}), None),
                (
                    json!({"containers": [
                        {"name": "a", "securityContext": caps(&["FOO", "BAR"], &[])},
                        {"name": "b", "securityContext": caps(&["BAR", "BAZ"], &[])},
                        {"name": "c", "securityContext": caps(&["NET_BIND_SERVICE", "CHOWN"], &["ALL", "FOO"])}
                    ]}),
                    Some((
                        "unrestricted capabilities",
                        r#"containers "a", "b" must set securityContext.capabilities.drop=["ALL"]; containers "a", "b", "c" must not include "BAR", "BAZ", "CHOWN", "FOO" in securityContext.capabilities.add"#,
                    )),
                ),
            ],
        );
    }

    #[test]
    fn proc_mount_table() {
        table(
            proc_mount,
            &[
                (json!({"containers": [{"name": "a", "securityContext": {"procMount": "Default"}}]}), None),
                // Unlike baseline, a user namespace does not allow it.
                (
                    json!({"hostUsers": false, "containers": [{"name": "a", "securityContext": {"procMount": "Unmasked"}}]}),
                    Some(("procMount", r#"container "a" must not set securityContext.procMount to "Unmasked""#)),
                ),
            ],
        );
    }

    #[test]
    fn volumes_table() {
        table(
            volumes,
            &[
                (
                    json!({"containers": [], "volumes": [
                        {"name": "a1", "emptyDir": {}}, {"name": "a2", "secret": {}},
                        {"name": "a3", "persistentVolumeClaim": {"claimName": "c"}}, {"name": "a4", "downwardAPI": {}},
                        {"name": "a5", "configMap": {}}, {"name": "a6", "projected": {}}, {"name": "a7", "csi": {"driver": "d"}},
                        {"name": "a8", "ephemeral": {}}, {"name": "a9", "image": {}}
                    ]}),
                    None,
                ),
                (
                    json!({"containers": [], "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}),
                    Some(("restricted volume types", r#"volume "h" uses restricted volume type "hostPath""#)),
                ),
                (
                    json!({"containers": [], "volumes": [
                        {"name": "b1", "hostPath": {"path": "/"}},
                        {"name": "b2", "gcePersistentDisk": {"pdName": "p"}},
                        {"name": "b3", "awsElasticBlockStore": {"volumeID": "v"}},
                        {"name": "b4", "gitRepo": {"repository": "r"}},
                        {"name": "b5", "nfs": {"server": "s", "path": "/"}},
                        {"name": "b6", "iscsi": {"targetPortal": "t", "iqn": "i", "lun": 0}},
                        {"name": "b7", "glusterfs": {"endpoints": "e", "path": "p"}},
                        {"name": "b8", "rbd": {"monitors": [], "image": "i"}},
                        {"name": "b9", "flexVolume": {"driver": "d"}},
                        {"name": "b10", "cinder": {"volumeID": "v"}},
                        {"name": "b11", "cephfs": {"monitors": []}},
                        {"name": "b12", "flocker": {}},
                        {"name": "b13", "fc": {}},
                        {"name": "b14", "azureFile": {"secretName": "s", "shareName": "s"}},
                        {"name": "b15", "vsphereVolume": {"volumePath": "p"}},
                        {"name": "b16", "quobyte": {"registry": "r", "volume": "v"}},
                        {"name": "b17", "azureDisk": {"diskName": "d", "diskURI": "u"}},
                        {"name": "b18", "photonPersistentDisk": {"pdID": "p"}},
                        {"name": "b19", "portworxVolume": {"volumeID": "v"}},
                        {"name": "b20", "scaleIO": {"gateway": "g", "system": "s", "secretRef": {}}},
                        {"name": "b21", "storageos": {}},
                        {"name": "c1"}
                    ]}),
                    Some((
                        "restricted volume types",
                        concat!(
                            r#"volumes "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9", "b10", "b11", "b12", "b13", "b14", "b15", "b16", "b17", "b18", "b19", "b20", "b21", "c1""#,
                            r#" use restricted volume types "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "fc", "flexVolume", "flocker", "gcePersistentDisk", "gitRepo", "glusterfs", "hostPath", "iscsi", "nfs", "photonPersistentDisk", "portworxVolume", "quobyte", "rbd", "scaleIO", "storageos", "unknown", "vsphereVolume""#
                        ),
                    )),
                ),
            ],
        );
    }

    #[test]
    fn run_as_non_root_table() {
        let nr = |v: bool| json!({"runAsNonRoot": v});
        table(
            run_as_non_root,
            &[
                (
                    json!({"securityContext": nr(true), "containers": [{"name": "a"}, {"name": "b", "securityContext": {}}]}),
                    None,
                ),
                (json!({"containers": [{"name": "a", "securityContext": nr(true)}]}), None),
                (json!({"hostUsers": false, "containers": [{"name": "a"}]}), None),
                (
                    json!({"securityContext": nr(false), "containers": [{"name": "a"}]}),
                    Some(("runAsNonRoot != true", "pod must not set securityContext.runAsNonRoot=false")),
                ),
                (
                    json!({"securityContext": nr(true), "containers": [
                        {"name": "a"}, {"name": "c", "securityContext": nr(false)}, {"name": "d", "securityContext": nr(false)}
                    ]}),
                    Some((
                        "runAsNonRoot != true",
                        r#"containers "c", "d" must not set securityContext.runAsNonRoot=false"#,
                    )),
                ),
                (
                    json!({"containers": [{"name": "a"}, {"name": "b", "securityContext": {}}, {"name": "e", "securityContext": nr(true)}]}),
                    Some((
                        "runAsNonRoot != true",
                        r#"pod or containers "a", "b" must set securityContext.runAsNonRoot=true"#,
                    )),
                ),
            ],
        );
    }

    #[test]
    fn run_as_user_table() {
        let ru = |v: i64| json!({"runAsUser": v});
        table(
            run_as_user,
            &[
                (
                    json!({"securityContext": ru(1000), "containers": [{"name": "a", "securityContext": ru(1)}, {"name": "b"}]}),
                    None,
                ),
                (json!({"hostUsers": false, "securityContext": ru(0), "containers": [{"name": "a"}]}), None),
                (
                    json!({"securityContext": ru(0), "containers": [{"name": "a"}]}),
                    Some(("runAsUser=0", "pod must not set runAsUser=0")),
                ),
                (
                    json!({"securityContext": ru(0), "containers": [
                        {"name": "a", "securityContext": ru(0)}, {"name": "b", "securityContext": ru(0)}, {"name": "c", "securityContext": ru(1)}
                    ]}),
                    Some(("runAsUser=0", r#"pod and containers "a", "b" must not set runAsUser=0"#)),
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
                (json!({"securityContext": sp("RuntimeDefault"), "containers": [{"name": "a"}]}), None),
                (json!({"containers": [{"name": "a", "securityContext": sp("Localhost")}]}), None),
                (json!({"os": {"name": "windows"}, "containers": [{"name": "a"}]}), None),
                (
                    json!({"containers": [{"name": "a"}]}),
                    Some((
                        "seccompProfile",
                        r#"pod or container "a" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
                    )),
                ),
                (
                    json!({"securityContext": sp("Unconfined"), "containers": [{"name": "a"}]}),
                    Some(("seccompProfile", r#"pod must not set securityContext.seccompProfile.type to "Unconfined""#)),
                ),
                (
                    json!({"securityContext": sp("RuntimeDefault"), "containers": [
                        {"name": "a"}, {"name": "c", "securityContext": sp("Unconfined")}, {"name": "d", "securityContext": sp("Unconfined")}
                    ]}),
                    Some((
                        "seccompProfile",
                        r#"containers "c", "d" must not set securityContext.seccompProfile.type to "Unconfined""#,
                    )),
                ),
                (
                    json!({"containers": [
                        {"name": "a"}, {"name": "b", "securityContext": {}}, {"name": "d", "securityContext": sp("RuntimeDefault")}
                    ]}),
                    Some((
                        "seccompProfile",
                        r#"pod or containers "a", "b" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
                    )),
                ),
            ],
        );
    }
}
