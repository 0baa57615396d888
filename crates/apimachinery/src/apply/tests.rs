//! Behaviour of the apply engine, scenario by scenario, against what a
//! Kubernetes API server does for the same requests.

use serde_json::{json, Value};

use super::*;

/// The list and map semantics of the built-in kinds these tests use.
struct K8s;

impl Schema for K8s {
    fn list_type(&self, path: &[&str]) -> ListType {
        let containers = |p: &[&str]| {
            matches!(
                p,
                ["spec", "containers"] | ["spec", "initContainers"] | ["spec", "template", "spec", "containers"]
            )
        };
        match path {
            p if containers(p) => ListType::Map(vec!["name".into()]),
            [prefix @ .., "ports"] if containers(prefix) => {
                ListType::Map(vec!["containerPort".into(), "protocol".into()])
            }
            [prefix @ .., "env"] if containers(prefix) => ListType::Map(vec!["name".into()]),
            ["metadata", "finalizers"] => ListType::Set,
            ["status", "conditions"] => ListType::Map(vec!["type".into()]),
            ["spec", "ports"] => ListType::Map(vec!["port".into(), "protocol".into()]),
            _ => ListType::Atomic,
        }
    }

    fn map_is_atomic(&self, path: &[&str]) -> bool {
        matches!(path, ["spec", "selector"] | ["spec", "template", "spec", "nodeSelector"])
    }

    fn list_key_default(&self, path: &[&str], key: &str) -> Option<Value> {
        match (path.last(), key) {
            (Some(&"ports"), "protocol") => Some(json!("TCP")),
            _ => None,
        }
    }
}

const T0: &str = "2024-05-01T10:00:00Z";
const T1: &str = "2024-05-01T10:01:00Z";
const T2: &str = "2024-05-01T10:02:00Z";
const T3: &str = "2024-05-01T10:03:00Z";

fn ignored() -> Ignored {
    Ignored::standard().with(&["status"])
}

fn req<'a>(manager: &'a str, time: &'a str, ignored: &'a Ignored) -> Request<'a> {
    Request { manager, api_version: "apps/v1", time, subresource: "", force: false, ignored }
}

fn forced<'a>(manager: &'a str, time: &'a str, ignored: &'a Ignored) -> Request<'a> {
    Request { force: true, ..req(manager, time, ignored) }
}

fn deployment(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": image}]}
            }
        }
    })
}

fn entry<'a>(entries: &'a [ManagedFieldsEntry], manager: &str, op: Operation) -> &'a ManagedFieldsEntry {
    entries
        .iter()
        .find(|e| e.manager == manager && e.operation == op)
        .unwrap_or_else(|| panic!("no {op:?} entry for {manager} in {entries:#?}"))
}

fn owns(entries: &[ManagedFieldsEntry], manager: &str, op: Operation, path: &str) -> bool {
    entries
        .iter()
        .filter(|e| e.manager == manager && e.operation == op)
        .any(|e| e.fields.to_strings().iter().any(|p| p == path))
}

fn set(v: Value) -> FieldSet {
    FieldSet::from_fields_v1(&v).unwrap()
}

// ---------------------------------------------------------------- FieldsV1

/// managedFields as `kubectl apply --server-side` leaves them on a
/// Deployment once the controller has written its status.
const KUBECTL_SAMPLE: &str = r#"[{"manager":"kubectl","operation":"Apply","apiVersion":"apps/v1","time":"2024-05-01T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}},{"manager":"kube-controller-manager","operation":"Update","apiVersion":"apps/v1","time":"2024-05-01T10:00:05Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:deployment.kubernetes.io/revision":{}}},"f:status":{"f:availableReplicas":{},"f:conditions":{".":{},"k:{\"type\":\"Available\"}":{".":{},"f:lastTransitionTime":{},"f:lastUpdateTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}},"f:observedGeneration":{},"f:readyReplicas":{},"f:replicas":{},"f:updatedReplicas":{}}},"subresource":"status"}]"#;

#[test]
fn kubectl_managed_fields_round_trip_byte_for_byte() {
    let wire: Value = serde_json::from_str(KUBECTL_SAMPLE).unwrap();
    let entries = decode_managed_fields(&wire).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].manager, "kubectl");
    assert_eq!(entries[0].operation, Operation::Apply);
    assert_eq!(entries[1].subresource, "status");
    assert_eq!(entries[1].time, "2024-05-01T10:00:05Z");
    let back = encode_managed_fields(&entries);
    assert_eq!(serde_json::to_string(&back).unwrap(), KUBECTL_SAMPLE);
    for (e, w) in entries.iter().zip(wire.as_array().unwrap()) {
        assert_eq!(&ManagedFieldsEntry::from_json(w).unwrap(), e);
        assert_eq!(&e.to_json(), w);
    }
}

#[test]
fn paths_print_as_kubernetes_prints_them() {
    let wire: Value = serde_json::from_str(KUBECTL_SAMPLE).unwrap();
    let entries = decode_managed_fields(&wire).unwrap();
    assert_eq!(
        entries[0].fields.to_strings(),
        vec![
            ".metadata.labels.app",
            ".spec.replicas",
            ".spec.selector",
            ".spec.template.metadata.labels.app",
            ".spec.template.spec.containers[name=\"nginx\"]",
            ".spec.template.spec.containers[name=\"nginx\"].image",
            ".spec.template.spec.containers[name=\"nginx\"].name",
            ".spec.template.spec.containers[name=\"nginx\"].ports[containerPort=80,protocol=\"TCP\"]",
            ".spec.template.spec.containers[name=\"nginx\"].ports[containerPort=80,protocol=\"TCP\"].containerPort",
        ]
    );
    let finalizers = set(json!({"f:metadata": {"f:finalizers": {"v:\"a/b\"": {}}}, "i:2": {}}));
    assert_eq!(finalizers.to_strings(), vec!["[2]", ".metadata.finalizers[=\"a/b\"]"]);
}

#[test]
fn fields_v1_membership_and_unknown_element_types() {
    // `.` makes a node with children a member; a node without children is
    // one; unknown element types are dropped like Kubernetes does.
    let s = set(json!({"f:a": {".": {}, "f:b": {}}, "f:c": {}, "x:future": {}, "f:d": {"z:y": {}}}));
    assert_eq!(s.to_strings(), vec![".a", ".c", ".d", ".a.b"]);
    assert!(s.contains(&[PathElement::Field("a".into())]));
    assert!(s.has_descendants(&[PathElement::Field("a".into())]));
    assert_eq!(s.to_fields_v1(), json!({"f:a": {".": {}, "f:b": {}}, "f:c": {}, "f:d": {}}));
    // Keys are sorted by name whatever order they were written in.
    let k = set(json!({"k:{\"protocol\":\"TCP\",\"containerPort\":80}": {}}));
    assert_eq!(k.to_fields_v1(), json!({"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {}}));
}

#[test]
fn fields_v1_errors() {
    for bad in [
        json!([]),
        json!({"f:a": 1}),
        json!({"f:a": {"f:b": "x"}}),
        json!({"k:[1]": {}}),
        json!({"k:{bad": {}}),
        json!({"v:\"unterminated": {}}),
        json!({"v:1 2": {}}),
        json!({"i:x": {}}),
        json!({"f": {}}),
        json!({"fx": {}}),
    ] {
        assert!(FieldSet::from_fields_v1(&bad).is_err(), "{bad}");
    }
}

#[test]
fn set_algebra() {
    let a = set(json!({"f:spec": {"f:replicas": {}, "f:paused": {}}, "f:metadata": {"f:labels": {"f:x": {}}}}));
    let b = set(json!({"f:spec": {"f:replicas": {}, "f:minReadySeconds": {}}}));
    assert_eq!(
        a.union(&b).to_strings(),
        vec![".metadata.labels.x", ".spec.minReadySeconds", ".spec.paused", ".spec.replicas"]
    );
    assert_eq!(a.intersection(&b).to_strings(), vec![".spec.replicas"]);
    assert_eq!(a.difference(&b).to_strings(), vec![".metadata.labels.x", ".spec.paused"]);
    assert!(b.difference(&b).is_empty());
    assert_eq!(
        a.difference(&b).to_fields_v1(),
        json!({"f:metadata": {"f:labels": {"f:x": {}}}, "f:spec": {"f:paused": {}}})
    );
    assert_eq!(a.len(), 3);
}

#[test]
fn field_set_of_an_object() {
    let obj = json!({
        "metadata": {"labels": {"app": "web"}, "annotations": {}, "finalizers": ["a", "b"]},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [{"name": "c", "args": ["x", "y"], "ports": [{"containerPort": 80}]}], "volumes": []}},
            "paused": null
        }
    });
    let s = FieldSet::from_object(&obj, &K8s);
    assert_eq!(
        s.to_strings(),
        vec![
            ".metadata.annotations",
            ".metadata.finalizers[=\"a\"]",
            ".metadata.finalizers[=\"b\"]",
            ".metadata.labels.app",
            ".spec.paused",
            ".spec.selector",
            ".spec.template.spec.volumes",
            ".spec.template.spec.containers[name=\"c\"]",
            ".spec.template.spec.containers[name=\"c\"].args",
            ".spec.template.spec.containers[name=\"c\"].name",
            ".spec.template.spec.containers[name=\"c\"].ports[containerPort=80,protocol=\"TCP\"]",
            ".spec.template.spec.containers[name=\"c\"].ports[containerPort=80,protocol=\"TCP\"].containerPort",
        ]
    );
}

// ------------------------------------------------------------------- apply

#[test]
fn first_apply_creates_and_records_ownership() {
    let ig = ignored();
    let config = deployment(2, "nginx:1.25");
    let (obj, managed) = apply(None, &config, &[], &req("kubectl", T0, &ig), &K8s).unwrap();
    assert_eq!(obj, config);
    assert_eq!(managed.len(), 1);
    let e = &managed[0];
    assert_eq!(
        (e.manager.as_str(), e.operation, e.api_version.as_str(), e.time.as_str()),
        ("kubectl", Operation::Apply, "apps/v1", T0)
    );
    assert_eq!(e.subresource, "");
    // Exactly what Kubernetes records: no apiVersion/kind/name/namespace.
    assert_eq!(
        e.fields.to_fields_v1(),
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}}}
                }
            }
        })
    );
}

#[test]
fn reapplying_the_same_config_changes_nothing() {
    let ig = ignored();
    let config = deployment(2, "nginx:1.25");
    let (obj, managed) = apply(None, &config, &[], &req("kubectl", T0, &ig), &K8s).unwrap();
    let (again, managed2) = apply(Some(&obj), &config, &managed, &req("kubectl", T1, &ig), &K8s).unwrap();
    assert_eq!(again, obj);
    // Nothing changed, so the entry keeps its time.
    assert_eq!(managed2, managed);
}

#[test]
fn second_manager_with_a_different_value_conflicts() {
    let ig = ignored();
    let (obj, managed) = apply(None, &deployment(2, "nginx:1.25"), &[], &req("kubectl", T0, &ig), &K8s).unwrap();
    let other =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 3}});
    let err = apply(Some(&obj), &other, &managed, &req("helm", T1, &ig), &K8s).unwrap_err();
    assert_eq!(err.to_string(), "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas");
    assert_eq!(err.conflicts(), vec![("\"kubectl\"".to_string(), ".spec.replicas".to_string())]);
    let ApplyError::Conflicts(cs) = &err else { panic!("{err:?}") };
    assert_eq!(cs[0].cause_message(), "conflict with \"kubectl\"");
    assert_eq!(cs[0].operation, Operation::Apply);
}

#[test]
fn conflict_with_a_client_side_apply_manager_names_its_version() {
    let ig = ignored();
    let live = deployment(2, "nginx:1.25");
    let managed = update(None, &live, &[], &req("kubectl-client-side-apply", T0, &ig), &K8s).unwrap();
    let config =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 4}});
    let err = apply(Some(&live), &config, &managed, &req("kubectl", T1, &ig), &K8s).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
    );
}

#[test]
fn conflicts_with_several_managers_use_the_multi_line_form() {
    let ig = ignored();
    let (obj, m) = apply(None, &deployment(2, "nginx:1.25"), &[], &req("kubectl", T0, &ig), &K8s).unwrap();
    let mut edited = obj.clone();
    edited["metadata"]["labels"]["tier"] = json!("fe");
    let m = update(Some(&obj), &edited, &m, &req("editor", T1, &ig), &K8s).unwrap();
    let config = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"tier": "be"}},
        "spec": {"replicas": 9, "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:2"}]}}}
    });
    let err = apply(Some(&edited), &config, &m, &req("ci", T2, &ig), &K8s).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 3 conflicts: conflicts with \"editor\" using apps/v1:\n\
         - .metadata.labels.tier\n\
         conflicts with \"kubectl\":\n\
         - .spec.replicas\n\
         - .spec.template.spec.containers[name=\"nginx\"].image"
    );
    assert_eq!(err.conflicts().len(), 3);
}

#[test]
fn equal_values_are_shared_not_conflicting() {
    let ig = ignored();
    let (obj, managed) = apply(None, &deployment(2, "nginx:1.25"), &[], &req("kubectl", T0, &ig), &K8s).unwrap();
    let same =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}});
    let (obj2, managed) = apply(Some(&obj), &same, &managed, &req("helm", T1, &ig), &K8s).unwrap();
    assert_eq!(obj2, obj);
    assert!(owns(&managed, "kubectl", Operation::Apply, ".spec.replicas"));
    assert!(owns(&managed, "helm", Operation::Apply, ".spec.replicas"));
    // With two owners, one dropping the field leaves it in place.
    let without = deployment(2, "nginx:1.25");
    let mut without = without;
    without["spec"].as_object_mut().unwrap().remove("replicas");
    let (obj3, managed) = apply(Some(&obj2), &without, &managed, &req("kubectl", T2, &ig), &K8s).unwrap();
    assert_eq!(obj3["spec"]["replicas"], 2);
    assert!(!owns(&managed, "kubectl", Operation::Apply, ".spec.replicas"));
    assert!(owns(&managed, "helm", Operation::Apply, ".spec.replicas"));
}

#[test]
fn force_moves_ownership() {
    let ig = ignored();
    let (obj, managed) = apply(None, &deployment(2, "nginx:1.25"), &[], &req("kubectl", T0, &ig), &K8s).unwrap();
    let other =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 3}});
    let (obj, managed) = apply(Some(&obj), &other, &managed, &forced("helm", T1, &ig), &K8s).unwrap();
    assert_eq!(obj["spec"]["replicas"], 3);
    assert!(owns(&managed, "helm", Operation::Apply, ".spec.replicas"));
    assert!(!owns(&managed, "kubectl", Operation::Apply, ".spec.replicas"));
    assert!(owns(&managed, "kubectl", Operation::Apply, ".spec.template.spec.containers[name=\"nginx\"].image"));
    // The loser's re-apply now conflicts the other way round.
    let err = apply(Some(&obj), &deployment(2, "nginx:1.25"), &managed, &req("kubectl", T2, &ig), &K8s).unwrap_err();
    assert_eq!(err.to_string(), "Apply failed with 1 conflict: conflict with \"helm\": .spec.replicas");
}

#[test]
fn forcing_away_every_field_drops_the_entry() {
    let ig = ignored();
    let small = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "1"}});
    let (obj, managed) = apply(None, &small, &[], &req("a", T0, &ig), &K8s).unwrap();
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "2"}});
    let (_, managed) = apply(Some(&obj), &other, &managed, &forced("b", T1, &ig), &K8s).unwrap();
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].manager, "b");
}

#[test]
fn a_field_dropped_from_the_next_apply_is_removed() {
    let ig = ignored();
    let mut config = deployment(2, "nginx:1.25");
    config["spec"]["minReadySeconds"] = json!(5);
    config["metadata"]["labels"]["tier"] = json!("fe");
    let (obj, managed) = apply(None, &config, &[], &req("kubectl", T0, &ig), &K8s).unwrap();
    let (obj, managed) =
        apply(Some(&obj), &deployment(2, "nginx:1.25"), &managed, &req("kubectl", T1, &ig), &K8s).unwrap();
    assert_eq!(obj, deployment(2, "nginx:1.25"));
    assert!(!owns(&managed, "kubectl", Operation::Apply, ".spec.minReadySeconds"));
    assert_eq!(entry(&managed, "kubectl", Operation::Apply).time, T1);
}

#[test]
fn removing_the_last_label_removes_labels_but_keeps_metadata() {
    let ig = ignored();
    let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v"}});
    let (obj, managed) = apply(None, &config, &[], &req("m", T0, &ig), &K8s).unwrap();
    let next = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
    let (obj, _) = apply(Some(&obj), &next, &managed, &req("m", T1, &ig), &K8s).unwrap();
    assert_eq!(obj, next);
    // Dropping everything under a map removes the emptied map, not its parent.
    let bare = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let (obj2, m2) = apply(Some(&obj), &bare, &managed, &req("m", T2, &ig), &K8s).unwrap();
    assert_eq!(obj2, bare);
    assert!(m2.is_empty(), "{m2:#?}");
}

#[test]
fn fields_nobody_applied_survive_an_apply() {
    let ig = ignored();
    // A defaulted field the server added, and a field an updater wrote.
    let (obj, managed) = apply(None, &deployment(2, "nginx:1.25"), &[], &req("kubectl", T0, &ig), &K8s).unwrap();
    let mut live = obj.clone();
    live["spec"]["revisionHistoryLimit"] = json!(10);
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("IfNotPresent");
    let config = deployment(3, "nginx:1.25");
    let (obj, _) = apply(Some(&live), &config, &managed, &req("kubectl", T1, &ig), &K8s).unwrap();
    assert_eq!(obj["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(obj["spec"]["replicas"], 3);
    assert_eq!(obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
}

#[test]
fn kubectl_scale_then_reapply_conflicts_on_replicas() {
    let ig = ignored();
    let config = deployment(2, "nginx:1.25");
    let (obj, managed) = apply(None, &config, &[], &req("kubectl", T0, &ig), &K8s).unwrap();
    let mut scaled = obj.clone();
    scaled["spec"]["replicas"] = json!(5);
    let managed = update(Some(&obj), &scaled, &managed, &req("kubectl", T1, &ig), &K8s).unwrap();
    assert!(owns(&managed, "kubectl", Operation::Update, ".spec.replicas"));
    assert!(!owns(&managed, "kubectl", Operation::Apply, ".spec.replicas"));
    assert_eq!(entry(&managed, "kubectl", Operation::Update).fields.to_strings(), vec![".spec.replicas"]);

    let err = apply(Some(&scaled), &config, &managed, &req("kubectl", T2, &ig), &K8s).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: .spec.replicas"
    );

    // Dropping replicas from the config instead leaves the scaled value.
    let mut no_replicas = config.clone();
    no_replicas["spec"].as_object_mut().unwrap().remove("replicas");
    let (obj2, m2) = apply(Some(&scaled), &no_replicas, &managed, &req("kubectl", T2, &ig), &K8s).unwrap();
    assert_eq!(obj2["spec"]["replicas"], 5);
    assert!(owns(&m2, "kubectl", Operation::Update, ".spec.replicas"));

    // --force-conflicts takes it back and the Update entry, now empty, goes.
    let (obj3, m3) = apply(Some(&scaled), &config, &managed, &forced("kubectl", T3, &ig), &K8s).unwrap();
    assert_eq!(obj3["spec"]["replicas"], 2);
    assert_eq!(m3.len(), 1);
    assert!(owns(&m3, "kubectl", Operation::Apply, ".spec.replicas"));
}

#[test]
fn containers_merge_by_name_and_keep_other_managers_items() {
    let ig = ignored();
    let (obj, managed) = apply(None, &deployment(2, "nginx:1.25"), &[], &req("kubectl", T0, &ig), &K8s).unwrap();
    let sidecar = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy:1"}]}}}
    });
    let (obj, managed) = apply(Some(&obj), &sidecar, &managed, &req("mesh", T1, &ig), &K8s).unwrap();
    let containers = &obj["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers, &json!([{"name": "nginx", "image": "nginx:1.25"}, {"name": "proxy", "image": "envoy:1"}]));
    assert!(owns(&managed, "mesh", Operation::Apply, ".spec.template.spec.containers[name=\"proxy\"]"));

    // kubectl re-applies with a new image: its own item changes, the
    // sidecar stays because kubectl never owned it.
    let (obj, managed) =
        apply(Some(&obj), &deployment(2, "nginx:1.26"), &managed, &req("kubectl", T2, &ig), &K8s).unwrap();
    assert_eq!(
        obj["spec"]["template"]["spec"]["containers"],
        json!([{"name": "nginx", "image": "nginx:1.26"}, {"name": "proxy", "image": "envoy:1"}])
    );

    // The mesh drops its sidecar: the whole item goes.
    let empty_mesh = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
    let (obj, managed) = apply(Some(&obj), &empty_mesh, &managed, &req("mesh", T3, &ig), &K8s).unwrap();
    assert_eq!(obj["spec"]["template"]["spec"]["containers"], json!([{"name": "nginx", "image": "nginx:1.26"}]));
    assert!(managed.iter().all(|e| e.manager != "mesh"));
}

#[test]
fn a_dropped_item_stays_while_someone_else_owns_part_of_it() {
    let ig = ignored();
    let two = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [
            {"name": "app", "image": "app:1"},
            {"name": "log", "image": "log:1", "args": ["-v"]}
        ]}
    });
    let (obj, managed) = apply(None, &two, &[], &req("kubectl", T0, &ig), &K8s).unwrap();
    let mut edited = obj.clone();
    edited["spec"]["containers"][1]["resources"] = json!({"limits": {"cpu": "1"}});
    let managed = update(Some(&obj), &edited, &managed, &req("vpa", T1, &ig), &K8s).unwrap();
    let one = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]}
    });
    let (obj, managed) = apply(Some(&edited), &one, &managed, &req("kubectl", T2, &ig), &K8s).unwrap();
    // The key stays with vpa's field; kubectl's own fields in it go.
    assert_eq!(
        obj["spec"]["containers"],
        json!([{"name": "app", "image": "app:1"}, {"name": "log", "resources": {"limits": {"cpu": "1"}}}])
    );
    assert!(!owns(&managed, "kubectl", Operation::Apply, ".spec.containers[name=\"log\"]"));
}

#[test]
fn applied_order_wins_and_live_only_items_keep_their_place() {
    let ig = ignored();
    let pod = |names: &[&str]| {
        let cs: Vec<Value> = names.iter().map(|n| json!({"name": n, "image": n})).collect();
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": cs}})
    };
    let live = pod(&["a", "b", "c"]);
    let managed = update(None, &live, &[], &req("creator", T0, &ig), &K8s).unwrap();
    let (obj, _) = apply(Some(&live), &pod(&["c", "x", "a"]), &managed, &req("k", T1, &ig), &K8s).unwrap();
    let names: Vec<&str> =
        obj["spec"]["containers"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["b", "c", "x", "a"]);
}

#[test]
fn ports_merge_by_port_and_defaulted_protocol() {
    let ig = ignored();
    let pod = |ports: Value| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"containers": [{"name": "web", "image": "nginx", "ports": ports}]}})
    };
    let (obj, managed) = apply(
        None,
        &pod(json!([{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}])),
        &[],
        &req("k", T0, &ig),
        &K8s,
    )
    .unwrap();
    assert_eq!(
        managed[0].fields.to_fields_v1()["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]["f:ports"],
        json!({
            "k:{\"containerPort\":53,\"protocol\":\"UDP\"}": {".": {}, "f:containerPort": {}, "f:protocol": {}},
            "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}
        })
    );
    // The server defaults the protocol; the same apply still matches it.
    let mut live = obj.clone();
    live["spec"]["containers"][0]["ports"][0]["protocol"] = json!("TCP");
    let (obj, managed) =
        apply(Some(&live), &pod(json!([{"containerPort": 80, "name": "http"}])), &managed, &req("k", T1, &ig), &K8s)
            .unwrap();
    assert_eq!(
        obj["spec"]["containers"][0]["ports"],
        json!([{"containerPort": 80, "protocol": "TCP", "name": "http"}])
    );
    assert!(owns(
        &managed,
        "k",
        Operation::Apply,
        ".spec.containers[name=\"web\"].ports[containerPort=80,protocol=\"TCP\"].name"
    ));
}

#[test]
fn set_lists_merge_by_value() {
    let ig = ignored();
    let cm =
        |fins: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": fins}});
    let (obj, managed) = apply(None, &cm(json!(["a/x", "a/y"])), &[], &req("a", T0, &ig), &K8s).unwrap();
    assert_eq!(
        managed[0].fields.to_fields_v1(),
        json!({"f:metadata": {"f:finalizers": {"v:\"a/x\"": {}, "v:\"a/y\"": {}}}})
    );
    let (obj, managed) = apply(Some(&obj), &cm(json!(["b/z", "a/x"])), &managed, &req("b", T1, &ig), &K8s).unwrap();
    assert_eq!(obj["metadata"]["finalizers"], json!(["b/z", "a/x", "a/y"]));
    // Shared "a/x" survives a's removal of it; "a/y" does not.
    let (obj, managed) = apply(Some(&obj), &cm(json!([])), &managed, &req("a", T2, &ig), &K8s).unwrap();
    assert_eq!(obj["metadata"]["finalizers"], json!(["b/z", "a/x"]));
    assert!(managed.iter().all(|e| e.manager == "b"));
}

#[test]
fn atomic_lists_are_replaced_whole_and_conflict_as_one_field() {
    let ig = ignored();
    let pod = |args: Value| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i", "args": args}]}})
    };
    let (obj, managed) = apply(None, &pod(json!(["a", "b", "c"])), &[], &req("one", T0, &ig), &K8s).unwrap();
    assert!(owns(&managed, "one", Operation::Apply, ".spec.containers[name=\"c\"].args"));
    let (obj, managed) = apply(Some(&obj), &pod(json!(["z"])), &managed, &req("one", T1, &ig), &K8s).unwrap();
    assert_eq!(obj["spec"]["containers"][0]["args"], json!(["z"]));
    let err = apply(Some(&obj), &pod(json!(["q"])), &managed, &req("two", T2, &ig), &K8s).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"one\": .spec.containers[name=\"c\"].args"
    );
    // The same items are shared, not a conflict.
    assert!(apply(Some(&obj), &pod(json!(["z"])), &managed, &req("two", T2, &ig), &K8s).is_ok());
}

#[test]
fn atomic_maps_are_replaced_whole() {
    let ig = ignored();
    let (obj, managed) = apply(None, &deployment(1, "i"), &[], &req("k", T0, &ig), &K8s).unwrap();
    let mut config = deployment(1, "i");
    config["spec"]["selector"] = json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]});
    let (obj, _) = apply(Some(&obj), &config, &managed, &req("k", T1, &ig), &K8s).unwrap();
    assert_eq!(obj["spec"]["selector"], json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}));
}

#[test]
fn maps_merge_across_managers() {
    let ig = ignored();
    let cm = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data});
    let (obj, m) = apply(None, &cm(json!({"a": "1"})), &[], &req("x", T0, &ig), &K8s).unwrap();
    let (obj, m) = apply(Some(&obj), &cm(json!({"b": "2"})), &m, &req("y", T1, &ig), &K8s).unwrap();
    assert_eq!(obj["data"], json!({"a": "1", "b": "2"}));
    let (obj, _) = apply(Some(&obj), &cm(json!({"c": "3"})), &m, &req("x", T2, &ig), &K8s).unwrap();
    assert_eq!(obj["data"], json!({"b": "2", "c": "3"}));
}

#[test]
fn an_applied_null_unsets_and_is_owned() {
    let ig = ignored();
    let (obj, managed) = apply(None, &deployment(2, "i"), &[], &req("kubectl", T0, &ig), &K8s).unwrap();
    let null_replicas =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": null}});
    // Somebody else's field: a null is a change like any other.
    let err = apply(Some(&obj), &null_replicas, &managed, &req("other", T1, &ig), &K8s).unwrap_err();
    assert_eq!(err.to_string(), "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas");
    let (obj2, managed2) = apply(Some(&obj), &null_replicas, &managed, &forced("other", T1, &ig), &K8s).unwrap();
    assert!(obj2["spec"].get("replicas").is_none());
    assert!(owns(&managed2, "other", Operation::Apply, ".spec.replicas"));
}

#[test]
fn ignored_fields_are_kept_but_never_owned() {
    let ig = ignored();
    let mut config = deployment(1, "i");
    config["status"] = json!({"replicas": 7});
    config["metadata"]["uid"] = json!("u-1");
    let (obj, managed) = apply(None, &config, &[], &req("k", T0, &ig), &K8s).unwrap();
    assert_eq!(obj["metadata"]["name"], "web");
    assert_eq!(obj["kind"], "Deployment");
    assert_eq!(obj["status"]["replicas"], 7);
    let fields = managed[0].fields.to_fields_v1();
    assert!(fields.get("f:status").is_none());
    assert!(fields.get("f:apiVersion").is_none() && fields.get("f:kind").is_none());
    assert_eq!(fields["f:metadata"], json!({"f:labels": {"f:app": {}}}));
    // A status writer never conflicts with the main-resource applier.
    let status_ig = Ignored::standard().with(&["spec"]).with(&["metadata", "labels"]);
    let mut status_req = req("kube-controller-manager", T1, &status_ig);
    status_req.subresource = "status";
    let mut new = obj.clone();
    new["status"]["replicas"] = json!(1);
    let managed = update(Some(&obj), &new, &managed, &status_req, &K8s).unwrap();
    let e = entry(&managed, "kube-controller-manager", Operation::Update);
    assert_eq!(e.subresource, "status");
    assert_eq!(e.fields.to_strings(), vec![".status.replicas"]);
}

#[test]
fn subresource_owners_are_printed_with_their_subresource() {
    let ig = Ignored::standard();
    let obj =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 1}});
    let mut scale_req = req("kubectl", T0, &ig);
    scale_req.subresource = "scale";
    scale_req.api_version = "autoscaling/v1";
    let managed = update(None, &obj, &[], &scale_req, &K8s).unwrap();
    let config =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 3}});
    let err = apply(Some(&obj), &config, &managed, &req("ci", T1, &ig), &K8s).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using autoscaling/v1: .spec.replicas"
    );
}

#[test]
fn before_first_apply_owns_what_was_there() {
    let ig = ignored();
    let live = deployment(2, "nginx:1.25");
    let err = apply(Some(&live), &deployment(3, "nginx:1.25"), &[], &req("kubectl", T0, &ig), &K8s).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: .spec.replicas"
    );
    let (_, managed) = apply(Some(&live), &deployment(2, "nginx:1.25"), &[], &req("kubectl", T0, &ig), &K8s).unwrap();
    assert!(owns(&managed, "before-first-apply", Operation::Update, ".spec.replicas"));
    assert!(owns(&managed, "kubectl", Operation::Apply, ".spec.replicas"));
}

#[test]
fn bad_applied_configurations_are_invalid() {
    let ig = ignored();
    let r = req("k", T0, &ig);
    let cases = [
        (
            json!({"spec": {"containers": [{"image": "x"}]}}),
            ".spec.containers: element 0: associative list with keys has an element that omits key field \"name\" (and doesn't have default value)",
        ),
        (
            json!({"spec": {"containers": [{"name": "a"}, {"name": "a", "image": "b"}]}}),
            ".spec.containers: duplicate entries for key [name=\"a\"]",
        ),
        (
            json!({"spec": {"containers": ["a"]}}),
            ".spec.containers: element 0: associative list with keys has an element that is not a map",
        ),
        (
            json!({"metadata": {"finalizers": [{"a": 1}]}}),
            ".metadata.finalizers: element 0: associative list without keys has an element that's a map type",
        ),
        (
            json!({"metadata": {"finalizers": ["a", "a"]}}),
            ".metadata.finalizers: duplicate entries for key [=\"a\"]",
        ),
        (json!({"metadata": {"managedFields": []}}), "metadata.managedFields must be nil"),
        (json!([1]), "the applied configuration must be a JSON object, got a list"),
    ];
    for (config, message) in cases {
        let err = apply(None, &config, &[], &r, &K8s).unwrap_err();
        assert_eq!(err, ApplyError::Invalid(message.to_string()), "{config}");
        assert!(err.conflicts().is_empty());
    }
    assert!(apply(Some(&json!("x")), &json!({}), &[], &r, &K8s).is_err());
    assert!(update(None, &json!(null), &[], &r, &K8s).is_err());
}

// ------------------------------------------------------------------ update

#[test]
fn create_records_every_field_for_the_creator() {
    let ig = ignored();
    let obj = deployment(1, "nginx");
    let managed = update(None, &obj, &[], &req("kubectl-create", T0, &ig), &K8s).unwrap();
    assert_eq!(managed.len(), 1);
    let e = &managed[0];
    assert_eq!((e.operation, e.time.as_str(), e.api_version.as_str()), (Operation::Update, T0, "apps/v1"));
    // Updaters own the maps they added too (the `.` Kubernetes writes).
    assert_eq!(e.fields.to_fields_v1()["f:metadata"], json!({"f:labels": {".": {}, "f:app": {}}}));
    assert!(owns(
        &managed,
        "kubectl-create",
        Operation::Update,
        ".spec.template.spec.containers[name=\"nginx\"].image"
    ));
    assert!(!owns(&managed, "kubectl-create", Operation::Update, ".metadata.name"));
}

#[test]
fn updates_take_changed_fields_and_drop_removed_ones() {
    let ig = ignored();
    let v1 = deployment(1, "nginx");
    let m = update(None, &v1, &[], &req("creator", T0, &ig), &K8s).unwrap();
    let mut v2 = v1.clone();
    v2["spec"]["replicas"] = json!(4);
    v2["metadata"]["labels"].as_object_mut().unwrap().remove("app");
    let m = update(Some(&v1), &v2, &m, &req("editor", T1, &ig), &K8s).unwrap();
    assert!(owns(&m, "editor", Operation::Update, ".spec.replicas"));
    assert!(!owns(&m, "creator", Operation::Update, ".spec.replicas"));
    assert!(!owns(&m, "creator", Operation::Update, ".metadata.labels.app"));
    assert!(!owns(&m, "editor", Operation::Update, ".metadata.labels.app"));
    assert_eq!(entry(&m, "creator", Operation::Update).time, T0);

    // A write that changes nothing leaves ownership and times alone.
    let m2 = update(Some(&v2), &v2, &m, &req("editor", T2, &ig), &K8s).unwrap();
    assert_eq!(m2, m);

    // The same manager under another apiVersion gets its own entry.
    let mut v3 = v2.clone();
    v3["spec"]["paused"] = json!(true);
    let mut r = req("editor", T3, &ig);
    r.api_version = "apps/v1beta2";
    let m3 = update(Some(&v2), &v3, &m, &r, &K8s).unwrap();
    assert_eq!(m3.iter().filter(|e| e.manager == "editor").count(), 2);
    // Entries come out in Kubernetes' order (Update entries by time).
    let times: Vec<&str> = m3.iter().map(|e| e.time.as_str()).collect();
    assert_eq!(times, vec![T0, T1, T3]);
}

#[test]
fn updates_emptying_an_entry_drop_it() {
    let ig = ignored();
    let cm = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": v}});
    let m = update(None, &cm("1"), &[], &req("a", T0, &ig), &K8s).unwrap();
    let m = update(Some(&cm("1")), &cm("2"), &m, &req("b", T1, &ig), &K8s).unwrap();
    // "a" still owns `.data` (the map it created) but not `.data.k`.
    assert!(owns(&m, "a", Operation::Update, ".data"));
    assert!(owns(&m, "b", Operation::Update, ".data.k"));
    let bare = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let m = update(Some(&cm("2")), &bare, &m, &req("c", T2, &ig), &K8s).unwrap();
    assert!(m.is_empty(), "{m:#?}");
}

// ---------------------------------------------------------- managedFields

#[test]
fn bad_managed_fields_are_rejected_with_kubernetes_messages() {
    let good =
        json!({"manager": "m", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {}});
    let with = |k: &str, v: Value| {
        let mut e = good.clone();
        e[k] = v;
        json!([e])
    };
    let without = |k: &str| {
        let mut e = good.clone();
        e.as_object_mut().unwrap().remove(k);
        json!([e])
    };
    let cases = [
        (with("operation", json!("Patch")), "operation must be `Apply` or `Update`"),
        (without("operation"), "operation must be `Apply` or `Update`"),
        (without("apiVersion"), "apiVersion must not be empty"),
        (without("fieldsType"), "missing fieldsType in managed fields entry 0"),
        (with("fieldsType", json!("FieldsV2")), "invalid fieldsType \"FieldsV2\" in managed fields entry 0"),
        (
            with("fieldsV1", json!({"f:a": 3})),
            "error decoding set in managed fields entry 0: f:a: expected a JSON object in fieldsV1, got a number",
        ),
        (with("manager", json!(5)), "managed fields entry 0: manager must be a string, got a number"),
        (
            with("manager", json!("x".repeat(129))),
            "metadata.managedFields[0].manager: Too long: may not be more than 128 bytes",
        ),
        (with("time", json!("yesterday")), "managed fields entry 0: time \"yesterday\" is not an RFC 3339 time"),
        (json!(["x"]), "managed fields entry 0 must be an object, got a string"),
        (json!({}), "metadata.managedFields must be a list, got an object"),
    ];
    for (list, message) in cases {
        assert_eq!(decode_managed_fields(&list), Err(ApplyError::Invalid(message.to_string())), "{list}");
    }
    assert_eq!(decode_managed_fields(&json!(null)), Ok(vec![]));
    assert!(decode_managed_fields(&with("time", json!("2024-05-01T10:00:00.123+02:00"))).is_ok());
    assert!(ManagedFieldsEntry::from_json(&json!({"operation": "Update"})).is_err());
}

#[test]
fn a_repeated_manager_keeps_its_last_entry() {
    let e = |t: &str| json!({"manager": "m", "operation": "Update", "apiVersion": "v1", "time": t, "fieldsType": "FieldsV1", "fieldsV1": {"f:a": {}}});
    let entries = decode_managed_fields(&json!([e(T0), e(T1)])).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].time, T1);
}

#[test]
fn encoding_sorts_entries_like_kubernetes() {
    let mk = |m: &str, op, t: &str| ManagedFieldsEntry {
        manager: m.into(),
        operation: op,
        api_version: "v1".into(),
        time: t.into(),
        subresource: String::new(),
        fields: set(json!({"f:a": {}})),
    };
    let list = encode_managed_fields(&[
        mk("z", Operation::Update, T0),
        mk("b", Operation::Apply, T1),
        mk("a", Operation::Apply, T1),
        mk("y", Operation::Update, ""),
    ]);
    let order: Vec<&str> = list.as_array().unwrap().iter().map(|e| e["manager"].as_str().unwrap()).collect();
    assert_eq!(order, vec!["a", "b", "y", "z"]);
    assert!(list[2].get("time").is_none());
}

// ------------------------------------------------------------- robustness

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = usize::try_from(self.next() % items.len() as u64).unwrap_or(0);
        items[i]
    }

    fn value(&mut self, depth: u32) -> Value {
        let keys = [
            "name",
            "spec",
            "containers",
            "ports",
            "finalizers",
            "metadata",
            "image",
            "type",
            "status",
            "selector",
            "containerPort",
            "protocol",
        ];
        match self.next() % if depth == 0 { 4 } else { 7 } {
            0 => Value::Null,
            1 => json!(self.next() % 3),
            2 => json!(self.pick(&["a", "b", "TCP", ""])),
            3 => json!(self.next().is_multiple_of(2)),
            4 | 5 => {
                let mut m = serde_json::Map::new();
                for _ in 0..self.next() % 4 {
                    let k = self.pick(&keys).to_string();
                    m.insert(k, self.value(depth - 1));
                }
                Value::Object(m)
            }
            _ => Value::Array((0..self.next() % 4).map(|_| self.value(depth - 1)).collect()),
        }
    }

    fn fields_v1(&mut self, depth: u32) -> Value {
        let keys = [
            "f:spec",
            "f:containers",
            "k:{\"name\":\"a\"}",
            "v:\"a\"",
            "i:0",
            ".",
            "f:name",
            "k:{\"containerPort\":1,\"protocol\":\"TCP\"}",
            "f:replicas",
            "v:1",
        ];
        let mut m = serde_json::Map::new();
        if depth > 0 {
            for _ in 0..self.next() % 4 {
                let k = self.pick(&keys).to_string();
                m.insert(k, self.fields_v1(depth - 1));
            }
        }
        Value::Object(m)
    }
}

#[test]
fn garbage_never_panics() {
    let ig = ignored();
    let mut rng = Rng(0x5eed_cafe_f00d_1234);
    for round in 0..3000 {
        let wrap = |v: Value| json!({"spec": v, "metadata": {"finalizers": v.clone()}});
        let live = wrap(rng.value(4));
        let applied = wrap(rng.value(4));
        let managed_json = json!([
            {"manager": "a", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": rng.fields_v1(4)},
            {"manager": "b", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": rng.fields_v1(4)},
        ]);
        let managed = decode_managed_fields(&managed_json).unwrap();
        // The encoded form decodes to the same sets.
        assert_eq!(decode_managed_fields(&encode_managed_fields(&managed)).unwrap().len(), managed.len());
        let r = Request { force: round % 2 == 0, ..req("a", T1, &ig) };
        let _ = apply(Some(&live), &applied, &managed, &r, &K8s);
        let _ = apply(None, &applied, &[], &r, &K8s);
        let _ = update(Some(&live), &applied, &managed, &r, &K8s);
        let _ = FieldSet::from_object(&live, &K8s);
        let _ = decode_managed_fields(&rng.value(3));
        let _ = FieldSet::from_fields_v1(&rng.value(3));
    }
}

#[test]
fn apply_then_reapply_is_stable_on_random_objects() {
    // Whatever merges, applying the result's own config again is a no-op.
    let ig = ignored();
    let mut rng = Rng(0xdead_beef_0bad_f00d);
    for _ in 0..1000 {
        let config = json!({"spec": rng.value(4)});
        let Ok((obj, managed)) = apply(None, &config, &[], &req("a", T0, &ig), &K8s) else { continue };
        let (again, managed2) = apply(Some(&obj), &config, &managed, &req("a", T1, &ig), &K8s).unwrap();
        let mut stripped = config.clone();
        walk::strip_nulls(&mut stripped);
        assert_eq!(again, stripped, "{config}");
        assert_eq!(managed2, managed, "{config}");
    }
}
