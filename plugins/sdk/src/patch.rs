//! RFC 6902 JSON patches built from typed operations, and RFC 6901 JSON pointers that escape
//! their tokens (`~` → `~0`, `/` → `~1`), so keys like `app.kubernetes.io/name` are safe.
//!
//! ```
//! use skiff_plugin_sdk::{Patch, Pointer};
//!
//! let patch = Patch::new()
//!     .add(Pointer::new(["metadata", "labels", "app.kubernetes.io/name"]), "web")
//!     .remove("/spec/nodeName");
//! assert_eq!(
//!     patch.to_json().unwrap(),
//!     r#"[{"op":"add","path":"/metadata/labels/app.kubernetes.io~1name","value":"web"},{"op":"remove","path":"/spec/nodeName"}]"#
//! );
//! ```

use std::borrow::Cow;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::Error;

/// A JSON pointer, kept in its escaped text form.
///
/// Build one from unescaped tokens with [`Pointer::new`] / [`Pointer::push`]; a `&str` or
/// `String` converts as pointer text that is already escaped (`"/spec/containers/-"`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Pointer(String);

impl Pointer {
    /// The whole document (the empty pointer).
    pub fn root() -> Self {
        Pointer(String::new())
    }

    /// A pointer through these tokens, each escaped.
    pub fn new<I>(tokens: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        tokens.into_iter().fold(Self::root(), |p, t| p.push(t))
    }

    /// This pointer with one more token, escaped.
    pub fn push(mut self, token: impl AsRef<str>) -> Self {
        self.0.push('/');
        self.0.push_str(&escape(token.as_ref()));
        self
    }

    /// This pointer with an array index.
    pub fn index(self, index: usize) -> Self {
        self.push(index.to_string())
    }

    /// This pointer with `-`: the position after an array's last element, for `add`.
    pub fn end(self) -> Self {
        self.push("-")
    }

    /// The escaped text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Escapes one reference token (RFC 6901 section 3): `~` first, so `/` → `~1` is not re-escaped.
pub fn escape(token: &str) -> Cow<'_, str> {
    if token.contains(['~', '/']) {
        Cow::Owned(token.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(token)
    }
}

impl From<&str> for Pointer {
    fn from(escaped: &str) -> Self {
        Pointer(escaped.to_owned())
    }
}

impl From<String> for Pointer {
    fn from(escaped: String) -> Self {
        Pointer(escaped)
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Pointer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// One patch operation, serialized exactly as RFC 6902 spells it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Op {
    Add { path: Pointer, value: Value },
    Remove { path: Pointer },
    Replace { path: Pointer, value: Value },
    Move { from: Pointer, path: Pointer },
    Copy { from: Pointer, path: Pointer },
    Test { path: Pointer, value: Value },
}

/// An RFC 6902 JSON patch under construction.
///
/// Values are anything `Serialize` (typed Kubernetes objects, `serde_json::json!`, strings).
/// A value that fails to serialize does not panic: the patch remembers the first failure and
/// [`Patch::to_json`] (so [`crate::admission::Mutation::patch`]) returns it as an `internal` error.
#[derive(Clone, Debug, Default)]
pub struct Patch {
    ops: Vec<Op>,
    error: Option<String>,
}

impl Patch {
    /// An empty patch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` at `path` (for an object member, adds or replaces it; for an array index,
    /// inserts before it; for `-`, appends).
    pub fn add(self, path: impl Into<Pointer>, value: impl Serialize) -> Self {
        let path = path.into();
        self.with_value(value, |value| Op::Add { path, value })
    }

    /// Removes the value at `path`, which must exist.
    pub fn remove(mut self, path: impl Into<Pointer>) -> Self {
        self.ops.push(Op::Remove { path: path.into() });
        self
    }

    /// Replaces the value at `path`, which must exist.
    pub fn replace(self, path: impl Into<Pointer>, value: impl Serialize) -> Self {
        let path = path.into();
        self.with_value(value, |value| Op::Replace { path, value })
    }

    /// Moves the value at `from` to `path`.
    pub fn move_value(mut self, from: impl Into<Pointer>, path: impl Into<Pointer>) -> Self {
        self.ops.push(Op::Move { from: from.into(), path: path.into() });
        self
    }

    /// Copies the value at `from` to `path`.
    pub fn copy_value(mut self, from: impl Into<Pointer>, path: impl Into<Pointer>) -> Self {
        self.ops.push(Op::Copy { from: from.into(), path: path.into() });
        self
    }

    /// Makes the whole patch fail unless the value at `path` equals `value`.
    pub fn test(self, path: impl Into<Pointer>, value: impl Serialize) -> Self {
        let path = path.into();
        self.with_value(value, |value| Op::Test { path, value })
    }

    /// Sets labels on an object whose metadata (before this patch) is `meta`, creating the
    /// labels map when the object has none: a patch into a missing map would fail.
    ///
    /// Give all labels in one call: two calls on an object without labels would each create
    /// the map, and the second would replace the first.
    pub fn set_labels<'a>(self, meta: &ObjectMeta, entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        self.set_entries("labels", meta.labels.is_some(), entries)
    }

    /// [`Patch::set_labels`] with one label.
    pub fn set_label(self, meta: &ObjectMeta, key: &str, value: &str) -> Self {
        self.set_labels(meta, [(key, value)])
    }

    /// Sets annotations, like [`Patch::set_labels`].
    pub fn set_annotations<'a>(self, meta: &ObjectMeta, entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        self.set_entries("annotations", meta.annotations.is_some(), entries)
    }

    /// [`Patch::set_annotations`] with one annotation.
    pub fn set_annotation(self, meta: &ObjectMeta, key: &str, value: &str) -> Self {
        self.set_annotations(meta, [(key, value)])
    }

    fn set_entries<'a>(self, map: &str, exists: bool, entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let map_path = Pointer::new(["metadata", map]);
        if exists {
            entries.into_iter().fold(self, |patch, (k, v)| patch.add(map_path.clone().push(k), v))
        } else {
            let entries: serde_json::Map<String, Value> =
                entries.into_iter().map(|(k, v)| (k.to_owned(), Value::from(v))).collect();
            if entries.is_empty() {
                return self;
            }
            self.add(map_path, entries)
        }
    }

    fn with_value(mut self, value: impl Serialize, op: impl FnOnce(Value) -> Op) -> Self {
        match serde_json::to_value(value) {
            Ok(value) => self.ops.push(op(value)),
            Err(e) => {
                self.error.get_or_insert_with(|| format!("patch value does not serialize: {e}"));
            }
        }
        self
    }

    /// The operations so far.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// True when the patch has no operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.error.is_none()
    }

    /// The patch as a JSON value (an array of operations).
    pub fn to_value(&self) -> Result<Value, Error> {
        self.check()?;
        serde_json::to_value(&self.ops).map_err(|e| Error::internal(format!("patch does not serialize: {e}")))
    }

    /// The patch as JSON text, as the contract's `json-patch` change carries it.
    pub fn to_json(&self) -> Result<String, Error> {
        self.check()?;
        serde_json::to_string(&self.ops).map_err(|e| Error::internal(format!("patch does not serialize: {e}")))
    }

    fn check(&self) -> Result<(), Error> {
        match &self.error {
            Some(e) => Err(Error::internal(e.clone())),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use serde_json::json;

    use super::*;

    #[test]
    fn tokens_are_escaped_tilde_first() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape("a/b"), "a~1b");
        assert_eq!(escape("a~b"), "a~0b");
        // `~1` in a key is a tilde and a one, not an escaped slash.
        assert_eq!(escape("~1"), "~01");
        assert_eq!(escape("/~"), "~1~0");
        assert_eq!(Pointer::new(["metadata", "annotations", "x.io/a~b"]).as_str(), "/metadata/annotations/x.io~1a~0b");
        assert_eq!(Pointer::new([""]).as_str(), "/");
        assert_eq!(Pointer::root().as_str(), "");
    }

    #[test]
    fn indices_and_end() {
        let containers = Pointer::new(["spec", "containers"]);
        assert_eq!(containers.clone().index(2).push("image").as_str(), "/spec/containers/2/image");
        assert_eq!(containers.end().as_str(), "/spec/containers/-");
    }

    #[test]
    fn every_op_serializes_as_rfc6902() {
        let patch = Patch::new()
            .add("/a", 1)
            .remove("/b")
            .replace("/c", "x")
            .move_value("/d", "/e")
            .copy_value("/f", "/g")
            .test("/h", json!(null));
        assert_eq!(
            patch.to_value().unwrap(),
            json!([
                {"op": "add", "path": "/a", "value": 1},
                {"op": "remove", "path": "/b"},
                {"op": "replace", "path": "/c", "value": "x"},
                {"op": "move", "from": "/d", "path": "/e"},
                {"op": "copy", "from": "/f", "path": "/g"},
                {"op": "test", "path": "/h", "value": null},
            ])
        );
        assert_eq!(patch.ops().len(), 6);
    }

    #[test]
    fn a_value_that_does_not_serialize_is_an_internal_error() {
        // JSON object keys must be strings.
        let bad: HashMap<(u8, u8), u8> = HashMap::from([((1, 2), 3)]);
        let patch = Patch::new().add("/a", 1).add("/b", bad);
        assert!(!patch.is_empty());
        let err = patch.to_json().unwrap_err();
        assert_eq!(err.code, crate::ErrorCode::Internal);
    }

    fn apply(doc: &mut Value, patch: &Patch) {
        let ops: json_patch::Patch = serde_json::from_value(patch.to_value().unwrap()).unwrap();
        json_patch::patch(doc, &ops).unwrap();
    }

    #[test]
    fn set_label_creates_the_map_when_missing() {
        let mut pod = json!({"metadata": {"name": "p"}});
        let meta: ObjectMeta = serde_json::from_value(pod["metadata"].clone()).unwrap();
        let patch = Patch::new().set_label(&meta, "app.kubernetes.io/name", "web");
        assert_eq!(
            patch.to_json().unwrap(),
            r#"[{"op":"add","path":"/metadata/labels","value":{"app.kubernetes.io/name":"web"}}]"#
        );
        apply(&mut pod, &patch);
        assert_eq!(pod, json!({"metadata": {"name": "p", "labels": {"app.kubernetes.io/name": "web"}}}));

        let several = Patch::new().set_labels(&meta, [("a", "1"), ("b", "2")]);
        assert_eq!(several.ops().len(), 1);
        assert!(Patch::new().set_labels(&meta, []).is_empty());
    }

    #[test]
    fn set_annotation_adds_to_an_existing_map_and_overwrites() {
        let mut pod = json!({"metadata": {"name": "p", "annotations": {"a/b": "old", "keep": "1"}}});
        let meta = ObjectMeta {
            annotations: Some(BTreeMap::from([("a/b".to_owned(), "old".to_owned())])),
            ..Default::default()
        };
        let patch = Patch::new().set_annotations(&meta, [("a/b", "new"), ("c~d", "x")]);
        apply(&mut pod, &patch);
        assert_eq!(pod["metadata"]["annotations"], json!({"a/b": "new", "keep": "1", "c~d": "x"}));
    }
}
