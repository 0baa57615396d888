//! ConfigMap: data keys, and data frozen once `immutable` is set.

use serde_json::Value;

use crate::errors::Cause;
use crate::resources::validation::{data_keys, immutable_data};
use crate::resources::Strategy;

pub struct ConfigMap;

impl Strategy for ConfigMap {
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        data_keys(obj, &["data", "binaryData"], &mut errs);
        errs
    }

    fn validate_update(&self, obj: &Value, old: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        immutable_data(obj, old, &mut errs);
        errs
    }
}
