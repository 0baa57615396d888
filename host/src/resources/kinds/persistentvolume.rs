//! PersistentVolume: a source and capacity; phase Pending until the PV controller acts.

use serde_json::{json, Value};

use super::reset_status;
use crate::errors::Cause;
use crate::resources::Strategy;

pub struct PersistentVolume;

impl Strategy for PersistentVolume {
    fn prepare_for_create(&self, obj: &mut Value) {
        reset_status(obj, json!({"phase": "Pending"}));
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        crate::resources::validation::pv(&obj["spec"], &mut errs);
        errs
    }

    fn field_labels(&self) -> &[&str] {
        &["status.phase"]
    }
}
