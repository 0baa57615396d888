//! StorageClass: a provisioner is required; what it provisions with is fixed.

use serde_json::Value;

use crate::errors::Cause;
use crate::resources::validation::immutable;
use crate::resources::Strategy;

pub struct StorageClass;

impl Strategy for StorageClass {
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        if obj["provisioner"].as_str().unwrap_or("").is_empty() {
            vec![Cause::required("provisioner")]
        } else {
            Vec::new()
        }
    }

    fn validate_update(&self, obj: &Value, old: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        immutable(obj, old, &["provisioner", "parameters", "reclaimPolicy", "volumeBindingMode"], &mut errs);
        errs
    }
}
