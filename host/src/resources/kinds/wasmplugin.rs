//! WasmPlugin (plugins.skiff.dev/v1alpha1, cluster-scoped): the API type of
//! the plugin platform, and its strategy, which refuses a spec the plugin
//! manager could never load at write time (422) rather than at load.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::errors::Cause;
use crate::resources::{Defaults, Strategy};

/// A WebAssembly plugin: which world it serves, its module, its config and
/// how it is hooked in. The host loads the module; `status` says which
/// version is active and why a newer one is not.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "dev.skiff.plugins.v1alpha1.WasmPlugin")]
pub struct WasmPlugin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: WasmPluginSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<WasmPluginStatus>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "dev.skiff.plugins.v1alpha1.WasmPluginSpec")]
pub struct WasmPluginSpec {
    /// The WIT world the module implements: admission, scheduler, controller, cni or csi.
    pub world: String,
    /// The module: `sha256:<hex>` of a blob uploaded to
    /// /apis/plugins.skiff.dev/v1alpha1/modules, or `builtin:<name>` for one
    /// embedded in skiff.
    pub module: String,
    /// Passed to the plugin's `init` and readable through its `config` import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
    pub config: Option<Value>,
    /// The cap on the plugin's memory per call, in MiB (default 128).
    #[serde(default, rename = "memoryLimitMiB", skip_serializing_if = "Option::is_none")]
    pub memory_limit_mib: Option<i32>,
    /// How many loaded revisions are kept for rollback (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// For world `admission`: when the plugin is called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission: Option<AdmissionSpec>,
    /// For world `scheduler`: which pods it places.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<SchedulerSpec>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "dev.skiff.plugins.v1alpha1.SchedulerSpec")]
pub struct SchedulerSpec {
    /// The profile it serves: pods whose `spec.schedulerName` is this
    /// (default: the plugin's name). One plugin per name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_name: Option<String>,
    /// Per call, 1 to 30 (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "dev.skiff.plugins.v1alpha1.AdmissionSpec")]
pub struct AdmissionSpec {
    /// `Mutating` (runs first, may change the object) or `Validating`.
    #[serde(rename = "type")]
    pub type_: String,
    /// CREATE, UPDATE, DELETE, CONNECT or `*` (default: CREATE and UPDATE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<String>>,
    /// Which resources: `apiGroups` and `resources` (`*` and `pods/status` forms as in Kubernetes webhooks).
    #[serde(default)]
    pub resources: Vec<ResourceRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_selector: Option<LabelSelector>,
    /// `Fail` (default) refuses the request when the plugin fails; `Ignore` lets it through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_policy: Option<String>,
    /// Per call, 1 to 30 (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    /// Plugins of a type run in ascending order, then by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<i32>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "dev.skiff.plugins.v1alpha1.ResourceRule")]
pub struct ResourceRule {
    #[serde(default)]
    pub api_groups: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "dev.skiff.plugins.v1alpha1.WasmPluginStatus")]
pub struct WasmPluginStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The digest of the module serving now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_digest: Option<String>,
    /// The revision serving now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_revision: Option<i64>,
    /// `Ready` (a version serves) and `Degraded` (the newest spec did not load).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Versions that loaded, newest first, for `skiff plugin rollback`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<Revision>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "dev.skiff.plugins.v1alpha1.Condition")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "dev.skiff.plugins.v1alpha1.Revision")]
pub struct Revision {
    pub revision: i64,
    pub module: String,
    /// The module's digest (for `builtin:` modules, of the embedded bytes).
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
    pub config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loaded_at: Option<Time>,
}

impl k8s_openapi::Resource for WasmPlugin {
    const API_VERSION: &'static str = "plugins.skiff.dev/v1alpha1";
    const GROUP: &'static str = "plugins.skiff.dev";
    const KIND: &'static str = "WasmPlugin";
    const VERSION: &'static str = "v1alpha1";
    const URL_PATH_SEGMENT: &'static str = "wasmplugins";
    type Scope = k8s_openapi::ClusterResourceScope;
}

impl Defaults for WasmPlugin {
    fn apply_defaults(&mut self) {
        (self.api_version, self.kind) = type_meta::<Self>();
        if let Some(adm) = &mut self.spec.admission {
            adm.operations.get_or_insert_with(|| vec!["CREATE".into(), "UPDATE".into()]);
            adm.failure_policy.get_or_insert_with(|| "Fail".into());
            adm.timeout_seconds.get_or_insert(10);
            adm.order.get_or_insert(0);
        }
        self.spec.memory_limit_mib.get_or_insert(128);
        self.spec.revision_history_limit.get_or_insert(10);
    }
}

/// `apiVersion` and `kind` as stored: always the type's own, whatever the client sent.
pub(super) fn type_meta<T: k8s_openapi::Resource>() -> (Option<String>, Option<String>) {
    (Some(T::API_VERSION.into()), Some(T::KIND.into()))
}

/// The worlds a plugin may name (`wit/world.wit`).
pub const WORLDS: &[&str] = &["admission", "scheduler", "controller", "cni", "csi"];
const OPERATIONS: &[&str] = &["CREATE", "UPDATE", "DELETE", "CONNECT", "*"];

pub struct WasmPluginStrategy;

impl Strategy for WasmPluginStrategy {
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        match serde_json::from_value::<WasmPlugin>(obj.clone()) {
            Ok(plugin) => check_spec(&plugin.spec),
            // Decoding has type-checked it already; nothing more to say.
            Err(_) => Vec::new(),
        }
    }
}

/// What makes a spec unloadable whatever the module: an unknown world, a
/// missing or malformed hook, limits out of range.
pub fn check_spec(spec: &WasmPluginSpec) -> Vec<Cause> {
    let mut errs = Vec::new();
    if !WORLDS.contains(&spec.world.as_str()) {
        errs.push(Cause::unsupported("spec.world", &Value::String(spec.world.clone()), WORLDS));
    }
    if spec.module.is_empty() {
        errs.push(Cause::required("spec.module"));
    } else if !crate::store::modules::is_digest(&spec.module)
        && spec.module.strip_prefix("builtin:").is_none_or(str::is_empty)
    {
        errs.push(Cause::invalid(
            "spec.module",
            &Value::String(spec.module.clone()),
            "must be sha256:<64 hex digits> of an uploaded module or builtin:<name>",
        ));
    }
    if let Some(m) = spec.memory_limit_mib.filter(|m| *m < 1) {
        errs.push(Cause::invalid("spec.memoryLimitMiB", &Value::from(m), "must be at least 1"));
    }
    if spec.world == "admission" {
        match &spec.admission {
            None => errs.push(Cause::required("spec.admission").with_detail("required for world admission")),
            Some(a) => check_admission(a, &mut errs),
        }
    }
    if let Some(s) = &spec.scheduler {
        if let Some(name) = &s.scheduler_name {
            for p in skiff_apimachinery::names::is_dns1123_subdomain(name) {
                errs.push(Cause::invalid("spec.scheduler.schedulerName", &Value::String(name.clone()), p));
            }
        }
        timeout(s.timeout_seconds, "spec.scheduler.timeoutSeconds", &mut errs);
    }
    errs
}

fn timeout(t: Option<i32>, field: &str, errs: &mut Vec<Cause>) {
    if let Some(t) = t.filter(|t| !(1..=30).contains(t)) {
        errs.push(Cause::invalid(field, &Value::from(t), "must be between 1 and 30"));
    }
}

fn check_admission(a: &AdmissionSpec, errs: &mut Vec<Cause>) {
    if !matches!(a.type_.as_str(), "Mutating" | "Validating") {
        errs.push(Cause::unsupported(
            "spec.admission.type",
            &Value::String(a.type_.clone()),
            &["Mutating", "Validating"],
        ));
    }
    for (i, op) in a.operations.iter().flatten().enumerate() {
        if !OPERATIONS.contains(&op.as_str()) {
            errs.push(Cause::unsupported(
                format!("spec.admission.operations[{i}]"),
                &Value::String(op.clone()),
                OPERATIONS,
            ));
        }
    }
    if a.resources.is_empty() {
        errs.push(Cause::required("spec.admission.resources"));
    }
    for (i, r) in a.resources.iter().enumerate() {
        if r.api_groups.is_empty() {
            errs.push(
                Cause::required(format!("spec.admission.resources[{i}].apiGroups")).with_detail("use [\"*\"] for all"),
            );
        }
        if r.resources.is_empty() {
            errs.push(
                Cause::required(format!("spec.admission.resources[{i}].resources")).with_detail("use [\"*\"] for all"),
            );
        }
    }
    if let Some(p) = a.failure_policy.as_deref().filter(|p| !matches!(*p, "Fail" | "Ignore")) {
        errs.push(Cause::unsupported("spec.admission.failurePolicy", &Value::String(p.into()), &["Fail", "Ignore"]));
    }
    timeout(a.timeout_seconds, "spec.admission.timeoutSeconds", errs);
    for (field, selector) in [("namespaceSelector", &a.namespace_selector), ("objectSelector", &a.object_selector)] {
        if let Some(s) = selector {
            let value = serde_json::to_value(s).unwrap_or(Value::Null);
            if let Err(e) = skiff_apimachinery::labels::Selector::from_label_selector(&value) {
                errs.push(Cause::invalid(format!("spec.admission.{field}"), &value, e.to_string()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unloadable_specs_are_refused_with_field_paths() {
        let spec: WasmPluginSpec = serde_json::from_value(json!({"world": "admision", "module": "sha256:00"})).unwrap();
        let causes = check_spec(&spec);
        assert_eq!(causes[0].field, "spec.world");
        let spec: WasmPluginSpec = serde_json::from_value(json!({"world": "admission", "module": "builtin:x",
            "admission": {"type": "Sometimes", "resources": [{"apiGroups": [""], "resources": []}], "timeoutSeconds": 99}})).unwrap();
        let fields: Vec<String> = check_spec(&spec).into_iter().map(|c| c.field).collect();
        assert_eq!(
            fields,
            ["spec.admission.type", "spec.admission.resources[0].resources", "spec.admission.timeoutSeconds"]
        );
        let ok: WasmPluginSpec = serde_json::from_value(json!({"world": "admission", "module": "builtin:x",
            "admission": {"type": "Validating", "resources": [{"apiGroups": [""], "resources": ["pods"]}]}}))
        .unwrap();
        assert!(check_spec(&ok).is_empty());
    }
}
