//! The parts of a pod that PodPresets read: labels and annotations, each container's env,
//! envFrom and volume mounts, and the pod's volumes. Nothing else is decoded — the patch
//! addresses the rest by path — which keeps the module small and leaves fields this plugin does
//! not know about untouched.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use skiff_plugin_sdk::k8s_openapi::api::core::v1::{EnvFromSource, EnvVar, VolumeMount};
use skiff_plugin_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Pod {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodSpec,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default)]
    pub containers: Vec<Container>,
    pub init_containers: Option<Vec<Container>>,
    pub volumes: Option<Vec<Volume>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    pub env: Option<Vec<EnvVar>>,
    pub env_from: Option<Vec<EnvFromSource>>,
    pub volume_mounts: Option<Vec<VolumeMount>>,
}

/// A volume: its name, and its source kept as the JSON it came in. Volumes are only compared and
/// copied, never interpreted, and a typed volume (every volume source Kubernetes has) would be
/// a large part of the module.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Volume {
    pub name: String,
    #[serde(flatten)]
    pub source: Map<String, Value>,
}
