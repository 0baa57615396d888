//! `sidecar-injector`: the seeds' Envoy initializer as a mutating admission plugin.
//!
//! On Pod creation it reads a ConfigMap whose data key holds YAML
//! `containers: [...]` (and optionally `volumes: [...]`, for what those containers mount), adds
//! each container whose name the pod does not use yet, adds the volumes they need, and records
//! what it did in the annotation `sidecar.skiff.dev/injected`. Pods annotated
//! `sidecar.skiff.dev/inject: "false"` are left alone; a missing ConfigMap lets pods through
//! unchanged, with a warning.
//!
//! Config (the default shown): `{"configMap": {"namespace": "default", "name": "envoy-initializer"}, "key": "config"}`.

use std::collections::BTreeSet;

use serde::Deserialize;
use skiff_plugin_sdk::admission::{Guest, Mutation, Operation, Request, Verdict};
use skiff_plugin_sdk::k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Volume};
use skiff_plugin_sdk::{cluster, Error, Patch, Pointer};

/// Pods annotated with this set to `"false"` get no sidecars.
const INJECT: &str = "sidecar.skiff.dev/inject";
/// Names the containers this plugin added, comma separated.
const INJECTED: &str = "sidecar.skiff.dev/injected";

#[derive(Debug, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct Config {
    config_map: ConfigMapRef,
    key: String,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
struct ConfigMapRef {
    namespace: String,
    name: String,
}

impl Default for Config {
    fn default() -> Self {
        Config { config_map: ConfigMapRef::default(), key: "config".into() }
    }
}

impl Default for ConfigMapRef {
    fn default() -> Self {
        ConfigMapRef { namespace: "default".into(), name: "envoy-initializer".into() }
    }
}

/// What the ConfigMap's key holds.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Sidecars {
    containers: Vec<Container>,
    volumes: Vec<Volume>,
}

struct SidecarInjector;

impl Guest for SidecarInjector {
    fn init(config: String) -> Result<(), Error> {
        skiff_plugin_sdk::parse_config::<Config>(&config).map(drop)
    }

    fn validate(_request: Request) -> Result<Verdict, Error> {
        Err(Error::unsupported("sidecar-injector only mutates"))
    }

    fn mutate(request: Request) -> Result<Mutation, Error> {
        if !request.is::<Pod>() || request.operation != Operation::Create {
            return Ok(Mutation::unchanged());
        }
        let pod: Pod = request.object()?;
        if opted_out(&pod) {
            return Ok(Mutation::unchanged());
        }
        let config: Config = skiff_plugin_sdk::config()?;
        let ConfigMapRef { namespace, name } = &config.config_map;
        let Some(config_map) = cluster::get_in::<ConfigMap>(namespace, name)? else {
            let warning = format!("sidecar-injector: configmap {namespace}/{name} not found, no sidecars injected");
            skiff_plugin_sdk::warn!("{warning} into {}", request.object_ref());
            return Ok(Mutation::unchanged().warn(warning));
        };
        let Some(sidecars) = sidecars(&config_map, &config.key)? else {
            let warning = format!("sidecar-injector: configmap {namespace}/{name} has no key {:?}", config.key);
            return Ok(Mutation::unchanged().warn(warning));
        };
        let (patch, injected) = injection(&pod, &sidecars)?;
        if !injected.is_empty() {
            skiff_plugin_sdk::info!("injected {} into {}", injected.join(","), request.object_ref());
        }
        Mutation::patch(patch)
    }
}

skiff_plugin_sdk::export_admission!(SidecarInjector);

fn opted_out(pod: &Pod) -> bool {
    pod.metadata.annotations.as_ref().and_then(|a| a.get(INJECT)).is_some_and(|v| v == "false")
}

/// The sidecars the ConfigMap's `key` describes; `None` when it has no such key.
fn sidecars(config_map: &ConfigMap, key: &str) -> Result<Option<Sidecars>, Error> {
    let Some(yaml) = config_map.data.as_ref().and_then(|d| d.get(key)) else { return Ok(None) };
    let name = config_map.metadata.name.as_deref().unwrap_or_default();
    serde_yaml::from_str(yaml)
        .map(Some)
        .map_err(|e| Error::invalid(format!("configmap {name} key {key:?} does not hold sidecars: {e}")))
}

/// The patch that adds to `pod` the sidecar containers it lacks (by name), the volumes they
/// need and the annotation; and the names injected. Nothing to add → an empty patch.
fn injection(pod: &Pod, sidecars: &Sidecars) -> Result<(Patch, Vec<String>), Error> {
    let spec = pod.spec.as_ref().ok_or_else(|| Error::invalid("the pod has no spec"))?;
    // Container names are unique across all three lists.
    let mut taken: BTreeSet<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    taken.extend(spec.init_containers.iter().flatten().map(|c| c.name.as_str()));
    taken.extend(spec.ephemeral_containers.iter().flatten().map(|c| c.name.as_str()));

    let mut patch = Patch::new();
    let mut injected = Vec::new();
    for sidecar in &sidecars.containers {
        // `insert` also skips a name listed twice in the ConfigMap.
        if taken.insert(sidecar.name.as_str()) {
            patch = patch.add(Pointer::new(["spec", "containers"]).end(), sidecar);
            injected.push(sidecar.name.clone());
        }
    }
    if injected.is_empty() {
        return Ok((Patch::new(), injected));
    }

    let volumes = spec.volumes.as_deref().unwrap_or_default();
    let missing: Vec<&Volume> =
        sidecars.volumes.iter().filter(|v| !volumes.iter().any(|have| have.name == v.name)).collect();
    if !missing.is_empty() {
        patch = match spec.volumes {
            // Appending to a list that is not there would fail: create it whole.
            None => patch.add(Pointer::new(["spec", "volumes"]), &missing),
            Some(_) => missing.iter().fold(patch, |p, v| p.add(Pointer::new(["spec", "volumes"]).end(), v)),
        };
    }
    let patch = patch.set_annotation(&pod.metadata, INJECTED, &injected.join(","));
    Ok((patch, injected))
}

#[cfg(test)]
mod tests {
    use skiff_plugin_sdk::serde_json::{self, json, Value};
    use skiff_plugin_sdk::ErrorCode;

    use super::*;

    /// The example ConfigMap shipped in the repository.
    const ENVOY_INITIALIZER: &str = include_str!("../../../envoy-initializer.yaml");

    fn envoy() -> Sidecars {
        let cm: ConfigMap = serde_yaml::from_str(ENVOY_INITIALIZER).unwrap();
        sidecars(&cm, "config").unwrap().unwrap()
    }

    /// Applies the injection to `pod` as the host would, returning the new pod and the names.
    fn inject(pod: Value, sidecars: &Sidecars) -> (Value, Vec<String>) {
        let typed: Pod = serde_json::from_value(pod.clone()).unwrap();
        let (patch, injected) = injection(&typed, sidecars).unwrap();
        let ops: json_patch::Patch = serde_json::from_value(patch.to_value().unwrap()).unwrap();
        let mut doc = pod;
        json_patch::patch(&mut doc, &ops).unwrap();
        (doc, injected)
    }

    fn names(list: &Value) -> Vec<&str> {
        list.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect()
    }

    #[test]
    fn config_defaults() {
        let c: Config = skiff_plugin_sdk::parse_config("{}").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(
            (c.config_map.namespace.as_str(), c.config_map.name.as_str(), c.key.as_str()),
            ("default", "envoy-initializer", "config")
        );
        let c: Config = skiff_plugin_sdk::parse_config(r#"{"configMap": {"name": "mesh"}}"#).unwrap();
        assert_eq!((c.config_map.namespace.as_str(), c.config_map.name.as_str()), ("default", "mesh"));
        let err = skiff_plugin_sdk::parse_config::<Config>(r#"{"configmap": {}}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput);
    }

    #[test]
    fn the_example_configmap_holds_envoy() {
        let s = envoy();
        assert_eq!(s.containers.len(), 1);
        let c = &s.containers[0];
        assert_eq!(c.name, "envoy");
        assert_eq!(c.image.as_deref(), Some("lyft/envoy:845747db88f102c0fd262ab234308e9e22f693a1"));
        assert_eq!(c.ports.as_ref().unwrap()[0].container_port, 80);
        assert_eq!(c.volume_mounts.as_ref().unwrap()[0].mount_path, "/etc/envoy");
        assert_eq!(s.volumes[0].name, "envoy-conf");
    }

    #[test]
    fn injects_envoy_its_volume_and_the_annotation() {
        let pod = json!({
            "metadata": {"name": "web"},
            "spec": {"containers": [{"name": "nginx", "image": "nginx"}]},
        });
        let (pod, injected) = inject(pod, &envoy());
        assert_eq!(injected, ["envoy"]);
        assert_eq!(names(&pod["spec"]["containers"]), ["nginx", "envoy"]);
        assert_eq!(pod["spec"]["containers"][1]["args"][1], "--config-path /etc/envoy/envoy.json");
        assert_eq!(pod["spec"]["volumes"], json!([{"name": "envoy-conf", "configMap": {"name": "envoy"}}]));
        assert_eq!(pod["metadata"]["annotations"], json!({INJECTED: "envoy"}));
        // The result is still a valid typed pod.
        serde_json::from_value::<Pod>(pod).unwrap();
    }

    #[test]
    fn keeps_existing_volumes_and_annotations() {
        let pod = json!({
            "metadata": {"name": "web", "annotations": {"team": "a"}},
            "spec": {
                "containers": [{"name": "nginx", "image": "nginx"}],
                "volumes": [{"name": "data", "emptyDir": {}}],
            },
        });
        let (pod, _) = inject(pod, &envoy());
        assert_eq!(names(&pod["spec"]["volumes"]), ["data", "envoy-conf"]);
        assert_eq!(pod["metadata"]["annotations"], json!({"team": "a", INJECTED: "envoy"}));
    }

    #[test]
    fn only_containers_the_pod_lacks() {
        let sidecars: Sidecars = serde_yaml::from_str(
            "containers:\n  - {name: envoy, image: envoy}\n  - {name: log, image: fluent}\n  - {name: log, image: again}\n",
        )
        .unwrap();
        let pod = json!({
            "metadata": {"name": "web"},
            "spec": {"containers": [{"name": "envoy", "image": "my-envoy"}]},
        });
        let (pod, injected) = inject(pod, &sidecars);
        assert_eq!(injected, ["log"]);
        assert_eq!(names(&pod["spec"]["containers"]), ["envoy", "log"]);
        assert_eq!(pod["spec"]["containers"][0]["image"], "my-envoy");
        assert_eq!(pod["spec"]["containers"][1]["image"], "fluent");
        assert!(pod["spec"].get("volumes").is_none());

        // An init container's name counts too; nothing to add means no patch at all.
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"initContainers": [{"name": "log"}], "containers": [{"name": "envoy"}]},
        }))
        .unwrap();
        let (patch, injected) = injection(&pod, &sidecars).unwrap();
        assert!(patch.is_empty() && injected.is_empty());
    }

    #[test]
    fn opt_out_annotation() {
        let pod = |value: &str| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": "p", "annotations": {INJECT: value}}})).unwrap()
        };
        assert!(opted_out(&pod("false")));
        assert!(!opted_out(&pod("true")));
        assert!(!opted_out(&Pod::default()));
    }

    #[test]
    fn missing_key_and_bad_yaml() {
        let cm = |yaml: &str| -> ConfigMap {
            serde_json::from_value(json!({"metadata": {"name": "cm"}, "data": {"config": yaml}})).unwrap()
        };
        assert!(sidecars(&cm("containers: []"), "other").unwrap().is_none());
        let err = sidecars(&cm("containers: {name: 1"), "config").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.starts_with("configmap cm key \"config\" does not hold sidecars"), "{}", err.message);
        let err = injection(&Pod::default(), &envoy()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput);
    }
}
