//! Deployment: a pod-template workload with a rollout strategy; one replica
//! unless told otherwise.

use serde_json::Value;

use crate::errors::Cause;
use crate::resources::validation::{immutable, workload};
use crate::resources::{ScalePaths, Strategy};

pub struct Deployment;

impl Strategy for Deployment {
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let spec = &obj["spec"];
        let mut errs = Vec::new();
        workload(spec, &mut errs);
        let ty = &spec["strategy"]["type"];
        let ok = ["Recreate", "RollingUpdate"];
        if !ty.as_str().is_some_and(|t| ok.contains(&t)) {
            errs.push(Cause::unsupported("spec.strategy.type", ty, &ok));
        }
        if ty.as_str() == Some("Recreate") && !spec["strategy"]["rollingUpdate"].is_null() {
            errs.push(Cause::forbidden(
                "spec.strategy.rollingUpdate",
                "may not be specified when strategy `type` is 'Recreate'",
            ));
        }
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
}
