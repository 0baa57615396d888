//! Server-side Table output (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`).
//!
//! This crate owns the column definitions and row cells that make `kubectl get`
//! print what it prints against a real Kubernetes API server: it mirrors the
//! printers in k8s.io/kubernetes `pkg/printers/internalversion` plus the two
//! generic fallbacks (the built-in default table convertor and the CRD one).
//!
//! Like the real API server, the cells always include the `-o wide` columns
//! (priority 1); kubectl hides them unless asked. Column names are the API's
//! ("Nominated Node"), which kubectl upper-cases for display.
//!
//! Nothing here does I/O or reads the clock: callers pass `now`.

mod apps;
mod batch;
mod cluster;
mod core;
mod duration;
mod events;
mod fallback;
mod labels;
mod networking;
mod plugins;
mod pod;
mod rbac;
mod storage;
mod value;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use value::Obj;

pub use duration::human_duration;

/// One `TableColumnDefinition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    /// "string" | "integer" | "date" | "number" | "boolean"; as declared by Kubernetes,
    /// which is not always the JSON type of the cell (e.g. Secret "Data" is a string column of integers).
    pub type_: &'static str,
    /// "name" for the object-name column, "" otherwise.
    pub format: &'static str,
    pub description: &'static str,
    /// 0 normal, 1 only in `-o wide`.
    pub priority: i32,
}

impl Column {
    /// The column as it appears in a Table's `columnDefinitions`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// Column definitions for a resource given by its API group ("" for core) and plural
/// resource name. Resources without a printer get the same fallback Kubernetes uses:
/// Name + Created At for built-in API groups, Name + Age for custom resources.
#[must_use]
pub fn columns(group: &str, resource: &str) -> &'static [Column] {
    printer(group, resource).columns
}

/// The row cells for one object (the full object as JSON), in the order of [`columns`].
/// `now` drives AGE-like cells. Never panics: missing or odd fields print as Kubernetes
/// prints their zero values.
#[must_use]
pub fn cells(group: &str, resource: &str, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    (printer(group, resource).cells)(Obj(obj), now)
}

/// A column table and the function producing matching cells; kept together so they
/// cannot drift apart.
pub(crate) struct Printer {
    pub(crate) columns: &'static [Column],
    pub(crate) cells: fn(Obj<'_>, DateTime<Utc>) -> Vec<Value>,
}

fn printer(group: &str, resource: &str) -> &'static Printer {
    match (group, resource) {
        ("", "pods") => &pod::PODS,
        ("", "services") => &core::SERVICES,
        ("", "endpoints") => &core::ENDPOINTS,
        ("", "configmaps") => &core::CONFIGMAPS,
        ("", "secrets") => &core::SECRETS,
        ("", "namespaces") => &core::NAMESPACES,
        ("", "nodes") => &core::NODES,
        ("", "serviceaccounts") => &core::SERVICEACCOUNTS,
        ("", "persistentvolumes") => &core::PERSISTENTVOLUMES,
        ("", "persistentvolumeclaims") => &core::PERSISTENTVOLUMECLAIMS,
        ("", "replicationcontrollers") => &core::REPLICATIONCONTROLLERS,
        ("", "events") => &events::CORE_EVENTS,
        ("events.k8s.io", "events") => &events::EVENTS_K8S_IO,
        ("apps", "deployments") => &apps::DEPLOYMENTS,
        ("apps", "replicasets") => &apps::REPLICASETS,
        ("apps", "statefulsets") => &apps::STATEFULSETS,
        ("apps", "daemonsets") => &apps::DAEMONSETS,
        ("apps", "controllerrevisions") => &apps::CONTROLLERREVISIONS,
        ("batch", "jobs") => &batch::JOBS,
        ("batch", "cronjobs") => &batch::CRONJOBS,
        ("networking.k8s.io", "ingresses") => &networking::INGRESSES,
        ("networking.k8s.io", "ingressclasses") => &networking::INGRESSCLASSES,
        ("networking.k8s.io", "networkpolicies") => &networking::NETWORKPOLICIES,
        ("discovery.k8s.io", "endpointslices") => &networking::ENDPOINTSLICES,
        ("storage.k8s.io", "storageclasses") => &storage::STORAGECLASSES,
        ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => &rbac::ROLEBINDINGS,
        ("coordination.k8s.io", "leases") => &cluster::LEASES,
        ("plugins.skiff.dev", "wasmplugins") => &plugins::WASMPLUGINS,
        ("scheduling.k8s.io", "priorityclasses") => &cluster::PRIORITYCLASSES,
        ("node.k8s.io", "runtimeclasses") => &cluster::RUNTIMECLASSES,
        ("policy", "poddisruptionbudgets") => &cluster::PODDISRUPTIONBUDGETS,
        ("admissionregistration.k8s.io", "mutatingwebhookconfigurations" | "validatingwebhookconfigurations") => {
            &cluster::WEBHOOKCONFIGURATIONS
        }
        (g, _) if fallback::is_builtin_group(g) => &fallback::BUILTIN_DEFAULT,
        _ => &fallback::CUSTOM_RESOURCE_DEFAULT,
    }
}

// Column building blocks shared by the printers. Descriptions follow the Kubernetes
// API documentation; kubectl does not display them.

pub(crate) const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

pub(crate) const CREATION_TIMESTAMP_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

pub(crate) const CONTAINERS_DESCRIPTION: &str = "Names of each container in the template.";
pub(crate) const IMAGES_DESCRIPTION: &str = "Images referenced by each container in the template.";

/// The object-name column every printer starts with.
pub(crate) const fn name_column() -> Column {
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 }
}

pub(crate) const fn age_column() -> Column {
    column("Age", "string", CREATION_TIMESTAMP_DESCRIPTION)
}

pub(crate) const fn column(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column { name, type_, format: "", description, priority: 0 }
}

/// A column only shown by `kubectl get -o wide`.
pub(crate) const fn wide(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column { name, type_, format: "", description, priority: 1 }
}

/// The AGE cell: elapsed time since creation.
pub(crate) fn age(obj: Obj<'_>, now: DateTime<Utc>) -> Value {
    Value::from(duration::since(obj.time(&["metadata", "creationTimestamp"]), now))
}

/// Comma-joined container names and images of a pod spec, as `layoutContainerCells` does.
pub(crate) fn container_cells(pod_spec: Obj<'_>) -> (Value, Value) {
    let containers = pod_spec.list(&["containers"]);
    let names: Vec<&str> = containers.iter().map(|c| c.str(&["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| c.str(&["image"])).collect();
    (Value::from(names.join(",")), Value::from(images.join(",")))
}

#[cfg(test)]
mod tests;
