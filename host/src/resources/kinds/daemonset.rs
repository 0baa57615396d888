//! DaemonSet: a pod-template workload, one pod per node; its status always
//! carries the four scheduling counters.

use serde_json::{json, Value};

use super::reset_status;
use crate::errors::Cause;
use crate::resources::validation::{immutable, workload};
use crate::resources::Strategy;

pub struct DaemonSet;

fn zero() -> Value {
    json!({"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0})
}

impl Strategy for DaemonSet {
    fn prepare_for_create(&self, obj: &mut Value) {
        reset_status(obj, zero());
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
}
