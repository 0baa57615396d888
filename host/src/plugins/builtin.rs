//! The plugins embedded in the binary (built from `plugins/` by build.rs)
//! and the WasmPlugin objects that turn them on by default.

use serde_json::{json, Value};

pub struct Builtin {
    pub name: &'static str,
    pub module: &'static [u8],
}

pub const BUILTINS: &[Builtin] = &[
    Builtin { name: "pod-security", module: include_bytes!(concat!(env!("SKIFF_PLUGINS_DIR"), "/pod_security.wasm")) },
    Builtin { name: "podpreset", module: include_bytes!(concat!(env!("SKIFF_PLUGINS_DIR"), "/podpreset.wasm")) },
    Builtin {
        name: "default-scheduler",
        module: include_bytes!(concat!(env!("SKIFF_PLUGINS_DIR"), "/default_scheduler.wasm")),
    },
];

/// The bytes of `builtin:NAME`.
pub fn module(name: &str) -> Option<&'static [u8]> {
    BUILTINS.iter().find(|b| b.name == name).map(|b| b.module)
}

/// Created at startup when absent: Pod Security admission, on as in
/// Kubernetes (every namespace is `privileged` until labelled otherwise),
/// the seeds' PodPreset injector (it acts only where PodPresets exist), and
/// the default scheduling policy (schedulerName `default-scheduler`).
pub fn default_plugins() -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "plugins.skiff.dev/v1alpha1",
            "kind": "WasmPlugin",
            "metadata": {"name": "pod-security", "labels": {"plugins.skiff.dev/builtin": "true"}},
            "spec": {
                "world": "admission",
                "module": "builtin:pod-security",
                "admission": {
                    "type": "Validating",
                    "operations": ["CREATE", "UPDATE"],
                    "resources": [
                        {"apiGroups": [""], "resources": ["pods", "pods/ephemeralcontainers", "namespaces", "replicationcontrollers", "podtemplates"]},
                        {"apiGroups": ["apps"], "resources": ["deployments", "replicasets", "statefulsets", "daemonsets"]},
                        {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"]},
                    ],
                    "failurePolicy": "Fail",
                    "timeoutSeconds": 5,
                },
            },
        }),
        json!({
            "apiVersion": "plugins.skiff.dev/v1alpha1",
            "kind": "WasmPlugin",
            "metadata": {"name": "podpreset", "labels": {"plugins.skiff.dev/builtin": "true"}},
            "spec": {
                "world": "admission",
                "module": "builtin:podpreset",
                "admission": {
                    "type": "Mutating",
                    "operations": ["CREATE"],
                    "resources": [{"apiGroups": [""], "resources": ["pods"]}],
                    "failurePolicy": "Ignore",
                    "timeoutSeconds": 5,
                },
            },
        }),
        json!({
            "apiVersion": "plugins.skiff.dev/v1alpha1",
            "kind": "WasmPlugin",
            "metadata": {"name": "default-scheduler", "labels": {"plugins.skiff.dev/builtin": "true"}},
            "spec": {
                "world": "scheduler",
                "module": "builtin:default-scheduler",
                "scheduler": {"schedulerName": "default-scheduler"},
            },
        }),
    ]
}
