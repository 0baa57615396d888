//! skiff's PodPreset admission plugin: Kubernetes' PodPreset (`settings.k8s.io/v1alpha1`, as it
//! was up to Kubernetes 1.19) as a mutating WebAssembly component.
//!
//! When a pod is created, the PodPresets of its namespace that select it add environment
//! variables, `envFrom` sources and volume mounts to its containers and volumes to the pod.
//!
//! - [`preset`]: the PodPreset object and its label selector;
//! - [`merge`]: merging presets into a pod, conflicts, and the JSON patch;
//! - [`pod`]: the parts of a pod that presets read;
//! - [`admission`]: which requests are touched and the resulting mutation;
//! - this file: the component's entry points and the `cluster` import behind them.

pub mod admission;
pub mod merge;
pub mod pod;
pub mod preset;

use skiff_plugin_sdk::admission::{Guest, Mutation, Request, Verdict};
use skiff_plugin_sdk::{cluster, log, Error, GroupVersionResource};

struct PodPresetPlugin;

impl Guest for PodPresetPlugin {
    /// The plugin takes no configuration; anything but an empty object is a mistake worth
    /// reporting rather than ignoring.
    fn init(config: String) -> Result<(), Error> {
        let value: serde_json::Value =
            if config.trim().is_empty() { serde_json::Value::Null } else { serde_json::from_str(&config)? };
        match value {
            serde_json::Value::Null => Ok(()),
            serde_json::Value::Object(map) if map.is_empty() => Ok(()),
            _ => Err(Error::invalid("podpreset takes no configuration; give {} or none")),
        }
    }

    fn validate(_: Request) -> Result<Verdict, Error> {
        Err(Error::unsupported("podpreset only mutates; register it as a mutating plugin"))
    }

    fn mutate(req: Request) -> Result<Mutation, Error> {
        let mutation = admission::mutate(&HostPresets, &req)?;
        // The client sees the warnings; operators see them in the log (Kubernetes raised events).
        let object = req.object_ref();
        for warning in &mutation.warnings {
            log::write(log::Level::Warn, warning, &[("uid", &req.uid), ("object", &object)]);
        }
        Ok(mutation)
    }
}

skiff_plugin_sdk::export_admission!(PodPresetPlugin);

/// PodPresets as the host serves them to this plugin.
struct HostPresets;

impl admission::Presets for HostPresets {
    fn list(&self, namespace: &str) -> Result<Vec<String>, Error> {
        let gvr = GroupVersionResource {
            group: preset::GROUP.into(),
            version: preset::VERSION.into(),
            plural: preset::PLURAL.into(),
        };
        cluster::list_json(&gvr, Some(namespace), None)
    }
}
