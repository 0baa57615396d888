//! The Pod Security Standards' checks and how a level picks them.
//!
//! Each check reads a pod's metadata and spec and either passes or returns a [`Violation`]: a
//! short reason (`"privileged"`) and a detail naming what is wrong, in the words of Kubernetes'
//! pod-security-admission so messages read the same on both. The baseline checks live in
//! [`baseline`], the restricted ones in [`restricted`]. Every level is evaluated with the latest
//! version of the standard (Kubernetes 1.37).
//!
//! A level runs its checks in Kubernetes' order — baseline checks first, then restricted ones,
//! each group sorted by check ID — so an aggregated message lists violations in the same order.
//! A restricted check may override a baseline check that it makes stricter, which then does not
//! run at restricted (so a hostPath volume is reported once, as a restricted volume type).

mod baseline;
mod restricted;

use std::collections::BTreeSet;

use skiff_plugin_sdk::k8s_openapi::api::core::v1::{ContainerPort, Lifecycle, Probe, SecurityContext};
use skiff_plugin_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::level::Level;
use crate::pod::{Container, PodSpec};

/// Why a pod fails one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// As short as possible, always shown (`"host namespaces"`).
    pub reason: String,
    /// The offending values (`"hostNetwork=true"`); may be empty.
    pub detail: String,
}

impl Violation {
    fn new(reason: impl Into<String>, detail: impl Into<String>) -> Self {
        Violation { reason: reason.into(), detail: detail.into() }
    }
}

type CheckFn = fn(&ObjectMeta, &PodSpec) -> Option<Violation>;

/// One check of the standard, under Kubernetes' check ID.
struct Check {
    id: &'static str,
    level: Level,
    /// Baseline checks this (restricted) check replaces at the restricted level.
    overrides: &'static [&'static str],
    run: CheckFn,
}

/// Every check, in evaluation order: baseline by ID, then restricted by ID (a test keeps it so).
const CHECKS: &[Check] = &[
    Check { id: "appArmorProfile", level: Level::Baseline, overrides: &[], run: baseline::app_armor_profile },
    Check { id: "capabilities_baseline", level: Level::Baseline, overrides: &[], run: baseline::capabilities },
    Check { id: "hostNamespaces", level: Level::Baseline, overrides: &[], run: baseline::host_namespaces },
    Check { id: "hostPathVolumes", level: Level::Baseline, overrides: &[], run: baseline::host_path_volumes },
    Check { id: "hostPorts", level: Level::Baseline, overrides: &[], run: baseline::host_ports },
    Check {
        id: "hostProbesAndHostLifecycle",
        level: Level::Baseline,
        overrides: &[],
        run: baseline::host_probes_and_lifecycle,
    },
    Check { id: "privileged", level: Level::Baseline, overrides: &[], run: baseline::privileged },
    Check { id: "procMount", level: Level::Baseline, overrides: &[], run: baseline::proc_mount },
    Check { id: "seLinuxOptions", level: Level::Baseline, overrides: &[], run: baseline::se_linux_options },
    Check { id: "seccompProfile_baseline", level: Level::Baseline, overrides: &[], run: baseline::seccomp_profile },
    Check { id: "sysctls", level: Level::Baseline, overrides: &[], run: baseline::sysctls },
    Check { id: "windowsHostProcess", level: Level::Baseline, overrides: &[], run: baseline::windows_host_process },
    Check {
        id: "allowPrivilegeEscalation",
        level: Level::Restricted,
        overrides: &[],
        run: restricted::allow_privilege_escalation,
    },
    Check {
        id: "capabilities_restricted",
        level: Level::Restricted,
        overrides: &["capabilities_baseline"],
        run: restricted::capabilities,
    },
    Check {
        id: "procMount_restricted",
        level: Level::Restricted,
        overrides: &["procMount"],
        run: restricted::proc_mount,
    },
    Check {
        id: "restrictedVolumes",
        level: Level::Restricted,
        overrides: &["hostPathVolumes"],
        run: restricted::volumes,
    },
    Check { id: "runAsNonRoot", level: Level::Restricted, overrides: &[], run: restricted::run_as_non_root },
    Check { id: "runAsUser", level: Level::Restricted, overrides: &[], run: restricted::run_as_user },
    Check {
        id: "seccompProfile_restricted",
        level: Level::Restricted,
        overrides: &["seccompProfile_baseline"],
        run: restricted::seccomp_profile,
    },
];

/// Runs the checks of `level` on a pod (or pod template) and returns its violations, in order.
pub fn evaluate(level: Level, meta: &ObjectMeta, spec: &PodSpec) -> Vec<Violation> {
    let overridden: BTreeSet<&str> = match level {
        Level::Restricted => CHECKS.iter().flat_map(|c| c.overrides.iter().copied()).collect(),
        _ => BTreeSet::new(),
    };
    CHECKS
        .iter()
        .filter(|c| c.level <= level && level > Level::Privileged && !overridden.contains(c.id))
        .filter_map(|c| (c.run)(meta, spec))
        .collect()
}

/// Kubernetes' detailed form: `reason (detail), reason, reason (detail)`.
pub fn describe(violations: &[Violation]) -> String {
    let parts: Vec<String> = violations
        .iter()
        .map(|v| if v.detail.is_empty() { v.reason.clone() } else { format!("{} ({})", v.reason, v.detail) })
        .collect();
    parts.join(", ")
}

/// Kubernetes' short form, used when many pods are summarized: `reason, reason`.
pub fn reasons(violations: &[Violation]) -> String {
    violations.iter().map(|v| v.reason.as_str()).collect::<Vec<_>>().join(", ")
}

/// The parts of a container the checks read, borrowed, with the probes side by side.
pub(crate) struct ContainerView<'a> {
    pub name: &'a str,
    pub security_context: Option<&'a SecurityContext>,
    pub ports: &'a [ContainerPort],
    pub probes: [Option<&'a Probe>; 3],
    pub lifecycle: Option<&'a Lifecycle>,
}

impl<'a> From<&'a Container> for ContainerView<'a> {
    fn from(c: &'a Container) -> Self {
        ContainerView {
            name: &c.name,
            security_context: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or_default(),
            probes: [c.liveness_probe.as_ref(), c.readiness_probe.as_ref(), c.startup_probe.as_ref()],
            lifecycle: c.lifecycle.as_ref(),
        }
    }
}

/// Every container of the pod in Kubernetes' visiting order: init, regular, ephemeral.
pub(crate) fn containers(spec: &PodSpec) -> impl Iterator<Item = ContainerView<'_>> {
    let init = spec.init_containers.iter().flatten().map(ContainerView::from);
    let regular = spec.containers.iter().map(ContainerView::from);
    let ephemeral = spec.ephemeral_containers.iter().flatten().map(ContainerView::from);
    init.chain(regular).chain(ephemeral)
}

/// `"a", "b"`: the list form used throughout the messages.
pub(crate) fn join_quote<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    items.into_iter().map(|s| format!("\"{}\"", s.as_ref())).collect::<Vec<_>>().join(", ")
}

pub(crate) fn pluralize<'s>(singular: &'s str, plural: &'s str, count: usize) -> &'s str {
    if count == 1 {
        singular
    } else {
        plural
    }
}

/// `container "a"` / `containers "a", "b"`.
pub(crate) fn containers_phrase(names: &[&str]) -> String {
    format!("{} {}", pluralize("container", "containers", names.len()), join_quote(names))
}

/// True when the pod runs in its own user namespace (`hostUsers: false`): since policy v1.35
/// some checks let such pods do what is only dangerous with the host's user IDs.
pub(crate) fn in_user_namespace(spec: &PodSpec) -> bool {
    spec.host_users == Some(false)
}

/// True when the pod declares itself a Windows pod, which the restricted checks of Linux-only
/// fields skip (since policy v1.25).
pub(crate) fn is_windows(spec: &PodSpec) -> bool {
    spec.os.as_ref().is_some_and(|os| os.name == "windows")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A pod spec from JSON, so the tables read like the manifests they stand for.
    pub(crate) fn spec(value: serde_json::Value) -> PodSpec {
        serde_json::from_value(value).expect("test pod spec")
    }

    /// Runs one check on a spec (and annotations) and compares with the expected violation.
    pub(crate) fn table(check: CheckFn, cases: &[(serde_json::Value, Option<(&str, &str)>)]) {
        for (i, (input, want)) in cases.iter().enumerate() {
            let (meta, spec_json) = match input.get("metadata") {
                Some(meta) => (serde_json::from_value(meta.clone()).expect("metadata"), input["spec"].clone()),
                None => (ObjectMeta::default(), input.clone()),
            };
            let got = check(&meta, &spec(spec_json));
            let want = want.map(|(reason, detail)| Violation::new(reason, detail));
            assert_eq!(got, want, "case {i}: {input}");
        }
    }

    #[test]
    fn checks_are_in_kubernetes_order() {
        for level in [Level::Baseline, Level::Restricted] {
            let ids: Vec<&str> = CHECKS.iter().filter(|c| c.level == level).map(|c| c.id).collect();
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            assert_eq!(ids, sorted, "{level} checks must be sorted by ID");
        }
        let first_restricted = CHECKS.iter().position(|c| c.level == Level::Restricted).unwrap_or(CHECKS.len());
        assert!(CHECKS[first_restricted..].iter().all(|c| c.level == Level::Restricted));
        for c in CHECKS {
            for o in c.overrides {
                let target = CHECKS.iter().find(|t| t.id == *o).expect("override names a check");
                assert_eq!((c.level, target.level), (Level::Restricted, Level::Baseline), "{} overrides {o}", c.id);
            }
        }
    }

    #[test]
    fn a_minimal_pod_passes_baseline_but_not_restricted() {
        let pod = spec(json!({"containers": [{"name": "c", "image": "nginx"}]}));
        let meta = ObjectMeta::default();
        assert!(evaluate(Level::Privileged, &meta, &pod).is_empty());
        assert!(evaluate(Level::Baseline, &meta, &pod).is_empty());
        assert_eq!(
            describe(&evaluate(Level::Restricted, &meta, &pod)),
            r#"allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
        );
    }

    #[test]
    fn a_hardened_pod_passes_restricted() {
        let pod = spec(json!({
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "securityContext": {
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}
            }}],
            "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "img", "image": {"reference": "x"}}]
        }));
        assert_eq!(evaluate(Level::Restricted, &ObjectMeta::default(), &pod), vec![]);
    }

    #[test]
    fn baseline_violations_aggregate_in_order() {
        let pod = spec(json!({
            "hostNetwork": true,
            "containers": [{"name": "c", "securityContext": {"privileged": true}}],
            "volumes": [{"name": "v", "hostPath": {"path": "/"}}]
        }));
        let v = evaluate(Level::Baseline, &ObjectMeta::default(), &pod);
        assert_eq!(
            describe(&v),
            r#"host namespaces (hostNetwork=true), hostPath volumes (volume "v"), privileged (container "c" must not set securityContext.privileged=true)"#
        );
        assert_eq!(reasons(&v), "host namespaces, hostPath volumes, privileged");
    }

    #[test]
    fn restricted_reports_overridden_baseline_checks_once() {
        let pod = spec(json!({
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "Unconfined"}},
            "containers": [{"name": "c", "securityContext": {
                "allowPrivilegeEscalation": false,
                "procMount": "Unmasked",
                "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}
            }}],
            "volumes": [{"name": "v", "hostPath": {"path": "/"}}]
        }));
        let reasons: Vec<String> =
            evaluate(Level::Restricted, &ObjectMeta::default(), &pod).into_iter().map(|v| v.reason).collect();
        assert_eq!(reasons, ["unrestricted capabilities", "procMount", "restricted volume types", "seccompProfile"]);
    }
}
