//! Secret: data keys, immutable data, and the `type` field label.

use serde_json::Value;

use crate::errors::Cause;
use crate::resources::validation::{data_keys, immutable_data};
use crate::resources::Strategy;

pub struct Secret;

impl Strategy for Secret {
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        data_keys(obj, &["data", "stringData"], &mut errs);
        errs
    }

    fn validate_update(&self, obj: &Value, old: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        immutable_data(obj, old, &mut errs);
        errs
    }

    fn field_labels(&self) -> &[&str] {
        &["type"]
    }
}
