//! The API types of the plugin platform: `WasmPlugin` (plugins.skiff.dev/v1alpha1,
//! cluster-scoped) and the seeds' `PodPreset` (settings.k8s.io/v1alpha1),
//! which the built-in podpreset plugin reads.

use k8s_openapi::api::core::v1::{EnvFromSource, EnvVar, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::resources::Defaults;

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

/// The seeds' PodPreset: inject env, volumes and mounts into matching pods.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.settings.v1alpha1.PodPreset")]
pub struct PodPreset {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodPresetSpec,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.settings.v1alpha1.PodPresetSpec")]
pub struct PodPresetSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
}

impl k8s_openapi::Resource for PodPreset {
    const API_VERSION: &'static str = "settings.k8s.io/v1alpha1";
    const GROUP: &'static str = "settings.k8s.io";
    const KIND: &'static str = "PodPreset";
    const VERSION: &'static str = "v1alpha1";
    const URL_PATH_SEGMENT: &'static str = "podpresets";
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl Defaults for PodPreset {
    fn apply_defaults(&mut self) {
        (self.api_version, self.kind) = type_meta::<Self>();
    }
}

/// `apiVersion` and `kind` as stored: always the type's own, whatever the client sent.
fn type_meta<T: k8s_openapi::Resource>() -> (Option<String>, Option<String>) {
    (Some(T::API_VERSION.into()), Some(T::KIND.into()))
}
