//! Schema-guided walks over JSON objects: the field set of an object, the
//! comparison of two objects, the apply merge and the removal of paths.
//!
//! The engine has no types, only the JSON values and the [`Schema`]'s
//! answers about lists and atomic maps, so each node's shape is deduced from
//! its value: an object is a map (a leaf if atomic), an array is a list
//! (a leaf if atomic), anything else is a scalar leaf. When the two sides of
//! a comparison or merge disagree on shape, the node is treated as one leaf
//! that changed, which is what a type change means for ownership.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Map, Value};

use super::fieldset::{sorted_key, FieldSet, Path, PathElement};
use super::{ListType, Schema};

/// How a node is walked.
#[derive(Clone, Debug, PartialEq)]
enum Shape {
    Leaf,
    Map,
    /// A granular list; `None` keys = set of scalars, else the key fields
    /// with the schema's default for each.
    List(Option<Keys>),
}

type Keys = Vec<(String, Option<Value>)>;

/// The schema path of a field path: its field names, list items skipped.
pub(crate) fn schema_path(path: &[PathElement]) -> Vec<&str> {
    path.iter()
        .filter_map(|pe| match pe {
            PathElement::Field(n) => Some(n.as_str()),
            _ => None,
        })
        .collect()
}

fn shape(v: &Value, path: &[PathElement], schema: &dyn Schema) -> Shape {
    match v {
        Value::Object(_) => {
            if schema.map_is_atomic(&schema_path(path)) {
                Shape::Leaf
            } else {
                Shape::Map
            }
        }
        Value::Array(_) => match schema.list_type(&schema_path(path)) {
            ListType::Atomic => Shape::Leaf,
            ListType::Set => Shape::List(None),
            ListType::Map(keys) if keys.is_empty() => Shape::List(None),
            ListType::Map(keys) => {
                let sp = schema_path(path);
                Shape::List(Some(
                    keys.into_iter()
                        .map(|k| {
                            let default = schema.list_key_default(&sp, &k);
                            (k, default)
                        })
                        .collect(),
                ))
            }
        },
        _ => Shape::Leaf,
    }
}

/// The path element of a granular list's item, or why it has none.
fn item_pe(keys: &Option<Keys>, item: &Value) -> Result<PathElement, String> {
    match keys {
        None => match item {
            Value::Object(_) => Err("associative list without keys has an element that's a map type".to_string()),
            Value::Array(_) => Err("associative list without keys has an element that's a list type".to_string()),
            v => Ok(PathElement::Value(v.clone())),
        },
        Some(keys) => {
            let Value::Object(m) = item else {
                return Err("associative list with keys has an element that is not a map".to_string());
            };
            let mut fields = Vec::with_capacity(keys.len());
            for (k, default) in keys {
                match m.get(k).or(default.as_ref()) {
                    Some(v) => fields.push((k.clone(), v.clone())),
                    None => {
                        return Err(format!(
                            "associative list with keys has an element that omits key field {k:?} (and doesn't have default value)"
                        ))
                    }
                }
            }
            Ok(PathElement::Key(sorted_key(fields)))
        }
    }
}

fn at(path: &[PathElement]) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{}: ", Path(path.to_vec()))
    }
}

/// How strictly list items are checked while collecting a field set.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    /// An applied configuration: items without keys and duplicate keys are
    /// errors, as Kubernetes rejects them.
    Strict,
    /// A stored object: such items are tolerated (ownership of an item that
    /// has no key cannot be recorded, so it is skipped; duplicates are
    /// recorded as the item alone, as structured-merge-diff does).
    Lenient,
}

/// Every field of `v`, as structured-merge-diff's ToFieldSet: leaves, list
/// items (with their own path) and empty or null map values.
pub(crate) fn to_field_set(
    v: &Value,
    path: &mut Vec<PathElement>,
    schema: &dyn Schema,
    mode: Mode,
    out: &mut FieldSet,
) -> Result<(), String> {
    match (shape(v, path, schema), v) {
        (Shape::Map, Value::Object(m)) => {
            for (k, child) in m {
                path.push(PathElement::Field(k.clone()));
                let r = to_field_set(child, path, schema, mode, out);
                let empty = child.is_null() || child.as_object().is_some_and(Map::is_empty);
                if empty {
                    out.insert(path);
                }
                path.pop();
                r?;
            }
            Ok(())
        }
        (Shape::List(keys), Value::Array(items)) => {
            let mut pes = Vec::with_capacity(items.len());
            let mut seen = BTreeSet::new();
            let mut dups = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                match item_pe(&keys, item) {
                    Ok(pe) => {
                        if !seen.insert(pe.clone()) {
                            if mode == Mode::Strict {
                                return Err(format!("{}duplicate entries for key {pe}", at(path)));
                            }
                            dups.insert(pe.clone());
                        }
                        pes.push(Some(pe));
                    }
                    Err(e) if mode == Mode::Strict => {
                        return Err(format!("{}element {i}: {e}", at(path)));
                    }
                    Err(_) => pes.push(None),
                }
            }
            for (item, pe) in items.iter().zip(pes) {
                let Some(pe) = pe else { continue };
                let duplicated = dups.contains(&pe);
                path.push(pe);
                if duplicated {
                    out.insert(path);
                } else {
                    let r = to_field_set(item, path, schema, mode, out);
                    out.insert(path);
                    if let Err(e) = r {
                        path.pop();
                        return Err(e);
                    }
                }
                path.pop();
            }
            Ok(())
        }
        _ => {
            out.insert(path);
            Ok(())
        }
    }
}

/// What changed between two objects, per path.
#[derive(Default, Debug)]
pub(crate) struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

impl Comparison {
    /// Drops ignored paths and everything below them.
    pub fn exclude(&mut self, ignored: &[Vec<PathElement>]) {
        self.added.exclude(ignored);
        self.modified.exclude(ignored);
        self.removed.exclude(ignored);
    }
}

fn is_empty_container(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

fn node_shape(l: Option<&Value>, r: Option<&Value>, path: &[PathElement], schema: &dyn Schema) -> Shape {
    match (l, r) {
        (Some(l), Some(r)) => {
            let (ls, rs) = (shape(l, path, schema), shape(r, path, schema));
            if ls == rs {
                rs
            } else {
                Shape::Leaf
            }
        }
        (Some(v), None) | (None, Some(v)) => shape(v, path, schema),
        (None, None) => Shape::Leaf,
    }
}

/// structured-merge-diff's Compare: leaves that differ are modified; a node
/// present on one side only is added or removed along with everything
/// below it.
pub(crate) fn compare(
    l: Option<&Value>,
    r: Option<&Value>,
    path: &mut Vec<PathElement>,
    schema: &dyn Schema,
    out: &mut Comparison,
) {
    if l.is_none() && r.is_none() {
        return;
    }
    let shape = node_shape(l, r, path, schema);
    let both_empty = is_empty_container(l) && is_empty_container(r);
    let leaf = match shape {
        Shape::Leaf => true,
        // Empty and null on both sides compare as a leaf, which keeps the
        // `{}` vs `null` difference visible.
        Shape::Map | Shape::List(_) if both_empty => true,
        Shape::Map => {
            let (lm, rm) = (l.and_then(Value::as_object), r.and_then(Value::as_object));
            if let Some(lm) = lm {
                for (k, lv) in lm {
                    path.push(PathElement::Field(k.clone()));
                    compare(Some(lv), rm.and_then(|m| m.get(k)), path, schema, out);
                    path.pop();
                }
            }
            if let Some(rm) = rm {
                for (k, rv) in rm {
                    if lm.is_some_and(|m| m.contains_key(k)) {
                        continue;
                    }
                    path.push(PathElement::Field(k.clone()));
                    compare(None, Some(rv), path, schema, out);
                    path.pop();
                }
            }
            false
        }
        Shape::List(keys) => {
            compare_items(&keys, l, r, path, schema, out);
            false
        }
    };
    if leaf {
        match (l, r) {
            (None, _) => out.added.insert(path),
            (_, None) => out.removed.insert(path),
            (Some(a), Some(b)) if a != b => out.modified.insert(path),
            _ => {}
        }
    } else if l.is_none() {
        out.added.insert(path);
    } else if r.is_none() {
        out.removed.insert(path);
    }
}

/// Items of a list grouped by path element, in first-seen order; items that
/// have no path element are not tracked.
fn group_items<'a>(
    keys: &Option<Keys>,
    list: Option<&'a Value>,
) -> (Vec<PathElement>, BTreeMap<PathElement, Vec<&'a Value>>) {
    let mut order = Vec::new();
    let mut groups: BTreeMap<PathElement, Vec<&Value>> = BTreeMap::new();
    for item in list.and_then(Value::as_array).into_iter().flatten() {
        if let Ok(pe) = item_pe(keys, item) {
            let g = groups.entry(pe.clone()).or_default();
            if g.is_empty() {
                order.push(pe);
            }
            g.push(item);
        }
    }
    (order, groups)
}

fn compare_items(
    keys: &Option<Keys>,
    l: Option<&Value>,
    r: Option<&Value>,
    path: &mut Vec<PathElement>,
    schema: &dyn Schema,
    out: &mut Comparison,
) {
    let (l_order, l_groups) = group_items(keys, l);
    let (r_order, r_groups) = group_items(keys, r);
    let mut all = l_order;
    all.extend(r_order.into_iter().filter(|pe| !l_groups.contains_key(pe)));
    let none = Vec::new();
    for pe in all {
        let ls = l_groups.get(&pe).unwrap_or(&none);
        let rs = r_groups.get(&pe).unwrap_or(&none);
        path.push(pe);
        // Duplicated keys cannot be matched item by item, so such a group
        // is one leaf, as structured-merge-diff treats it.
        match (ls.len(), rs.len()) {
            (0..=1, 0..=1) => compare(ls.first().copied(), rs.first().copied(), path, schema, out),
            (2.., 2..) => {
                if ls != rs {
                    out.modified.insert(path);
                }
            }
            (2.., _) => {
                if let Some(rv) = rs.first() {
                    compare(None, Some(rv), path, schema, out);
                }
                out.removed.insert(path);
            }
            (_, _) => {
                if let Some(lv) = ls.first() {
                    compare(Some(lv), None, path, schema, out);
                }
                out.added.insert(path);
            }
        }
        path.pop();
    }
}

/// The apply merge (structured-merge-diff's merge with the "keep the right
/// side" rule): maps merge key by key, granular lists item by item, and
/// everything else takes the applied value. `r` must have passed the strict
/// field-set walk, so its list items all have unique keys.
pub(crate) fn merge(l: Option<&Value>, r: &Value, path: &mut Vec<PathElement>, schema: &dyn Schema) -> Value {
    let Some(l) = l else {
        return r.clone();
    };
    if is_empty_container(Some(l)) && is_empty_container(Some(r)) {
        return r.clone();
    }
    match (node_shape(Some(l), Some(r), path, schema), l, r) {
        (Shape::Map, Value::Object(lm), Value::Object(rm)) => {
            // Live keys keep their order; new keys follow in applied order.
            let mut out = Map::new();
            for (k, lv) in lm {
                let v = match rm.get(k) {
                    Some(rv) => {
                        path.push(PathElement::Field(k.clone()));
                        let v = merge(Some(lv), rv, path, schema);
                        path.pop();
                        v
                    }
                    None => lv.clone(),
                };
                out.insert(k.clone(), v);
            }
            for (k, rv) in rm {
                if !lm.contains_key(k) {
                    out.insert(k.clone(), rv.clone());
                }
            }
            Value::Object(out)
        }
        (Shape::List(keys), Value::Array(la), Value::Array(ra)) => {
            Value::Array(merge_items(&keys, la, ra, path, schema))
        }
        _ => r.clone(),
    }
}

/// Orders merged list items as structured-merge-diff does: items the
/// applied list names come in applied order, and live-only items stay where
/// they were relative to them.
fn merge_items(
    keys: &Option<Keys>,
    la: &[Value],
    ra: &[Value],
    path: &mut Vec<PathElement>,
    schema: &dyn Schema,
) -> Vec<Value> {
    let mut r_pes = Vec::with_capacity(ra.len());
    let mut observed_r: BTreeMap<PathElement, &Value> = BTreeMap::new();
    for item in ra {
        if let Ok(pe) = item_pe(keys, item) {
            if !observed_r.contains_key(&pe) {
                observed_r.insert(pe.clone(), item);
                r_pes.push(pe);
            }
        }
    }
    // A live item without a usable key gets a private index element, so it
    // is carried through untouched and never matched.
    let mut l_pes = Vec::with_capacity(la.len());
    let mut observed_l: BTreeMap<PathElement, Option<&Value>> = BTreeMap::new();
    for (i, item) in la.iter().enumerate() {
        let pe = item_pe(keys, item).unwrap_or_else(|_| PathElement::Index(i64::try_from(i).unwrap_or(i64::MAX)));
        match observed_l.get_mut(&pe) {
            // Duplicated live items are not merged with the applied one.
            Some(slot) => *slot = None,
            None => {
                observed_l.insert(pe.clone(), Some(item));
            }
        }
        l_pes.push(pe);
    }

    let mut shared: VecDeque<&PathElement> = r_pes.iter().filter(|pe| observed_l.contains_key(*pe)).collect();
    let mut next_shared = shared.pop_front();
    let mut merged_r: BTreeSet<PathElement> = BTreeSet::new();
    let mut out = Vec::with_capacity(la.len().max(ra.len()));
    let merge_one = |pe: &PathElement, path: &mut Vec<PathElement>, out: &mut Vec<Value>| {
        let lv = observed_l.get(pe).copied().flatten();
        if let Some(rv) = observed_r.get(pe) {
            path.push(pe.clone());
            out.push(merge(lv, rv, path, schema));
            path.pop();
        }
    };
    let (mut li, mut ri) = (0, 0);
    while li < l_pes.len() || ri < r_pes.len() {
        if li < l_pes.len() && ri < r_pes.len() {
            let pe = &l_pes[li];
            if *pe == r_pes[ri] {
                merged_r.insert(pe.clone());
                merge_one(pe, path, &mut out);
                li += 1;
                ri += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if observed_r.contains_key(pe) && next_shared.is_some_and(|s| s != pe) {
                li += 1;
                continue;
            }
        }
        if li < l_pes.len() {
            let pe = &l_pes[li];
            if !observed_r.contains_key(pe) {
                out.push(la[li].clone());
                li += 1;
                continue;
            } else if merged_r.contains(pe) {
                li += 1;
            }
        }
        if ri < r_pes.len() {
            let pe = &r_pes[ri];
            merged_r.insert(pe.clone());
            merge_one(pe, path, &mut out);
            ri += 1;
            if next_shared.is_some_and(|s| s == pe) {
                next_shared = shared.pop_front();
            }
        }
    }
    out
}

/// The value at `path`, if the object has one.
pub(crate) fn get_at<'a>(v: &'a Value, path: &[PathElement], schema: &dyn Schema) -> Option<&'a Value> {
    let mut cur = v;
    for (i, pe) in path.iter().enumerate() {
        cur = child(cur, pe, &path[..i], schema)?;
    }
    Some(cur)
}

fn child<'a>(v: &'a Value, pe: &PathElement, parent: &[PathElement], schema: &dyn Schema) -> Option<&'a Value> {
    match (pe, v) {
        (PathElement::Field(k), Value::Object(m)) => m.get(k),
        (PathElement::Index(i), Value::Array(a)) => a.get(usize::try_from(*i).ok()?),
        (_, Value::Array(a)) => {
            let Shape::List(keys) = shape(v, parent, schema) else {
                return None;
            };
            a.iter().find(|item| item_pe(&keys, item).is_ok_and(|p| p == *pe))
        }
        _ => None,
    }
}

/// Removes the value at `path` (a map field, or every list item matching
/// the element). Returns whether anything was removed.
pub(crate) fn remove_at(v: &mut Value, path: &[PathElement], schema: &dyn Schema) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut cur = v;
    for (i, pe) in parents.iter().enumerate() {
        let Some(found) = child_mut(cur, pe, &parents[..i], schema) else {
            return false;
        };
        cur = found;
    }
    match (last, cur) {
        (PathElement::Field(k), Value::Object(m)) => m.shift_remove(k).is_some(),
        (pe, arr @ Value::Array(_)) => {
            let Shape::List(keys) = shape(arr, parents, schema) else {
                return false;
            };
            let Value::Array(a) = arr else { return false };
            let before = a.len();
            a.retain(|item| !item_pe(&keys, item).is_ok_and(|p| p == *pe));
            a.len() != before
        }
        _ => false,
    }
}

fn child_mut<'a>(
    v: &'a mut Value,
    pe: &PathElement,
    parent: &[PathElement],
    schema: &dyn Schema,
) -> Option<&'a mut Value> {
    let keys = match shape(v, parent, schema) {
        Shape::List(keys) => Some(keys),
        _ => None,
    };
    match (pe, v) {
        (PathElement::Field(k), Value::Object(m)) => m.get_mut(k),
        (PathElement::Index(i), Value::Array(a)) => a.get_mut(usize::try_from(*i).ok()?),
        (_, Value::Array(a)) => {
            let keys = keys?;
            a.iter_mut().find(|item| item_pe(&keys, item).is_ok_and(|p| p == *pe))
        }
        _ => None,
    }
}

/// Removes object members whose value is null, everywhere. An applied null
/// replaces the live value during the merge (and is owned); the stored
/// object then lacks the field, as Kubernetes' typed round trip drops it.
pub(crate) fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, child| !child.is_null());
            for child in m.values_mut() {
                strip_nulls(child);
            }
        }
        Value::Array(a) => {
            for item in a {
                strip_nulls(item);
            }
        }
        _ => {}
    }
}
