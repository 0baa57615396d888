//! StatefulSet: a pod-template workload with claim templates and a governing
//! Service; most of its identity is fixed once made.

use serde_json::{json, Value};

use super::reset_status;
use crate::errors::Cause;
use crate::resources::validation::{immutable, pvc, workload};
use crate::resources::{ScalePaths, Strategy};

pub struct StatefulSet;

/// What Kubernetes always serialises of a StatefulSet's status.
fn zero() -> Value {
    json!({"replicas": 0, "availableReplicas": 0})
}

impl Strategy for StatefulSet {
    fn prepare_for_create(&self, obj: &mut Value) {
        reset_status(obj, zero());
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let spec = &obj["spec"];
        let mut errs = Vec::new();
        workload(spec, &mut errs);
        for (i, claim) in spec["volumeClaimTemplates"].as_array().into_iter().flatten().enumerate() {
            pvc(&claim["spec"], &format!("spec.volumeClaimTemplates[{i}].spec"), &mut errs);
        }
        errs
    }

    fn validate_update(&self, obj: &Value, old: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        immutable(
            obj,
            old,
            &["spec.selector", "spec.serviceName", "spec.podManagementPolicy", "spec.volumeClaimTemplates"],
            &mut errs,
        );
        errs
    }

    fn scale(&self) -> Option<ScalePaths> {
        Some(ScalePaths::workload(1))
    }
}
