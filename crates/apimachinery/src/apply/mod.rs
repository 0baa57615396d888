//! Server-side apply without I/O: Kubernetes' structured-merge-diff
//! semantics over `serde_json::Value`.
//!
//! This module owns field ownership — the `metadata.managedFields` entries
//! ([`ManagedFieldsEntry`], [`decode_managed_fields`],
//! [`encode_managed_fields`]), the `FieldsV1` path sets they carry
//! ([`FieldSet`]), the apply merge with its conflict detection and removal
//! of fields an applier stopped declaring ([`apply`]), and the ownership
//! bookkeeping of every other write ([`update`]). It knows nothing of kinds:
//! what it needs from a schema (how each list merges, which maps are atomic)
//! comes through the [`Schema`] trait, and the fields the server keeps for
//! itself come from the caller as [`Ignored`] paths.
//!
//! ```
//! use serde_json::json;
//! use skiff_apimachinery::apply::{apply, update, Ignored, ListType, Request, Schema, ApplyError};
//!
//! struct Deployments;
//! impl Schema for Deployments {
//!     fn list_type(&self, path: &[&str]) -> ListType {
//!         match path {
//!             ["spec", "template", "spec", "containers"] => ListType::Map(vec!["name".into()]),
//!             _ => ListType::Atomic,
//!         }
//!     }
//! }
//!
//! let ignored = Ignored::standard();
//! let req = |manager, time| Request {
//!     manager, api_version: "apps/v1", time, subresource: "", force: false, ignored: &ignored,
//! };
//! let config = json!({"apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": {"name": "web"}, "spec": {"replicas": 2}});
//! let (obj, managed) = apply(None, &config, &[], &req("kubectl", "2024-01-01T00:00:00Z"), &Deployments).unwrap();
//!
//! // `kubectl scale` takes .spec.replicas over...
//! let mut scaled = obj.clone();
//! scaled["spec"]["replicas"] = json!(5);
//! let managed = update(Some(&obj), &scaled, &managed, &req("kubectl", "2024-01-01T00:01:00Z"), &Deployments).unwrap();
//!
//! // ...so re-applying the old value conflicts.
//! let err = apply(Some(&scaled), &config, &managed, &req("kubectl", "2024-01-01T00:02:00Z"), &Deployments).unwrap_err();
//! assert_eq!(err.to_string(),
//!     "Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: .spec.replicas");
//! assert!(matches!(err, ApplyError::Conflicts(_)));
//! ```

mod fieldset;
mod managed;
mod walk;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

pub use fieldset::{FieldSet, Path, PathElement};
pub use managed::{decode_managed_fields, encode_managed_fields, ManagedFieldsEntry, Operation};

use fieldset::kind_name;
use walk::{Comparison, Mode};

/// How a list field merges, from the schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListType {
    /// Replaced whole; one leaf (`x-kubernetes-list-type: atomic`, and any
    /// list the schema does not know).
    Atomic,
    /// A set of scalars merged by value (`x-kubernetes-list-type: set`).
    Set,
    /// Items merged by these key fields (`x-kubernetes-list-type: map` with
    /// `x-kubernetes-list-map-keys`).
    Map(Vec<String>),
}

/// Schema knowledge the engine needs. `path` is the field path of names
/// from the object root with list items skipped, e.g.
/// `["spec","template","spec","containers"]` for a Deployment's containers
/// or `["spec","containers","ports"]` for a Pod's container ports.
pub trait Schema {
    /// How the list at `path` merges; unknown lists should be
    /// [`ListType::Atomic`].
    fn list_type(&self, path: &[&str]) -> ListType;
    /// Whether the map at `path` is replaced whole
    /// (`x-kubernetes-map-type: atomic`, or a struct marked atomic).
    fn map_is_atomic(&self, _path: &[&str]) -> bool {
        false
    }
    /// The default of a map-list key field (e.g. a container port's
    /// `protocol` defaults to `"TCP"`), used when an item omits it, as
    /// structured-merge-diff reads key defaults from the schema.
    fn list_key_default(&self, _path: &[&str], _key: &str) -> Option<Value> {
        None
    }
}

/// Fields the server owns, never records and never lets appliers fight
/// over: each path excludes its whole subtree.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ignored {
    /// Field paths (names from the object root).
    pub paths: Vec<Vec<String>>,
}

impl Ignored {
    /// The fields Kubernetes strips from every manager's set: apiVersion,
    /// kind and the server-maintained metadata. Callers add `status` for
    /// the main resource, or the non-status fields for a status write.
    pub fn standard() -> Ignored {
        let meta = [
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "selfLink",
        ];
        let mut paths = vec![vec!["apiVersion".to_string()], vec!["kind".to_string()]];
        paths.extend(meta.iter().map(|f| vec!["metadata".to_string(), f.to_string()]));
        Ignored { paths }
    }

    /// These paths plus one more.
    pub fn with(mut self, path: &[&str]) -> Ignored {
        self.paths.push(path.iter().map(|s| s.to_string()).collect());
        self
    }

    /// The paths as path elements, plus managedFields itself, which is
    /// never a field anyone owns whatever the caller passed.
    fn elements(&self) -> Vec<Vec<PathElement>> {
        let mut out: Vec<Vec<PathElement>> =
            self.paths.iter().map(|p| p.iter().map(|n| PathElement::Field(n.clone())).collect()).collect();
        out.push(vec![PathElement::Field("metadata".into()), PathElement::Field("managedFields".into())]);
        out
    }
}

/// Who is writing, and how.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The field manager.
    pub manager: &'a str,
    /// The apiVersion of the request (recorded in the entry).
    pub api_version: &'a str,
    /// Now, RFC 3339 (recorded when the entry changes).
    pub time: &'a str,
    /// "" for the main resource, or "status" / "scale".
    pub subresource: &'a str,
    /// Take ownership of conflicting fields instead of failing.
    pub force: bool,
    /// Fields nobody owns.
    pub ignored: &'a Ignored,
}

impl Request<'_> {
    fn entry(&self, operation: Operation, fields: FieldSet) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: self.manager.to_string(),
            operation,
            api_version: self.api_version.to_string(),
            time: self.time.to_string(),
            subresource: self.subresource.to_string(),
            fields,
        }
    }
}

/// One field another manager owns with a different value.
#[derive(Clone, Debug, PartialEq)]
pub struct Conflict {
    /// The owning manager's name.
    pub manager: String,
    /// Its operation.
    pub operation: Operation,
    /// Its apiVersion.
    pub api_version: String,
    /// Its subresource ("" for the main resource).
    pub subresource: String,
    /// The contested field.
    pub path: Path,
}

impl Conflict {
    fn owner(&self) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: self.manager.clone(),
            operation: self.operation,
            api_version: self.api_version.clone(),
            time: String::new(),
            subresource: self.subresource.clone(),
            fields: FieldSet::new(),
        }
    }

    /// The owner as Kubernetes prints it: `"kubectl" using apps/v1` for an
    /// updater, `"name"` for an applier, with `with subresource "status"`
    /// when it wrote through a subresource.
    pub fn printed_manager(&self) -> String {
        self.owner().printed()
    }

    /// The Status cause message: `conflict with "kubectl" using apps/v1`.
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.printed_manager())
    }
}

fn conflicts_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!("Apply failed with 1 conflict: conflict with {}: {}", c.printed_manager(), c.path);
    }
    // Conflicts arrive grouped by manager in identifier order.
    let mut lines = Vec::new();
    let mut current: Option<String> = None;
    for c in conflicts {
        let who = c.printed_manager();
        if current.as_deref() != Some(who.as_str()) {
            lines.push(format!("conflicts with {who}:"));
            current = Some(who);
        }
        lines.push(format!("- {}", c.path));
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

/// Why an apply or an ownership update failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// 409 Conflict, with Kubernetes' message, e.g. `Apply failed with 1
    /// conflict: conflict with "kubectl-client-side-apply" using apps/v1:
    /// .spec.replicas`.
    #[error("{}", conflicts_message(.0))]
    Conflicts(Vec<Conflict>),
    /// 400/422: bad managedFields, or an applied configuration that does not
    /// fit the schema's list keys (an item missing its key, duplicate keys).
    #[error("{0}")]
    Invalid(String),
}

impl ApplyError {
    /// For the Status causes (reason `FieldManagerConflict`): pairs of the
    /// owner as printed (`"kubectl" using apps/v1`, so the cause message is
    /// `conflict with {0}`) and the field (`.spec.replicas`).
    pub fn conflicts(&self) -> Vec<(String, String)> {
        match self {
            ApplyError::Conflicts(cs) => cs.iter().map(|c| (c.printed_manager(), c.path.to_string())).collect(),
            ApplyError::Invalid(_) => Vec::new(),
        }
    }
}

fn exclude(set: &mut FieldSet, ignored: &[Vec<PathElement>]) {
    set.exclude(ignored);
}

impl FieldSet {
    /// Every field of an object, as Kubernetes' ToFieldSet: each leaf, each
    /// granular list item (with its own path), each empty or null map
    /// value. List items the schema cannot key are skipped.
    pub fn from_object(obj: &Value, schema: &dyn Schema) -> FieldSet {
        let mut out = FieldSet::new();
        let _ = walk::to_field_set(obj, &mut Vec::new(), schema, Mode::Lenient, &mut out);
        out
    }
}

fn object_or_invalid(v: &Value, what: &str) -> Result<(), ApplyError> {
    if v.is_object() {
        Ok(())
    } else {
        Err(ApplyError::Invalid(format!("{what} must be a JSON object, got {}", kind_name(v))))
    }
}

/// A server-side apply: merges `applied` (the applied configuration) into
/// `live` (`None` = the object does not exist yet) per the schema. Fields
/// `manager` applied before but not now are removed unless another manager
/// owns them; fields other managers own with a different value are
/// conflicts unless `force`, which moves them to `manager`. Returns the new
/// object and the new managedFields (in Kubernetes' order).
///
/// An applied `null` follows structured-merge-diff: it replaces the live
/// value and is owned by the applier (so it conflicts like any other
/// change), and the field is then absent from the returned object, as
/// Kubernetes' typed round trip leaves it.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    managed: &[ManagedFieldsEntry],
    req: &Request<'_>,
    schema: &dyn Schema,
) -> Result<(Value, Vec<ManagedFieldsEntry>), ApplyError> {
    object_or_invalid(applied, "the applied configuration")?;
    if let Some(live) = live {
        object_or_invalid(live, "the live object")?;
    }
    // Ownership is the server's to record; an applier may not write it.
    if applied.get("metadata").and_then(|m| m.get("managedFields")).is_some_and(|v| !v.is_null()) {
        return Err(ApplyError::Invalid("metadata.managedFields must be nil".to_string()));
    }
    let ignored = req.ignored.elements();

    let mut config_set = FieldSet::new();
    walk::to_field_set(applied, &mut Vec::new(), schema, Mode::Strict, &mut config_set).map_err(ApplyError::Invalid)?;
    exclude(&mut config_set, &ignored);

    let empty = Value::Object(Map::new());
    let live_obj = live.unwrap_or(&empty);
    let mut entries: Vec<ManagedFieldsEntry> = managed.to_vec();

    // An object written before anyone tracked ownership: Kubernetes hands
    // everything already there to "before-first-apply", so the first
    // applier meets conflicts instead of silently overwriting.
    if live.is_some() && entries.is_empty() {
        let mut existing = FieldSet::new();
        let _ = walk::to_field_set(live_obj, &mut Vec::new(), schema, Mode::Lenient, &mut existing);
        exclude(&mut existing, &ignored);
        if !existing.is_empty() {
            let mut e = req.entry(Operation::Update, existing);
            e.manager = "before-first-apply".to_string();
            entries.push(e);
        }
    }

    let me = req.entry(Operation::Apply, config_set);
    let (mine, last_set, last_time) = match entries.iter().position(|e| e.same_manager(&me)) {
        Some(i) => {
            let last = std::mem::take(&mut entries[i].fields);
            let time = std::mem::take(&mut entries[i].time);
            entries[i] = me;
            (i, last, Some(time))
        }
        None => {
            entries.push(me);
            (entries.len() - 1, FieldSet::new(), None)
        }
    };

    let merged = walk::merge(Some(live_obj), applied, &mut Vec::new(), schema);
    let mut result = prune(merged, &last_set, &entries, &ignored, schema);

    let mut cmp = Comparison::default();
    walk::compare(Some(live_obj), Some(&result), &mut Vec::new(), schema, &mut cmp);
    cmp.exclude(&ignored);
    let changed = cmp.modified.union(&cmp.added);

    let mut conflicts: Vec<(String, Conflict)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if i == mine {
            continue;
        }
        for path in e.fields.intersection(&changed).paths() {
            conflicts.push((
                e.identifier(),
                Conflict {
                    manager: e.manager.clone(),
                    operation: e.operation,
                    api_version: e.api_version.clone(),
                    subresource: e.subresource.clone(),
                    path,
                },
            ));
        }
    }
    if !conflicts.is_empty() && !req.force {
        conflicts.sort_by(|a, b| a.0.cmp(&b.0));
        return Err(ApplyError::Conflicts(conflicts.into_iter().map(|(_, c)| c).collect()));
    }

    for (i, e) in entries.iter_mut().enumerate() {
        if i != mine {
            e.fields = e.fields.difference(&changed).difference(&cmp.removed);
        }
    }
    walk::strip_nulls(&mut result);
    // A no-op apply keeps the entry's time, as Kubernetes only stamps the
    // time when the object changed.
    if let Some(time) = last_time {
        if result == *live_obj {
            entries[mine].time = time;
        }
    }
    entries.retain(|e| !e.fields.is_empty());
    managed::sort_entries(&mut entries);
    Ok((result, entries))
}

/// Removes what the applier owned last time, declares no longer, and nobody
/// else owns (structured-merge-diff's prune). A field somebody else owns, or
/// a list item or map with something owned inside, stays; so do the key
/// fields of a list item that stays. Maps and lists left empty by a removal
/// go too, when nobody owns them, except above ignored fields (the removal
/// of a label must not take `metadata` along).
fn prune(
    mut obj: Value,
    last: &FieldSet,
    entries: &[ManagedFieldsEntry],
    ignored: &[Vec<PathElement>],
    schema: &dyn Schema,
) -> Value {
    if last.is_empty() {
        return obj;
    }
    let owned = entries.iter().fold(FieldSet::new(), |acc, e| acc.union(&e.fields));
    for path in last.difference(&owned).paths() {
        let p = &path.0;
        if owned.has_descendants(p) || is_key_field(p) {
            continue;
        }
        if !walk::remove_at(&mut obj, p, schema) {
            continue;
        }
        for depth in (1..p.len()).rev() {
            let ancestor = &p[..depth];
            if owned.contains(ancestor)
                || owned.has_descendants(ancestor)
                || ignored.iter().any(|ig| ig.starts_with(ancestor))
            {
                break;
            }
            let emptied = match walk::get_at(&obj, ancestor, schema) {
                Some(Value::Object(m)) => m.is_empty(),
                Some(Value::Array(a)) => a.is_empty(),
                _ => false,
            };
            if !emptied || !walk::remove_at(&mut obj, ancestor, schema) {
                break;
            }
        }
    }
    obj
}

/// Whether the path ends at one of the key fields of a map-list item.
fn is_key_field(path: &[PathElement]) -> bool {
    match path {
        [.., PathElement::Key(keys), PathElement::Field(name)] => keys.iter().any(|(k, _)| k == name),
        _ => false,
    }
}

/// Ownership for any other write (create, update, patch): the fields whose
/// values changed between `old` (`None` on create) and `new` become owned by
/// `manager` with operation Update — one entry per manager, apiVersion and
/// subresource — and are taken from every other entry; fields removed from
/// the object leave every set; entries left empty are dropped. An entry's
/// time moves only when it took fields.
pub fn update(
    old: Option<&Value>,
    new: &Value,
    managed: &[ManagedFieldsEntry],
    req: &Request<'_>,
    schema: &dyn Schema,
) -> Result<Vec<ManagedFieldsEntry>, ApplyError> {
    object_or_invalid(new, "the new object")?;
    if let Some(old) = old {
        object_or_invalid(old, "the old object")?;
    }
    let ignored = req.ignored.elements();
    let empty = Value::Object(Map::new());
    let mut cmp = Comparison::default();
    walk::compare(Some(old.unwrap_or(&empty)), Some(new), &mut Vec::new(), schema, &mut cmp);
    cmp.exclude(&ignored);
    let changed = cmp.modified.union(&cmp.added);

    let mut entries: Vec<ManagedFieldsEntry> = managed.to_vec();
    for e in &mut entries {
        e.fields = e.fields.difference(&changed).difference(&cmp.removed);
    }
    if !changed.is_empty() {
        let me = req.entry(Operation::Update, changed);
        match entries.iter_mut().find(|e| e.same_manager(&me)) {
            Some(e) => {
                e.fields = e.fields.union(&me.fields);
                e.time = me.time;
                e.api_version = me.api_version;
            }
            None => entries.push(me),
        }
    }
    entries.retain(|e| !e.fields.is_empty());
    managed::sort_entries(&mut entries);
    Ok(entries)
}
