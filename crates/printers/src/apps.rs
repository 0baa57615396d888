//! Printers for the `apps` group: workload controllers and their revisions.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::labels::{format_label_selector, format_labels, selector_string};
use crate::value::Obj;
use crate::{
    age, age_column, column, container_cells, name_column, wide, Column, Printer, CONTAINERS_DESCRIPTION,
    IMAGES_DESCRIPTION,
};

/// Deployments, ReplicaSets and StatefulSets are defaulted to one replica on create.
fn desired_replicas(obj: Obj<'_>) -> i64 {
    obj.opt_int(&["spec", "replicas"]).unwrap_or(1)
}

const CONTAINERS: Column = wide("Containers", "string", CONTAINERS_DESCRIPTION);
const IMAGES: Column = wide("Images", "string", IMAGES_DESCRIPTION);

pub(crate) static DEPLOYMENTS: Printer = Printer {
    columns: &[
        name_column(),
        column("Ready", "string", "Number of the pod with ready state"),
        column("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
        column("Available", "string", "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment."),
        age_column(),
        CONTAINERS,
        IMAGES,
        wide("Selector", "string", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment."),
    ],
    cells: deployment,
};

fn deployment(d: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(d.get(&["spec", "template", "spec"]));
    // Unlike the other workloads, Deployment prints the raw selector string: "" when empty.
    let selector = selector_string(d.get(&["spec", "selector"])).unwrap_or_else(|_| "<invalid>".to_string());
    vec![
        Value::from(d.name()),
        Value::from(format!("{}/{}", d.int(&["status", "readyReplicas"]), desired_replicas(d))),
        Value::from(d.int(&["status", "updatedReplicas"])),
        Value::from(d.int(&["status", "availableReplicas"])),
        age(d, now),
        names,
        images,
        Value::from(selector),
    ]
}

pub(crate) static REPLICASETS: Printer = Printer {
    columns: &[
        name_column(),
        column("Desired", "integer", "Replicas is the number of desired pods."),
        column("Current", "integer", "Replicas is the most recently observed number of non-terminating pods."),
        column(
            "Ready",
            "integer",
            "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
        ),
        age_column(),
        CONTAINERS,
        IMAGES,
        wide("Selector", "string", "Selector is a label query over pods that should match the replica count."),
    ],
    cells: replicaset,
};

fn replicaset(rs: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(rs.get(&["spec", "template", "spec"]));
    vec![
        Value::from(rs.name()),
        Value::from(desired_replicas(rs)),
        Value::from(rs.int(&["status", "replicas"])),
        Value::from(rs.int(&["status", "readyReplicas"])),
        age(rs, now),
        names,
        images,
        Value::from(format_label_selector(rs.get(&["spec", "selector"]))),
    ]
}

pub(crate) static STATEFULSETS: Printer = Printer {
    columns: &[
        name_column(),
        column("Ready", "string", "Number of the pod with ready state"),
        age_column(),
        CONTAINERS,
        IMAGES,
    ],
    cells: statefulset,
};

fn statefulset(s: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(s.get(&["spec", "template", "spec"]));
    vec![
        Value::from(s.name()),
        Value::from(format!("{}/{}", s.int(&["status", "readyReplicas"]), desired_replicas(s))),
        age(s, now),
        names,
        images,
    ]
}

pub(crate) static DAEMONSETS: Printer = Printer {
    columns: &[
        name_column(),
        column("Desired", "integer", "The total number of nodes that should be running the daemon pod."),
        column("Current", "integer", "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
        column("Ready", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition."),
        column("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
        column("Available", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available."),
        column("Node Selector", "string", "NodeSelector is a selector which must be true for the pod to fit on a node."),
        age_column(),
        CONTAINERS,
        IMAGES,
        wide("Selector", "string", "A label query over pods that are managed by the daemon set."),
    ],
    cells: daemonset,
};

fn daemonset(ds: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let pod_spec = ds.get(&["spec", "template", "spec"]);
    let (names, images) = container_cells(pod_spec);
    let status = ds.get(&["status"]);
    vec![
        Value::from(ds.name()),
        Value::from(status.int(&["desiredNumberScheduled"])),
        Value::from(status.int(&["currentNumberScheduled"])),
        Value::from(status.int(&["numberReady"])),
        Value::from(status.int(&["updatedNumberScheduled"])),
        Value::from(status.int(&["numberAvailable"])),
        Value::from(format_labels(pod_spec.map(&["nodeSelector"]))),
        age(ds, now),
        names,
        images,
        Value::from(format_label_selector(ds.get(&["spec", "selector"]))),
    ]
}

pub(crate) static CONTROLLERREVISIONS: Printer = Printer {
    columns: &[
        name_column(),
        column("Controller", "string", "Controller of the object"),
        column("Revision", "string", "Revision indicates the revision of the state represented by Data."),
        age_column(),
    ],
    cells: controller_revision,
};

fn controller_revision(cr: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let controller = cr
        .list(&["metadata", "ownerReferences"])
        .into_iter()
        .find(|r| r.bool(&["controller"]))
        .map_or_else(|| "<none>".to_string(), owner_name);
    vec![Value::from(cr.name()), Value::from(controller), Value::from(cr.int(&["revision"])), age(cr, now)]
}

/// "kind.group/name" in lower case ("statefulset.apps/web"), as formatResourceName prints it.
fn owner_name(owner: Obj<'_>) -> String {
    let name = owner.str(&["name"]);
    let kind = owner.str(&["kind"]);
    let api_version = owner.str(&["apiVersion"]);
    let group = match api_version.matches('/').count() {
        0 => "",
        1 => api_version.split('/').next().unwrap_or(""),
        // Kubernetes fails the whole request on an unparsable apiVersion; a row is kinder.
        _ => return "<unknown>".to_string(),
    };
    let group_kind = match (group, kind) {
        ("", "") => return name.to_string(),
        ("", k) => k.to_string(),
        (g, k) => format!("{k}.{g}"),
    };
    format!("{}/{name}", group_kind.to_lowercase())
}
