//! RFC 7386 JSON Merge Patch: objects merge recursively, `null` deletes a
//! member, anything else (arrays included) replaces the target.
//!
//! Like `evanphx/json-patch` (which Kubernetes uses), nulls inside values
//! that are placed rather than merged are dropped too, so a merge patch
//! never stores a literal `null` in an object.

use serde_json::{Map, Value};

use super::prune_nulls;

/// Applies `patch` to `target`, returning the merged document. Merge patch
/// cannot fail: a non-object patch simply replaces the document, and it is
/// up to the caller to validate the result.
pub fn apply(target: &Value, patch: &Value) -> Value {
    merge(Some(target), patch)
}

fn merge(target: Option<&Value>, patch: &Value) -> Value {
    let Value::Object(patch) = patch else {
        return prune_nulls(patch);
    };
    let mut out: Map<String, Value> = match target {
        Some(Value::Object(t)) => t.clone(),
        _ => Map::new(),
    };
    for (key, value) in patch {
        if value.is_null() {
            // shift_remove keeps the remaining keys in their original order.
            out.shift_remove(key);
        } else {
            let merged = merge(out.get(key), value);
            out.insert(key.clone(), merged);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7386_appendix_a() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ];
        for (target, patch, want) in cases {
            assert_eq!(apply(&target, &patch), want, "{target} + {patch}");
        }
    }

    #[test]
    fn kubernetes_object_patch() {
        let deploy = json!({
            "metadata": {"name": "d", "labels": {"app": "web", "old": "x"}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a", "image": "v1"}, {"name": "b", "image": "v1"}]}}}
        });
        let patched = apply(
            &deploy,
            &json!({
                "metadata": {"labels": {"old": null, "new": "y"}},
                "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "b", "image": "v2", "args": null}]}}}
            }),
        );
        assert_eq!(
            patched,
            json!({
                "metadata": {"name": "d", "labels": {"app": "web", "new": "y"}},
                "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "b", "image": "v2"}]}}}
            })
        );
        assert_eq!(deploy["spec"]["replicas"], json!(1), "input untouched");
    }

    #[test]
    fn preserves_key_order() {
        let out = apply(&json!({"a": 1, "b": 2, "c": 3}), &json!({"a": null, "b": 5, "d": 4}));
        assert_eq!(out.to_string(), r#"{"b":5,"c":3,"d":4}"#);
    }
}
