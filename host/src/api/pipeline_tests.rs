//! The write pipeline on a real (temporary SQLite) store, without HTTP:
//! every verb goes through admission with the user who asks, strategies run
//! per kind, field ownership is recorded, CRDs add kinds while serving.

use std::sync::Arc;

use serde_json::{json, Value};

use super::patch::{Patch, PatchType};
use super::scale::ScaleChange;
use super::{Api, DeleteOptions, Outcome, WriteOptions};
use crate::auth::User;
use crate::metrics::Metrics;
use crate::resources::{FieldValidation, ResourceType};
use crate::store::Store;

struct Fixture {
    api: Arc<Api>,
    _dir: tempfile::TempDir,
    _shutdown: tokio::sync::watch::Sender<bool>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("store.db").display());
    let store = Store::open(&url).await.expect("open sqlite");
    let (tx, rx) = tokio::sync::watch::channel(false);
    let cluster = Arc::new(crate::plugins::StoreCluster::new(store.clone()));
    let api = Api::new(store, rx, Arc::new(Metrics::default()), cluster);
    let ns = rt(&api, "", "v1", "namespaces");
    api.create(&ns, None, json!({"metadata": {"name": "default"}}), opts("setup")).await.expect("namespace");
    Fixture { api, _dir: dir, _shutdown: tx }
}

fn rt(api: &Api, group: &str, version: &str, plural: &str) -> Arc<ResourceType> {
    api.registry().lookup(group, version, plural).cloned().unwrap_or_else(|| panic!("{group}/{plural} served"))
}

fn opts(manager: &str) -> WriteOptions {
    let mut o = WriteOptions::internal(User::admin());
    o.field_manager = manager.into();
    o
}

fn seen(api: &Api) -> Vec<String> {
    std::mem::take(&mut *api.admission.seen.lock().expect("lock"))
}

fn managers(obj: &Value) -> Vec<(String, String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["manager"].as_str().unwrap_or("").into(),
                m["operation"].as_str().unwrap_or("").into(),
                m["subresource"].as_str().unwrap_or("").into(),
            )
        })
        .collect()
}

fn deployment(name: &str, replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}})
}

#[tokio::test]
async fn create_update_and_patch_pass_admission_and_record_owners() {
    let f = fixture().await;
    let cms = rt(&f.api, "", "v1", "configmaps");
    seen(&f.api);
    let (created, _) = f
        .api
        .create(&cms, Some("default"), json!({"metadata": {"name": "a"}, "data": {"k": "1"}}), opts("writer"))
        .await
        .expect("create");
    assert_eq!(managers(&created), [("writer".into(), "Update".into(), "".into())]);

    let mut changed = created.clone();
    changed["data"]["k"] = json!("2");
    let (outcome, _) = f.api.update(&cms, Some("default"), "a", None, changed, opts("editor")).await.expect("update");
    let obj = outcome.into_object();
    let owners = managers(&obj);
    assert!(owners.contains(&("editor".into(), "Update".into(), "".into())), "{owners:?}");
    let fields_of = |manager: &str| {
        obj["metadata"]["managedFields"].as_array().expect("entries").iter().find(|m| m["manager"] == manager).map(
            |m| m["fieldsV1"]["f:data"].as_object().map(|d| d.keys().cloned().collect::<Vec<_>>()).unwrap_or_default(),
        )
    };
    assert_eq!(fields_of("editor"), Some(vec!["f:k".to_string()]), "the changed key moved to the editor");
    // `f:data: {}`: the writer still owns the map itself, not its keys.
    assert_eq!(fields_of("writer"), Some(vec![]), "{}", obj["metadata"]["managedFields"]);

    let patch = Patch { kind: PatchType::Merge, body: json!({"data": {"other": "x"}}) };
    let (outcome, _) = f.api.patch(&cms, Some("default"), "a", None, patch, opts("patcher")).await.expect("patch");
    assert_eq!(outcome.object()["data"], json!({"k": "2", "other": "x"}));

    let ops: Vec<String> = seen(&f.api);
    assert_eq!(
        ops,
        [
            "configmaps Operation::Create system:admin",
            "configmaps Operation::Update system:admin",
            "configmaps Operation::Update system:admin"
        ]
    );
}

#[tokio::test]
async fn scale_binding_and_internal_writes_go_through_admission() {
    let f = fixture().await;
    let deploys = rt(&f.api, "apps", "v1", "deployments");
    f.api.create(&deploys, Some("default"), deployment("web", 1), opts("kubectl")).await.expect("create");
    seen(&f.api);
    let scale = f
        .api
        .update_scale(
            &deploys,
            Some("default"),
            "web",
            ScaleChange::Replace(json!({"spec": {"replicas": 4}})),
            opts("kubectl"),
        )
        .await
        .expect("scale");
    assert_eq!(scale["spec"]["replicas"], 4);
    assert_eq!(seen(&f.api), ["deployments/scale Operation::Update system:admin"]);
    let obj = f.api.get(&deploys, Some("default"), "web").await.expect("get");
    assert_eq!(obj["spec"]["replicas"], 4);
    assert!(managers(&obj).contains(&("kubectl".into(), "Update".into(), "scale".into())));

    let pods = rt(&f.api, "", "v1", "pods");
    let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    f.api.create(&pods, Some("default"), pod, opts("kubectl")).await.expect("pod");
    seen(&f.api);
    let binding = json!({"metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n1"}});
    let scheduler = WriteOptions::internal(User::component("scheduler"));
    let bound = f.api.bind("default", "p", &binding, None, &scheduler).await.expect("bind");
    assert_eq!(bound["spec"]["nodeName"], "n1");
    assert_eq!(seen(&f.api), ["pods/binding Operation::Create system:skiff:scheduler"]);

    let gc = User::component("garbage-collector");
    f.api
        .modify(&gc, &pods, Some("default"), "p", None, |p| {
            p["metadata"]["labels"] = json!({"touched": "yes"});
            Ok(())
        })
        .await
        .expect("modify");
    assert_eq!(seen(&f.api), ["pods Operation::Update system:skiff:garbage-collector"]);
}

#[tokio::test]
async fn server_side_apply_creates_conflicts_and_forces() {
    let f = fixture().await;
    let deploys = rt(&f.api, "apps", "v1", "deployments");
    let apply = |manager: &str, replicas: i64, force: bool| {
        let mut o = opts(manager);
        o.manager_given = true;
        o.force = force;
        (Patch { kind: PatchType::Apply, body: deployment("web", replicas) }, o)
    };
    let (p, o) = apply("alice", 2, false);
    let (outcome, _) = f.api.patch(&deploys, Some("default"), "web", None, p, o).await.expect("apply creates");
    assert!(matches!(outcome, Outcome::Created(_)));
    let rv = outcome.object()["metadata"]["resourceVersion"].clone();

    let (p, o) = apply("alice", 2, false);
    let (again, _) = f.api.patch(&deploys, Some("default"), "web", None, p, o).await.expect("same apply");
    assert!(
        matches!(again, Outcome::Unchanged(_)),
        "a repeated apply changes nothing: {:?} {}",
        again,
        outcome.object()
    );
    assert_eq!(again.object()["metadata"]["resourceVersion"], rv);

    let (p, o) = apply("bob", 3, false);
    let err = f.api.patch(&deploys, Some("default"), "web", None, p, o).await.expect_err("conflict");
    assert_eq!(err.code, 409);
    assert_eq!(err.message, "Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas");
    let causes = &err.details.as_ref().expect("details")["causes"];
    assert_eq!(causes[0]["reason"], "FieldManagerConflict");
    assert_eq!(causes[0]["field"], ".spec.replicas");

    let (p, o) = apply("bob", 3, true);
    let (forced, _) = f.api.patch(&deploys, Some("default"), "web", None, p, o).await.expect("force");
    assert_eq!(forced.object()["spec"]["replicas"], 3);

    let mut no_manager = opts("x");
    no_manager.manager_given = false;
    let p = Patch { kind: PatchType::Apply, body: deployment("web", 1) };
    let err = f.api.patch(&deploys, Some("default"), "web", None, p, no_manager).await.expect_err("manager");
    assert_eq!(err.code, 422);
}

#[tokio::test]
async fn strategies_decide_per_kind() {
    let f = fixture().await;
    let rs = rt(&f.api, "apps", "v1", "replicasets");
    let mut body = deployment("r", 1);
    body["kind"] = json!("ReplicaSet");
    let (created, _) = f.api.create(&rs, Some("default"), body, opts("t")).await.expect("rs");
    assert_eq!(created["status"], json!({"replicas": 0}), "ReplicaSet status carries its zero counters");

    let jobs = rt(&f.api, "batch", "v1", "jobs");
    assert_eq!(jobs.default_propagation(), "Orphan");
    let job = json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {"restartPolicy": "Never",
        "containers": [{"name": "c", "image": "busybox"}]}}}});
    let (job, _) = f.api.create(&jobs, Some("default"), job, opts("t")).await.expect("job");
    let uid = job["metadata"]["uid"].as_str().expect("uid");
    assert_eq!(job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"], uid);

    // A pod bound to a node with an agent is marked, not removed; one bound
    // to a node that is gone, and a ConfigMap, go at once.
    let nodes = rt(&f.api, "", "v1", "nodes");
    f.api.create(&nodes, None, json!({"metadata": {"name": "n1"}}), opts("t")).await.expect("node");
    let pods = rt(&f.api, "", "v1", "pods");
    let orphan = json!({"metadata": {"name": "o"}, "spec": {"nodeName": "gone", "containers": [{"name": "c", "image": "busybox"}]}});
    f.api.create(&pods, Some("default"), orphan, opts("t")).await.expect("pod");
    let outcome = f.api.delete(&pods, Some("default"), "o", &DeleteOptions::default()).await.expect("delete");
    assert!(matches!(outcome, Outcome::Deleted(_)));
    let pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}});
    f.api.create(&pods, Some("default"), pod, opts("t")).await.expect("pod");
    let outcome = f.api.delete(&pods, Some("default"), "p", &DeleteOptions::default()).await.expect("delete");
    assert!(matches!(outcome, Outcome::Written(_)));
    assert_eq!(outcome.object()["metadata"]["deletionGracePeriodSeconds"], 30);
    let cms = rt(&f.api, "", "v1", "configmaps");
    f.api.create(&cms, Some("default"), json!({"metadata": {"name": "c"}}), opts("t")).await.expect("cm");
    let outcome = f.api.delete(&cms, Some("default"), "c", &DeleteOptions::default()).await.expect("delete");
    assert!(matches!(outcome, Outcome::Deleted(_)));
    assert!(!cms.strategy.returns_deleted_object() && pods.strategy.returns_deleted_object());

    // Field labels come from the kind.
    assert!(pods.strategy.field_labels().contains(&"spec.nodeName"));
    assert!(cms.strategy.field_labels().is_empty());
}

#[tokio::test]
async fn a_crd_adds_a_kind_that_validates_prunes_and_defaults() {
    let f = fixture().await;
    let crds = rt(&f.api, "apiextensions.k8s.io", "v1", "customresourcedefinitions");
    let crd = json!({"metadata": {"name": "gadgets.example.com"}, "spec": {
        "group": "example.com", "scope": "Namespaced",
        "names": {"plural": "gadgets", "kind": "Gadget", "shortNames": ["gd"]},
        "versions": [{"name": "v1", "served": true, "storage": true,
            "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {
                "size": {"type": "string", "enum": ["s", "l"]},
                "replicas": {"type": "integer", "maximum": 5, "default": 1}}}}}}}]}});
    let (stored, _) = f.api.create(&crds, None, crd, opts("t")).await.expect("crd");
    assert!(stored["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty()));
    crate::controllers::crd::resync(f.api.clone()).await;
    let gadgets = rt(&f.api, "example.com", "v1", "gadgets");
    let crd = f.api.get(&crds, None, "gadgets.example.com").await.expect("crd");
    let established = crd["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .any(|c| c["type"] == "Established" && c["status"] == "True");
    assert!(established, "{}", crd["status"]);

    let mut warn = opts("t");
    warn.field_validation = FieldValidation::Warn;
    let gadget = json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": {"size": "s", "extra": 1}});
    let (created, warnings) = f.api.create(&gadgets, Some("default"), gadget, warn).await.expect("gadget");
    assert_eq!(warnings, ["unknown field \"spec.extra\""]);
    assert_eq!(created["spec"], json!({"size": "s", "replicas": 1}), "pruned and defaulted");

    let bad = json!({"metadata": {"name": "b"}, "spec": {"size": "xl", "replicas": 9}});
    let err = f.api.create(&gadgets, Some("default"), bad, opts("t")).await.expect_err("invalid");
    assert_eq!(err.code, 422);
    let fields: Vec<&str> = err.details.as_ref().expect("details")["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .filter_map(|c| c["field"].as_str())
        .collect();
    assert_eq!(fields, ["spec.replicas", "spec.size"]);

    let strategic = Patch { kind: PatchType::Strategic, body: json!({"spec": {"size": "l"}}) };
    let err = f.api.patch(&gadgets, Some("default"), "g", None, strategic, opts("t")).await.expect_err("415");
    assert_eq!(err.code, 415);
    let scale = f
        .api
        .update_scale(&gadgets, Some("default"), "g", ScaleChange::Replace(json!({"spec": {"replicas": 3}})), opts("t"))
        .await
        .expect("scale");
    assert_eq!(scale["spec"]["replicas"], 3);

    // Deleting the CRD removes its objects, then the CRD, then the kind.
    f.api.delete(&crds, None, "gadgets.example.com", &DeleteOptions::default()).await.expect("delete crd");
    crate::controllers::crd::resync(f.api.clone()).await;
    assert!(f.api.get(&crds, None, "gadgets.example.com").await.is_err_and(|e| e.code == 404));
    // The CRD's removal is a change the controller follows like any other.
    crate::controllers::crd::resync(f.api.clone()).await;
    assert!(f.api.registry().lookup("example.com", "v1", "gadgets").is_none());
    let left = f.api.list_all(&gadgets, None, &Default::default()).await.expect("list");
    assert!(left.is_empty());
}

#[tokio::test]
async fn a_plain_list_page_is_the_stored_json_spliced_as_list_would_encode_it() {
    let f = fixture().await;
    let cms = rt(&f.api, "", "v1", "configmaps");
    for i in 0..5 {
        let body = json!({"metadata": {"name": format!("c{i}")}, "data": {"k": "\"quoted\" \\ value"}});
        f.api.create(&cms, Some("default"), body, opts("t")).await.expect("create");
    }
    let page = super::ListOptions { limit: Some(3), ..Default::default() };
    let listed = f.api.list(&cms, Some("default"), &page).await.expect("list");
    let (items, revision, token) = f.api.list_stored(&cms, Some("default"), &page).await.expect("stored");
    let spliced: Value = serde_json::from_str(&super::list::stored_list_body(&cms, &items, revision, token.clone()))
        .expect("valid JSON");
    assert_eq!(spliced, super::list::list_object(&cms, listed));
    assert_eq!(spliced["items"].as_array().map(Vec::len), Some(3));
    let rest = super::ListOptions { limit: Some(3), continue_token: token, ..Default::default() };
    let (items, ..) = f.api.list_stored(&cms, Some("default"), &rest).await.expect("next page");
    assert_eq!(items.len(), 2);
}
