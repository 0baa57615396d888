//! Merging PodPresets into a pod, as Kubernetes' PodPreset admission did (1.19):
//!
//! - `volumes` go into the pod; `env`, `envFrom` and `volumeMounts` into every container and
//!   init container (ephemeral containers are left alone);
//! - an entry the pod (or an earlier preset) already has under the same key — env name, volume
//!   name, mount name, mount path — must be identical, and is then not added twice; a different
//!   one is a conflict, and any conflict means no preset is applied at all;
//! - `envFrom` entries have no key and are always appended.
//!
//! "Identical" compares the entries as JSON with the members that only say "unset" — `null`,
//! `false`, `""`, `[]` — dropped: JSON spells one value several ways (`readOnly: false` or no
//! `readOnly`), where Kubernetes compared its Go structs, in which both are `false`.
//!
//! The result is a JSON patch that only appends, so the pod's own entries stay byte for byte,
//! plus one annotation per applied preset recording its resourceVersion.

use serde::Serialize;
use serde_json::Value;
use skiff_plugin_sdk::k8s_openapi::api::core::v1::{EnvFromSource, EnvVar, VolumeMount};
use skiff_plugin_sdk::{Patch, Pointer};

use crate::pod::{Container, Pod, Volume};
use crate::preset::PodPreset;

/// The annotation recording that a preset was applied: `<prefix><preset name>: <resourceVersion>`.
pub const APPLIED_ANNOTATION_PREFIX: &str = "podpreset.admission.kubernetes.io/podpreset-";

/// What the presets add to one container.
#[derive(Debug, Default, PartialEq)]
struct ContainerAdditions {
    env: Vec<EnvVar>,
    env_from: Vec<EnvFromSource>,
    volume_mounts: Vec<VolumeMount>,
}

/// What the presets add to a pod; built only when nothing conflicts.
#[derive(Debug, Default, PartialEq)]
pub struct Additions {
    volumes: Vec<Volume>,
    containers: Vec<ContainerAdditions>,
    init_containers: Vec<ContainerAdditions>,
}

/// Works out what `presets` add to `pod`, or every conflict that stops them.
pub fn plan(pod: &Pod, presets: &[PodPreset]) -> Result<Additions, Vec<String>> {
    let spec = &pod.spec;
    let mut conflicts = Vec::new();
    let volumes = merge_keyed(spec.volumes.as_deref().unwrap_or_default(), presets, |p| &p.spec.volumes, |v| &v.name)
        .unwrap_or_else(|clashes| {
            conflicts.extend(clashes.into_iter().map(|c| c.describe("volumes", "", "in pod spec")));
            Vec::new()
        });
    let mut per_container = |containers: &[Container]| -> Vec<ContainerAdditions> {
        containers
            .iter()
            .map(|c| {
                let (additions, clashes) = plan_container(c, presets);
                conflicts.extend(clashes);
                additions
            })
            .collect()
    };
    let containers = per_container(&spec.containers);
    let init_containers = per_container(spec.init_containers.as_deref().unwrap_or_default());
    if conflicts.is_empty() {
        Ok(Additions { volumes, containers, init_containers })
    } else {
        Err(conflicts)
    }
}

fn plan_container(c: &Container, presets: &[PodPreset]) -> (ContainerAdditions, Vec<String>) {
    let place = format!("in container {:?}", c.name);
    let mut conflicts = Vec::new();
    let env = merge_keyed(c.env.as_deref().unwrap_or_default(), presets, |p| &p.spec.env, |e| &e.name).unwrap_or_else(
        |clashes| {
            conflicts.extend(clashes.into_iter().map(|x| x.describe("env", "", &place)));
            Vec::new()
        },
    );
    let existing_mounts = c.volume_mounts.as_deref().unwrap_or_default();
    // Kubernetes keys mounts by name and by path; both must agree.
    let by_name = merge_keyed(existing_mounts, presets, |p| &p.spec.volume_mounts, |m| &m.name);
    let by_path = merge_keyed(existing_mounts, presets, |p| &p.spec.volume_mounts, |m| &m.mount_path);
    let volume_mounts = by_name.unwrap_or_else(|clashes| {
        conflicts.extend(clashes.into_iter().map(|x| x.describe("volume mounts", "", &place)));
        Vec::new()
    });
    if let Err(clashes) = by_path {
        conflicts.extend(clashes.into_iter().map(|x| x.describe("volume mounts", "mount path ", &place)));
    }
    let env_from = presets.iter().flat_map(|p| p.spec.env_from.iter().cloned()).collect();
    (ContainerAdditions { env, env_from, volume_mounts }, conflicts)
}

/// Two entries under one key that differ.
struct Clash {
    preset: String,
    key: String,
    wanted: String,
    found: String,
}

impl Clash {
    fn describe(&self, what: &str, key_kind: &str, place: &str) -> String {
        format!(
            "merging {what} for {} has a conflict on {key_kind}{}: {} does not match {} {place}",
            self.preset, self.key, self.wanted, self.found
        )
    }
}

/// The presets' entries (in order) that `existing` does not have yet under their key, or the
/// clashes when some key is already taken by a different entry.
fn merge_keyed<T: Clone + Serialize>(
    existing: &[T],
    presets: &[PodPreset],
    entries: impl Fn(&PodPreset) -> &Vec<T>,
    key: impl Fn(&T) -> &String,
) -> Result<Vec<T>, Vec<Clash>> {
    let mut added: Vec<T> = Vec::new();
    let mut clashes = Vec::new();
    for preset in presets {
        for entry in entries(preset) {
            let k = key(entry);
            // A pod's own duplicate keys are its business; Kubernetes kept the last one.
            let known = added.iter().chain(existing.iter().rev()).find(|e| key(*e) == k);
            match known {
                None => added.push(entry.clone()),
                Some(found) if same(found, entry) => {}
                Some(found) => clashes.push(Clash {
                    preset: preset.name().to_owned(),
                    key: k.clone(),
                    wanted: compact(entry),
                    found: compact(found),
                }),
            }
        }
    }
    if clashes.is_empty() {
        Ok(added)
    } else {
        Err(clashes)
    }
}

/// The JSON patch that makes the additions, and records every preset in an annotation.
pub fn patch(pod: &Pod, additions: &Additions, presets: &[PodPreset]) -> Patch {
    let spec = &pod.spec;
    let mut patch = append(Patch::new(), Pointer::new(["spec", "volumes"]), spec.volumes.is_some(), &additions.volumes);
    let groups = [
        ("containers", spec.containers.as_slice(), &additions.containers),
        ("initContainers", spec.init_containers.as_deref().unwrap_or_default(), &additions.init_containers),
    ];
    for (field, containers, adds) in groups {
        for (i, (c, add)) in containers.iter().zip(adds).enumerate() {
            let at = Pointer::new(["spec", field]).index(i);
            patch = append(patch, at.clone().push("env"), c.env.is_some(), &add.env);
            patch = append(patch, at.clone().push("envFrom"), c.env_from.is_some(), &add.env_from);
            patch = append(patch, at.push("volumeMounts"), c.volume_mounts.is_some(), &add.volume_mounts);
        }
    }
    let versions: Vec<(String, String)> = presets
        .iter()
        .map(|p| {
            let version = p.metadata.resource_version.clone().unwrap_or_default();
            (format!("{APPLIED_ANNOTATION_PREFIX}{}", p.name()), version)
        })
        .collect();
    patch.set_annotations(&pod.metadata, versions.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Appends `items` to the array at `at`, creating the array when the pod has none.
fn append<T: Serialize>(patch: Patch, at: Pointer, exists: bool, items: &[T]) -> Patch {
    match (items.is_empty(), exists) {
        (true, _) => patch,
        (false, true) => items.iter().fold(patch, |p, item| p.add(at.clone().end(), item)),
        (false, false) => patch.add(at, items),
    }
}

/// Equal once the members that mean "unset" are dropped.
fn same<T: Serialize>(a: &T, b: &T) -> bool {
    match (serde_json::to_value(a), serde_json::to_value(b)) {
        (Ok(a), Ok(b)) => normalized(a) == normalized(b),
        _ => false,
    }
}

fn normalized(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, normalized(v)))
                .filter(|(_, v)| {
                    !matches!(v, Value::Null | Value::Bool(false)) && v != "" && v != &Value::Array(vec![])
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(normalized).collect()),
        other => other,
    }
}

/// One-line JSON for messages (warnings travel in HTTP headers).
fn compact<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "<unprintable>".to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(value: Value) -> Pod {
        serde_json::from_value(value).expect("pod")
    }

    fn preset(name: &str, spec: Value) -> PodPreset {
        serde_json::from_value(json!({"metadata": {"name": name, "resourceVersion": "42"}, "spec": spec}))
            .expect("preset")
    }

    fn patch_json(pod: &Pod, presets: &[PodPreset]) -> Value {
        let additions = plan(pod, presets).expect("no conflict");
        patch(pod, &additions, presets).to_value().expect("patch")
    }

    #[test]
    fn injects_into_every_container_and_init_container() {
        let p = pod(json!({
            "metadata": {"name": "web", "labels": {"role": "frontend"}},
            "spec": {
                "initContainers": [{"name": "init", "image": "busybox"}],
                "containers": [
                    {"name": "web", "image": "nginx", "env": [{"name": "A", "value": "1"}], "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                    {"name": "side", "image": "envoy"}
                ],
                "volumes": [{"name": "data", "emptyDir": {}}]
            }
        }));
        let presets = [preset(
            "allow-database",
            json!({
                "env": [{"name": "DB_PORT", "value": "6379"}],
                "envFrom": [{"configMapRef": {"name": "etcd-env-config"}}],
                "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
                "volumes": [{"name": "cache", "emptyDir": {}}]
            }),
        )];
        let env = json!({"name": "DB_PORT", "value": "6379"});
        let env_from = json!({"configMapRef": {"name": "etcd-env-config"}});
        let mount = json!({"mountPath": "/cache", "name": "cache"});
        assert_eq!(
            patch_json(&p, &presets),
            json!([
                {"op": "add", "path": "/spec/volumes/-", "value": {"emptyDir": {}, "name": "cache"}},
                {"op": "add", "path": "/spec/containers/0/env/-", "value": env},
                {"op": "add", "path": "/spec/containers/0/envFrom", "value": [env_from]},
                {"op": "add", "path": "/spec/containers/0/volumeMounts/-", "value": mount},
                {"op": "add", "path": "/spec/containers/1/env", "value": [env]},
                {"op": "add", "path": "/spec/containers/1/envFrom", "value": [env_from]},
                {"op": "add", "path": "/spec/containers/1/volumeMounts", "value": [mount]},
                {"op": "add", "path": "/spec/initContainers/0/env", "value": [env]},
                {"op": "add", "path": "/spec/initContainers/0/envFrom", "value": [env_from]},
                {"op": "add", "path": "/spec/initContainers/0/volumeMounts", "value": [mount]},
                {"op": "add", "path": "/metadata/annotations", "value": {"podpreset.admission.kubernetes.io/podpreset-allow-database": "42"}}
            ])
        );
    }

    #[test]
    fn identical_entries_are_not_added_twice() {
        let p = pod(json!({
            "metadata": {"name": "web", "annotations": {"a": "b"}},
            "spec": {
                "containers": [{"name": "web", "env": [{"name": "DB_PORT", "value": "6379"}],
                                "volumeMounts": [{"name": "cache", "mountPath": "/cache", "readOnly": false}]}],
                "volumes": [{"name": "cache", "emptyDir": {}}]
            }
        }));
        // The same entries from the pod and from two presets: only the annotations change.
        let spec = json!({"env": [{"name": "DB_PORT", "value": "6379"}],
                          "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
                          "volumes": [{"name": "cache", "emptyDir": {}}]});
        let presets = [preset("a", spec.clone()), preset("b", spec)];
        assert_eq!(
            patch_json(&p, &presets),
            json!([
                {"op": "add", "path": "/metadata/annotations/podpreset.admission.kubernetes.io~1podpreset-a", "value": "42"},
                {"op": "add", "path": "/metadata/annotations/podpreset.admission.kubernetes.io~1podpreset-b", "value": "42"}
            ])
        );
    }

    #[test]
    fn env_from_is_always_appended() {
        let p = pod(json!({"spec": {"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "s"}}]}]}}));
        let presets = [preset("p", json!({"envFrom": [{"secretRef": {"name": "s"}}]}))];
        let ops = patch_json(&p, &presets);
        assert_eq!(
            ops[0],
            json!({"op": "add", "path": "/spec/containers/0/envFrom/-", "value": {"secretRef": {"name": "s"}}})
        );
    }

    #[test]
    fn conflicts_are_all_reported_and_nothing_is_applied() {
        let p = pod(json!({
            "spec": {
                "containers": [{"name": "web", "env": [{"name": "DB_PORT", "value": "5432"}],
                                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                "volumes": [{"name": "cache", "hostPath": {"path": "/tmp"}}]
            }
        }));
        let presets = [preset(
            "db",
            json!({"env": [{"name": "DB_PORT", "value": "6379"}],
                   "volumeMounts": [{"name": "data", "mountPath": "/other"}, {"name": "logs", "mountPath": "/data"}],
                   "volumes": [{"name": "cache", "emptyDir": {}}]}),
        )];
        assert_eq!(
            plan(&p, &presets),
            Err(vec![
                r#"merging volumes for db has a conflict on cache: {"name":"cache","emptyDir":{}} does not match {"name":"cache","hostPath":{"path":"/tmp"}} in pod spec"#.to_owned(),
                r#"merging env for db has a conflict on DB_PORT: {"name":"DB_PORT","value":"6379"} does not match {"name":"DB_PORT","value":"5432"} in container "web""#.to_owned(),
                r#"merging volume mounts for db has a conflict on data: {"mountPath":"/other","name":"data"} does not match {"mountPath":"/data","name":"data"} in container "web""#.to_owned(),
                r#"merging volume mounts for db has a conflict on mount path /data: {"mountPath":"/data","name":"logs"} does not match {"mountPath":"/data","name":"data"} in container "web""#.to_owned(),
            ])
        );
    }

    #[test]
    fn presets_can_conflict_with_each_other() {
        let p = pod(json!({"spec": {"containers": [{"name": "c"}]}}));
        let presets = [
            preset("first", json!({"env": [{"name": "MODE", "value": "a"}]})),
            preset("second", json!({"env": [{"name": "MODE", "value": "b"}]})),
        ];
        assert_eq!(
            plan(&p, &presets),
            Err(vec![
                r#"merging env for second has a conflict on MODE: {"name":"MODE","value":"b"} does not match {"name":"MODE","value":"a"} in container "c""#.to_owned()
            ])
        );
    }

    #[test]
    fn unset_and_empty_values_compare_equal() {
        assert!(same(&json!({"name": "a", "readOnly": false, "subPath": ""}), &json!({"name": "a"})));
        assert!(same(&json!({"name": "a", "items": []}), &json!({"name": "a", "items": null})));
        assert!(!same(&json!({"name": "a", "readOnly": true}), &json!({"name": "a"})));
        // An empty object is a value (emptyDir: {} is a volume type), not "unset".
        assert!(!same(&json!({"name": "a", "emptyDir": {}}), &json!({"name": "a"})));
    }
}
