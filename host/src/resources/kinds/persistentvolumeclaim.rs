//! PersistentVolumeClaim: what it asks for is fixed once made.

use serde_json::{json, Value};

use super::reset_status;
use crate::errors::Cause;
use crate::resources::validation::{immutable, pvc};
use crate::resources::Strategy;

pub struct PersistentVolumeClaim;

impl Strategy for PersistentVolumeClaim {
    fn prepare_for_create(&self, obj: &mut Value) {
        reset_status(obj, json!({"phase": "Pending"}));
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        pvc(&obj["spec"], "spec", &mut errs);
        errs
    }

    fn validate_update(&self, obj: &Value, old: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        immutable(
            obj,
            old,
            &["spec.accessModes", "spec.selector", "spec.storageClassName", "spec.volumeMode"],
            &mut errs,
        );
        errs
    }

    fn field_labels(&self) -> &[&str] {
        &["status.phase"]
    }
}
