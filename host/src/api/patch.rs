//! patch: JSON patch (RFC 6902), JSON merge patch (RFC 7386), Kubernetes'
//! strategic merge patch and server-side apply, applied to the current
//! object inside the write transaction so a patch never loses a concurrent
//! change. An apply to an object that does not exist creates it.

use serde_json::Value;
use skiff_apimachinery::patch::{json_patch, merge_patch, strategic, KubernetesPatchMeta, PatchError};

use super::error::{ApiError, ApiResult};
use super::{key_for, managed, meta, update, Api, Outcome, WriteOptions};
use crate::resources::ResourceType;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    /// Server-side apply (`application/apply-patch+yaml`).
    Apply,
}

impl PatchType {
    pub fn from_content_type(content_type: &str) -> ApiResult<PatchType> {
        match content_type {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" => Ok(PatchType::Apply),
            other => Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format ({other}) - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
            ))),
        }
    }
}

/// A patch as sent: its type (from the Content-Type) and its document.
pub struct Patch {
    pub kind: PatchType,
    pub body: Value,
}

/// Applies `patch` to `current`, an object of `object_kind` (whose merge keys
/// a strategic merge patch follows). Server-side apply needs the kind's
/// schema and its owners: see [`Api::patch`].
pub fn apply_patch(current: &Value, patch: &Patch, object_kind: &str) -> ApiResult<Value> {
    let (patch_type, patch) = (patch.kind, &patch.body);
    let failed = |e: PatchError| match e {
        PatchError::Malformed(m) => ApiError::bad_request(m),
        PatchError::Unprocessable(m) => ApiError::unprocessable(m),
        PatchError::TooLarge(m) => ApiError::entity_too_large(m),
    };
    match patch_type {
        PatchType::Json => {
            if !patch.is_array() {
                return Err(ApiError::bad_request("json patch must be an array of operations"));
            }
            json_patch::apply(current, patch).map_err(failed)
        }
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("merge patch must be a JSON object"));
            }
            Ok(merge_patch::apply(current, patch))
        }
        PatchType::Strategic => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("strategic merge patch must be a JSON object"));
            }
            strategic::apply(current, patch, &KubernetesPatchMeta::for_kind(object_kind)).map_err(failed)
        }
        // A Scale has one field to own; apply it as a merge.
        PatchType::Apply => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("the applied configuration must be an object"));
            }
            Ok(merge_patch::apply(current, patch))
        }
    }
}

impl Api {
    pub async fn patch(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        patch: Patch,
        opts: WriteOptions,
    ) -> ApiResult<(Outcome, Vec<String>)> {
        if patch.kind == PatchType::Strategic && rt.is_custom() {
            return Err(ApiError::unsupported_media_type(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            ));
        }
        if patch.kind == PatchType::Apply {
            if opts.field_manager.is_empty() || !opts.manager_given {
                return Err(ApiError::unprocessable(
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                ));
            }
            check_apply_target(rt, namespace, name, &patch.body)?;
        }
        let key = key_for(rt, namespace, name);
        let mut how = update::Finish::new(&opts, subresource);
        how.applied = patch.kind == PatchType::Apply;
        let compute = |old: Value, validate: bool| {
            let patched = match patch.kind {
                PatchType::Apply => managed::apply_config(rt, Some(&old), &patch.body, &how.manager)?,
                _ => apply_patch(&old, &patch, &rt.kind)?,
            };
            if !patched.is_object() {
                return Err(ApiError::unprocessable(
                    "the patch turned the object into something that is not an object",
                ));
            }
            let wanted_rv = meta::resource_version(&patched);
            if !wanted_rv.is_empty() && wanted_rv != meta::resource_version(&old) {
                return Err(ApiError::modified(&rt.group, &rt.plural, name));
            }
            for (field, expected) in [("apiVersion", rt.api_version()), ("kind", rt.kind.to_string())] {
                if patched[field].as_str() != Some(expected.as_str()) {
                    return Err(ApiError::bad_request(format!(
                        "a patch may not change {field} (to {})",
                        patched[field]
                    )));
                }
            }
            update::finish(rt, old, patched, &how, validate)
        };
        match self.write_update(rt, &key, subresource, &opts, compute, None).await {
            // Apply creates what is not there yet.
            Err(e) if e.code == 404 && patch.kind == PatchType::Apply && subresource.is_none() => {
                let mut created = managed::apply_config(rt, None, &patch.body, &how.manager)?;
                // The URL names the object; the configuration may leave the name out.
                let m = meta::metadata_mut(&mut created);
                m.insert("name".into(), serde_json::json!(name));
                m.remove("generateName");
                let (obj, warnings) =
                    self.create(rt, namespace, created, WriteOptions { owners_recorded: true, ..opts.clone() }).await?;
                Ok((Outcome::Created(obj), warnings))
            }
            other => other,
        }
    }
}

/// An applied configuration names the object it applies to, or leaves the
/// name out.
fn check_apply_target(rt: &ResourceType, namespace: Option<&str>, name: &str, body: &Value) -> ApiResult<()> {
    let body_name = meta::name(body);
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let body_ns = meta::namespace(body);
    if rt.namespaced && !body_ns.is_empty() && Some(body_ns) != namespace {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    Ok(())
}
