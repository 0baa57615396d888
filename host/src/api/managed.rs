//! Field ownership on every write (`metadata.managedFields`, as Kubernetes
//! records it) and server-side apply, over the structured merge of
//! `skiff_apimachinery::apply` with each kind's list semantics.

use serde_json::Value;
use skiff_apimachinery::apply::{self, ApplyError, Ignored, ListType, ManagedFieldsEntry, Request};

use super::error::{ApiError, ApiResult, Cause};
use super::meta;
use crate::resources::{Codec, ResourceType};

/// A kind's codec as the merge sees it.
struct KindSchema<'a>(&'a dyn Codec);

impl apply::Schema for KindSchema<'_> {
    fn list_type(&self, path: &[&str]) -> ListType {
        self.0.list_type(path)
    }

    fn map_is_atomic(&self, path: &[&str]) -> bool {
        self.0.map_is_atomic(path)
    }

    /// Ports are keyed on port and protocol; a port without one is TCP, as
    /// Kubernetes' defaulting makes it before it keys the item.
    fn list_key_default(&self, path: &[&str], key: &str) -> Option<Value> {
        (key == "protocol" && path.last() == Some(&"ports")).then(|| Value::String("TCP".into()))
    }
}

/// Who writes, for the ownership records.
#[derive(Clone, Debug)]
pub struct FieldManager<'a> {
    pub name: &'a str,
    pub subresource: Option<&'a str>,
    /// Server-side apply's `force`: take fields others own.
    pub force: bool,
}

/// What the server never lets apply fight over: identity and bookkeeping,
/// and the status of a kind with a status subresource (written through it).
fn ignored(rt: &ResourceType, subresource: Option<&str>) -> Ignored {
    let standard = Ignored::standard();
    if rt.status && subresource.is_none() {
        standard.with(&["status"])
    } else {
        standard
    }
}

/// What a merge request borrows: when, which fields are the server's, and
/// the apiVersion ownership is recorded under.
struct Stamp {
    now: String,
    ignored: Ignored,
    api_version: String,
}

impl Stamp {
    fn new(rt: &ResourceType, manager: &FieldManager<'_>) -> Stamp {
        Stamp { now: meta::now(), ignored: ignored(rt, manager.subresource), api_version: rt.api_version() }
    }

    fn request<'a>(&'a self, manager: &'a FieldManager<'a>, force: bool) -> Request<'a> {
        Request {
            manager: manager.name,
            api_version: &self.api_version,
            time: &self.now,
            subresource: manager.subresource.unwrap_or(""),
            force,
            ignored: &self.ignored,
        }
    }
}

/// The entries recorded on `obj`; records that no longer decode (written by
/// something else) are dropped rather than failing every later write.
fn entries_of(obj: Option<&Value>) -> Vec<ManagedFieldsEntry> {
    obj.map(|o| apply::decode_managed_fields(&o["metadata"]["managedFields"]).unwrap_or_default()).unwrap_or_default()
}

fn store(obj: &mut Value, entries: &[ManagedFieldsEntry]) {
    let m = meta::metadata_mut(obj);
    if entries.is_empty() {
        m.remove("managedFields");
    } else {
        m.insert("managedFields".into(), apply::encode_managed_fields(entries));
    }
}

/// Records which fields `manager` changed from `old` to `new` (an Update).
/// As in Kubernetes, `managedFields` a request changes are the base this
/// write is recorded over (kubectl's client-side to server-side migration
/// relies on it); `[{}]` clears them; an empty list counts as not sent, so
/// clients unaware of the field never strip it.
pub fn track(rt: &ResourceType, old: Option<&Value>, new: &mut Value, manager: &FieldManager<'_>) -> ApiResult<()> {
    let requested = new.get_mut("metadata").and_then(Value::as_object_mut).and_then(|m| m.remove("managedFields"));
    let before = old.map(|o| &o["metadata"]["managedFields"]).filter(|v| !v.is_null());
    let base = match requested {
        Some(Value::Array(list)) if list.len() == 1 && list[0].as_object().is_some_and(|e| e.is_empty()) => {
            return Ok(());
        }
        Some(list) if !list.is_null() && list.as_array().is_none_or(|l| !l.is_empty()) && Some(&list) != before => {
            apply::decode_managed_fields(&list).map_err(|e| ApiError::bad_request(e.to_string()))?
        }
        _ => entries_of(old),
    };
    let stamp = Stamp::new(rt, manager);
    let req = stamp.request(manager, false);
    let entries =
        apply::update(old, new, &base, &req, &KindSchema(rt.codec.as_ref())).map_err(|e| apply_error(rt, e))?;
    store(new, &entries);
    Ok(())
}

/// Server-side apply of `applied` onto `live` (None: the object is new).
/// Returns the merged object carrying its new `managedFields`.
pub fn apply_config(
    rt: &ResourceType,
    live: Option<&Value>,
    applied: &Value,
    manager: &FieldManager<'_>,
) -> ApiResult<Value> {
    if !applied.is_object() {
        return Err(ApiError::bad_request("the applied configuration must be an object"));
    }
    for (field, expected) in [("apiVersion", rt.api_version()), ("kind", rt.kind.clone())] {
        match applied[field].as_str() {
            None | Some("") => {
                return Err(ApiError::bad_request(format!("{field} must be set in an applied configuration")))
            }
            Some(v) if v != expected => {
                return Err(ApiError::bad_request(format!(
                    "the {field} in the applied configuration ({v}) does not match the endpoint's ({expected})"
                )))
            }
            Some(_) => {}
        }
    }
    let stamp = Stamp::new(rt, manager);
    let req = stamp.request(manager, manager.force);
    let schema = KindSchema(rt.codec.as_ref());
    let managed = entries_of(live);
    let (mut merged, entries) = match apply::apply(live, applied, &managed, &req, &schema) {
        Err(ApplyError::Conflicts(conflicts))
            if manager.name == "kubectl" && moving_from_client_side(live, &conflicts, &schema) =>
        {
            apply::apply(live, applied, &managed, &Request { force: true, ..req }, &schema)
        }
        other => other,
    }
    .map_err(|e| apply_error(rt, e))?;
    store(&mut merged, &entries);
    keep_last_applied(live, applied, &mut merged);
    Ok(merged)
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The first server-side apply by kubectl of an object it applied
/// client-side conflicts with `kubectl-client-side-apply` on every field it
/// changes. As Kubernetes does, those conflicts are waived when the fields
/// are all in the last-applied configuration: the user is moving the same
/// manifest from one way of applying to the other (kubectl then migrates
/// the ownership). Other managers get their conflicts.
fn moving_from_client_side(live: Option<&Value>, conflicts: &[apply::Conflict], schema: &KindSchema<'_>) -> bool {
    let Some(text) = live.and_then(|l| l["metadata"]["annotations"][LAST_APPLIED].as_str()) else { return false };
    let Ok(last) = serde_json::from_str::<Value>(text) else { return false };
    let fields = apply::FieldSet::from_object(&last, schema);
    !conflicts.is_empty() && conflicts.iter().all(|c| fields.contains(&c.path.0))
}

/// An object that still carries kubectl's last-applied annotation keeps it
/// in step with what is applied server-side, so a later client-side apply
/// does not undo it.
fn keep_last_applied(live: Option<&Value>, applied: &Value, merged: &mut Value) {
    if live.is_none_or(|l| l["metadata"]["annotations"][LAST_APPLIED].is_null()) {
        return;
    }
    if !applied["metadata"]["annotations"][LAST_APPLIED].is_null() {
        return;
    }
    let mut config = applied.clone();
    if let Some(m) = config.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in ["resourceVersion", "uid", "managedFields", "creationTimestamp"] {
            m.remove(f);
        }
    }
    if let Some(annotations) = meta::metadata_mut(merged).get_mut("annotations").and_then(Value::as_object_mut) {
        annotations.insert(LAST_APPLIED.into(), Value::String(format!("{config}\n")));
    }
}

/// Conflicts are 409s listing each field and its manager, in Kubernetes'
/// words; a configuration the merge cannot read is the client's mistake.
fn apply_error(rt: &ResourceType, e: ApplyError) -> ApiError {
    match &e {
        ApplyError::Conflicts(conflicts) => {
            let causes = conflicts
                .iter()
                .map(|c| Cause {
                    reason: "FieldManagerConflict",
                    field: c.path.to_string(),
                    message: c.cause_message(),
                })
                .collect();
            ApiError::apply_conflict(&rt.group, &rt.plural, e.to_string(), causes)
        }
        ApplyError::Invalid(message) => ApiError::bad_request(message.clone()),
    }
}

/// The manager a request names, or Kubernetes' fallback: the user agent's
/// program name.
pub fn manager_name(field_manager: Option<&str>, user_agent: Option<&str>) -> ApiResult<String> {
    let name = match field_manager.filter(|m| !m.is_empty()) {
        Some(m) => m.to_string(),
        None => user_agent.and_then(|ua| ua.split('/').next()).unwrap_or("unknown").trim().to_string(),
    };
    if name.len() > 128 {
        return Err(ApiError::unprocessable(format!(
            "fieldManager: Too long: may not be more than 128 bytes (got {})",
            name.len()
        )));
    }
    Ok(name)
}
