//! Table output for realistic objects of every printed resource, checked against
//! what kubectl shows for them on a real cluster.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::{cells, columns};

/// Every (group, resource) with a dedicated printer, plus fallbacks.
const RESOURCES: &[(&str, &str)] = &[
    ("", "pods"),
    ("", "services"),
    ("", "endpoints"),
    ("", "configmaps"),
    ("", "secrets"),
    ("", "namespaces"),
    ("", "nodes"),
    ("", "serviceaccounts"),
    ("", "persistentvolumes"),
    ("", "persistentvolumeclaims"),
    ("", "replicationcontrollers"),
    ("", "events"),
    ("events.k8s.io", "events"),
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("apps", "controllerrevisions"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("networking.k8s.io", "ingresses"),
    ("networking.k8s.io", "ingressclasses"),
    ("networking.k8s.io", "networkpolicies"),
    ("discovery.k8s.io", "endpointslices"),
    ("storage.k8s.io", "storageclasses"),
    ("rbac.authorization.k8s.io", "roles"),
    ("rbac.authorization.k8s.io", "clusterroles"),
    ("rbac.authorization.k8s.io", "rolebindings"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"),
    ("coordination.k8s.io", "leases"),
    ("scheduling.k8s.io", "priorityclasses"),
    ("node.k8s.io", "runtimeclasses"),
    ("policy", "poddisruptionbudgets"),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
    ("example.com", "widgets"),
];

fn now() -> DateTime<Utc> {
    "2025-06-01T12:00:00Z".parse().unwrap()
}

/// Metadata created `ago` before [`now`].
fn meta(name: &str, ago: &str) -> Value {
    let created = now() - parse_ago(ago);
    json!({
        "name": name,
        "namespace": "default",
        "uid": "6f1c2a7e-0000-4000-8000-000000000001",
        "creationTimestamp": created.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    })
}

fn parse_ago(ago: &str) -> chrono::TimeDelta {
    let (n, unit) = ago.split_at(ago.len() - 1);
    let n: i64 = n.parse().unwrap();
    match unit {
        "s" => chrono::TimeDelta::seconds(n),
        "m" => chrono::TimeDelta::minutes(n),
        "h" => chrono::TimeDelta::hours(n),
        "d" => chrono::TimeDelta::days(n),
        _ => panic!("bad unit in {ago}"),
    }
}

fn ts(ago: &str) -> String {
    (now() - parse_ago(ago)).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn row(group: &str, resource: &str, obj: Value) -> Vec<Value> {
    cells(group, resource, &obj, now())
}

fn headers(group: &str, resource: &str) -> Vec<&'static str> {
    columns(group, resource).iter().map(|c| c.name).collect()
}

/// Only the priority-0 cells, i.e. what plain `kubectl get` shows.
fn narrow(group: &str, resource: &str, obj: Value) -> Vec<Value> {
    let cols = columns(group, resource);
    row(group, resource, obj).into_iter().zip(cols).filter(|(_, c)| c.priority == 0).map(|(v, _)| v).collect()
}

#[test]
fn cells_line_up_with_columns_even_for_junk() {
    let junk = [
        json!(null),
        json!({}),
        json!("pod"),
        json!([1, 2]),
        json!({"metadata": [], "spec": 3, "status": "x"}),
        json!({"metadata": {"name": 7, "creationTimestamp": "yesterday", "deletionTimestamp": 1,
            "annotations": [], "labels": "x", "ownerReferences": {}},
            "spec": {"containers": "x", "selector": [], "ports": [null, 1], "rules": [7],
                "replicas": "three", "template": []},
            "status": {"conditions": "x", "containerStatuses": [null], "loadBalancer": 1}}),
    ];
    for (group, resource) in RESOURCES {
        let cols = columns(group, resource);
        assert!(!cols.is_empty());
        assert_eq!(cols.iter().filter(|c| c.format == "name").count(), 1, "{resource}");
        for obj in &junk {
            assert_eq!(cells(group, resource, obj, now()).len(), cols.len(), "{group}/{resource} on {obj}");
        }
    }
}

#[test]
fn column_json_shape() {
    let c = columns("", "pods")[5];
    assert_eq!(
        c.to_json(),
        json!({"name": "IP", "type": "string", "format": "", "description": c.description, "priority": 1})
    );
    assert_eq!(columns("", "pods")[0].to_json()["format"], json!("name"));
}

#[test]
fn pod_headers() {
    assert_eq!(
        headers("", "pods"),
        ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]
    );
}

#[test]
fn deployment_two_of_three() {
    assert_eq!(
        headers("apps", "deployments"),
        ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"]
    );
    let d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": meta("web", "3d"),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                {"name": "nginx", "image": "nginx:1.27"},
                {"name": "exporter", "image": "nginx/nginx-prometheus-exporter:1.1"}
            ]}}
        },
        "status": {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2}
    });
    assert_eq!(
        row("apps", "deployments", d),
        [
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("3d"),
            json!("nginx,exporter"),
            json!("nginx:1.27,nginx/nginx-prometheus-exporter:1.1"),
            json!("app=web")
        ]
    );
}

#[test]
fn fresh_deployment_without_status() {
    let d = json!({"metadata": meta("api", "5s"), "spec": {"template": {"spec": {"containers": []}}}});
    assert_eq!(
        row("apps", "deployments", d),
        [json!("api"), json!("0/1"), json!(0), json!(0), json!("5s"), json!(""), json!(""), json!("")]
    );
}

#[test]
fn replicaset_and_statefulset() {
    let rs = json!({
        "metadata": meta("web-7d4b9c8f6", "2h"),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "7d4b9c8f6"}},
            "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}},
        "status": {"replicas": 3, "readyReplicas": 1}
    });
    assert_eq!(
        row("apps", "replicasets", rs),
        [
            json!("web-7d4b9c8f6"),
            json!(3),
            json!(3),
            json!(1),
            json!("120m"),
            json!("nginx"),
            json!("nginx:1.27"),
            json!("app=web,pod-template-hash=7d4b9c8f6")
        ]
    );
    assert_eq!(headers("apps", "statefulsets"), ["Name", "Ready", "Age", "Containers", "Images"]);
    let sts = json!({
        "metadata": meta("db", "10d"),
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "pg", "image": "postgres:17"}]}}},
        "status": {"replicas": 2, "readyReplicas": 2}
    });
    assert_eq!(
        row("apps", "statefulsets", sts),
        [json!("db"), json!("2/2"), json!("10d"), json!("pg"), json!("postgres:17")]
    );
}

#[test]
fn daemonset() {
    assert_eq!(
        headers("apps", "daemonsets"),
        [
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Up-to-date",
            "Available",
            "Node Selector",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let ds = json!({
        "metadata": meta("kube-proxy", "400d"),
        "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
            "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                "containers": [{"name": "kube-proxy", "image": "registry.k8s.io/kube-proxy:v1.37.0"}]}}},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 3,
            "updatedNumberScheduled": 3, "numberAvailable": 3}
    });
    assert_eq!(
        row("apps", "daemonsets", ds),
        [
            json!("kube-proxy"),
            json!(3),
            json!(3),
            json!(3),
            json!(3),
            json!(3),
            json!("kubernetes.io/os=linux"),
            json!("400d"),
            json!("kube-proxy"),
            json!("registry.k8s.io/kube-proxy:v1.37.0"),
            json!("k8s-app=kube-proxy")
        ]
    );
}

#[test]
fn controller_revision_names_its_owner() {
    let mut m = meta("db-5c8f7b9d4", "1d");
    m["ownerReferences"] = json!([
        {"apiVersion": "v1", "kind": "Pod", "name": "not-controller"},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "controller": true}
    ]);
    assert_eq!(
        row("apps", "controllerrevisions", json!({"metadata": m, "revision": 4})),
        [json!("db-5c8f7b9d4"), json!("statefulset.apps/db"), json!(4), json!("24h")]
    );
    let orphan = json!({"metadata": meta("x", "1d"), "revision": 1});
    assert_eq!(row("apps", "controllerrevisions", orphan)[1], json!("<none>"));
}

#[test]
fn jobs() {
    assert_eq!(
        headers("batch", "jobs"),
        ["Name", "Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector"]
    );
    let done = json!({
        "metadata": meta("pi", "10m"),
        "spec": {"completions": 1, "parallelism": 1,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "6f1c2a7e"}},
            "template": {"spec": {"containers": [{"name": "pi", "image": "perl:5.34"}]}}},
        "status": {"succeeded": 1, "startTime": ts("10m"), "completionTime": ts("9m"),
            "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}
    });
    assert_eq!(
        row("batch", "jobs", done),
        [
            json!("pi"),
            json!("Complete"),
            json!("1/1"),
            json!("60s"),
            json!("10m"),
            json!("pi"),
            json!("perl:5.34"),
            json!("batch.kubernetes.io/controller-uid=6f1c2a7e")
        ]
    );
    let running = json!({
        "metadata": meta("work", "3m"),
        "spec": {"parallelism": 4},
        "status": {"startTime": ts("182s"), "active": 4}
    });
    assert_eq!(
        narrow("batch", "jobs", running),
        [json!("work"), json!("Running"), json!("0/1 of 4"), json!("3m2s"), json!("3m")]
    );
    let failed = json!({"metadata": meta("f", "1h"),
        "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}});
    assert_eq!(narrow("batch", "jobs", failed)[1..3], [json!("Failed"), json!("0/1")]);
    let mut m = meta("t", "1h");
    m["deletionTimestamp"] = json!(ts("1s"));
    assert_eq!(narrow("batch", "jobs", json!({"metadata": m}))[1], json!("Terminating"));
    let suspended = json!({"metadata": meta("s", "1h"), "spec": {"suspend": true},
        "status": {"conditions": [{"type": "Suspended", "status": "True"}]}});
    assert_eq!(narrow("batch", "jobs", suspended)[1..4], [json!("Suspended"), json!("0/1"), json!("")]);
}

#[test]
fn cronjobs() {
    assert_eq!(
        headers("batch", "cronjobs"),
        [
            "Name",
            "Schedule",
            "Timezone",
            "Suspend",
            "Active",
            "Last Schedule",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let cj = json!({
        "metadata": meta("backup", "20d"),
        "spec": {"schedule": "*/5 * * * *", "suspend": false,
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "restic:0.17"}]}}}}},
        "status": {"active": [{"name": "backup-29100000"}], "lastScheduleTime": ts("90s")}
    });
    assert_eq!(
        row("batch", "cronjobs", cj),
        [
            json!("backup"),
            json!("*/5 * * * *"),
            json!("<none>"),
            json!("False"),
            json!(1),
            json!("90s"),
            json!("20d"),
            json!("b"),
            json!("restic:0.17"),
            json!("<none>")
        ]
    );
    let never = json!({"metadata": meta("n", "1m"),
        "spec": {"schedule": "@daily", "timeZone": "Europe/Paris", "suspend": true}});
    assert_eq!(
        narrow("batch", "cronjobs", never),
        [json!("n"), json!("@daily"), json!("Europe/Paris"), json!("True"), json!(0), json!("<none>"), json!("60s")]
    );
}

#[test]
fn services() {
    assert_eq!(headers("", "services"), ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"]);
    let kubernetes = json!({
        "metadata": meta("kubernetes", "30d"),
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}
    });
    assert_eq!(
        row("", "services", kubernetes),
        [
            json!("kubernetes"),
            json!("ClusterIP"),
            json!("10.96.0.1"),
            json!("<none>"),
            json!("443/TCP"),
            json!("30d"),
            json!("<none>")
        ]
    );
    let node_port = json!({
        "metadata": meta("web", "2h"),
        "spec": {"type": "NodePort", "clusterIPs": ["10.96.12.7"], "selector": {"app": "web"},
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}
    });
    assert_eq!(
        row("", "services", node_port),
        [
            json!("web"),
            json!("NodePort"),
            json!("10.96.12.7"),
            json!("<none>"),
            json!("80:30080/TCP,53/UDP"),
            json!("120m"),
            json!("app=web")
        ]
    );
    let pending_lb = json!({"metadata": meta("lb", "1m"),
        "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.3.3"], "ports": [{"port": 443, "nodePort": 31443}]}});
    assert_eq!(row("", "services", pending_lb)[3..5], [json!("<pending>"), json!("443:31443/TCP")]);
    let lb = json!({"metadata": meta("lb", "1m"),
        "spec": {"type": "LoadBalancer", "externalIPs": ["198.51.100.9"]},
        "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}, {"ip": "203.0.113.10"},
            {"ip": "203.0.113.10"}]}}});
    assert_eq!(row("", "services", lb)[3], json!("203.0.113.10,lb.example.com,198.51.100.9"));
    let external_name = json!({"metadata": meta("ext", "1m"),
        "spec": {"type": "ExternalName", "externalName": "db.example.com"}});
    assert_eq!(
        row("", "services", external_name)[1..5],
        [json!("ExternalName"), json!("<none>"), json!("db.example.com"), json!("<none>")]
    );
    let headless = json!({"metadata": meta("db", "1m"),
        "spec": {"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 5432}]}});
    assert_eq!(
        row("", "services", headless)[1..5],
        [json!("ClusterIP"), json!("None"), json!("<none>"), json!("5432/TCP")]
    );
}

#[test]
fn endpoints() {
    let many = json!({
        "metadata": meta("web", "1h"),
        "subsets": [
            {"addresses": [{"ip": "10.244.1.2"}, {"ip": "10.244.2.3"}], "ports": [{"name": "http", "port": 8080}]},
            {"addresses": [{"ip": "fd00::5"}, {"ip": "10.244.3.4"}], "ports": [{"port": 8080}, {"port": 9090}]}
        ]
    });
    assert_eq!(
        row("", "endpoints", many),
        [json!("web"), json!("10.244.1.2:8080,10.244.2.3:8080,[fd00::5]:8080 + 3 more..."), json!("60m")]
    );
    let headless = json!({"metadata": meta("h", "1h"), "subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]});
    assert_eq!(row("", "endpoints", headless)[1], json!("10.0.0.1"));
    assert_eq!(row("", "endpoints", json!({"metadata": meta("e", "1h")}))[1], json!("<none>"));
}

#[test]
fn endpoint_slices() {
    assert_eq!(headers("discovery.k8s.io", "endpointslices"), ["Name", "AddressType", "Ports", "Endpoints", "Age"]);
    let es = json!({
        "metadata": meta("web-abc12", "5m"),
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "metrics"}],
        "endpoints": [
            {"addresses": ["10.244.1.2"], "conditions": {"ready": true}},
            {"addresses": ["10.244.1.3"]}, {"addresses": ["10.244.1.4"]}, {"addresses": ["10.244.1.5"]}
        ]
    });
    assert_eq!(
        row("discovery.k8s.io", "endpointslices", es),
        [
            json!("web-abc12"),
            json!("IPv4"),
            json!("8080,metrics"),
            json!("10.244.1.2,10.244.1.3,10.244.1.4 + 1 more..."),
            json!("5m")
        ]
    );
    let empty = json!({"metadata": meta("e", "5m"), "addressType": "IPv6"});
    assert_eq!(row("discovery.k8s.io", "endpointslices", empty)[2..4], [json!("<unset>"), json!("<unset>")]);
}

#[test]
fn configmaps_secrets_serviceaccounts_namespaces() {
    let cm = json!({"metadata": meta("kube-root-ca.crt", "7d"), "data": {"ca.crt": "..."},
        "binaryData": {"blob": "AAEC"}});
    assert_eq!(row("", "configmaps", cm), [json!("kube-root-ca.crt"), json!(2), json!("7d")]);
    assert_eq!(headers("", "secrets"), ["Name", "Type", "Data", "Age"]);
    let tls = json!({"metadata": meta("web-tls", "48h"), "type": "kubernetes.io/tls",
        "data": {"tls.crt": "x", "tls.key": "y"}});
    assert_eq!(row("", "secrets", tls), [json!("web-tls"), json!("kubernetes.io/tls"), json!(2), json!("2d")]);
    let opaque = json!({"metadata": meta("s", "1m"), "stringData": {"a": "b"}});
    assert_eq!(row("", "secrets", opaque)[1..3], [json!("Opaque"), json!(0)]);
    let sa = json!({"metadata": meta("default", "30d")});
    assert_eq!(row("", "serviceaccounts", sa), [json!("default"), json!(0), json!("30d")]);
    let ns = json!({"metadata": meta("kube-system", "400d"), "status": {"phase": "Terminating"}});
    assert_eq!(row("", "namespaces", ns), [json!("kube-system"), json!("Terminating"), json!("400d")]);
}

fn node(ready: &str, unschedulable: bool) -> Value {
    let mut m = meta("worker-1", "100d");
    m["labels"] = json!({
        "kubernetes.io/hostname": "worker-1",
        "node-role.kubernetes.io/worker": "",
        "node-role.kubernetes.io/ingress": "",
        "node-role.kubernetes.io/": "",
        "kubernetes.io/role": "edge"
    });
    json!({
        "metadata": m,
        "spec": {"unschedulable": unschedulable},
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": ready, "reason": "KubeletReady"}
            ],
            "addresses": [{"type": "InternalIP", "address": "192.168.1.11"}, {"type": "Hostname", "address": "worker-1"}],
            "nodeInfo": {"kubeletVersion": "v1.37.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                "kernelVersion": "6.1.0-28-amd64", "containerRuntimeVersion": "containerd://2.1.0"}
        }
    })
}

#[test]
fn nodes() {
    assert_eq!(
        headers("", "nodes"),
        [
            "Name",
            "Status",
            "Roles",
            "Age",
            "Version",
            "Internal-IP",
            "External-IP",
            "OS-Image",
            "Kernel-Version",
            "Container-Runtime"
        ]
    );
    assert_eq!(
        row("", "nodes", node("True", false)),
        [
            json!("worker-1"),
            json!("Ready"),
            json!("edge,ingress,worker"),
            json!("100d"),
            json!("v1.37.0"),
            json!("192.168.1.11"),
            json!("<none>"),
            json!("Debian GNU/Linux 12 (bookworm)"),
            json!("6.1.0-28-amd64"),
            json!("containerd://2.1.0")
        ]
    );
    assert_eq!(row("", "nodes", node("True", true))[1], json!("Ready,SchedulingDisabled"));
    assert_eq!(row("", "nodes", node("Unknown", true))[1], json!("NotReady,SchedulingDisabled"));
    let bare = json!({"metadata": {"name": "new"}});
    assert_eq!(
        row("", "nodes", bare),
        [
            json!("new"),
            json!("Unknown"),
            json!("<none>"),
            json!("<unknown>"),
            json!(""),
            json!("<none>"),
            json!("<none>"),
            json!("<unknown>"),
            json!("<unknown>"),
            json!("<unknown>")
        ]
    );
}

#[test]
fn core_events() {
    assert_eq!(
        headers("", "events"),
        ["Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen", "Count", "Name"]
    );
    assert_eq!(columns("", "events")[9].priority, 1);
    let e = json!({
        "metadata": meta("web-7d4b9c8f6-abcde.17f3a0c2d1e4b5a6", "10m"),
        "involvedObject": {"kind": "Pod", "name": "web-7d4b9c8f6-abcde", "fieldPath": "spec.containers{nginx}"},
        "reason": "BackOff",
        "message": "Back-off restarting failed container nginx in pod web-7d4b9c8f6-abcde\n",
        "source": {"component": "kubelet", "host": "worker-1"},
        "firstTimestamp": ts("10m"),
        "lastTimestamp": ts("45s"),
        "count": 42,
        "type": "Warning"
    });
    assert_eq!(
        row("", "events", e),
        [
            json!("45s"),
            json!("Warning"),
            json!("BackOff"),
            json!("pod/web-7d4b9c8f6-abcde"),
            json!("spec.containers{nginx}"),
            json!("kubelet, worker-1"),
            json!("Back-off restarting failed container nginx in pod web-7d4b9c8f6-abcde"),
            json!("10m"),
            json!(42),
            json!("web-7d4b9c8f6-abcde.17f3a0c2d1e4b5a6")
        ]
    );
    // A new-style event recorded through the core API: eventTime, series, reporting fields.
    let series = json!({
        "metadata": meta("n.1", "1h"),
        "involvedObject": {"kind": "Node", "name": "worker-1"},
        "reason": "Rebooted", "message": "rebooted", "type": "Warning",
        "eventTime": "2025-06-01T11:00:00.000000Z",
        "series": {"count": 3, "lastObservedTime": "2025-06-01T11:57:59.999999Z"},
        "reportingComponent": "kubelet", "reportingController": "kubelet", "reportingInstance": "worker-1"
    });
    assert_eq!(
        row("", "events", series),
        [
            json!("2m"),
            json!("Warning"),
            json!("Rebooted"),
            json!("node/worker-1"),
            json!(""),
            json!("kubelet, worker-1"),
            json!("rebooted"),
            json!("60m"),
            json!(3),
            json!("n.1")
        ]
    );
    let bare = json!({"metadata": {"name": "x"}, "involvedObject": {"kind": "Namespace"}});
    assert_eq!(row("", "events", bare)[..4], [json!("<unknown>"), json!(""), json!(""), json!("namespace")]);
    assert_eq!(row("", "events", json!({}))[8], json!(1));
}

#[test]
fn events_k8s_io_events() {
    let e = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": meta("web.1", "5m"),
        "eventTime": null,
        "regarding": {"kind": "Deployment", "name": "web"},
        "note": "Scaled up replica set web-7d4b9c8f6 to 3",
        "reason": "ScalingReplicaSet", "type": "Normal",
        "deprecatedSource": {"component": "deployment-controller"},
        "deprecatedFirstTimestamp": ts("5m"), "deprecatedLastTimestamp": ts("5m"), "deprecatedCount": 1
    });
    assert_eq!(
        row("events.k8s.io", "events", e),
        [
            json!("5m"),
            json!("Normal"),
            json!("ScalingReplicaSet"),
            json!("deployment/web"),
            json!(""),
            json!("deployment-controller"),
            json!("Scaled up replica set web-7d4b9c8f6 to 3"),
            json!("5m"),
            json!(1),
            json!("web.1")
        ]
    );
}

#[test]
fn persistent_volumes_and_claims() {
    assert_eq!(
        headers("", "persistentvolumes"),
        [
            "Name",
            "Capacity",
            "Access Modes",
            "Reclaim Policy",
            "Status",
            "Claim",
            "StorageClass",
            "VolumeAttributesClass",
            "Reason",
            "Age",
            "VolumeMode"
        ]
    );
    let pv = json!({
        "metadata": meta("pvc-0b9f", "7d"),
        "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "standard",
            "claimRef": {"namespace": "default", "name": "data-db-0"}, "volumeMode": "Filesystem"},
        "status": {"phase": "Bound"}
    });
    assert_eq!(
        row("", "persistentvolumes", pv),
        [
            json!("pvc-0b9f"),
            json!("10Gi"),
            json!("RWO,RWX"),
            json!("Delete"),
            json!("Bound"),
            json!("default/data-db-0"),
            json!("standard"),
            json!("<unset>"),
            json!(""),
            json!("7d"),
            json!("Filesystem")
        ]
    );
    let mut m = meta("old", "1d");
    m["deletionTimestamp"] = json!(ts("1s"));
    m["annotations"] = json!({"volume.beta.kubernetes.io/storage-class": "legacy"});
    let deleting = json!({"metadata": m, "spec": {}, "status": {"phase": "Released"}});
    assert_eq!(
        row("", "persistentvolumes", deleting)[1..7],
        [json!("0"), json!(""), json!("Retain"), json!("Terminating"), json!(""), json!("legacy")]
    );

    assert_eq!(
        headers("", "persistentvolumeclaims"),
        [
            "Name",
            "Status",
            "Volume",
            "Capacity",
            "Access Modes",
            "StorageClass",
            "VolumeAttributesClass",
            "Age",
            "VolumeMode"
        ]
    );
    let bound = json!({
        "metadata": meta("data-db-0", "7d"),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "8Gi"}},
            "storageClassName": "standard", "volumeName": "pvc-0b9f", "volumeMode": "Block"},
        "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}}
    });
    assert_eq!(
        row("", "persistentvolumeclaims", bound),
        [
            json!("data-db-0"),
            json!("Bound"),
            json!("pvc-0b9f"),
            json!("10Gi"),
            json!("RWO"),
            json!("standard"),
            json!("<unset>"),
            json!("7d"),
            json!("Block")
        ]
    );
    let pending = json!({"metadata": meta("claim", "30s"),
        "spec": {"resources": {"requests": {"storage": "1Gi"}}}, "status": {"phase": "Pending"}});
    assert_eq!(
        row("", "persistentvolumeclaims", pending),
        [
            json!("claim"),
            json!("Pending"),
            json!(""),
            json!(""),
            json!(""),
            json!(""),
            json!("<unset>"),
            json!("30s"),
            json!("Filesystem")
        ]
    );
}

#[test]
fn storage_classes() {
    let mut m = meta("standard", "90d");
    m["annotations"] = json!({"storageclass.kubernetes.io/is-default-class": "true"});
    let sc = json!({"metadata": m, "provisioner": "rancher.io/local-path",
        "volumeBindingMode": "WaitForFirstConsumer"});
    assert_eq!(
        row("storage.k8s.io", "storageclasses", sc),
        [
            json!("standard (default)"),
            json!("rancher.io/local-path"),
            json!("Delete"),
            json!("WaitForFirstConsumer"),
            json!(false),
            json!("90d")
        ]
    );
    let mut m = meta("fast", "1d");
    m["annotations"] = json!({"storageclass.kubernetes.io/is-default-class": "false"});
    let sc = json!({"metadata": m, "provisioner": "csi.example.com", "reclaimPolicy": "Retain",
        "allowVolumeExpansion": true});
    assert_eq!(
        row("storage.k8s.io", "storageclasses", sc)[..5],
        [json!("fast"), json!("csi.example.com"), json!("Retain"), json!("Immediate"), json!(true)]
    );
}

#[test]
fn ingresses_and_network_policies() {
    assert_eq!(headers("networking.k8s.io", "ingresses"), ["Name", "Class", "Hosts", "Address", "Ports", "Age"]);
    let ing = json!({
        "metadata": meta("web", "2d"),
        "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example.com"]}],
            "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}, {}, {"host": "c.example.com"},
                {"host": "d.example.com"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.5"}, {"hostname": "lb.example.com"}]}}
    });
    assert_eq!(
        row("networking.k8s.io", "ingresses", ing),
        [
            json!("web"),
            json!("nginx"),
            json!("a.example.com,b.example.com,c.example.com + 2 more..."),
            json!("203.0.113.5,lb.example.com"),
            json!("80, 443"),
            json!("2d")
        ]
    );
    let catch_all = json!({"metadata": meta("any", "1m"), "spec": {"defaultBackend": {}}});
    assert_eq!(
        row("networking.k8s.io", "ingresses", catch_all)[1..5],
        [json!("<none>"), json!("*"), json!(""), json!("80")]
    );
    let np = json!({"metadata": meta("deny-all", "1h"), "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}});
    assert_eq!(row("networking.k8s.io", "networkpolicies", np), [json!("deny-all"), json!("<none>"), json!("60m")]);
    let np = json!({"metadata": meta("db", "1h"),
        "spec": {"podSelector": {"matchLabels": {"app": "db"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]}}});
    assert_eq!(row("networking.k8s.io", "networkpolicies", np)[1], json!("app=db,tier in (a,b)"));
    let ic = json!({"metadata": meta("nginx", "1h"), "spec": {"controller": "k8s.io/ingress-nginx",
        "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}});
    assert_eq!(
        row("networking.k8s.io", "ingressclasses", ic),
        [
            json!("nginx"),
            json!("k8s.io/ingress-nginx"),
            json!("IngressParameters.k8s.example.com/external-lb"),
            json!("60m")
        ]
    );
}

#[test]
fn rbac() {
    assert_eq!(headers("rbac.authorization.k8s.io", "roles"), ["Name", "Created At"]);
    assert_eq!(columns("rbac.authorization.k8s.io", "clusterroles")[1].type_, "date");
    let role = json!({"metadata": {"name": "pod-reader", "creationTimestamp": "2025-05-30T08:15:00Z"}});
    assert_eq!(row("rbac.authorization.k8s.io", "roles", role), [json!("pod-reader"), json!("2025-05-30T08:15:00Z")]);
    assert_eq!(
        row("rbac.authorization.k8s.io", "clusterroles", json!({"metadata": {"name": "x"}})),
        [json!("x"), json!("0001-01-01T00:00:00Z")]
    );
    assert_eq!(
        headers("rbac.authorization.k8s.io", "clusterrolebindings"),
        ["Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"]
    );
    let crb = json!({
        "metadata": meta("system:controller:bootstrap-signer", "400d"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:controller:bootstrap-signer"},
        "subjects": [
            {"kind": "ServiceAccount", "name": "bootstrap-signer", "namespace": "kube-system"},
            {"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"},
            {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:masters"}
        ]
    });
    assert_eq!(
        row("rbac.authorization.k8s.io", "clusterrolebindings", crb),
        [
            json!("system:controller:bootstrap-signer"),
            json!("ClusterRole/system:controller:bootstrap-signer"),
            json!("400d"),
            json!("alice, bob"),
            json!("system:masters"),
            json!("kube-system/bootstrap-signer")
        ]
    );
}

#[test]
fn small_cluster_resources() {
    let lease = json!({"metadata": meta("kube-scheduler", "30d"), "spec": {"holderIdentity": "cp-1_8d3e"}});
    assert_eq!(
        row("coordination.k8s.io", "leases", lease),
        [json!("kube-scheduler"), json!("cp-1_8d3e"), json!("30d")]
    );
    assert_eq!(row("coordination.k8s.io", "leases", json!({"metadata": meta("l", "1s")}))[1], json!(""));
    let pc = json!({"metadata": meta("system-node-critical", "30d"), "value": 2000001000});
    assert_eq!(
        row("scheduling.k8s.io", "priorityclasses", pc),
        [json!("system-node-critical"), json!(2000001000), json!(false), json!("30d"), json!("PreemptLowerPriority")]
    );
    let pdb = json!({"metadata": meta("web", "1h"), "spec": {"maxUnavailable": "25%"},
        "status": {"disruptionsAllowed": 1}});
    assert_eq!(
        row("policy", "poddisruptionbudgets", pdb),
        [json!("web"), json!("N/A"), json!("25%"), json!(1), json!("60m")]
    );
    let hook = json!({"metadata": meta("cert-manager-webhook", "2d"), "webhooks": [{"name": "a"}, {"name": "b"}]});
    assert_eq!(
        row("admissionregistration.k8s.io", "validatingwebhookconfigurations", hook),
        [json!("cert-manager-webhook"), json!(2), json!("2d")]
    );
    let rc = json!({"metadata": meta("runc", "1d"), "handler": "runc"});
    assert_eq!(row("node.k8s.io", "runtimeclasses", rc), [json!("runc"), json!("runc"), json!("24h")]);
    let rc = json!({"metadata": meta("old", "1d"), "spec": {"replicas": 2, "selector": {"app": "old"},
        "template": {"spec": {"containers": [{"name": "a", "image": "a:1"}]}}}, "status": {"replicas": 2}});
    assert_eq!(
        row("", "replicationcontrollers", rc),
        [json!("old"), json!(2), json!(2), json!(0), json!("24h"), json!("a"), json!("a:1"), json!("app=old")]
    );
}

#[test]
fn fallbacks() {
    // Built-in types without a printer use the API server's default convertor.
    assert_eq!(headers("", "limitranges"), ["Name", "Created At"]);
    assert_eq!(headers("apiextensions.k8s.io", "customresourcedefinitions"), ["Name", "Created At"]);
    // Custom resources without printer columns get the CRD handler's Name + Age.
    let cols = columns("example.com", "widgets");
    assert_eq!(cols.iter().map(|c| (c.name, c.type_)).collect::<Vec<_>>(), [("Name", "string"), ("Age", "date")]);
    let w = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": meta("w1", "3h")});
    assert_eq!(row("example.com", "widgets", w), [json!("w1"), json!("3h")]);
    assert_eq!(row("example.com", "widgets", json!({"metadata": {"name": "w"}})), [json!("w"), json!(null)]);
    let bad = json!({"metadata": {"name": "w", "creationTimestamp": "soon"}});
    assert_eq!(row("example.com", "widgets", bad), [json!("w"), json!("<invalid>")]);
}

#[test]
fn age_boundaries_through_a_printer() {
    for (ago, want) in [
        ("0s", "0s"),
        ("119s", "119s"),
        ("120s", "2m"),
        ("182s", "3m2s"),
        ("10m", "10m"),
        ("179m", "179m"),
        ("3h", "3h"),
        ("245m", "4h5m"),
        ("8h", "8h"),
        ("47h", "47h"),
        ("48h", "2d"),
        ("76h", "3d4h"),
        ("8d", "8d"),
        ("729d", "729d"),
        ("730d", "2y"),
        ("830d", "2y100d"),
        ("2920d", "8y"),
    ] {
        let cm = json!({"metadata": meta("c", ago)});
        assert_eq!(row("", "configmaps", cm)[2], json!(want), "{ago}");
    }
    let future = json!({"metadata": {"name": "c", "creationTimestamp": "2025-06-01T12:00:05Z"}});
    assert_eq!(row("", "configmaps", future)[2], json!("<invalid>"));
    let zero = json!({"metadata": {"name": "c", "creationTimestamp": "0001-01-01T00:00:00Z"}});
    assert_eq!(row("", "configmaps", zero)[2], json!("<unknown>"));
}
