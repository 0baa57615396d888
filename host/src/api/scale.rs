//! The `scale` subresource: an `autoscaling/v1` Scale view of `spec.replicas`.

use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::patch::{apply_patch, Patch};
use super::{meta, Api, Outcome};
use crate::resources::ResourceType;

/// The Scale object for a workload.
pub fn scale_of(rt: &ResourceType, obj: &Value) -> Value {
    let selector = skiff_apimachinery::labels::Selector::from_label_selector(&obj["spec"]["selector"])
        .map(|s| s.to_string())
        .unwrap_or_default();
    let m = &obj["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m["name"],
            "namespace": m["namespace"],
            "uid": m["uid"],
            "resourceVersion": m["resourceVersion"],
            "creationTimestamp": m["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(if rt.plural == "deployments" { 1 } else { 0 })},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

pub enum ScaleChange {
    Replace(Value),
    Patch(Patch),
}

impl Api {
    /// Changes `spec.replicas` through a Scale (replaced or patched).
    pub async fn update_scale(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        change: ScaleChange,
        dry_run: bool,
    ) -> ApiResult<Value> {
        let key = super::key_for(rt, namespace, name);
        let outcome = self
            .commit(rt, &key, dry_run, |current| {
                let old = current.ok_or_else(|| ApiError::not_found(rt.group, rt.plural, name))?;
                let scale = scale_of(rt, &old);
                let wanted = match &change {
                    ScaleChange::Replace(body) => body.clone(),
                    ScaleChange::Patch(patch) => apply_patch(&scale, patch, "Scale")?,
                };
                let rv = meta::resource_version(&wanted);
                if !rv.is_empty() && rv != meta::resource_version(&old) {
                    return Err(ApiError::modified(rt.group, rt.plural, name));
                }
                let replicas = match &wanted["spec"]["replicas"] {
                    Value::Number(n) => n.as_i64().filter(|r| *r >= 0 && *r <= i64::from(i32::MAX)),
                    Value::Null => Some(0),
                    _ => None,
                }
                .ok_or_else(|| {
                    ApiError::invalid(
                        "autoscaling",
                        "Scale",
                        name,
                        vec![super::error::Cause::invalid(
                            "spec.replicas",
                            &wanted["spec"]["replicas"],
                            "must be greater than or equal to 0",
                        )],
                    )
                })?;
                let mut new = old.clone();
                new["spec"]["replicas"] = json!(replicas);
                super::update::finish(rt, old, new, None, crate::resources::FieldValidation::Ignore, true)
                    .map(|(d, _)| d)
            })
            .await?;
        let obj = match outcome {
            Outcome::Written(v) | Outcome::Unchanged(v) => v,
            Outcome::Deleted(v) => v,
        };
        Ok(scale_of(rt, &obj))
    }
}
