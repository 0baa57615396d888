//! CustomResourceDefinition schemas without I/O: parsing and checking a
//! version's `openAPIV3Schema` the way apiextensions-apiserver does
//! ([`Structural::from_json`]), then validating, defaulting and pruning
//! custom objects with it, evaluating `x-kubernetes-validations` CEL rules,
//! and answering the list/map questions server-side apply asks.
//!
//! Messages and field paths follow Kubernetes (kube-openapi's validator as
//! translated by apiextensions) because kubectl users read them verbatim:
//!
//! ```
//! use serde_json::json;
//! use skiff_apimachinery::schema::Structural;
//!
//! let s = Structural::from_json(
//!     &json!({"type": "object", "properties": {"spec": {"type": "object",
//!         "properties": {"replicas": {"type": "integer", "maximum": 10, "default": 1}}}}}),
//!     "spec.versions[0].schema.openAPIV3Schema",
//! ).unwrap();
//! let errs = s.validate(&json!({"spec": {"replicas": "two"}}));
//! assert_eq!(errs[0].to_string(),
//!     "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"");
//! let mut obj = json!({"spec": {}, "extra": 1});
//! s.apply_defaults(&mut obj);
//! assert_eq!(s.prune(&mut obj), vec!["extra".to_string()]);
//! assert_eq!(obj, json!({"spec": {"replicas": 1}}));
//! ```
//!
//! Depth is bounded everywhere ([`MAX_DEPTH`]) so hostile schemas or
//! objects cannot exhaust the stack.

mod cel;
mod default;
mod formats;
mod prune;
mod structural;
mod validate;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::Value;

use crate::field_error::FieldError;
use structural::Node;

/// Deepest schema nesting accepted, and the bound on every recursive walk.
pub const MAX_DEPTH: usize = 100;

/// A CRD version's `openAPIV3Schema`, parsed and checked.
#[derive(Clone, Debug)]
pub struct Structural {
    root: Arc<Node>,
    raw: Arc<Value>,
}

/// How server-side apply merges a list (`x-kubernetes-list-type`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchemaListType {
    /// Replaced as a whole (also the default when unset).
    Atomic,
    /// Scalars merged by value.
    Set,
    /// Objects merged by the listed key fields.
    Map(Vec<String>),
}

impl Structural {
    /// Parses `openAPIV3Schema` JSON and refuses what Kubernetes refuses in
    /// a CRD (non-structural schemas, unsupported keywords, bad list/map
    /// extensions, invalid `default`s, CEL rules that do not compile), with
    /// paths under `base_path`.
    pub fn from_json(schema: &Value, base_path: &str) -> Result<Structural, Vec<FieldError>> {
        let mut parser = structural::Parser { errs: Vec::new() };
        let root = parser.parse(schema, base_path, 0);
        let mut errs = parser.errs;
        if !errs.is_empty() {
            return Err(errs);
        }
        errs.extend(structural::check_all(&root, base_path));
        if !errs.is_empty() {
            return Err(errs);
        }
        // Defaults are only meaningful once the schema is structural.
        errs.extend(default::check_defaults(&root, base_path));
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Structural { root: Arc::new(root), raw: Arc::new(schema.clone()) })
    }

    /// Validates a whole custom object: OpenAPI value validations, embedded
    /// resources' type and object meta, list-type uniqueness and CEL rules.
    pub fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate::validate_object(&self.root, obj, None, "")
    }

    /// Like [`Structural::validate`], also evaluating transition rules
    /// (those using `oldSelf`) against the correlated parts of `old`.
    pub fn validate_update(&self, obj: &Value, old: &Value) -> Vec<FieldError> {
        validate::validate_object(&self.root, obj, Some(old), "")
    }

    /// Applies `default`s to missing (or null, when not nullable) fields of
    /// present objects, recursively, as apiextensions does on decode.
    pub fn apply_defaults(&self, obj: &mut Value) {
        default::apply(&self.root, obj, 0);
    }

    /// Removes fields the schema does not specify and returns their paths
    /// (`spec.foo`, `spec.items[0].bar`), sorted. The root's apiVersion,
    /// kind and metadata are left to the caller.
    pub fn prune(&self, obj: &mut Value) -> Vec<String> {
        prune::prune_root(&self.root, obj)
    }

    /// The list type at a field path (property names from the root; list
    /// items and map values are stepped through implicitly).
    pub fn list_type(&self, path: &[&str]) -> SchemaListType {
        match self.node_at(path) {
            Some(n) => match n.list_type.as_deref() {
                Some("set") => SchemaListType::Set,
                Some("map") => SchemaListType::Map(n.list_map_keys.clone()),
                _ => SchemaListType::Atomic,
            },
            None => SchemaListType::Atomic,
        }
    }

    /// Whether the object at a field path is `x-kubernetes-map-type: atomic`.
    pub fn map_is_atomic(&self, path: &[&str]) -> bool {
        self.node_at(path).is_some_and(|n| n.map_type.as_deref() == Some("atomic"))
    }

    /// The value at a simple JSONPath (`.spec.replicas`,
    /// `.status.conditions[0].type`, `.metadata.labels.app`), as used by
    /// additionalPrinterColumns.
    pub fn json_path(obj: &Value, path: &str) -> Option<Value> {
        json_path(obj, path)
    }

    /// The schema as published in the OpenAPI v3 document for `kubectl
    /// explain`: the CRD's schema with the root's apiVersion, kind and
    /// metadata described as every Kubernetes kind describes them.
    pub fn to_openapi(&self) -> Value {
        let mut out = structural::to_json(&self.raw, 0);
        if let Value::Object(m) = &mut out {
            m.entry("type").or_insert_with(|| Value::String("object".into()));
            let props = m.entry("properties").or_insert_with(|| Value::Object(Default::default()));
            if let Value::Object(p) = props {
                let api_version = serde_json::json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"});
                let kind = serde_json::json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"});
                let metadata = serde_json::json!({"type": "object", "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"});
                p.entry("apiVersion").or_insert(api_version);
                p.entry("kind").or_insert(kind);
                // The CRD may only restrict name/generateName; publish the full ObjectMeta shape.
                p.insert("metadata".into(), metadata);
            }
        }
        out
    }

    fn node_at(&self, path: &[&str]) -> Option<&Node> {
        let mut n: &Node = &self.root;
        for seg in path {
            // List items are skipped by the caller's path: step into them.
            while let Some(items) = &n.items {
                n = items;
            }
            n = match n.properties.get(*seg) {
                Some(p) => p,
                None => n.additional_schema()?,
            };
        }
        Some(n)
    }
}

/// The value at a simple JSONPath such as `.spec.replicas`,
/// `.status.conditions[0].type` or `{.metadata.labels.app}`; `None` when
/// absent or when the path is not of that simple form.
pub fn json_path(obj: &Value, path: &str) -> Option<Value> {
    let p = path.trim();
    let p = p.strip_prefix('{').and_then(|s| s.strip_suffix('}')).unwrap_or(p);
    let p = p.strip_prefix('$').unwrap_or(p);
    let mut cur = obj;
    let mut rest = p;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            if name.is_empty() {
                return None;
            }
            cur = cur.as_object()?.get(name)?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            rest = &r[end + 1..];
            if let Some(quoted) = inner
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
            {
                cur = cur.as_object()?.get(quoted)?;
            } else {
                let i: i64 = inner.parse().ok()?;
                let arr = cur.as_array()?;
                let idx = if i < 0 { arr.len().checked_sub(i.unsigned_abs() as usize)? } else { i as usize };
                cur = arr.get(idx)?;
            }
        } else {
            return None;
        }
    }
    Some(cur.clone())
}

/// Kubernetes' `field.Path` rendering.
mod path {
    pub fn child(p: &str, name: &str) -> String {
        if p.is_empty() {
            name.to_string()
        } else {
            format!("{p}.{name}")
        }
    }

    pub fn key(p: &str, k: &str) -> String {
        format!("{p}[{k}]")
    }

    pub fn index(p: &str, i: usize) -> String {
        format!("{p}[{i}]")
    }

    /// Go prints a nil `*field.Path` as `<nil>`; errors about the whole
    /// object carry that.
    pub fn display(p: &str) -> String {
        if p.is_empty() {
            "<nil>".to_string()
        } else {
            p.to_string()
        }
    }
}
