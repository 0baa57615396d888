//! ReplicaSet: a pod-template workload; its status always carries `replicas`.

use serde_json::{json, Value};

use super::reset_status;
use crate::errors::Cause;
use crate::resources::validation::{immutable, workload};
use crate::resources::{ScalePaths, Strategy};

pub struct ReplicaSet;

impl Strategy for ReplicaSet {
    fn prepare_for_create(&self, obj: &mut Value) {
        reset_status(obj, json!({"replicas": 0}));
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        workload(&obj["spec"], &mut errs);
        errs
    }

    fn validate_update(&self, obj: &Value, old: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        immutable(obj, old, &["spec.selector"], &mut errs);
        errs
    }

    fn scale(&self) -> Option<ScalePaths> {
        Some(ScalePaths::workload(1))
    }

    fn field_labels(&self) -> &[&str] {
        &["status.replicas"]
    }
}
