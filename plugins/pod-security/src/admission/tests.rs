//! Request-level tests: which requests are checked, in which mode, and the exact answers.

use serde_json::{json, Value};
use skiff_plugin_sdk::admission::UserInfo;
use skiff_plugin_sdk::{ErrorCode, GroupVersionKind, GroupVersionResource};

use super::*;

/// A cluster of fixed namespaces and pods; `pods` fails when `pods_fail` is set.
#[derive(Default)]
struct FakeCluster {
    namespaces: Vec<Namespace>,
    pods: Vec<Pod>,
    pods_fail: bool,
}

impl FakeCluster {
    fn with_ns(name: &str, labels: &[(&str, &str)]) -> Self {
        let labels: serde_json::Map<String, Value> =
            labels.iter().map(|(k, v)| (format!("pod-security.kubernetes.io/{k}"), json!(v))).collect();
        let ns = serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).expect("namespace");
        FakeCluster { namespaces: vec![ns], ..Default::default() }
    }
}

impl Cluster for FakeCluster {
    fn namespace(&self, name: &str) -> Result<Option<Namespace>, Error> {
        Ok(self.namespaces.iter().find(|n| n.metadata.name.as_deref() == Some(name)).cloned())
    }

    fn pods(&self, _namespace: &str) -> Result<Vec<Pod>, Error> {
        if self.pods_fail {
            return Err(Error::unavailable("down"));
        }
        Ok(self.pods.clone())
    }
}

fn request(group: &str, plural: &str, kind: &str, op: Operation, object: Value, old: Option<Value>) -> Request {
    let base = Request::for_test(op, plural, &object);
    Request {
        kind: GroupVersionKind { group: group.into(), version: "v1".into(), kind: kind.into() },
        gvr: GroupVersionResource { group: group.into(), version: "v1".into(), plural: plural.into() },
        name: "obj".into(),
        namespace: Some("team".into()),
        user_info: UserInfo { username: "alice".into(), ..base.user_info.clone() },
        old_object: old.map(|o| o.to_string()),
        ..base
    }
}

fn pod_create(spec: Value) -> Request {
    request("", "pods", "Pod", Operation::Create, json!({"metadata": {"name": "p"}, "spec": spec}), None)
}

fn privileged_spec() -> Value {
    json!({"containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": true}}],
           "volumes": [{"name": "v", "hostPath": {"path": "/"}}]})
}

const PRIVILEGED_DETAIL: &str =
    r#"hostPath volumes (volume "v"), privileged (container "c" must not set securityContext.privileged=true)"#;

fn config(json: &str) -> Config {
    Config::parse(json).expect("config")
}

fn run(config: &Config, cluster: &FakeCluster, req: &Request) -> Outcome {
    review(config, cluster, req).expect("review")
}

#[test]
fn enforce_denies_a_violating_pod_with_kubernetes_message() {
    let cluster = FakeCluster::with_ns("team", &[("enforce", "baseline")]);
    let out = run(&Config::default(), &cluster, &pod_create(privileged_spec()));
    assert!(!out.verdict.allowed);
    assert_eq!(
        out.verdict.message.as_deref(),
        Some(&*format!(r#"violates PodSecurity "baseline:latest": {PRIVILEGED_DETAIL}"#))
    );
    // Denied requests carry the reason, not warnings as well.
    assert!(out.verdict.warnings.is_empty());
}

#[test]
fn the_labelled_version_is_named() {
    let cluster = FakeCluster::with_ns("team", &[("enforce", "baseline"), ("enforce-version", "v1.30")]);
    let out = run(&Config::default(), &cluster, &pod_create(privileged_spec()));
    assert!(out.verdict.message.unwrap_or_default().starts_with(r#"violates PodSecurity "baseline:v1.30": "#));
}

#[test]
fn compliant_pods_are_admitted_silently() {
    let cluster = FakeCluster::with_ns("team", &[("enforce", "baseline"), ("warn", "baseline"), ("audit", "baseline")]);
    let out = run(&Config::default(), &cluster, &pod_create(json!({"containers": [{"name": "c", "image": "nginx"}]})));
    assert!(out.verdict.allowed && out.verdict.warnings.is_empty() && out.audit.is_none() && out.errors.is_empty());
}

#[test]
fn warn_and_audit_allow_with_a_warning_and_a_log_line() {
    let cluster = FakeCluster::with_ns("team", &[("warn", "restricted"), ("audit", "baseline")]);
    let out = run(&Config::default(), &cluster, &pod_create(privileged_spec()));
    assert!(out.verdict.allowed);
    assert_eq!(
        out.verdict.warnings,
        [concat!(
            r#"would violate PodSecurity "restricted:latest": "#,
            r#"privileged (container "c" must not set securityContext.privileged=true), "#,
            r#"allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), "#,
            r#"unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), "#,
            r#"restricted volume types (volume "v" uses restricted volume type "hostPath"), "#,
            r#"runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), "#,
            r#"seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
        )]
    );
    assert_eq!(
        out.audit.as_deref(),
        Some(&*format!(r#"would violate PodSecurity "baseline:latest": {PRIVILEGED_DETAIL}"#))
    );
}

#[test]
fn enforce_only_namespaces_warn_on_workloads_at_the_enforce_level() {
    let cluster = FakeCluster::with_ns("team", &[("enforce", "baseline")]);
    let deploy =
        json!({"metadata": {"name": "web"}, "spec": {"selector": {}, "template": {"spec": privileged_spec()}}});
    let out = run(
        &Config::default(),
        &cluster,
        &request("apps", "deployments", "Deployment", Operation::Create, deploy, None),
    );
    assert!(out.verdict.allowed, "workloads are never denied");
    assert_eq!(out.verdict.warnings, [format!(r#"would violate PodSecurity "baseline:latest": {PRIVILEGED_DETAIL}"#)]);
}

#[test]
fn every_workload_kind_is_checked_through_its_template() {
    let cluster = FakeCluster::with_ns("team", &[("warn", "baseline")]);
    let t = json!({"spec": privileged_spec()});
    let cases = [
        ("", "podtemplates", "PodTemplate", json!({"template": t})),
        ("", "replicationcontrollers", "ReplicationController", json!({"spec": {"template": t}})),
        ("apps", "replicasets", "ReplicaSet", json!({"spec": {"template": t}})),
        ("apps", "statefulsets", "StatefulSet", json!({"spec": {"template": t}})),
        ("apps", "daemonsets", "DaemonSet", json!({"spec": {"template": t}})),
        ("batch", "jobs", "Job", json!({"spec": {"template": t}})),
        ("batch", "cronjobs", "CronJob", json!({"spec": {"jobTemplate": {"spec": {"template": t}}}})),
    ];
    for (group, plural, kind, object) in cases {
        let out = run(
            &Config::default(),
            &cluster,
            &request(group, plural, kind, Operation::Update, object, Some(json!({}))),
        );
        assert!(out.verdict.allowed, "{kind}");
        assert_eq!(out.verdict.warnings.len(), 1, "{kind}");
    }
    // Other resources, and workloads without a template, pass untouched.
    let out =
        run(&Config::default(), &cluster, &request("", "configmaps", "ConfigMap", Operation::Create, json!({}), None));
    assert!(out.verdict.allowed && out.verdict.warnings.is_empty());
    let out = run(
        &Config::default(),
        &cluster,
        &request("", "replicationcontrollers", "ReplicationController", Operation::Create, json!({"spec": {}}), None),
    );
    assert!(out.verdict.allowed && out.verdict.warnings.is_empty());
}

#[test]
fn an_explicit_weaker_warn_level_wins_on_workloads() {
    let cluster = FakeCluster::with_ns("team", &[("enforce", "restricted"), ("warn", "privileged")]);
    let deploy = json!({"spec": {"template": {"spec": privileged_spec()}}});
    let out = run(
        &Config::default(),
        &cluster,
        &request("apps", "deployments", "Deployment", Operation::Create, deploy, None),
    );
    assert!(out.verdict.allowed && out.verdict.warnings.is_empty());
}

#[test]
fn unreadable_workloads_are_allowed_and_logged() {
    let cluster = FakeCluster::with_ns("team", &[("warn", "baseline")]);
    let bad = json!({"spec": {"template": {"spec": {"containers": "nope"}}}});
    let out =
        run(&Config::default(), &cluster, &request("apps", "deployments", "Deployment", Operation::Create, bad, None));
    assert!(out.verdict.allowed);
    assert!(out.errors[0].starts_with("failed to read the pod template: "), "{:?}", out.errors);
}

#[test]
fn pod_updates_are_checked_only_when_the_spec_changes() {
    let cluster = FakeCluster::with_ns("team", &[("enforce", "baseline")]);
    let old = json!({"metadata": {"name": "p", "labels": {"a": "1"}}, "spec": privileged_spec()});
    let update = |new: Value| request("", "pods", "Pod", Operation::Update, new, Some(old.clone()));

    // Labels and other metadata: not checked, so an existing violating pod can be relabelled.
    let relabel =
        json!({"metadata": {"name": "p", "labels": {"a": "2"}, "annotations": {"x": "y"}}, "spec": privileged_spec()});
    assert!(run(&Config::default(), &cluster, &update(relabel)).verdict.allowed);

    // Scheduling fields: not checked.
    let mut bound = privileged_spec();
    bound["nodeName"] = json!("node-1");
    bound["tolerations"] = json!([{"operator": "Exists"}]);
    assert!(
        run(&Config::default(), &cluster, &update(json!({"metadata": {"name": "p"}, "spec": bound}))).verdict.allowed
    );

    // An image change: checked, as in Kubernetes.
    let mut image = privileged_spec();
    image["containers"][0]["image"] = json!("nginx:2");
    assert!(
        !run(&Config::default(), &cluster, &update(json!({"metadata": {"name": "p"}, "spec": image}))).verdict.allowed
    );

    // A security annotation: checked.
    let annotated = json!({"metadata": {"name": "p", "annotations": {"container.apparmor.security.beta.kubernetes.io/c": "unconfined"}},
                           "spec": privileged_spec()});
    assert!(!run(&Config::default(), &cluster, &update(annotated)).verdict.allowed);
}

#[test]
fn ignored_subresources_and_other_operations_pass() {
    let cluster = FakeCluster::with_ns("team", &[("enforce", "restricted")]);
    let mut req = pod_create(privileged_spec());
    req.operation = Operation::Update;
    req.old_object = Some(json!({"spec": {"containers": []}}).to_string());
    for sub in ["status", "binding", "exec", "eviction"] {
        req.sub_resource = Some(sub.into());
        assert!(run(&Config::default(), &cluster, &req).verdict.allowed, "{sub}");
    }
    // Adding an ephemeral container goes through a subresource that is checked.
    req.sub_resource = Some("ephemeralcontainers".into());
    assert!(!run(&Config::default(), &cluster, &req).verdict.allowed);

    let mut delete = pod_create(privileged_spec());
    delete.operation = Operation::Delete;
    assert!(run(&Config::default(), &cluster, &delete).verdict.allowed);
}

#[test]
fn exemptions_skip_namespaces_users_and_runtime_classes() {
    let cluster = FakeCluster::with_ns("team", &[("enforce", "restricted")]);
    let cfg = config(r#"{"exemptions": {"usernames": ["alice"]}}"#);
    assert!(run(&cfg, &cluster, &pod_create(privileged_spec())).verdict.allowed);
    let cfg = config(r#"{"exemptions": {"namespaces": ["team"]}}"#);
    assert!(run(&cfg, &cluster, &pod_create(privileged_spec())).verdict.allowed);
    let cfg = config(r#"{"exemptions": {"runtimeClasses": ["kata"]}}"#);
    let mut spec = privileged_spec();
    assert!(!run(&cfg, &cluster, &pod_create(spec.clone())).verdict.allowed);
    spec["runtimeClassName"] = json!("kata");
    assert!(run(&cfg, &cluster, &pod_create(spec)).verdict.allowed);
}

#[test]
fn defaults_apply_to_unlabelled_and_missing_namespaces() {
    let cfg = config(r#"{"defaults": {"enforce": "baseline", "enforce-version": "v1.33"}}"#);
    for cluster in [FakeCluster::with_ns("team", &[]), FakeCluster::default()] {
        let out = run(&cfg, &cluster, &pod_create(privileged_spec()));
        assert!(out.verdict.message.unwrap_or_default().starts_with(r#"violates PodSecurity "baseline:v1.33""#));
    }
    // A label overrides the default.
    let cluster = FakeCluster::with_ns("team", &[("enforce", "privileged")]);
    assert!(run(&cfg, &cluster, &pod_create(privileged_spec())).verdict.allowed);
}

#[test]
fn bad_labels_fail_closed_and_are_logged() {
    let cluster = FakeCluster::with_ns("team", &[("enforce", "strict")]);
    let out = run(&Config::default(), &cluster, &pod_create(privileged_spec()));
    assert!(out.verdict.message.unwrap_or_default().starts_with(r#"violates PodSecurity "restricted:latest""#));
    assert_eq!(
        out.errors,
        [
            r#"failed to parse policy: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted"#
        ]
    );
}

#[test]
fn unreadable_pods_are_invalid_input() {
    let cluster = FakeCluster::with_ns("team", &[("enforce", "baseline")]);
    let err = review(&Config::default(), &cluster, &pod_create(json!({"containers": 1}))).expect_err("bad pod");
    assert_eq!(err.code, ErrorCode::InvalidInput);
    assert!(err.message.starts_with("request.object does not decode: "), "{}", err.message);
}

fn ns_request(op: Operation, labels: Value, old_labels: Option<Value>) -> Request {
    let mut req = request(
        "",
        "namespaces",
        "Namespace",
        op,
        json!({"metadata": {"name": "team", "labels": labels}}),
        old_labels.map(|l| json!({"metadata": {"name": "team", "labels": l}})),
    );
    req.namespace = None;
    req
}

#[test]
fn namespaces_with_bad_labels_are_refused() {
    let out = run(
        &Config::default(),
        &FakeCluster::default(),
        &ns_request(Operation::Create, json!({"pod-security.kubernetes.io/enforce": "strict"}), None),
    );
    assert!(!out.verdict.allowed);
    assert_eq!(out.verdict.code, Some(422));
    assert_eq!(
        out.verdict.message.as_deref(),
        Some(
            r#"Namespace "team" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted"#
        )
    );
    let two = json!({"pod-security.kubernetes.io/enforce": "x", "pod-security.kubernetes.io/warn-version": "y"});
    let out = run(&Config::default(), &FakeCluster::default(), &ns_request(Operation::Create, two.clone(), None));
    assert!(out.verdict.message.unwrap_or_default().starts_with(r#"Namespace "team" is invalid: [metadata.labels"#));
    // The same bad labels as before do not block other changes to the namespace.
    let out = run(&Config::default(), &FakeCluster::default(), &ns_request(Operation::Update, two.clone(), Some(two)));
    assert!(out.verdict.allowed);
}

fn pod(name: &str, spec: Value, controller: Option<&str>) -> Pod {
    let owners = controller.map(
        |uid| json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": uid, "controller": true}]),
    );
    serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": owners}, "spec": spec})).expect("pod")
}

#[test]
fn raising_the_enforce_level_warns_about_existing_pods() {
    let plain = json!({"containers": [{"name": "c"}]});
    let host = json!({"hostNetwork": true, "containers": [{"name": "c"}]});
    let cluster = FakeCluster {
        pods: vec![
            pod("web-b", plain.clone(), Some("rs1")),
            pod("web-a", plain.clone(), Some("rs1")),
            pod("solo", host.clone(), None),
            pod("agent-1", host, Some("ds1")),
            pod("ok", json!({"containers": []}), None),
        ],
        ..Default::default()
    };
    let req = ns_request(Operation::Update, json!({"pod-security.kubernetes.io/enforce": "baseline"}), Some(json!({})));
    assert_eq!(
        run(&Config::default(), &cluster, &req).verdict.warnings,
        [
            r#"existing pods in namespace "team" violate the new PodSecurity enforce level "baseline:latest""#,
            "agent-1 (and 1 other pod): host namespaces",
        ]
    );
    let req =
        ns_request(Operation::Update, json!({"pod-security.kubernetes.io/enforce": "restricted"}), Some(json!({})));
    let warnings = run(&Config::default(), &cluster, &req).verdict.warnings;
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert_eq!(
        warnings[2],
        "web-a (and 1 other pod): allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile"
    );

    // Relaxing, or leaving the enforce level alone, checks nothing.
    let relax = ns_request(
        Operation::Update,
        json!({"pod-security.kubernetes.io/enforce": "baseline"}),
        Some(json!({"pod-security.kubernetes.io/enforce": "restricted"})),
    );
    assert!(run(&Config::default(), &cluster, &relax).verdict.warnings.is_empty());

    let failing = FakeCluster { pods_fail: true, ..Default::default() };
    assert_eq!(
        run(&Config::default(), &failing, &req).verdict.warnings,
        ["failed to list pods while checking new PodSecurity enforce level"]
    );
}

#[test]
fn labelling_an_exempt_namespace_warns_that_it_is_ignored() {
    let cfg = config(r#"{"exemptions": {"namespaces": ["team"]}}"#);
    let labels =
        json!({"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/audit": "privileged"});
    let out = run(&cfg, &FakeCluster::default(), &ns_request(Operation::Create, labels, None));
    assert_eq!(
        out.verdict.warnings,
        [r#"namespace "team" is exempt from Pod Security, and the policy (enforce=baseline:latest) will be ignored"#]
    );
}
