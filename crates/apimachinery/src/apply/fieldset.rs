//! Sets of field paths and their `FieldsV1` wire form.
//!
//! A [`FieldSet`] is a trie of [`PathElement`]s: `members` are the paths that
//! end at this node, `children` are the nodes below it. Ordering follows
//! structured-merge-diff's total order (field names, then list keys, then set
//! values, then indices; values ordered numbers < strings < bools < lists <
//! maps < null) so serialization comes out in the same order Kubernetes
//! writes it and round-trips byte-for-byte in the common cases.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

/// One step in a field path.
#[derive(Clone, Debug)]
pub enum PathElement {
    /// A map field: `f:name`, printed `.name`.
    Field(String),
    /// An item of a map-list, by its key fields sorted by name:
    /// `k:{"name":"x"}`, printed `[name="x"]`.
    Key(Vec<(String, Value)>),
    /// An item of a set-list, by its value: `v:"x"`, printed `[="x"]`.
    Value(Value),
    /// A list index: `i:3`, printed `[3]`. Kubernetes never records these
    /// for granular lists; they are accepted on the wire for completeness.
    Index(i64),
}

impl PathElement {
    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The `FieldsV1` key for this element (`f:…`, `k:…`, `v:…`, `i:…`).
    pub fn to_fields_v1_key(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(fields) => {
                let mut m = Map::new();
                for (k, v) in fields {
                    m.insert(k.clone(), v.clone());
                }
                format!("k:{}", Value::Object(m))
            }
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `FieldsV1` key. `Ok(None)` is an element type this code does
    /// not know: structured-merge-diff drops those rather than failing, so a
    /// newer writer's data does not make the object unusable.
    pub fn from_fields_v1_key(s: &str) -> Result<Option<PathElement>, String> {
        let mut chars = s.char_indices();
        let (Some((_, kind)), Some((sep_at, sep))) = (chars.next(), chars.next()) else {
            return Err(format!("path element {s:?} must be at least 2 characters long"));
        };
        if sep != ':' {
            return Err(format!("path element {s:?} is missing the colon after its type"));
        }
        let rest = &s[sep_at + 1..];
        let pe = match kind {
            'f' => PathElement::Field(rest.to_string()),
            'v' => {
                let v: Value =
                    serde_json::from_str(rest).map_err(|e| format!("path element {s:?}: value is not JSON: {e}"))?;
                PathElement::Value(v)
            }
            'k' => {
                let v: Value =
                    serde_json::from_str(rest).map_err(|e| format!("path element {s:?}: key is not JSON: {e}"))?;
                let Value::Object(m) = v else {
                    return Err(format!("path element {s:?}: key must be a JSON object"));
                };
                PathElement::Key(sorted_key(m.into_iter().collect()))
            }
            'i' => PathElement::Index(
                rest.parse::<i64>().map_err(|_| format!("path element {s:?}: index is not an integer"))?,
            ),
            _ => return Ok(None),
        };
        Ok(Some(pe))
    }
}

/// Key fields sorted by name (stable, so a repeated name keeps its first
/// occurrence first): the canonical form structured-merge-diff compares.
pub(crate) fn sorted_key(mut fields: Vec<(String, Value)>) -> Vec<(String, Value)> {
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    fields.dedup_by(|a, b| a.0 == b.0);
    fields
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Key(a), PathElement::Key(b)) => compare_fields(a, b),
            (PathElement::Value(a), PathElement::Value(b)) => compare_values(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

fn compare_fields(a: &[(String, Value)], b: &[(String, Value)]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let c = x.0.cmp(&y.0).then_with(|| compare_values(&x.1, &y.1));
        if c != Ordering::Equal {
            return c;
        }
    }
    a.len().cmp(&b.len())
}

fn kind_rank(v: &Value) -> u8 {
    match v {
        Value::Number(_) => 0,
        Value::String(_) => 1,
        Value::Bool(_) => 2,
        Value::Array(_) => 3,
        Value::Object(_) => 4,
        Value::Null => 5,
    }
}

/// structured-merge-diff's total order on values: integers and floats
/// compare numerically with each other.
pub(crate) fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x.is_f64() || y.is_f64() {
                let (fx, fy) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                fx.partial_cmp(&fy).unwrap_or(Ordering::Equal)
            } else {
                as_i128(x).cmp(&as_i128(y))
            }
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                let c = compare_values(p, q);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut xs: Vec<_> = x.iter().collect();
            let mut ys: Vec<_> = y.iter().collect();
            xs.sort_by(|p, q| p.0.cmp(q.0));
            ys.sort_by(|p, q| p.0.cmp(q.0));
            for (p, q) in xs.iter().zip(&ys) {
                let c = p.0.cmp(q.0).then_with(|| compare_values(p.1, q.1));
                if c != Ordering::Equal {
                    return c;
                }
            }
            xs.len().cmp(&ys.len())
        }
        (Value::Null, Value::Null) => Ordering::Equal,
        _ => kind_rank(a).cmp(&kind_rank(b)),
    }
}

fn as_i128(n: &serde_json::Number) -> i128 {
    n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from)).unwrap_or(0)
}

/// A value as structured-merge-diff prints it inside a path: strings
/// quoted Go-style, lists bracketed, maps as `k=v` pairs.
fn value_to_string(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        // JSON string escaping matches Go's %q for everything kubectl users
        // put in names (Go only differs on exotic control characters).
        Value::String(_) => v.to_string(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(value_to_string).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(m) => m.iter().map(|(k, v)| format!("{k}={}", value_to_string(v))).collect(),
    }
}

impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={}", value_to_string(v))).collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={}]", value_to_string(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A field path from the object root, printed as Kubernetes prints it
/// (`.spec.containers[name="nginx"].image`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Path(pub Vec<PathElement>);

impl Path {
    /// A path of plain field names.
    pub fn fields<S: AsRef<str>>(names: &[S]) -> Path {
        Path(names.iter().map(|n| PathElement::Field(n.as_ref().to_string())).collect())
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for pe in &self.0 {
            write!(f, "{pe}")?;
        }
        Ok(())
    }
}

/// A set of field paths: what one manager owns (`FieldsV1`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds a path. The empty path (the whole object) is never tracked,
    /// as in Kubernetes.
    pub fn insert(&mut self, path: &[PathElement]) {
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        let mut node = self;
        for pe in parents {
            node = node.children.entry(pe.clone()).or_default();
        }
        node.members.insert(last.clone());
    }

    /// Whether exactly this path is in the set.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        let Some((last, parents)) = path.split_last() else {
            return false;
        };
        self.node(parents).is_some_and(|n| n.members.contains(last))
    }

    /// Whether the set holds any path strictly below `path`.
    pub fn has_descendants(&self, path: &[PathElement]) -> bool {
        self.node(path).is_some_and(|n| !n.is_empty())
    }

    fn node(&self, path: &[PathElement]) -> Option<&FieldSet> {
        let mut node = self;
        for pe in path {
            node = node.children.get(pe)?;
        }
        Some(node)
    }

    /// Paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    /// Paths in `self` but not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            let rest = match other.children.get(pe) {
                Some(theirs) => child.difference(theirs),
                None => child.clone(),
            };
            if !rest.is_empty() {
                children.insert(pe.clone(), rest);
            }
        }
        FieldSet { members, children }
    }

    /// Paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            if let Some(theirs) = other.children.get(pe) {
                let both = child.intersection(theirs);
                if !both.is_empty() {
                    children.insert(pe.clone(), both);
                }
            }
        }
        FieldSet { members, children }
    }

    /// Removes `path` and everything below it (structured-merge-diff's
    /// recursive difference against one path).
    pub fn remove_subtree(&mut self, path: &[PathElement]) {
        let Some((first, rest)) = path.split_first() else {
            *self = FieldSet::new();
            return;
        };
        if rest.is_empty() {
            self.members.remove(first);
            self.children.remove(first);
            return;
        }
        if let Some(child) = self.children.get_mut(first) {
            child.remove_subtree(rest);
            if child.is_empty() {
                self.children.remove(first);
            }
        }
    }

    /// Removes exactly `path`, leaving what is below it.
    pub fn remove(&mut self, path: &[PathElement]) {
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        let Some((first, rest)) = parents.split_first() else {
            self.members.remove(last);
            return;
        };
        if let Some(child) = self.children.get_mut(first) {
            let mut sub = rest.to_vec();
            sub.push(last.clone());
            child.remove(&sub);
            if child.is_empty() {
                self.children.remove(first);
            }
        }
    }

    /// Drops server-owned paths: each ignored path with its subtree, and the
    /// maps holding them as members. A record of owning `metadata` itself
    /// would only come from the engine not knowing that built-in kinds
    /// always have it, so it is never kept.
    pub(crate) fn exclude(&mut self, ignored: &[Vec<PathElement>]) {
        for p in ignored {
            self.remove_subtree(p);
            for depth in 1..p.len() {
                self.remove(&p[..depth]);
            }
        }
    }

    /// Every path, in Kubernetes' iteration order: a node's own members
    /// first, then its children's paths.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Path>) {
        for pe in &self.members {
            let mut p = prefix.clone();
            p.push(pe.clone());
            out.push(Path(p));
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The paths printed as Kubernetes prints them.
    pub fn to_strings(&self) -> Vec<String> {
        self.paths().iter().map(Path::to_string).collect()
    }

    /// Number of paths.
    pub fn len(&self) -> usize {
        self.members.len() + self.children.values().map(FieldSet::len).sum::<usize>()
    }

    /// Parses the `fieldsV1` JSON object.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        let (set, _) = read_v1(v, 0)?;
        Ok(set)
    }

    /// Renders the `fieldsV1` JSON object.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.emit_v1(false))
    }

    fn emit_v1(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self && !self.is_empty() {
            out.insert(".".to_string(), Value::Object(Map::new()));
        }
        // Members and children are each sorted; walk both in one order so
        // the output is sorted like Kubernetes' serializer writes it.
        let mut members = self.members.iter().peekable();
        let mut children = self.children.iter().peekable();
        loop {
            let order = match (members.peek(), children.peek()) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(m), Some((c, _))) => (*m).cmp(*c),
            };
            match order {
                Ordering::Less => {
                    if let Some(m) = members.next() {
                        out.insert(m.to_fields_v1_key(), Value::Object(Map::new()));
                    }
                }
                Ordering::Greater => {
                    if let Some((pe, child)) = children.next() {
                        out.insert(pe.to_fields_v1_key(), Value::Object(child.emit_v1(false)));
                    }
                }
                Ordering::Equal => {
                    members.next();
                    if let Some((pe, child)) = children.next() {
                        out.insert(pe.to_fields_v1_key(), Value::Object(child.emit_v1(true)));
                    }
                }
            }
        }
        out
    }
}

/// Depth bound for hostile `fieldsV1` documents built in memory (parsed
/// request bodies are already bounded by serde_json's recursion limit).
const MAX_DEPTH: usize = 512;

/// Reads one `fieldsV1` node: its children, and whether the node itself is
/// a member (a `.` key, or no recognised children at all).
fn read_v1(v: &Value, depth: usize) -> Result<(FieldSet, bool), String> {
    if depth > MAX_DEPTH {
        return Err("fieldsV1 is nested too deeply".to_string());
    }
    let Value::Object(m) = v else {
        return Err(format!("expected a JSON object in fieldsV1, got {}", kind_name(v)));
    };
    let mut set = FieldSet::new();
    let mut is_member = false;
    for (key, child) in m {
        if key == "." {
            is_member = true;
            continue;
        }
        let Some(pe) = PathElement::from_fields_v1_key(key)? else {
            continue;
        };
        let (grandchildren, child_member) = read_v1(child, depth + 1).map_err(|e| format!("{key}: {e}"))?;
        if child_member {
            set.members.insert(pe.clone());
        }
        if !grandchildren.is_empty() {
            let merged = match set.children.remove(&pe) {
                Some(prev) => prev.union(&grandchildren),
                None => grandchildren,
            };
            set.children.insert(pe, merged);
        }
    }
    if set.is_empty() {
        is_member = true;
    }
    Ok((set, is_member))
}

pub(crate) fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
