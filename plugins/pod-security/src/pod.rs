//! The parts of a pod (or pod template) that the checks read, and nothing more.
//!
//! The small pieces reuse `k8s_openapi`'s types (security contexts, ports, probes, lifecycle
//! hooks); containers and the spec are cut down to the fields the standard restricts, and a
//! volume keeps its source as JSON (the checks only ask which source it is). Decoding a whole
//! typed `Pod` would pull in every volume source, affinity and resource type — most of the
//! module's size — for fields no check reads.

use serde::Deserialize;
use serde_json::{Map, Value};
use skiff_plugin_sdk::k8s_openapi::api::core::v1::{
    ContainerPort, Lifecycle, PodOS, PodSecurityContext, Probe, SecurityContext,
};
use skiff_plugin_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// A pod, or a workload's pod template.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Pod {
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: Option<PodSpec>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    pub host_network: Option<bool>,
    #[serde(rename = "hostPID")]
    pub host_pid: Option<bool>,
    #[serde(rename = "hostIPC")]
    pub host_ipc: Option<bool>,
    pub host_users: Option<bool>,
    pub os: Option<PodOS>,
    pub runtime_class_name: Option<String>,
    pub security_context: Option<PodSecurityContext>,
    #[serde(default)]
    pub containers: Vec<Container>,
    pub init_containers: Option<Vec<Container>>,
    /// Ephemeral containers have the same fields as far as the checks go.
    pub ephemeral_containers: Option<Vec<Container>>,
    pub volumes: Option<Vec<Volume>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    pub security_context: Option<SecurityContext>,
    pub ports: Option<Vec<ContainerPort>>,
    pub liveness_probe: Option<Probe>,
    pub readiness_probe: Option<Probe>,
    pub startup_probe: Option<Probe>,
    pub lifecycle: Option<Lifecycle>,
}

/// A volume: its name and its source, as JSON.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Volume {
    pub name: String,
    #[serde(flatten)]
    pub source: Map<String, Value>,
}

impl Volume {
    /// Whether the volume sets this source (`"hostPath"`, `"emptyDir"`…); `null` is unset.
    pub fn has(&self, source: &str) -> bool {
        self.source.get(source).is_some_and(|v| !v.is_null())
    }
}
