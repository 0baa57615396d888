//! The `scale` subresource: an `autoscaling/v1` Scale view of the replicas
//! at the paths the kind's strategy names (`spec.replicas` for the built-in
//! workloads, a CRD's `specReplicasPath` for custom ones).

use serde_json::{json, Value};

use super::error::{ApiError, ApiResult, Cause};
use super::patch::{apply_patch, Patch};
use super::update::{AdmissionView, Finish};
use super::{meta, Api, Outcome, WriteOptions};
use crate::resources::{read_path, write_path, ResourceType, ScalePaths, SelectorForm};

/// The Scale object for `obj`.
pub fn scale_of(paths: &ScalePaths, obj: &Value) -> Value {
    let selector = match &paths.selector {
        Some((path, SelectorForm::LabelSelector)) => read_path(obj, path)
            .and_then(|s| skiff_apimachinery::labels::Selector::from_label_selector(s).ok())
            .map(|s| s.to_string())
            .unwrap_or_default(),
        Some((path, SelectorForm::Text)) => {
            read_path(obj, path).and_then(Value::as_str).unwrap_or_default().to_string()
        }
        None => String::new(),
    };
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
        "spec": {"replicas": read_path(obj, &paths.spec_replicas).and_then(Value::as_i64).unwrap_or(paths.default_replicas)},
        "status": {"replicas": read_path(obj, &paths.status_replicas).and_then(Value::as_i64).unwrap_or(0), "selector": selector},
    })
}

pub enum ScaleChange {
    Replace(Value),
    Patch(Patch),
}

impl Api {
    /// Changes the replicas through a Scale (replaced or patched). Admission
    /// sees the Scale (`deployments/scale`), as in Kubernetes.
    pub async fn update_scale(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        change: ScaleChange,
        opts: WriteOptions,
    ) -> ApiResult<Value> {
        let paths = rt.scale().ok_or_else(|| ApiError::not_found(&rt.group, &format!("{}/scale", &rt.plural), name))?;
        let key = super::key_for(rt, namespace, name);
        // The object changes under the main resource's name: ownership of the
        // replicas is recorded for `/scale`.
        let how = Finish::new(&opts, Some("scale"));
        let compute = |old: Value, validate: bool| {
            let scale = scale_of(&paths, &old);
            let wanted = match &change {
                ScaleChange::Replace(body) => body.clone(),
                ScaleChange::Patch(patch) => apply_patch(&scale, patch, "Scale")?,
            };
            let rv = meta::resource_version(&wanted);
            if !rv.is_empty() && rv != meta::resource_version(&old) {
                return Err(ApiError::modified(&rt.group, &rt.plural, name));
            }
            let replicas = replicas_of(&wanted, name)?;
            let mut new = old.clone();
            write_path(&mut new, &paths.spec_replicas, json!(replicas));
            super::update::finish(rt, old, new, &how, validate)
        };
        let view = |obj: &Value| scale_of(&paths, obj);
        let apply = |obj: &mut Value, scale: &Value| {
            write_path(obj, &paths.spec_replicas, json!(replicas_of(scale, name)?));
            Ok(())
        };
        let view = AdmissionView { view: &view, apply: &apply };
        let (outcome, _) = self.write_update(rt, &key, Some("scale"), &opts, compute, Some(&view)).await?;
        let obj = match outcome {
            Outcome::Written(v) | Outcome::Created(v) | Outcome::Unchanged(v) | Outcome::Deleted(v) => v,
        };
        Ok(scale_of(&paths, &obj))
    }
}

/// `spec.replicas` of a Scale: a non-negative 32-bit count (absent is 0).
fn replicas_of(scale: &Value, name: &str) -> ApiResult<i64> {
    match &scale["spec"]["replicas"] {
        Value::Number(n) => n.as_i64().filter(|r| *r >= 0 && *r <= i64::from(i32::MAX)),
        Value::Null => Some(0),
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::invalid(
            "autoscaling",
            "Scale",
            name,
            vec![Cause::invalid("spec.replicas", &scale["spec"]["replicas"], "must be greater than or equal to 0")],
        )
    })
}
