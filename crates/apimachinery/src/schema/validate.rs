//! Validating custom objects: kube-openapi's schema validator as
//! apiextensions translates its results into field errors, then the checks
//! apiextensions adds on top (embedded resources' type and object meta,
//! `x-kubernetes-list-type` uniqueness) and the CEL rules.
//!
//! kube-openapi names fields `spec.items[2].name` and puts the same name in
//! its message (`spec.x in body should be ...`); errors that are not about
//! a single value (anyOf/oneOf/allOf/not) land on the whole object, which
//! Go prints as `<nil>`. Both quirks are kept: users paste these messages
//! into searches.

use serde_json::{Map, Value};

use super::path::{child, display, index};
use super::structural::{Additional, Node};
use super::{cel, formats, MAX_DEPTH};
use crate::field_error::{go_quote, FieldError, FieldErrorKind};
use crate::names;

/// All checks for one object; `prefix` is the field path of the object
/// itself (empty for a custom resource, `...default` for a default).
pub(crate) fn validate_object(root: &Node, obj: &Value, old: Option<&Value>, prefix: &str) -> Vec<FieldError> {
    let ov = OpenApi { prefix };
    let mut errs = Vec::new();
    ov.validate(root, obj, "", 0, &mut errs);
    meta_walk(root, obj, prefix, true, 0, &mut errs);
    list_walk(root, obj, prefix, 0, &mut errs);
    cel::validate(root, obj, old, prefix, &mut errs);
    errs
}

struct OpenApi<'a> {
    prefix: &'a str,
}

impl OpenApi<'_> {
    fn field(&self, name: &str) -> String {
        display(&if name.is_empty() { self.prefix.to_string() } else { child(self.prefix, name) })
    }

    fn type_invalid(&self, name: &str, type_name: &str, got: &str) -> FieldError {
        FieldError::invalid(
            self.field(name),
            Value::String(got.to_string()),
            format!("{name} in body must be of type {type_name}: {}", go_quote(got)),
        )
    }

    fn invalid(&self, name: &str, value: Value, detail: String) -> FieldError {
        FieldError::invalid(self.field(name), value, detail)
    }

    fn composite(&self, detail: String) -> FieldError {
        FieldError::invalid(display(self.prefix), Value::String(String::new()), detail)
    }

    fn validate(&self, n: &Node, v: &Value, name: &str, depth: usize, out: &mut Vec<FieldError>) {
        if depth > MAX_DEPTH {
            return;
        }
        if v.is_null() {
            if !n.ty.is_empty() && !n.nullable {
                out.push(self.type_invalid(name, &n.ty, "null"));
            }
            self.check_enum(n, v, name, out);
            return;
        }
        if let Some(e) = self.check_type(n, v, name) {
            out.push(e);
        }
        self.check_combinators(n, v, name, depth, out);
        match v {
            Value::String(s) => {
                if let Some(e) = self.check_string(n, s, name) {
                    out.push(e);
                }
                let f = n.effective_format();
                if !f.is_empty() && formats::is_supported(f) && !formats::validates(f, s) {
                    out.push(self.type_invalid(name, f, s));
                }
            }
            Value::Number(num) => self.check_number(n, num, v, name, out),
            Value::Array(items) => self.check_array(n, items, name, depth, out),
            _ => {}
        }
        self.check_enum(n, v, name, out);
        if let Value::Object(m) = v {
            self.check_object(n, m, name, depth, out);
        }
    }

    fn check_type(&self, n: &Node, v: &Value, name: &str) -> Option<FieldError> {
        let (sch_type, data_format) = match v {
            Value::Bool(_) => ("boolean", ""),
            Value::Number(x) if x.is_f64() => ("number", "double"),
            Value::Number(_) => ("integer", "int64"),
            Value::String(_) => ("string", ""),
            Value::Array(_) => ("array", ""),
            Value::Object(_) => ("object", ""),
            Value::Null => return None,
        };
        let t = n.ty.as_str();
        // x-kubernetes-int-or-string stands for `type: [integer, string]`.
        if t.is_empty() && n.int_or_string {
            let whole = v.as_f64().is_some_and(is_json_integer);
            return (!(v.is_string() || whole)).then(|| self.type_invalid(name, "integer,string", sch_type));
        }
        if t.is_empty() {
            return None;
        }
        let is_float_int = sch_type == "number" && v.as_f64().is_some_and(is_json_integer) && t == "integer";
        let is_int_float = sch_type == "integer" && t == "number";
        let format = n.effective_format();
        let stringish = v.is_string() || v.is_array();
        if !(stringish || format.is_empty() || t == sch_type || format == data_format || is_float_int || is_int_float) {
            return Some(self.type_invalid(name, format, data_format));
        }
        // kube-openapi leaves strings and arrays under a formatted
        // non-numeric schema to the format validator.
        if t != "number" && t != "integer" && !format.is_empty() && stringish {
            return None;
        }
        if !(t == sch_type || is_float_int || is_int_float) {
            return Some(self.type_invalid(name, t, sch_type));
        }
        None
    }

    fn check_string(&self, n: &Node, s: &str, name: &str) -> Option<FieldError> {
        let len = s.chars().count() as i64;
        if let Some(max) = n.max_length {
            if len > max {
                let unit = if max == 1 { "byte" } else { "bytes" };
                return Some(FieldError {
                    kind: FieldErrorKind::TooLong,
                    field: self.field(name),
                    bad_value: None,
                    detail: format!("may not be more than {max} {unit}"),
                });
            }
        }
        if let Some(min) = n.min_length {
            if len < min {
                return Some(self.invalid(
                    name,
                    Value::String(s.into()),
                    format!("{name} in body should be at least {min} chars long"),
                ));
            }
        }
        if let Some(p) = &n.pattern {
            let ok = p.regex.as_ref().is_none_or(|r| r.is_match(s));
            if !ok {
                return Some(self.invalid(
                    name,
                    Value::String(s.into()),
                    format!("{name} in body should match '{}'", p.source),
                ));
            }
        }
        None
    }

    fn check_number(&self, n: &Node, num: &serde_json::Number, v: &Value, name: &str, out: &mut Vec<FieldError>) {
        let as_int = num.as_i64();
        let data = num.as_f64().unwrap_or(0.0);
        if let Some(factor) = n.multiple_of {
            let integral_factor = factor.fract() == 0.0 && factor.abs() < 9.2e18;
            let msg = match as_int {
                Some(i) if integral_factor => {
                    let f = factor as i64;
                    if f <= 0 {
                        Some(format!("factor MultipleOf declared for {name} must be positive: {f}"))
                    } else if i % f != 0 {
                        Some(format!("{name} in body should be a multiple of {f}"))
                    } else {
                        None
                    }
                }
                _ => {
                    if factor <= 0.0 {
                        Some(format!("factor MultipleOf declared for {name} must be positive: {}", go_float(factor)))
                    } else {
                        let mult = if factor < 1.0 { 1.0 / factor * data } else { data / factor };
                        (!is_json_integer(mult))
                            .then(|| format!("{name} in body should be a multiple of {}", go_float(factor)))
                    }
                }
            };
            if let Some(m) = msg {
                out.push(self.invalid(name, v.clone(), m));
            }
        }
        if let Some(max) = n.maximum {
            let excl = n.exclusive_maximum;
            let (fails, shown) = match as_int {
                Some(i) => {
                    let m = max as i64;
                    ((!excl && i > m) || (excl && i >= m), m.to_string())
                }
                None => ((!excl && data > max) || (excl && data >= max), go_float(max)),
            };
            if fails {
                let rel = if excl { "less than" } else { "less than or equal to" };
                out.push(self.invalid(name, v.clone(), format!("{name} in body should be {rel} {shown}")));
            }
        }
        if let Some(min) = n.minimum {
            let excl = n.exclusive_minimum;
            let (fails, shown) = match as_int {
                Some(i) => {
                    let m = min as i64;
                    ((!excl && i < m) || (excl && i <= m), m.to_string())
                }
                None => ((!excl && data < min) || (excl && data <= min), go_float(min)),
            };
            if fails {
                let rel = if excl { "greater than" } else { "greater than or equal to" };
                out.push(self.invalid(name, v.clone(), format!("{name} in body should be {rel} {shown}")));
            }
        }
    }

    fn check_array(&self, n: &Node, items: &[Value], name: &str, depth: usize, out: &mut Vec<FieldError>) {
        if let Some(is) = &n.items {
            for (i, item) in items.iter().enumerate() {
                self.validate(is, item, &index(name, i), depth + 1, out);
            }
        }
        let size = items.len() as i64;
        if let Some(min) = n.min_items {
            if size < min {
                out.push(self.invalid(
                    name,
                    Value::from(size),
                    format!("{name} in body should have at least {min} items"),
                ));
            }
        }
        if let Some(max) = n.max_items {
            if size > max {
                out.push(too_many(self.field(name), size, max));
            }
        }
        if n.unique_items {
            let mut seen: Vec<String> = Vec::new();
            for item in items {
                let c = canonical(item, 0);
                if seen.contains(&c) {
                    out.push(self.invalid(
                        name,
                        Value::String(String::new()),
                        format!("{name} in body shouldn't contain duplicates"),
                    ));
                    break;
                }
                seen.push(c);
            }
        }
    }

    fn check_enum(&self, n: &Node, v: &Value, name: &str, out: &mut Vec<FieldError>) {
        let Some(values) = &n.enumeration else { return };
        if values.is_empty() || (!v.is_null() && values.iter().any(|e| json_equal(e, v, 0))) {
            return;
        }
        let shown: Vec<String> = values
            .iter()
            .map(|e| match e {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        let refs: Vec<&str> = shown.iter().map(String::as_str).collect();
        out.push(FieldError::not_supported(self.field(name), v.clone(), &refs));
    }

    fn check_object(&self, n: &Node, m: &Map<String, Value>, name: &str, depth: usize, out: &mut Vec<FieldError>) {
        let size = m.len() as i64;
        if let Some(min) = n.min_properties {
            if size < min {
                out.push(self.invalid(
                    name,
                    Value::from(size),
                    format!("{name} in body should have at least {min} properties"),
                ));
            }
        }
        if let Some(max) = n.max_properties {
            if size > max {
                out.push(too_many(self.field(name), size, max));
            }
        }
        match &n.additional {
            Some(Additional::Bool(false)) => {
                for k in m.keys().filter(|k| !n.properties.contains_key(*k)) {
                    out.push(self.invalid(
                        name,
                        Value::String(k.clone()),
                        format!("{name}.{k} in body is a forbidden property"),
                    ));
                }
            }
            Some(Additional::Schema(s)) => {
                for (k, v) in m.iter().filter(|(k, _)| !n.properties.contains_key(*k)) {
                    self.validate(s, v, &format!("{name}.{k}"), depth + 1, out);
                }
            }
            _ => {}
        }
        for (k, p) in &n.properties {
            if let Some(v) = m.get(k) {
                self.validate(p, v, &child(name, k), depth + 1, out);
            }
        }
        for k in &n.required {
            if !m.contains_key(k) {
                out.push(FieldError::required(self.field(&child(name, k)), ""));
            }
        }
    }

    fn check_combinators(&self, n: &Node, v: &Value, name: &str, depth: usize, out: &mut Vec<FieldError>) {
        let quoted = go_quote(name);
        if !n.any_of.is_empty() {
            let mut best: Option<Vec<FieldError>> = None;
            let mut ok = false;
            for s in &n.any_of {
                let mut r = Vec::new();
                self.validate(s, v, name, depth + 1, &mut r);
                if r.is_empty() {
                    ok = true;
                    break;
                }
                if best.as_ref().is_none_or(|b| r.len() < b.len()) {
                    best = Some(r);
                }
            }
            if !ok {
                out.push(self.composite(format!("{quoted} must validate at least one schema (anyOf)")));
                out.extend(best.unwrap_or_default());
            }
        }
        if !n.one_of.is_empty() {
            let mut best: Option<Vec<FieldError>> = None;
            let mut valid = 0;
            for s in &n.one_of {
                let mut r = Vec::new();
                self.validate(s, v, name, depth + 1, &mut r);
                if r.is_empty() {
                    valid += 1;
                } else if valid == 0 && best.as_ref().is_none_or(|b| r.len() < b.len()) {
                    best = Some(r);
                }
            }
            if valid != 1 {
                let extra = if valid == 0 {
                    "Found none valid".to_string()
                } else {
                    format!("Found {valid} valid alternatives")
                };
                out.push(self.composite(format!("{quoted} must validate one and only one schema (oneOf). {extra}")));
                if valid == 0 {
                    out.extend(best.unwrap_or_default());
                }
            }
        }
        if !n.all_of.is_empty() {
            let mut valid = 0;
            for s in &n.all_of {
                let before = out.len();
                self.validate(s, v, name, depth + 1, out);
                if out.len() == before {
                    valid += 1;
                }
            }
            if valid != n.all_of.len() {
                let extra = if valid == 0 { ". None validated" } else { "" };
                out.push(self.composite(format!("{quoted} must validate all the schemas (allOf){extra}")));
            }
        }
        if let Some(not) = &n.not {
            let mut r = Vec::new();
            self.validate(not, v, name, depth + 1, &mut r);
            if r.is_empty() {
                out.push(self.composite(format!("{quoted} must not validate the schema (not)")));
            }
        }
    }
}

/// `field.TooMany`. The crate's [`FieldErrorKind`] has no `TooMany` yet, so
/// this reports `Invalid value` with Kubernetes' detail and count.
fn too_many(field: String, actual: i64, max: i64) -> FieldError {
    let unit = if max == 1 { "item" } else { "items" };
    FieldError::invalid(field, Value::from(actual), format!("must have at most {max} {unit}"))
}

/// swag's `IsFloat64AJSONInteger`: integral within a relative epsilon.
fn is_json_integer(f: f64) -> bool {
    if !f.is_finite() || f.abs() > 9_007_199_254_740_992.0 {
        return false;
    }
    let g = f.trunc();
    f == g || (f - g).abs() < 1e-9 * g.abs()
}

/// Go's `%v` for a float64.
pub(crate) fn go_float(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let exp = f.abs().log10().floor() as i32;
    if (-4..21).contains(&exp) {
        format!("{f}")
    } else {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((m, e)) => {
                let (sign, digits) = e.strip_prefix('-').map(|d| ('-', d)).unwrap_or(('+', e));
                format!("{m}e{sign}{digits:0>2}")
            }
            None => s,
        }
    }
}

/// Value equality as Go's DeepEqual after numeric conversion: 1 equals 1.0.
pub(crate) fn json_equal(a: &Value, b: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH * 2 {
        return false;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q, depth + 1))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w, depth + 1)))
        }
        _ => a == b,
    }
}

/// A key-order-independent rendering, as Go's json.Marshal of a map gives.
pub(crate) fn canonical(v: &Value, depth: usize) -> String {
    if depth > MAX_DEPTH * 2 {
        return "…".into();
    }
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&m[*k], depth + 1)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(|x| canonical(x, depth + 1)).collect::<Vec<_>>().join(",")),
        Value::Number(n) if n.is_f64() => format!("f{n}"),
        other => other.to_string(),
    }
}

/// Object meta of the root (apiVersion/kind/metadata are the caller's) and
/// of embedded resources, which nobody else checks.
fn meta_walk(n: &Node, v: &Value, path: &str, is_root: bool, depth: usize, out: &mut Vec<FieldError>) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Object(m) => {
            if n.embedded && !is_root {
                validate_embedded(m, path, out);
            }
            for (k, x) in m {
                if let Some(p) = n.properties.get(k) {
                    meta_walk(p, x, &child(path, k), false, depth + 1, out);
                } else if let Some(s) = n.additional_schema() {
                    meta_walk(s, x, &super::path::key(path, k), false, depth + 1, out);
                }
            }
        }
        Value::Array(a) => {
            if let Some(is) = &n.items {
                for (i, x) in a.iter().enumerate() {
                    meta_walk(is, x, &index(path, i), false, depth + 1, out);
                }
            }
        }
        _ => {}
    }
}

fn validate_embedded(m: &Map<String, Value>, path: &str, out: &mut Vec<FieldError>) {
    let ap = child(path, "apiVersion");
    let kp = child(path, "kind");
    match m.get("apiVersion") {
        None => out.push(FieldError::required(&ap, "")),
        Some(Value::String(s)) if s.is_empty() => {
            out.push(FieldError::invalid(&ap, Value::String(s.clone()), "must not be empty"))
        }
        Some(Value::String(s)) if s.matches('/').count() > 1 => {
            out.push(FieldError::invalid(&ap, Value::String(s.clone()), format!("unexpected GroupVersion string: {s}")))
        }
        Some(Value::String(_)) => {}
        Some(other) => out.push(FieldError::invalid(&ap, other.clone(), "must be a string")),
    }
    match m.get("kind") {
        None => out.push(FieldError::required(&kp, "")),
        Some(Value::String(s)) if s.is_empty() => {
            out.push(FieldError::invalid(&kp, Value::String(s.clone()), "must not be empty"))
        }
        Some(Value::String(s)) => {
            let errs = names::is_dns1035_label(&s.to_lowercase());
            if !errs.is_empty() {
                out.push(FieldError::invalid(
                    &kp,
                    Value::String(s.clone()),
                    format!("may have mixed case, but should otherwise match: {}", errs.join(",")),
                ));
            }
        }
        Some(other) => out.push(FieldError::invalid(&kp, other.clone(), "must be a string")),
    }
    if let Some(meta) = m.get("metadata") {
        let mp = child(path, "metadata");
        let Value::Object(meta) = meta else {
            out.push(FieldError::invalid(&mp, meta.clone(), "must be an object"));
            return;
        };
        validate_object_meta(meta, &mp, out);
    }
}

/// The parts of `ValidateObjectMeta` that apply to embedded resources,
/// whose names are path segments rather than DNS names.
fn validate_object_meta(meta: &Map<String, Value>, mp: &str, out: &mut Vec<FieldError>) {
    for (field, prefix) in [("name", false), ("generateName", true)] {
        let Some(v) = meta.get(field) else { continue };
        let p = child(mp, field);
        let Value::String(s) = v else {
            out.push(FieldError::invalid(&p, v.clone(), "must be a string"));
            continue;
        };
        if s.is_empty() {
            continue;
        }
        for msg in path_segment_errors(s, prefix) {
            out.push(FieldError::invalid(&p, Value::String(s.clone()), msg));
        }
    }
    if let Some(v) = meta.get("namespace") {
        let p = child(mp, "namespace");
        match v {
            Value::String(s) if s.is_empty() => {}
            Value::String(s) => {
                for msg in names::is_dns1123_label(s) {
                    out.push(FieldError::invalid(&p, Value::String(s.clone()), msg));
                }
            }
            other => out.push(FieldError::invalid(&p, other.clone(), "must be a string")),
        }
    }
    if let Some(v) = meta.get("labels") {
        let p = child(mp, "labels");
        match v {
            Value::Object(labels) => {
                for (k, val) in labels {
                    for msg in names::is_qualified_name(k) {
                        out.push(FieldError::invalid(&p, Value::String(k.clone()), msg));
                    }
                    match val {
                        Value::String(s) => {
                            for msg in names::is_valid_label_value(s) {
                                out.push(FieldError::invalid(&p, Value::String(s.clone()), msg));
                            }
                        }
                        other => out.push(FieldError::invalid(&p, other.clone(), "must be a string")),
                    }
                }
            }
            Value::Null => {}
            other => out.push(FieldError::invalid(&p, other.clone(), "must be an object")),
        }
    }
}

fn path_segment_errors(s: &str, prefix: bool) -> Vec<String> {
    let mut errs = Vec::new();
    if !prefix {
        for bad in [".", ".."] {
            if s == bad {
                errs.push(format!("may not be '{bad}'"));
            }
        }
    }
    for bad in ["/", "%"] {
        if s.contains(bad) {
            errs.push(format!("may not contain '{bad}'"));
        }
    }
    errs
}

/// `x-kubernetes-list-type` set and map uniqueness.
fn list_walk(n: &Node, v: &Value, path: &str, depth: usize, out: &mut Vec<FieldError>) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if let Some(p) = n.properties.get(k) {
                    list_walk(p, x, &child(path, k), depth + 1, out);
                } else if let Some(s) = n.additional_schema() {
                    list_walk(s, x, &super::path::key(path, k), depth + 1, out);
                }
            }
        }
        Value::Array(a) => {
            match n.list_type.as_deref() {
                Some("set") => {
                    for i in duplicates(a.iter().map(|x| canonical(x, 0))) {
                        out.push(FieldError::duplicate(index(path, i), a[i].clone()));
                    }
                }
                Some("map") => list_map_duplicates(n, a, path, out),
                _ => {}
            }
            if let Some(is) = &n.items {
                for (i, x) in a.iter().enumerate() {
                    list_walk(is, x, &index(path, i), depth + 1, out);
                }
            }
        }
        _ => {}
    }
}

/// Indices of the second occurrence of each repeated key (later repeats are
/// not reported again, as in Kubernetes).
fn duplicates(keys: impl Iterator<Item = String>) -> Vec<usize> {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for (i, k) in keys.enumerate() {
        let count = seen.entry(k).or_insert(0);
        *count += 1;
        if *count == 2 {
            out.push(i);
        }
    }
    out
}

fn list_map_duplicates(n: &Node, a: &[Value], path: &str, out: &mut Vec<FieldError>) {
    for (i, x) in a.iter().enumerate() {
        if !x.is_null() && !x.is_object() {
            out.push(FieldError::invalid(index(path, i), x.clone(), "must be an object for an array of list-type map"));
            return;
        }
    }
    if a.len() <= 1 {
        return;
    }
    // Absent keys count as a value of their own, so two entries both
    // missing a key collide.
    let key_of = |x: &Value| -> Vec<Option<Value>> {
        n.list_map_keys.iter().map(|k| x.as_object().and_then(|m| m.get(k)).cloned()).collect()
    };
    let keys: Vec<Vec<Option<Value>>> = a.iter().map(key_of).collect();
    let rendered = keys.iter().map(|k| {
        k.iter()
            .map(|v| v.as_ref().map(|v| canonical(v, 0)).unwrap_or_else(|| "<unset>".into()))
            .collect::<Vec<_>>()
            .join("\u{0}")
    });
    for i in duplicates(rendered) {
        let mut shown = Map::new();
        for (name, v) in n.list_map_keys.iter().zip(&keys[i]) {
            if let Some(v) = v {
                shown.insert(name.clone(), v.clone());
            }
        }
        out.push(FieldError::duplicate(index(path, i), Value::Object(shown)));
    }
}
