//! What Kubernetes keeps in a registry strategy: everything the verbs need to
//! know about one kind. The verbs call these hooks and never ask which kind
//! they hold; a kind with no special behaviour takes the defaults.

use serde_json::{json, Value};

use crate::errors::{ApiError, Cause};

/// The propagation policy used when a delete names none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Orphan,
}

impl Propagation {
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Background => "Background",
            Propagation::Orphan => "Orphan",
        }
    }
}

/// Where a kind's `scale` subresource reads and writes (JSON paths as in a
/// CRD's `subresources.scale`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    /// Where the selector lives, and whether it is a LabelSelector object
    /// (built-in workloads) or already a string (custom resources).
    pub selector: Option<(String, SelectorForm)>,
    /// `spec.replicas` when the object leaves it out (Deployments default to 1).
    pub default_replicas: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectorForm {
    LabelSelector,
    Text,
}

impl ScalePaths {
    /// `.spec.replicas`, `.status.replicas` and `.spec.selector`: the built-in workloads.
    pub fn workload(default_replicas: i64) -> ScalePaths {
        ScalePaths {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            selector: Some((".spec.selector".into(), SelectorForm::LabelSelector)),
            default_replicas,
        }
    }
}

/// One kind's behaviour. Every method has the default a plain kind wants;
/// how its objects are typed, printed and merged is its [`Codec`](super::Codec).
pub trait Strategy: Send + Sync {
    /// Before the first write: reset status and derive the fields the system
    /// owns (`uid` is set already).
    fn prepare_for_create(&self, _obj: &mut Value) {}

    /// Whether a create starts from an empty status (Nodes bring theirs).
    fn resets_status_on_create(&self) -> bool {
        true
    }

    /// Before an update of the main resource (the old status is carried over
    /// after it): keep what clients may not change through it.
    fn prepare_for_update(&self, _new: &mut Value, _old: &Value) {}

    /// Kind-specific problems (object metadata is checked for every kind).
    fn validate(&self, _obj: &Value) -> Vec<Cause> {
        Vec::new()
    }

    /// Problems of an update: immutable fields and transition rules.
    fn validate_update(&self, _obj: &Value, _old: &Value) -> Vec<Cause> {
        Vec::new()
    }

    /// What a name must look like.
    fn name_rule(&self) -> NameRule {
        NameRule::Subdomain
    }

    /// Turns a graceful delete into a mark (a pod on a node with an agent):
    /// `Some` decision when the strategy handles it.
    fn graceful_delete(&self, _obj: &mut Value, _grace_period: Option<i64>) -> Option<GracefulDelete> {
        None
    }

    /// Whether the object, though marked deleted and free of finalizers,
    /// still waits (a Namespace for its `spec.finalizers`).
    fn deletion_pending(&self, _obj: &Value) -> bool {
        false
    }

    /// Subresources besides status and scale (`pods/binding`, `namespaces/finalize`, …).
    fn subresources(&self) -> &'static [Subresource] {
        &[]
    }

    /// Refuses creating objects of the kind now (a CRD being deleted).
    fn check_create(&self) -> Result<(), ApiError> {
        Ok(())
    }

    /// Refuses deleting the object named `name` outright (protected namespaces).
    fn check_delete(&self, _name: &str) -> Result<(), ApiError> {
        Ok(())
    }

    /// A delete that hands the object to a controller instead of the
    /// finalizer path (a Namespace turns Terminating): `Some(Ok)` once marked,
    /// `Some(Err)` to refuse, `None` for the usual path.
    fn mark_deleted(&self, _obj: &mut Value, _already_deleting: bool) -> Option<Result<(), ApiError>> {
        None
    }

    /// Whether a delete may only mark the object while a node's agent stops
    /// it (see [`Strategy::graceful_delete`]).
    fn deletes_gracefully(&self) -> bool {
        false
    }

    /// Whether a completed delete answers with the object (Pods, Services)
    /// rather than a `Status`, as Kubernetes' registries choose.
    fn returns_deleted_object(&self) -> bool {
        false
    }

    fn default_propagation(&self) -> Propagation {
        Propagation::Background
    }

    /// Field labels (besides metadata.name and metadata.namespace) that field
    /// selectors may use.
    fn field_labels(&self) -> &[&str] {
        &[]
    }

    /// Where a field label reads from when it is not its own path.
    fn field_label_path<'a>(&self, label: &'a str) -> &'a str {
        label
    }

    /// The `scale` subresource, if the kind has one.
    fn scale(&self) -> Option<ScalePaths> {
        None
    }
}

/// A subresource of a kind besides `status` and `scale` (which every kind
/// may have): its name, the kind of its object and its verbs, for discovery
/// and routing.
#[derive(Clone, Copy, Debug)]
pub struct Subresource {
    pub name: &'static str,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

/// What the names of a kind must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// A DNS subdomain (most kinds).
    Subdomain,
    /// A DNS label: names that become DNS labels themselves (Namespaces, Services).
    Label,
    /// Only a valid path segment (RBAC kinds).
    PathSegment,
}

/// What a graceful delete did to the object.
pub enum GracefulDelete {
    /// Marked with deletionTimestamp and the grace period: store it.
    Marked,
    /// Already marked with a shorter or equal grace period: nothing to do.
    Unchanged,
}

/// A kind with no behaviour of its own.
pub struct Plain;

impl Strategy for Plain {}

/// A JSON path as CRDs write them (`.spec.replicas`), read from `obj`.
pub fn read_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.trim_start_matches('.').split('.').filter(|p| !p.is_empty()).try_fold(obj, |v, part| v.get(part))
}

/// Writes `value` at a JSON path, creating the objects on the way.
pub fn write_path(obj: &mut Value, path: &str, value: Value) {
    let parts: Vec<&str> = path.trim_start_matches('.').split('.').filter(|p| !p.is_empty()).collect();
    let Some((last, parents)) = parts.split_last() else { return };
    let mut at = obj;
    for p in parents {
        if !at[*p].is_object() {
            at[*p] = json!({});
        }
        at = &mut at[*p];
    }
    at[*last] = value;
}
