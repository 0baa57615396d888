//! RFC 6902 JSON Patch with RFC 6901 pointers.
//!
//! A patch is decoded once ([`JsonPatch::from_value`], errors mean 400) and
//! then applied to a copy of the document ([`JsonPatch::apply`], errors
//! mean 422), so the caller's document is never partially modified. Error
//! wording follows `evanphx/json-patch`, the library Kubernetes uses.

use serde_json::{Map, Value};

use super::{json_equal, PatchError};

/// The error type of this module (the patch-wide [`PatchError`]):
/// `Malformed` for an undecodable patch, `Unprocessable` when it does not apply.
pub type JsonPatchError = PatchError;

/// One decoded operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// Insert or overwrite `value` at `path` (`-` appends to an array).
    Add {
        /// Target pointer.
        path: String,
        /// Value to place.
        value: Value,
    },
    /// Delete the value at `path`.
    Remove {
        /// Target pointer.
        path: String,
    },
    /// Overwrite an existing value at `path`.
    Replace {
        /// Target pointer.
        path: String,
        /// Value to place.
        value: Value,
    },
    /// Remove the value at `from` and add it at `path`.
    Move {
        /// Source pointer.
        from: String,
        /// Target pointer.
        path: String,
    },
    /// Add a copy of the value at `from` at `path`.
    Copy {
        /// Source pointer.
        from: String,
        /// Target pointer.
        path: String,
    },
    /// Fail the whole patch unless the value at `path` equals `value`.
    Test {
        /// Target pointer.
        path: String,
        /// Expected value.
        value: Value,
    },
}

/// Kubernetes' cap on operations in one JSON patch.
pub const MAX_OPERATIONS: usize = 10_000;
/// Kubernetes' cap on the bytes all `copy` operations of one patch may copy.
pub const MAX_COPY_BYTES: usize = 3 * 1024 * 1024;

/// The encoded size of `v`, roughly, if it is at most `budget` bytes.
fn size_within(v: &Value, budget: usize) -> Option<usize> {
    let own = match v {
        Value::Null | Value::Bool(_) | Value::Number(_) => 8,
        Value::String(s) => s.len() + 2,
        Value::Array(items) => {
            let mut total = 2usize;
            for item in items {
                total = total.checked_add(size_within(item, budget.checked_sub(total)?)? + 1)?;
            }
            total
        }
        Value::Object(map) => {
            let mut total = 2usize;
            for (k, item) in map {
                total = total.checked_add(k.len() + 4 + size_within(item, budget.checked_sub(total)?)?)?;
            }
            total
        }
    };
    (own <= budget).then_some(own)
}

/// A decoded JSON Patch document.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JsonPatch {
    operations: Vec<Operation>,
}

/// Decodes and applies `patch` (a JSON array of operations) to `doc`.
pub fn apply(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    JsonPatch::from_value(patch)?.apply(doc)
}

impl JsonPatch {
    /// Decodes a JSON Patch document (an array of operation objects).
    pub fn from_value(patch: &Value) -> Result<Self, PatchError> {
        let Value::Array(items) = patch else {
            return Err(PatchError::Malformed(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                go_json_kind(patch)
            )));
        };
        let operations = items.iter().map(decode_operation).collect::<Result<Vec<_>, _>>()?;
        Ok(JsonPatch { operations })
    }

    /// The operations, in order.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// Number of operations (Kubernetes caps this at 10000 per request).
    pub fn len(&self) -> usize {
        self.operations.len()
    }

    /// True for `[]`.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }

    /// Applies all operations to a copy of `doc`; all or nothing. Refuses
    /// patches over Kubernetes' limits: a few `copy` operations can otherwise
    /// double the document each time and exhaust memory.
    pub fn apply(&self, doc: &Value) -> Result<Value, PatchError> {
        if self.operations.len() > MAX_OPERATIONS {
            return Err(PatchError::TooLarge(format!(
                "The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, got: {}",
                self.operations.len()
            )));
        }
        let mut out = doc.clone();
        let mut copied = 0usize;
        for op in &self.operations {
            if let Operation::Copy { from, .. } = op {
                let source = resolve(&out, &parse_pointer(from)?).ok_or_else(|| missing("copy", "from path", from))?;
                copied = size_within(source, MAX_COPY_BYTES - copied.min(MAX_COPY_BYTES))
                    .and_then(|n| copied.checked_add(n))
                    .filter(|total| *total <= MAX_COPY_BYTES)
                    .ok_or_else(|| {
                        PatchError::TooLarge(format!(
                            "Efficient JSON patch copy operations exceeded the limit of {MAX_COPY_BYTES} bytes"
                        ))
                    })?;
            }
            apply_operation(&mut out, op)?;
        }
        Ok(out)
    }
}

fn decode_operation(item: &Value) -> Result<Operation, PatchError> {
    let Value::Object(obj) = item else {
        return Err(PatchError::Malformed(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
            go_json_kind(item)
        )));
    };
    let kind = obj.get("op").and_then(Value::as_str).unwrap_or("unknown");
    let path = || string_member(obj, "path", kind);
    let from = || string_member(obj, "from", kind);
    let value =
        || obj.get("value").cloned().ok_or_else(|| PatchError::Malformed(format!("{kind} operation is missing value")));
    Ok(match kind {
        "add" => Operation::Add { path: path()?, value: value()? },
        "remove" => Operation::Remove { path: path()? },
        "replace" => Operation::Replace { path: path()?, value: value()? },
        "move" => Operation::Move { from: from()?, path: path()? },
        "copy" => Operation::Copy { from: from()?, path: path()? },
        "test" => Operation::Test { path: path()?, value: value()? },
        other => return Err(PatchError::Malformed(format!("Unexpected kind: {other}"))),
    })
}

fn string_member(obj: &Map<String, Value>, name: &str, kind: &str) -> Result<String, PatchError> {
    let s = obj
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| PatchError::Malformed(format!("{kind} operation failed to decode {name}")))?;
    // Validates syntax up front so a bad pointer is a 400, not a 422.
    parse_pointer(s)?;
    Ok(s.to_string())
}

fn go_json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Splits an RFC 6901 pointer into unescaped reference tokens.
fn parse_pointer(pointer: &str) -> Result<Vec<String>, PatchError> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(PatchError::Malformed(format!("JSON pointer must be empty or start with a \"/\": {pointer}")));
    };
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => out.push('~'),
                    Some('1') => out.push('/'),
                    _ => return Err(PatchError::Malformed(format!("invalid JSON pointer escape in {pointer:?}"))),
                }
            }
            Ok(out)
        })
        .collect()
}

// RFC 6901 array indices: decimal, no sign, no leading zeros.
fn parse_index(token: &str) -> Option<usize> {
    let ok =
        !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) && (token == "0" || !token.starts_with('0'));
    if ok {
        token.parse().ok()
    } else {
        None
    }
}

fn missing(op: &str, what: &str, path: &str) -> PatchError {
    PatchError::Unprocessable(format!(
        "{op} operation does not apply: doc is missing {what}: \"{path}\": missing value"
    ))
}

fn invalid_index(token: &str) -> PatchError {
    PatchError::Unprocessable(format!("Unable to access invalid index: {token}: invalid index referenced"))
}

fn resolve<'a>(doc: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    tokens.iter().try_fold(doc, |node, token| match node {
        Value::Object(map) => map.get(token),
        Value::Array(items) => parse_index(token).and_then(|i| items.get(i)),
        _ => None,
    })
}

fn resolve_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Option<&'a mut Value> {
    tokens.iter().try_fold(doc, |node, token| match node {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => parse_index(token).and_then(move |i| items.get_mut(i)),
        _ => None,
    })
}

fn add(doc: &mut Value, path: &str, value: Value, op: &str) -> Result<(), PatchError> {
    let tokens = parse_pointer(path)?;
    let Some((last, parents)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match resolve_mut(doc, parents) {
        Some(Value::Object(map)) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Some(Value::Array(items)) => {
            if last == "-" {
                items.push(value);
                return Ok(());
            }
            match parse_index(last) {
                Some(i) if i <= items.len() => {
                    items.insert(i, value);
                    Ok(())
                }
                _ => Err(invalid_index(last)),
            }
        }
        _ => Err(missing(op, "path", path)),
    }
}

fn remove(doc: &mut Value, path: &str, op: &str) -> Result<Value, PatchError> {
    let tokens = parse_pointer(path)?;
    let Some((last, parents)) = tokens.split_last() else {
        return Err(PatchError::Unprocessable(format!(
            "{op} operation does not apply: cannot remove the whole document"
        )));
    };
    match resolve_mut(doc, parents) {
        Some(Value::Object(map)) => map.shift_remove(last).ok_or_else(|| {
            PatchError::Unprocessable(format!("Unable to remove nonexistent key: {last}: missing value"))
        }),
        Some(Value::Array(items)) => match parse_index(last) {
            Some(i) if i < items.len() => Ok(items.remove(i)),
            _ => Err(invalid_index(last)),
        },
        _ => Err(missing(op, "path", path)),
    }
}

fn apply_operation(doc: &mut Value, op: &Operation) -> Result<(), PatchError> {
    match op {
        Operation::Add { path, value } => add(doc, path, value.clone(), "add"),
        Operation::Remove { path } => remove(doc, path, "remove").map(|_| ()),
        Operation::Replace { path, value } => {
            let tokens = parse_pointer(path)?;
            match resolve_mut(doc, &tokens) {
                Some(target) => {
                    *target = value.clone();
                    Ok(())
                }
                None => Err(PatchError::Unprocessable(format!(
                    "replace operation does not apply: doc is missing key: {path}: missing value"
                ))),
            }
        }
        Operation::Move { from, path } => {
            if from == path {
                return resolve(doc, &parse_pointer(from)?)
                    .map(|_| ())
                    .ok_or_else(|| missing("move", "from path", from));
            }
            // Moving a value into its own child would orphan it.
            if path.starts_with(&format!("{from}/")) {
                return Err(PatchError::Unprocessable(format!(
                    "move operation does not apply: \"from\" {from} is a prefix of \"path\" {path}"
                )));
            }
            if resolve(doc, &parse_pointer(from)?).is_none() {
                return Err(missing("move", "from path", from));
            }
            let value = remove(doc, from, "move")?;
            add(doc, path, value, "move")
        }
        Operation::Copy { from, path } => {
            let value =
                resolve(doc, &parse_pointer(from)?).cloned().ok_or_else(|| missing("copy", "from path", from))?;
            add(doc, path, value, "copy")
        }
        Operation::Test { path, value } => {
            let actual = resolve(doc, &parse_pointer(path)?);
            // A missing member tests equal to null, as in evanphx/json-patch.
            let matches = match actual {
                Some(actual) => json_equal(actual, value),
                None => value.is_null(),
            };
            if matches {
                Ok(())
            } else {
                Err(PatchError::Unprocessable(format!("testing value {path} failed: test failed")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(doc: Value, patch: Value) -> Result<Value, PatchError> {
        apply(&doc, &patch)
    }

    #[test]
    fn rfc6902_appendix_examples() {
        assert_eq!(
            run(json!({"foo": "bar"}), json!([{"op": "add", "path": "/baz", "value": "qux"}])),
            Ok(json!({"baz": "qux", "foo": "bar"}))
        );
        assert_eq!(
            run(json!({"foo": ["bar", "baz"]}), json!([{"op": "add", "path": "/foo/1", "value": "qux"}])),
            Ok(json!({"foo": ["bar", "qux", "baz"]}))
        );
        assert_eq!(
            run(json!({"baz": "qux", "foo": "bar"}), json!([{"op": "remove", "path": "/baz"}])),
            Ok(json!({"foo": "bar"}))
        );
        assert_eq!(
            run(json!({"foo": ["bar", "qux", "baz"]}), json!([{"op": "remove", "path": "/foo/1"}])),
            Ok(json!({"foo": ["bar", "baz"]}))
        );
        assert_eq!(
            run(json!({"baz": "qux", "foo": "bar"}), json!([{"op": "replace", "path": "/baz", "value": "boo"}])),
            Ok(json!({"baz": "boo", "foo": "bar"}))
        );
        assert_eq!(
            run(
                json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
                json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}])
            ),
            Ok(json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}))
        );
        assert_eq!(
            run(
                json!({"foo": ["all", "grass", "cows", "eat"]}),
                json!([{"op": "move", "from": "/foo/1", "path": "/foo/3"}])
            ),
            Ok(json!({"foo": ["all", "cows", "eat", "grass"]}))
        );
        assert_eq!(
            run(
                json!({"baz": "qux", "foo": ["a", 2, "c"]}),
                json!([
                    {"op": "test", "path": "/baz", "value": "qux"},
                    {"op": "test", "path": "/foo/1", "value": 2}
                ])
            ),
            Ok(json!({"baz": "qux", "foo": ["a", 2, "c"]}))
        );
        assert_eq!(
            run(json!({"foo": "bar"}), json!([{"op": "add", "path": "/child", "value": {"grandchild": {}}}])),
            Ok(json!({"foo": "bar", "child": {"grandchild": {}}}))
        );
        assert_eq!(
            run(json!({"foo": ["bar"]}), json!([{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}])),
            Ok(json!({"foo": ["bar", ["abc", "def"]]}))
        );
        assert_eq!(
            run(
                json!({"/": 9, "~1": 10}),
                json!([{"op": "test", "path": "/~01", "value": 10}, {"op": "test", "path": "/~1", "value": 9}])
            ),
            Ok(json!({"/": 9, "~1": 10}))
        );
        assert_eq!(
            run(json!({"foo": 1}), json!([{"op": "copy", "from": "/foo", "path": "/bar"}])),
            Ok(json!({"foo": 1, "bar": 1}))
        );
    }

    #[test]
    fn kubernetes_style_label_patch() {
        let pod = json!({"metadata": {"name": "p", "labels": {"app": "web"}}});
        let patched = run(
            pod,
            json!([
                {"op": "add", "path": "/metadata/labels/tier", "value": "fe"},
                {"op": "replace", "path": "/metadata/labels/app", "value": "api"},
                {"op": "add", "path": "/metadata/annotations", "value": {"a.io/x": "1"}},
                {"op": "add", "path": "/metadata/annotations/b.io~1y", "value": "2"}
            ]),
        );
        assert_eq!(
            patched,
            Ok(
                json!({"metadata": {"name": "p", "labels": {"app": "api", "tier": "fe"}, "annotations": {"a.io/x": "1", "b.io/y": "2"}}})
            )
        );
    }

    #[test]
    fn failures_leave_input_untouched_and_explain() {
        let doc = json!({"spec": {"replicas": 1}});
        let patch = json!([
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "remove", "path": "/spec/foo"}
        ]);
        assert_eq!(
            apply(&doc, &patch),
            Err(PatchError::Unprocessable("Unable to remove nonexistent key: foo: missing value".into()))
        );
        assert_eq!(doc, json!({"spec": {"replicas": 1}}));

        let err = |patch: Value| run(json!({"a": {"b": [1, 2]}}), patch).unwrap_err().to_string();
        assert_eq!(
            err(json!([{"op": "add", "path": "/x/y", "value": 1}])),
            "add operation does not apply: doc is missing path: \"/x/y\": missing value"
        );
        assert_eq!(
            err(json!([{"op": "remove", "path": "/x/y"}])),
            "remove operation does not apply: doc is missing path: \"/x/y\": missing value"
        );
        assert_eq!(
            err(json!([{"op": "replace", "path": "/a/c", "value": 1}])),
            "replace operation does not apply: doc is missing key: /a/c: missing value"
        );
        assert_eq!(
            err(json!([{"op": "test", "path": "/a/b/0", "value": 2}])),
            "testing value /a/b/0 failed: test failed"
        );
        assert_eq!(
            err(json!([{"op": "move", "from": "/nope", "path": "/a/z"}])),
            "move operation does not apply: doc is missing from path: \"/nope\": missing value"
        );
        assert_eq!(
            err(json!([{"op": "copy", "from": "/nope", "path": "/a/z"}])),
            "copy operation does not apply: doc is missing from path: \"/nope\": missing value"
        );
        assert!(err(json!([{"op": "add", "path": "/a/b/5", "value": 1}])).contains("invalid index"));
        assert!(err(json!([{"op": "add", "path": "/a/b/01", "value": 1}])).contains("invalid index"));
        assert!(err(json!([{"op": "remove", "path": "/a/b/2"}])).contains("invalid index"));
        assert!(err(json!([{"op": "remove", "path": "/a/b/-"}])).contains("invalid index"));
        assert!(err(json!([{"op": "move", "from": "/a", "path": "/a/b/c"}])).contains("prefix"));
        assert!(err(json!([{"op": "remove", "path": ""}])).contains("whole document"));
    }

    #[test]
    fn decode_errors_are_bad_requests() {
        let bad = |patch: Value| JsonPatch::from_value(&patch).unwrap_err();
        assert_eq!(bad(json!([{"op": "frob", "path": "/a"}])), PatchError::Malformed("Unexpected kind: frob".into()));
        assert!(matches!(bad(json!({"op": "add"})), PatchError::Malformed(_)));
        assert!(matches!(bad(json!([{"op": "add", "path": "/a"}])), PatchError::Malformed(_)));
        assert!(matches!(bad(json!([{"op": "add", "path": "a", "value": 1}])), PatchError::Malformed(_)));
        assert!(matches!(bad(json!([{"op": "add", "path": "/a~2", "value": 1}])), PatchError::Malformed(_)));
        assert!(matches!(bad(json!([{"op": "move", "path": "/a"}])), PatchError::Malformed(_)));
        assert!(matches!(bad(json!([1])), PatchError::Malformed(_)));
        assert_eq!(JsonPatch::from_value(&json!([])).map(|p| p.len()), Ok(0));
    }

    #[test]
    fn edge_semantics() {
        assert_eq!(run(json!({"a": 1}), json!([{"op": "add", "path": "", "value": [1]}])), Ok(json!([1])));
        assert_eq!(run(json!({"a": 1}), json!([{"op": "replace", "path": "", "value": 2}])), Ok(json!(2)));
        assert_eq!(run(json!({"a": 1}), json!([{"op": "test", "path": "/a", "value": 1.0}])), Ok(json!({"a": 1})));
        assert_eq!(run(json!({"a": 1}), json!([{"op": "test", "path": "/b", "value": null}])), Ok(json!({"a": 1})));
        assert_eq!(run(json!({"a": 1}), json!([{"op": "move", "from": "/a", "path": "/a"}])), Ok(json!({"a": 1})));
        assert_eq!(run(json!([1, 2]), json!([{"op": "add", "path": "/2", "value": 3}])), Ok(json!([1, 2, 3])));
        assert_eq!(
            run(json!({"a": {"b": 1}}), json!([{"op": "add", "path": "/a/b", "value": 2}])),
            Ok(json!({"a": {"b": 2}}))
        );
        assert!(run(json!({"a": "s"}), json!([{"op": "add", "path": "/a/b", "value": 2}])).is_err());
        assert_eq!(
            run(json!({"a": {"x": 1, "y": 2, "z": 3}}), json!([{"op": "remove", "path": "/a/x"}]))
                .map(|v| v.to_string()),
            Ok(r#"{"a":{"y":2,"z":3}}"#.to_string()),
            "key order is preserved"
        );
    }
}

#[cfg(test)]
mod limits {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_copy_bomb_is_refused_not_run() {
        let doc = json!({"metadata": {"name": "x".repeat(1000)}});
        let ops: Vec<Value> =
            (0..40).map(|i| json!({"op": "copy", "from": "/metadata", "path": format!("/metadata/a{i}")})).collect();
        match apply(&doc, &Value::Array(ops)) {
            Err(PatchError::TooLarge(m)) => assert!(m.contains("copy operations exceeded")),
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn too_many_operations_are_refused() {
        let ops: Vec<Value> = (0..=MAX_OPERATIONS).map(|_| json!({"op": "test", "path": "/a", "value": 1})).collect();
        assert!(matches!(apply(&json!({"a": 1}), &Value::Array(ops)), Err(PatchError::TooLarge(_))));
    }

    #[test]
    fn small_copies_still_work() {
        let out =
            apply(&json!({"a": {"b": 1}}), &json!([{"op": "copy", "from": "/a", "path": "/c"}])).expect("applies");
        assert_eq!(out["c"]["b"], 1);
    }
}
