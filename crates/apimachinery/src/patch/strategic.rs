//! Server-side application of Kubernetes strategic merge patches, as
//! `kubectl apply`, `kubectl patch` and `kubectl edit` send them.
//!
//! Semantics follow `k8s.io/apimachinery/pkg/util/strategicpatch` with the
//! server's options (parallel lists merged, unmatched nulls ignored):
//!
//! - maps merge key by key; `null` deletes a key;
//! - lists are replaced unless [`PatchMeta`] says they merge, either by a
//!   merge key (lists of objects, e.g. containers by `name`) or as sets of
//!   primitives (e.g. `metadata.finalizers`);
//! - directives: `$patch: replace|delete` in maps, `$patch: replace|delete`
//!   items in merging lists, `$retainKeys`, `$setElementOrder/<list>` and
//!   `$deleteFromPrimitiveList/<list>`.
//!
//! Ordering of merged lists is Kubernetes' too, including its less obvious
//! rule that, without `$setElementOrder`, items named by the patch go
//! before live-only items they cannot be ordered against (so a brand-new
//! item lands first). kubectl sends `$setElementOrder` whenever order
//! matters, and then the result follows it.
//!
//! Deliberate differences from Go: directives and nulls inside values that
//! are placed rather than merged (a new key, a new list item) are still
//! interpreted instead of being stored literally, and list items without a
//! position in an ordering list keep their relative order at the end.

use serde_json::{Map, Value};

use super::{json_equal, prune_nulls, PatchError};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

/// How a list field is patched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListStrategy {
    /// The patch value replaces the list (Kubernetes' default).
    Atomic,
    /// Items are merged: lists of objects by `key`, lists of primitives
    /// (`key: None`) as a set.
    Merge {
        /// The merge key for lists of objects.
        key: Option<String>,
    },
}

/// Schema knowledge a strategic merge patch needs.
///
/// `path` is the chain of field names from the object root to the field in
/// question, with list indices left out: a Deployment's containers are
/// `["spec", "template", "spec", "containers"]`, their env lists
/// `["spec", "template", "spec", "containers", "env"]`.
pub trait PatchMeta {
    /// The strategy of the list field at `path`.
    fn list_strategy(&self, path: &[&str]) -> ListStrategy;

    /// Whether the map field at `path` is declared `retainKeys`. Purely
    /// informational (e.g. for OpenAPI): applying a patch honours a
    /// `$retainKeys` directive wherever the client sent one, as Kubernetes does.
    fn retain_keys(&self, _path: &[&str]) -> bool {
        false
    }
}

/// Any closure from path to strategy is a `PatchMeta`.
impl<F> PatchMeta for F
where
    F: Fn(&[&str]) -> ListStrategy,
{
    fn list_strategy(&self, path: &[&str]) -> ListStrategy {
        self(path)
    }
}

/// Applies a strategic merge `patch` to `original` (both JSON objects).
pub fn apply(original: &Value, patch: &Value, meta: &dyn PatchMeta) -> Result<Value, PatchError> {
    let (Value::Object(original), Value::Object(patch)) = (original, patch) else {
        return Err(PatchError::Malformed("invalid JSON document".to_string()));
    };
    let merger = Merger { meta };
    let mut path = Vec::new();
    merger.merge_map(original.clone(), patch, &mut path).map(Value::Object)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

fn kind_of(v: &Value) -> Kind {
    match v {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(_) => Kind::Number,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::Array,
        Value::Object(_) => Kind::Object,
    }
}

// Go's type names, so errors read like the real server's.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn bad_arg_type(expected: Kind, actual: &Value) -> PatchError {
    let expected = match expected {
        Kind::Array => "[]interface {}",
        _ => "map[string]interface {}",
    };
    PatchError::Unprocessable(format!("expected a {expected}, but received a {}", go_type(actual)))
}

fn no_merge_key(item: &Value, key: &str) -> PatchError {
    PatchError::Unprocessable(format!("map: {item} does not contain declared merge key: {key}"))
}

fn bad_patch_type(directive: &Value, map: &Map<String, Value>) -> PatchError {
    let directive = directive.as_str().map(str::to_string).unwrap_or_else(|| directive.to_string());
    PatchError::Malformed(format!("unknown patch type: {directive} in map: {}", Value::Object(map.clone())))
}

// `$setElementOrder/containers` -> `containers`; the prefix must be exact.
fn directive_field<'k>(key: &'k str, prefix: &str) -> Option<&'k str> {
    let (head, field) = key.split_once('/')?;
    (head == prefix).then_some(field)
}

struct Merger<'a> {
    meta: &'a dyn PatchMeta,
}

impl Merger<'_> {
    fn strategy(&self, path: &[String]) -> ListStrategy {
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        self.meta.list_strategy(&refs)
    }

    fn merge_map(
        &self,
        mut original: Map<String, Value>,
        patch: &Map<String, Value>,
        path: &mut Vec<String>,
    ) -> Result<Map<String, Value>, PatchError> {
        if let Some(directive) = patch.get(DIRECTIVE) {
            return match directive.as_str() {
                Some("replace") => {
                    let mut rest = patch.clone();
                    rest.shift_remove(DIRECTIVE);
                    self.merge_map(Map::new(), &rest, path)
                }
                // Kubernetes leaves an empty map behind, not a missing key.
                Some("delete") => Ok(Map::new()),
                _ => Err(bad_patch_type(directive, patch)),
            };
        }

        if let Some(retain) = patch.get(RETAIN_KEYS) {
            apply_retain_keys(&mut original, patch, retain)?;
        }

        // Lists with an ordering directive are merged and ordered together,
        // then skipped by the key loop below.
        let mut done: Vec<&str> = Vec::new();
        for (key, order) in patch {
            if !key.starts_with(SET_ELEMENT_ORDER) {
                continue;
            }
            let field = directive_field(key, SET_ELEMENT_ORDER)
                .ok_or_else(|| PatchError::Malformed("invalid patch format of setElementOrder list".to_string()))?;
            let Value::Array(order) = order else {
                return Err(bad_arg_type(Kind::Array, order));
            };
            path.push(field.to_string());
            let merged = self.merge_ordered_list(&original, patch, field, order, path);
            path.pop();
            if let Some(merged) = merged? {
                original.insert(field.to_string(), Value::Array(merged));
            }
            done.push(field);
        }

        let mut deletions = Vec::new();
        for (key, value) in patch {
            if key == RETAIN_KEYS || key.starts_with(SET_ELEMENT_ORDER) || done.contains(&key.as_str()) {
                continue;
            }
            if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
                deletions.push((key, value));
                continue;
            }
            if value.is_null() {
                original.shift_remove(key);
                continue;
            }
            path.push(key.clone());
            let merged = match original.get_mut(key) {
                Some(existing) => self.merge_value(std::mem::take(existing), value, path),
                None => self.place(value, path),
            };
            path.pop();
            original.insert(key.clone(), merged?);
        }

        // After additions, so an item both added and deleted ends up deleted.
        for (key, value) in deletions {
            let field = directive_field(key, DELETE_FROM_PRIMITIVE_LIST)
                .ok_or_else(|| PatchError::Malformed("invalid patch format of primitive list".to_string()))?;
            if let (Some(Value::Array(current)), Value::Array(remove)) = (original.get_mut(field), value) {
                current.retain(|item| !remove.iter().any(|r| json_equal(item, r)));
            }
        }
        Ok(original)
    }

    // Merges a patch value into an existing one of the same key.
    fn merge_value(&self, existing: Value, patch: &Value, path: &mut Vec<String>) -> Result<Value, PatchError> {
        match (existing, patch) {
            (Value::Object(existing), Value::Object(patch)) => self.merge_map(existing, patch, path).map(Value::Object),
            (Value::Array(existing), Value::Array(patch)) => {
                self.merge_list_field(&existing, patch, path).map(Value::Array)
            }
            // A type change replaces the value, as in Go; schema validation
            // after patching is what rejects nonsense like `spec: "x"`.
            (_, patch) => self.place(patch, path),
        }
    }

    // A value with nothing to merge into: directives and nulls inside it are
    // resolved against emptiness.
    fn place(&self, value: &Value, path: &mut Vec<String>) -> Result<Value, PatchError> {
        match value {
            Value::Object(map) => self.merge_map(Map::new(), map, path).map(Value::Object),
            Value::Array(items) => self.merge_list_field(&[], items, path).map(Value::Array),
            other => Ok(other.clone()),
        }
    }

    fn merge_list_field(
        &self,
        original: &[Value],
        patch: &[Value],
        path: &mut Vec<String>,
    ) -> Result<Vec<Value>, PatchError> {
        match self.strategy(path) {
            ListStrategy::Atomic => Ok(patch.iter().map(prune_nulls).collect()),
            ListStrategy::Merge { key } => self.merge_list(original, patch, key.as_deref(), path),
        }
    }

    fn merge_list(
        &self,
        original: &[Value],
        patch: &[Value],
        key: Option<&str>,
        path: &mut Vec<String>,
    ) -> Result<Vec<Value>, PatchError> {
        if original.is_empty() && patch.is_empty() {
            return Ok(Vec::new());
        }
        let kind = element_kind(&[original, patch])?;
        if kind != Some(Kind::Object) {
            let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
            for item in original.iter().chain(patch) {
                if !merged.iter().any(|m| json_equal(m, item)) {
                    merged.push(item.clone());
                }
            }
            let (in_patch, server_only) = partition(merged, patch, None)?;
            return normalize_order(in_patch, server_only, patch, original, None);
        }
        let Some(key) = key else {
            return Err(PatchError::Unprocessable(format!(
                "cannot merge lists without merge key for {}",
                path.join(".")
            )));
        };
        let (original, patch) = self.apply_list_directives(original, patch, key, path)?;
        let mut merged = original.clone();
        for item in &patch {
            let Value::Object(item_map) = item else {
                return Err(bad_arg_type(Kind::Object, item));
            };
            let Some(wanted) = item_map.get(key) else {
                return Err(no_merge_key(item, key));
            };
            match find_by_key(&merged, key, wanted)? {
                Some(i) => {
                    if let Some(Value::Object(slot)) = merged.get_mut(i) {
                        let current = std::mem::take(slot);
                        *slot = self.merge_map(current, item_map, path)?;
                    }
                }
                None => merged.push(Value::Object(self.merge_map(Map::new(), item_map, path)?)),
            }
        }
        let (in_patch, server_only) = partition(merged, &patch, Some(key))?;
        normalize_order(in_patch, server_only, &patch, &original, Some(key))
    }

    // Handles `$patch` items of a keyed list: deletions remove matching
    // live items, `replace` discards the live list entirely.
    fn apply_list_directives(
        &self,
        original: &[Value],
        patch: &[Value],
        key: &str,
        path: &mut Vec<String>,
    ) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
        let mut original = original.to_vec();
        let mut plain = Vec::with_capacity(patch.len());
        let mut replace = false;
        for item in patch {
            let Value::Object(map) = item else {
                return Err(bad_arg_type(Kind::Object, item));
            };
            let Some(directive) = map.get(DIRECTIVE) else {
                plain.push(item.clone());
                continue;
            };
            match directive.as_str() {
                Some("delete") => {
                    let Some(wanted) = map.get(key) else {
                        return Err(no_merge_key(item, key));
                    };
                    while let Some(i) = find_by_key(&original, key, wanted)? {
                        original.remove(i);
                    }
                }
                Some("replace") => replace = true,
                Some("merge") => {
                    return Err(PatchError::Unprocessable(
                        "merging lists cannot yet be specified in the patch".to_string(),
                    ))
                }
                _ => return Err(bad_patch_type(directive, map)),
            }
        }
        if replace {
            let mut replaced = Vec::with_capacity(plain.len());
            for item in &plain {
                if let Value::Object(map) = item {
                    replaced.push(Value::Object(self.merge_map(Map::new(), map, path)?));
                }
            }
            return Ok((replaced, Vec::new()));
        }
        Ok((original, plain))
    }

    // `$setElementOrder/<field>` together with the field's own patch list.
    // Returns None when neither the live object nor the patch has the list.
    fn merge_ordered_list(
        &self,
        original: &Map<String, Value>,
        patch: &Map<String, Value>,
        field: &str,
        order: &[Value],
        path: &mut Vec<String>,
    ) -> Result<Option<Vec<Value>>, PatchError> {
        let live = match original.get(field) {
            None => None,
            Some(Value::Array(items)) => Some(items.as_slice()),
            Some(other) => return Err(bad_arg_type(Kind::Array, other)),
        };
        let patch_list = match patch.get(field) {
            None => None,
            Some(Value::Array(items)) => Some(items.as_slice()),
            Some(other) => return Err(bad_arg_type(Kind::Array, other)),
        };
        let key = match self.strategy(path) {
            ListStrategy::Merge { key: Some(key) } => Some(key),
            _ => None,
        };
        let key = key.as_deref();
        validate_against_order(patch_list.unwrap_or_default(), order, key)?;
        let merged = match (live, patch_list) {
            (None, None) => return Ok(None),
            (Some(live), None) => live.to_vec(),
            (live, Some(patch_list)) => self.merge_list_field(live.unwrap_or_default(), patch_list, path)?,
        };
        let live = live.unwrap_or_default();
        let Some(kind) = element_kind(&[live, patch_list.unwrap_or_default()])? else {
            return Ok(Some(merged));
        };
        let key = if kind == Kind::Object { key } else { None };
        if kind == Kind::Object && key.is_none() {
            // No merge key to order by (an atomic list of objects).
            return Ok(Some(merged));
        }
        let (in_order, server_only) = partition(merged, order, key)?;
        normalize_order(in_order, server_only, order, live, key).map(Some)
    }
}

fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    retain: &Value,
) -> Result<(), PatchError> {
    let bad = || PatchError::Malformed("invalid patch format of retainKeys".to_string());
    let Value::Array(retain) = retain else {
        return Err(bad());
    };
    let listed = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    // Every field the patch sets must be among the retained keys, otherwise
    // the patch would contradict itself.
    for (k, v) in patch {
        if k == RETAIN_KEYS
            || v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !listed(k) {
            return Err(bad());
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

// The one element kind shared by all lists (None when all are empty).
fn element_kind(lists: &[&[Value]]) -> Result<Option<Kind>, PatchError> {
    let mut seen: Option<Kind> = None;
    for item in lists.iter().flat_map(|l| l.iter()) {
        let kind = kind_of(item);
        if kind == Kind::Array {
            return Err(PatchError::Unprocessable("lists of lists are not supported".to_string()));
        }
        match seen {
            None => seen = Some(kind),
            Some(prev) if prev != kind => {
                let all: Vec<Value> = lists.iter().map(|l| Value::Array(l.to_vec())).collect();
                return Err(PatchError::Unprocessable(format!(
                    "list element types are not identical: {}",
                    Value::Array(all)
                )));
            }
            Some(_) => {}
        }
    }
    Ok(seen)
}

fn find_by_key(list: &[Value], key: &str, wanted: &Value) -> Result<Option<usize>, PatchError> {
    for (i, item) in list.iter().enumerate() {
        let Value::Object(map) = item else {
            return Err(PatchError::Unprocessable(format!("value for key {i} is not a map.")));
        };
        if map.get(key).is_some_and(|v| json_equal(v, wanted)) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

// The identity an item is ordered by: its merge key value, or itself.
fn identity<'v>(item: &'v Value, key: Option<&str>) -> Option<&'v Value> {
    match key {
        Some(key) => item.as_object().and_then(|m| m.get(key)),
        None => Some(item),
    }
}

fn position(list: &[Value], item: &Value, key: Option<&str>) -> Option<usize> {
    let wanted = identity(item, key);
    list.iter().position(|v| match (identity(v, key), wanted) {
        (Some(a), Some(b)) => json_equal(a, b),
        (None, None) => true,
        _ => false,
    })
}

fn require_key(items: &[Value], key: Option<&str>) -> Result<(), PatchError> {
    let Some(key) = key else {
        return Ok(());
    };
    for item in items {
        match item {
            Value::Object(map) if map.contains_key(key) => {}
            Value::Object(_) => return Err(no_merge_key(item, key)),
            other => return Err(bad_arg_type(Kind::Object, other)),
        }
    }
    Ok(())
}

// Splits `merged` into items named by `by` and items only the server has.
fn partition(merged: Vec<Value>, by: &[Value], key: Option<&str>) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    require_key(&merged, key)?;
    let mut named = Vec::new();
    let mut server_only = Vec::new();
    for item in merged {
        let found = match key {
            Some(key) => match identity(&item, Some(key)) {
                Some(wanted) => find_by_key(by, key, wanted)?.is_some(),
                None => false,
            },
            None => by.iter().any(|b| json_equal(b, &item)),
        };
        if found {
            named.push(item);
        } else {
            server_only.push(item);
        }
    }
    Ok((named, server_only))
}

fn sort_by_order(items: Vec<Value>, order: &[Value], key: Option<&str>) -> Result<Vec<Value>, PatchError> {
    require_key(&items, key)?;
    require_key(order, key)?;
    let mut ranked: Vec<(usize, Value)> =
        items.into_iter().map(|item| (position(order, &item, key).unwrap_or(usize::MAX), item)).collect();
    ranked.sort_by_key(|(rank, _)| *rank);
    Ok(ranked.into_iter().map(|(_, item)| item).collect())
}

// Kubernetes' normalizeElementOrder + mergeSortedSlice: patch items in patch
// order, live-only items in live order, interleaved by live position where
// both are known; when they cannot be compared the patch item goes first.
fn normalize_order(
    named: Vec<Value>,
    server_only: Vec<Value>,
    named_order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
) -> Result<Vec<Value>, PatchError> {
    let right = sort_by_order(named, named_order, key)?;
    let left = sort_by_order(server_only, server_order, key)?;
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => match (position(server_order, l, key), position(server_order, r, key)) {
                (Some(li), Some(ri)) => li < ri,
                _ => false,
            },
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    Ok(out)
}

// Kubernetes refuses a `$setElementOrder` list that contradicts the order of
// the patch list it accompanies.
fn validate_against_order(patch: &[Value], order: &[Value], key: Option<&str>) -> Result<(), PatchError> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let relevant: Vec<&Value> = match key {
        Some(_) => {
            let mut kept = Vec::new();
            for item in patch {
                let Value::Object(map) = item else {
                    return Err(bad_arg_type(Kind::Object, item));
                };
                if map.get(DIRECTIVE).and_then(Value::as_str) != Some("delete") {
                    kept.push(item);
                }
            }
            kept
        }
        None => patch.iter().collect(),
    };
    let mut p = 0;
    let mut o = 0;
    while let (Some(item), Some(ordered)) = (relevant.get(p), order.get(o)) {
        if item.as_object().is_some_and(|m| m.contains_key(DIRECTIVE)) {
            p += 1;
            continue;
        }
        let equal = match key {
            None => json_equal(item, ordered),
            Some(key) => {
                let a = item.as_object().ok_or_else(|| bad_arg_type(Kind::Object, item))?;
                let b = ordered.as_object().ok_or_else(|| bad_arg_type(Kind::Object, ordered))?;
                let a = a.get(key).ok_or_else(|| no_merge_key(item, key))?;
                let b = b.get(key).ok_or_else(|| no_merge_key(ordered, key))?;
                json_equal(a, b)
            }
        };
        if equal {
            p += 1;
        }
        o += 1;
    }
    if p < relevant.len() {
        return Err(PatchError::Unprocessable(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            Value::Array(patch.to_vec()),
            Value::Array(order.to_vec())
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::k8s_meta::KubernetesPatchMeta;
    use serde_json::json;

    fn k8s(kind: &str, original: Value, patch: Value) -> Result<Value, PatchError> {
        apply(&original, &patch, &KubernetesPatchMeta::for_kind(kind))
    }

    fn names(v: &Value, pointer: &str) -> Vec<String> {
        v.pointer(pointer)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|i| match i {
                        Value::Object(m) => {
                            m.get("name").or_else(|| m.get("type")).and_then(Value::as_str).unwrap_or("?").to_string()
                        }
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a", "b"]},
            "spec": {
                "replicas": 2,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [
                            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                             "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                            {"name": "b", "image": "b:1", "args": ["--x"]}
                        ],
                        "volumes": [{"name": "data", "emptyDir": {}}],
                        "tolerations": [{"key": "k1", "operator": "Exists"}]
                    }
                }
            }
        })
    }

    #[test]
    fn merges_containers_by_name() {
        let out = k8s(
            "Deployment",
            deployment(),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "new"}]}}}}),
        );
        let out = out.unwrap_or_else(|e| panic!("{e}"));
        let containers = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0], deployment()["spec"]["template"]["spec"]["containers"][0]);
        assert_eq!(containers[1], json!({"name": "b", "image": "new", "args": ["--x"]}));
    }

    #[test]
    fn new_item_without_order_goes_first_like_kubernetes() {
        let out = k8s(
            "Deployment",
            deployment(),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "c:1"}]}}}}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(&out, "/spec/template/spec/containers"), ["c", "a", "b"]);
        let out = k8s("Deployment", deployment(), json!({"metadata": {"finalizers": ["c"]}}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(&out, "/metadata/finalizers"), ["c", "a", "b"]);
    }

    #[test]
    fn kubectl_apply_style_patch_with_set_element_order() {
        // What `kubectl apply` sends when a container is appended and another changed.
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
            "containers": [{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}]
        }}}});
        let out = k8s("Deployment", deployment(), patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(&out, "/spec/template/spec/containers"), ["a", "b", "c"]);
        assert_eq!(out.pointer("/spec/template/spec/containers/1/image"), Some(&json!("b:2")));
        assert_eq!(out.pointer("/spec/template/spec/containers/1/args"), Some(&json!(["--x"])));
    }

    #[test]
    fn set_element_order_reorders_without_content_changes() {
        let patch =
            json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}}});
        let out = k8s("Deployment", deployment(), patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(&out, "/spec/template/spec/containers"), ["b", "a"]);
        assert_eq!(out.pointer("/spec/template/spec/containers/1/env/1/name"), Some(&json!("Y")));
    }

    #[test]
    fn set_element_order_on_nested_env_and_primitives() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "a",
            "$setElementOrder/env": [{"name": "Y"}, {"name": "Z"}, {"name": "X"}],
            "env": [{"name": "Z", "value": "3"}]
        }]}}}, "metadata": {"$setElementOrder/finalizers": ["b", "a"]}});
        let out = k8s("Deployment", deployment(), patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(&out, "/spec/template/spec/containers/0/env"), ["Y", "Z", "X"]);
        assert_eq!(names(&out, "/metadata/finalizers"), ["b", "a"]);
    }

    #[test]
    fn design_doc_examples_for_ordering() {
        let meta = |path: &[&str]| match path.last() {
            Some(&"list") => ListStrategy::Merge { key: Some("name".into()) },
            _ => ListStrategy::Atomic,
        };
        let item = |n: &str| json!({"name": n});
        let run = |live: Vec<Value>, patch: Value| {
            apply(&json!({"list": live}), &patch, &meta).map(|v| names(&v, "/list")).unwrap_or_else(|e| panic!("{e}"))
        };
        // Live-only items Kubernetes cannot place are kept in live order.
        assert_eq!(
            run(vec![item("B"), item("C"), item("A")], json!({"list": [item("A"), item("B"), item("D")]})),
            ["C", "A", "B", "D"]
        );
        // $setElementOrder wins over live order; what Go's merge actually yields.
        assert_eq!(
            run(
                vec![item("C"), item("B"), item("D"), item("A"), item("E")],
                json!({"$setElementOrder/list": [item("A"), item("B")], "list": [item("A"), item("B")]})
            ),
            ["C", "D", "A", "B", "E"]
        );
        // Ordering names that do not exist are ignored.
        assert_eq!(
            run(
                vec![item("A"), item("B")],
                json!({"$setElementOrder/list": [item("C"), item("A"), item("B")], "list": [item("A"), item("B")]})
            ),
            ["A", "B"]
        );
    }

    #[test]
    fn env_example_from_the_design_proposal() {
        let live = json!({"spec": {"containers": [{"name": "c", "env": [
            {"name": "ENV2", "value": "bar"}, {"name": "ENV5", "value": "server-added-2"},
            {"name": "ENV1", "value": "foo"}, {"name": "ENV3", "value": "baz"},
            {"name": "ENV4", "value": "server-added-1"}
        ]}]}});
        let patch = json!({"spec": {"containers": [{"name": "c",
            "$setElementOrder/env": [{"name": "ENV1"}, {"name": "ENV2"}, {"name": "ENV6"}],
            "env": [{"name": "ENV3", "$patch": "delete"}, {"name": "ENV6", "value": "new-env"}]
        }]}});
        let out = k8s("Pod", live, patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(&out, "/spec/containers/0/env"), ["ENV5", "ENV1", "ENV2", "ENV6", "ENV4"]);
    }

    #[test]
    fn patch_delete_removes_item_by_key() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}}});
        let out = k8s("Deployment", deployment(), patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(&out, "/spec/template/spec/containers"), ["b"]);
        let missing_key = json!({"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}});
        assert!(
            matches!(k8s("Deployment", deployment(), missing_key), Err(PatchError::Unprocessable(m)) if m.contains("does not contain declared merge key: name"))
        );
    }

    #[test]
    fn patch_replace_in_list_and_map() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "z", "image": "z"}, {"$patch": "replace"}]}}}});
        let out = k8s("Deployment", deployment(), patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.pointer("/spec/template/spec/containers"), Some(&json!([{"name": "z", "image": "z"}])));

        let patch = json!({"metadata": {"labels": {"$patch": "replace", "only": "this"}}});
        let out = k8s("Deployment", deployment(), patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.pointer("/metadata/labels"), Some(&json!({"only": "this"})));

        let patch = json!({"spec": {"strategy": {"$patch": "delete"}}});
        let out = k8s("Deployment", deployment(), patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.pointer("/spec/strategy"), Some(&json!({})));

        let patch = json!({"metadata": {"labels": {"$patch": "merge"}}});
        assert!(
            matches!(k8s("Deployment", deployment(), patch), Err(PatchError::Malformed(m)) if m.starts_with("unknown patch type: merge in map"))
        );
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "merge"}]}}}});
        assert_eq!(
            k8s("Deployment", deployment(), patch),
            Err(PatchError::Unprocessable("merging lists cannot yet be specified in the patch".into()))
        );
    }

    #[test]
    fn delete_from_primitive_list() {
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}});
        let out = k8s("Deployment", deployment(), patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.pointer("/metadata/finalizers"), Some(&json!(["b"])));
        // kubectl apply: remove one, add one, with order.
        let patch = json!({"metadata": {
            "$setElementOrder/finalizers": ["b", "c"],
            "$deleteFromPrimitiveList/finalizers": ["a"],
            "finalizers": ["c"]
        }});
        let out = k8s("Deployment", deployment(), patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.pointer("/metadata/finalizers"), Some(&json!(["b", "c"])));
        // Deleting from a list that does not exist is a no-op.
        let out =
            k8s("Pod", json!({"metadata": {}}), json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}));
        assert_eq!(out, Ok(json!({"metadata": {}})));
        let bad = json!({"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}});
        assert_eq!(
            k8s("Pod", deployment(), bad),
            Err(PatchError::Malformed("invalid patch format of primitive list".into()))
        );
    }

    #[test]
    fn primitive_set_merge_deduplicates() {
        let patch = json!({"metadata": {"finalizers": ["b", "c", "c"]}});
        let out = k8s("Deployment", deployment(), patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.pointer("/metadata/finalizers"), Some(&json!(["a", "b", "c"])));
    }

    #[test]
    fn retain_keys_switches_deployment_strategy() {
        // `kubectl apply` output when switching RollingUpdate -> Recreate.
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}});
        let out = k8s("Deployment", deployment(), patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.pointer("/spec/strategy"), Some(&json!({"type": "Recreate"})));
        // Even without the explicit null the directive clears other keys.
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
        let out = k8s("Deployment", deployment(), patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.pointer("/spec/strategy"), Some(&json!({"type": "Recreate"})));
        // A patch that sets a key it does not retain contradicts itself.
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {"maxSurge": 2}}}});
        assert_eq!(
            k8s("Deployment", deployment(), patch),
            Err(PatchError::Malformed("invalid patch format of retainKeys".into()))
        );
        let patch = json!({"spec": {"strategy": {"$retainKeys": "type"}}});
        assert!(matches!(k8s("Deployment", deployment(), patch), Err(PatchError::Malformed(_))));
    }

    #[test]
    fn retain_keys_on_volume_items() {
        // Switching a volume's source: each item of the merge,retainKeys list carries the directive.
        let patch = json!({"spec": {"template": {"spec": {"volumes": [
            {"name": "data", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/d"}}
        ]}}}});
        let out = k8s("Deployment", deployment(), patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            out.pointer("/spec/template/spec/volumes"),
            Some(&json!([{"name": "data", "hostPath": {"path": "/d"}}]))
        );
    }

    #[test]
    fn nulls_delete_keys_and_are_not_stored() {
        let patch = json!({"metadata": {"labels": {"app": null, "new": "x"}, "annotations": {"a": "1", "gone": null}},
                           "spec": {"replicas": null}});
        let out = k8s("Deployment", deployment(), patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.pointer("/metadata/labels"), Some(&json!({"new": "x"})));
        assert_eq!(out.pointer("/metadata/annotations"), Some(&json!({"a": "1"})));
        assert_eq!(out.pointer("/spec/replicas"), None);
    }

    #[test]
    fn atomic_lists_are_replaced() {
        let patch = json!({"spec": {"template": {"spec": {"tolerations": [{"key": "k2", "operator": "Exists"}]}}}});
        let out = k8s("Deployment", deployment(), patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.pointer("/spec/template/spec/tolerations"), Some(&json!([{"key": "k2", "operator": "Exists"}])));
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "args": ["--y"]}]}}}});
        let out = k8s("Deployment", deployment(), patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.pointer("/spec/template/spec/containers/1/args"), Some(&json!(["--y"])));
    }

    #[test]
    fn nested_merge_into_items() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "a",
            "env": [{"name": "Y", "value": "two"}],
            "ports": [{"containerPort": 443}]
        }]}}}});
        let out = k8s("Deployment", deployment(), patch).unwrap_or_else(|e| panic!("{e}"));
        let a = &out["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(a["env"], json!([{"name": "X", "value": "1"}, {"name": "Y", "value": "two"}]));
        assert_eq!(a["ports"], json!([{"containerPort": 443}, {"containerPort": 80, "protocol": "TCP"}]));
        assert_eq!(a["image"], json!("a:1"));
    }

    #[test]
    fn empty_merge_list_patch_changes_nothing() {
        let patch = json!({"spec": {"template": {"spec": {"containers": []}}}});
        let out = k8s("Deployment", deployment(), patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(&out, "/spec/template/spec/containers"), ["a", "b"]);
    }

    #[test]
    fn cronjob_and_pod_paths_share_pod_spec_rules() {
        let cron = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}}}}}});
        let patch = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "2"}]}}}}}});
        let out = k8s("CronJob", cron, patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.pointer("/spec/jobTemplate/spec/template/spec/containers/1/image"), Some(&json!("1")));
        assert_eq!(out.pointer("/spec/jobTemplate/spec/template/spec/containers/0/image"), Some(&json!("2")));
    }

    #[test]
    fn status_conditions_merge_by_type() {
        let pod = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]}});
        let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let out = k8s("Pod", pod, patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            out.pointer("/status/conditions"),
            Some(&json!([{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}]))
        );
    }

    #[test]
    fn new_values_are_cleaned_of_directives() {
        let patch = json!({"spec": {"template": {"spec": {"initContainers": [
            {"name": "i", "image": "x", "command": null}, {"name": "j", "$patch": "delete"}
        ]}}}, "metadata": {"annotations": {"$patch": "replace", "a": "b", "c": null}}});
        let out = k8s("Deployment", deployment(), patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.pointer("/spec/template/spec/initContainers"), Some(&json!([{"name": "i", "image": "x"}])));
        assert_eq!(out.pointer("/metadata/annotations"), Some(&json!({"a": "b"})));
    }

    #[test]
    fn malformed_input_errors_instead_of_panicking() {
        let d = deployment();
        assert_eq!(
            k8s("Deployment", d.clone(), json!([1])),
            Err(PatchError::Malformed("invalid JSON document".into()))
        );
        assert_eq!(
            k8s("Deployment", json!("x"), json!({})),
            Err(PatchError::Malformed("invalid JSON document".into()))
        );
        let cases = [
            json!({"spec": {"template": {"spec": {"containers": ["a"]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [{"image": "noname"}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [[1]]}}}}),
            json!({"spec": {"template": {"spec": {"$setElementOrder/containers": "x"}}}}),
            json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "b"}], "containers": "x"}}}}),
            json!({"spec": {"template": {"spec": {"$setElementOrder/containers": ["b"]}}}}),
            json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "b"}]}}}}),
            json!({"spec": {"template": {"spec": {"$setElementOrdercontainers": []}}}}),
            json!({"metadata": {"finalizers": [{"a": 1}]}}),
            json!({"metadata": {"$patch": 5}}),
        ];
        for patch in cases {
            assert!(k8s("Deployment", d.clone(), patch.clone()).is_err(), "{patch}");
        }
        // A type change is not the patch's business (Go replaces too).
        let out = k8s("Deployment", d, json!({"spec": {"template": "oops"}}));
        assert_eq!(out.map(|v| v["spec"]["template"].clone()), Ok(json!("oops")));
    }

    #[test]
    fn input_is_untouched() {
        let d = deployment();
        let before = d.clone();
        let _ = k8s(
            "Deployment",
            d.clone(),
            json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}}}),
        );
        assert_eq!(d, before);
    }

    #[test]
    fn closure_meta_and_unknown_kinds() {
        let all_atomic = |_: &[&str]| ListStrategy::Atomic;
        let out = apply(&json!({"l": [1, 2]}), &json!({"l": [3]}), &all_atomic);
        assert_eq!(out, Ok(json!({"l": [3]})));
        let out = k8s(
            "Widget",
            json!({"metadata": {"finalizers": ["x"]}, "spec": {"containers": [{"name": "a"}]}}),
            json!({"metadata": {"finalizers": ["y"]}, "spec": {"containers": [{"name": "b"}]}}),
        );
        assert_eq!(out, Ok(json!({"metadata": {"finalizers": ["y", "x"]}, "spec": {"containers": [{"name": "b"}]}})));
    }
}
