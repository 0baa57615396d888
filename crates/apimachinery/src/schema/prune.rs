//! Pruning (apiextensions' `pruning.Prune`): dropping fields a structural
//! schema does not specify, reporting each dropped path so the API server
//! can warn (`fieldValidation=Warn`) or refuse (`Strict`).
//!
//! apiVersion, kind and metadata of the resource root and of embedded
//! resources are not the schema's business; for embedded resources the
//! metadata is cut down to ObjectMeta's fields, which Kubernetes achieves by
//! round-tripping it through ObjectMeta. The root's metadata belongs to the
//! caller.

use serde_json::Value;

use super::path::{child, index};
use super::structural::{Additional, Node};
use super::MAX_DEPTH;

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

const OBJECT_META_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

struct Pruner {
    paths: Vec<String>,
}

/// Prunes a whole custom object; returns the pruned paths, sorted.
pub(crate) fn prune_root(root: &Node, obj: &mut Value) -> Vec<String> {
    let mut p = Pruner { paths: Vec::new() };
    p.prune(Some(root), obj, "", true, true, 0);
    p.paths.sort();
    p.paths
}

/// Prunes a value of the given schema (used for checking defaults).
pub(crate) fn prune_value(n: &Node, v: &mut Value, is_resource: bool) {
    let mut p = Pruner { paths: Vec::new() };
    p.prune(Some(n), v, "", is_resource, false, 0);
}

impl Pruner {
    fn record(&mut self, path: &str, k: &str) {
        self.paths.push(child(path, k));
    }

    fn prune(&mut self, n: Option<&Node>, v: &mut Value, path: &str, is_resource: bool, is_root: bool, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        if let Some(n) = n {
            if n.preserve_unknown {
                self.skip_prune(n, v, path, is_resource || n.embedded, is_root, depth);
                return;
            }
        }
        match v {
            Value::Object(m) => {
                let Some(n) = n else {
                    for k in m.keys() {
                        self.record(path, k);
                    }
                    m.clear();
                    return;
                };
                let resource = is_resource || n.embedded;
                m.retain(|k, x| {
                    if resource && META_FIELDS.contains(&k.as_str()) {
                        if k == "metadata" && !is_root {
                            self.coerce_meta(x, &child(path, k));
                        }
                        return true;
                    }
                    if let Some(p) = n.properties.get(k) {
                        self.prune(Some(p), x, &child(path, k), false, false, depth + 1);
                        true
                    } else if let Some(a) = &n.additional {
                        let s = match a {
                            Additional::Schema(s) => Some(&**s),
                            Additional::Bool(_) => None,
                        };
                        self.prune(s, x, &child(path, k), false, false, depth + 1);
                        true
                    } else {
                        if !(is_root && META_FIELDS.contains(&k.as_str())) {
                            self.record(path, k);
                        }
                        false
                    }
                });
            }
            Value::Array(a) => {
                let items = n.and_then(|n| n.items.as_deref());
                for (i, x) in a.iter_mut().enumerate() {
                    self.prune(items, x, &index(path, i), false, false, depth + 1);
                }
            }
            _ => {}
        }
    }

    // Under x-kubernetes-preserve-unknown-fields unknown fields stay, but
    // specified ones are still pruned inside.
    fn skip_prune(&mut self, n: &Node, v: &mut Value, path: &str, resource: bool, is_root: bool, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if resource && META_FIELDS.contains(&k.as_str()) {
                        if k == "metadata" && !is_root {
                            self.coerce_meta(x, &child(path, k));
                        }
                        continue;
                    }
                    if let Some(p) = n.properties.get(k) {
                        self.prune(Some(p), x, &child(path, k), false, false, depth + 1);
                    } else if let Some(a) = &n.additional {
                        let s = match a {
                            Additional::Schema(s) => Some(&**s),
                            Additional::Bool(_) => None,
                        };
                        self.prune(s, x, &child(path, k), false, false, depth + 1);
                    }
                }
            }
            Value::Array(a) => {
                if let Some(is) = &n.items {
                    for (i, x) in a.iter_mut().enumerate() {
                        self.skip_prune(is, x, &index(path, i), is.embedded, false, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }

    fn coerce_meta(&mut self, meta: &mut Value, path: &str) {
        if let Value::Object(m) = meta {
            let mut dropped = Vec::new();
            m.retain(|k, _| {
                let keep = OBJECT_META_FIELDS.contains(&k.as_str());
                if !keep {
                    dropped.push(child(path, k));
                }
                keep
            });
            self.paths.extend(dropped);
        }
    }
}
