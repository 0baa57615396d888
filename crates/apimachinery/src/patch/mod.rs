//! The three PATCH content types the API server accepts, applied to plain
//! `serde_json::Value` objects:
//!
//! - [`json_patch`]: RFC 6902 (`application/json-patch+json`)
//! - [`merge_patch`]: RFC 7386 (`application/merge-patch+json`)
//! - [`strategic`]: Kubernetes strategic merge patch
//!   (`application/strategic-merge-patch+json`), with the built-in types'
//!   merge keys in [`k8s_meta`].
//!
//! Every function borrows its input and returns a new value, so a failed
//! patch never leaves a half-applied object behind.

pub mod json_patch;
pub mod k8s_meta;
pub mod merge_patch;
pub mod strategic;

pub use k8s_meta::{openapi_extensions, KindPatchMeta, KubernetesPatchMeta, PatchExtension};

use serde_json::Value;
use thiserror::Error;

/// Why a patch could not be applied. The split mirrors the status codes a
/// Kubernetes API server answers with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PatchError {
    /// The patch document itself is malformed (answer 400 Bad Request).
    #[error("{0}")]
    Malformed(String),
    /// The patch is well-formed but does not apply to this object
    /// (answer 422 Unprocessable Entity).
    #[error("{0}")]
    Unprocessable(String),
    /// The patch would make the request too expensive: too many operations or
    /// too much copied data (answer 413 Request Entity Too Large).
    #[error("{0}")]
    TooLarge(String),
}

/// JSON equality with numbers compared by value (`1 == 1.0`), which is what
/// RFC 6902 `test` and Go's decoded-`float64` comparisons both mean.
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Copies `value` with `null` members of objects dropped at every depth
/// (null array elements stay). Patches use `null` to mean "delete", so a
/// value that is being placed, not merged, must not keep literal nulls.
pub(crate) fn prune_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), prune_nulls(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(prune_nulls).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_equal(&json!(1), &json!(1.0)));
        assert!(json_equal(&json!({"a": [1, 2.5]}), &json!({"a": [1.0, 2.5]})));
        assert!(!json_equal(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!json_equal(&json!("1"), &json!(1)));
        assert!(json_equal(&json!(u64::MAX), &json!(u64::MAX)));
    }

    #[test]
    fn pruning_keeps_array_slots() {
        assert_eq!(prune_nulls(&json!({"a": null, "b": [null, {"c": null, "d": 1}]})), json!({"b": [null, {"d": 1}]}));
    }
}
