//! patch: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and Kubernetes'
//! strategic merge patch, applied to the current object inside the write
//! transaction so a patch never loses a concurrent change.

use serde_json::Value;
use skiff_apimachinery::patch::{json_patch, merge_patch, strategic, KubernetesPatchMeta, PatchError};

use super::error::{ApiError, ApiResult};
use super::{key_for, meta, update, Api, Outcome, WriteOptions};
use crate::resources::ResourceType;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
}

impl PatchType {
    pub fn from_content_type(content_type: &str) -> ApiResult<PatchType> {
        match content_type {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Err(ApiError::unsupported_media_type(
                "server-side apply (application/apply-patch+yaml) is not supported by skiff yet; use client-side `kubectl apply` (without --server-side)",
            )),
            other => Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format ({other}) - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json"
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
/// a strategic merge patch follows).
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
        let key = key_for(rt, namespace, name);
        let compute = |old: Value, validate: bool| {
            let patched = apply_patch(&old, &patch, rt.kind)?;
            if !patched.is_object() {
                return Err(ApiError::unprocessable(
                    "the patch turned the object into something that is not an object",
                ));
            }
            let wanted_rv = meta::resource_version(&patched);
            if !wanted_rv.is_empty() && wanted_rv != meta::resource_version(&old) {
                return Err(ApiError::modified(rt.group, rt.plural, name));
            }
            for (field, expected) in [("apiVersion", rt.api_version()), ("kind", rt.kind.to_string())] {
                if patched[field].as_str() != Some(expected.as_str()) {
                    return Err(ApiError::bad_request(format!(
                        "a patch may not change {field} (to {})",
                        patched[field]
                    )));
                }
            }
            update::finish(rt, old, patched, subresource, opts.field_validation, validate)
        };
        self.write_update(rt, &key, namespace, subresource, &opts, compute).await
    }
}
