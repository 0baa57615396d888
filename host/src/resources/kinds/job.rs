//! Job: its pods selected by its own uid unless `manualSelector`; a restart
//! policy of OnFailure or Never; selector and completion mode fixed. Jobs
//! keep their historical Orphan default on delete so old clients keep pods' logs.

use serde_json::{json, Value};

use super::reset_status;
use crate::errors::Cause;
use crate::resources::validation::{immutable, job_spec};
use crate::resources::{Propagation, Strategy};

pub struct Job;

impl Strategy for Job {
    fn prepare_for_create(&self, obj: &mut Value) {
        reset_status(obj, json!({}));
        let uid = obj["metadata"]["uid"].as_str().unwrap_or("").to_string();
        if let Some(o) = obj.as_object_mut() {
            generate_job_selector(o, &uid);
        }
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        job_spec(&obj["spec"], "spec", &mut errs);
        errs
    }

    fn validate_update(&self, obj: &Value, old: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        immutable(obj, old, &["spec.selector", "spec.completionMode"], &mut errs);
        errs
    }

    fn default_propagation(&self) -> Propagation {
        Propagation::Orphan
    }

    fn field_labels(&self) -> &[&str] {
        &["status.successful"]
    }
}

/// A Job without `manualSelector` selects its pods by its own uid.
fn generate_job_selector(job: &mut serde_json::Map<String, Value>, uid: &str) {
    let name = job.get("metadata").and_then(|m| m["name"].as_str()).unwrap_or("").to_string();
    let Some(spec) = job.get_mut("spec").and_then(Value::as_object_mut) else { return };
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let labels = json!({
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    });
    if spec.get("selector").is_none_or(Value::is_null) {
        spec.insert("selector".into(), json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}));
    }
    let template = spec.entry("template").or_insert_with(|| json!({}));
    if !template["metadata"].is_object() {
        template["metadata"] = json!({});
    }
    if !template["metadata"]["labels"].is_object() {
        template["metadata"]["labels"] = json!({});
    }
    if let (Some(target), Some(extra)) = (template["metadata"]["labels"].as_object_mut(), labels.as_object()) {
        for (k, v) in extra {
            target.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}
