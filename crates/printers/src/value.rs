//! Lenient, panic-free reads from a JSON object.
//!
//! Printers run on whatever is stored, so every accessor answers the Go zero
//! value ("" / 0 / false / empty list / zero time) when a field is missing,
//! null or of the wrong type — the same thing the Go printers see after
//! decoding into typed structs.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

static NULL: Value = Value::Null;

/// A borrowed view of a JSON value with defaulting accessors.
#[derive(Clone, Copy)]
pub(crate) struct Obj<'a>(pub(crate) &'a Value);

impl<'a> Obj<'a> {
    /// The value at `path`, if present and not null.
    pub(crate) fn at(self, path: &[&str]) -> Option<&'a Value> {
        let mut cur = self.0;
        for key in path {
            cur = cur.as_object()?.get(*key)?;
        }
        (!cur.is_null()).then_some(cur)
    }

    /// Whether `path` is set to something other than null; mirrors a non-nil Go pointer.
    pub(crate) fn has(self, path: &[&str]) -> bool {
        self.at(path).is_some()
    }

    /// The sub-object at `path`, or a null view whose reads all default.
    pub(crate) fn get(self, path: &[&str]) -> Obj<'a> {
        Obj(self.at(path).unwrap_or(&NULL))
    }

    pub(crate) fn opt_str(self, path: &[&str]) -> Option<&'a str> {
        self.at(path)?.as_str()
    }

    pub(crate) fn str(self, path: &[&str]) -> &'a str {
        self.opt_str(path).unwrap_or("")
    }

    pub(crate) fn opt_int(self, path: &[&str]) -> Option<i64> {
        let v = self.at(path)?;
        // Integers written by other JSON encoders may arrive as 3.0.
        v.as_i64().or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
    }

    pub(crate) fn int(self, path: &[&str]) -> i64 {
        self.opt_int(path).unwrap_or(0)
    }

    pub(crate) fn opt_bool(self, path: &[&str]) -> Option<bool> {
        self.at(path)?.as_bool()
    }

    pub(crate) fn bool(self, path: &[&str]) -> bool {
        self.opt_bool(path).unwrap_or(false)
    }

    /// Items of the array at `path`; empty when missing or not an array.
    pub(crate) fn list(self, path: &[&str]) -> Vec<Obj<'a>> {
        match self.at(path) {
            Some(Value::Array(items)) => items.iter().map(Obj).collect(),
            _ => Vec::new(),
        }
    }

    /// Items of a string array at `path`, skipping non-strings.
    pub(crate) fn strs(self, path: &[&str]) -> Vec<&'a str> {
        self.list(path).into_iter().filter_map(|o| o.0.as_str()).collect()
    }

    pub(crate) fn map(self, path: &[&str]) -> Option<&'a Map<String, Value>> {
        self.at(path)?.as_object()
    }

    /// Entry count of the array or object at `path` (Go's `len` of a slice or map).
    pub(crate) fn len(self, path: &[&str]) -> i64 {
        let n = match self.at(path) {
            Some(Value::Array(a)) => a.len(),
            Some(Value::Object(m)) => m.len(),
            _ => 0,
        };
        i64::try_from(n).unwrap_or(i64::MAX)
    }

    /// A metav1.Time / MicroTime at `path`; None for missing, unparsable or the zero time.
    pub(crate) fn time(self, path: &[&str]) -> Option<DateTime<Utc>> {
        parse_time(self.opt_str(path)?)
    }

    pub(crate) fn name(self) -> &'a str {
        self.str(&["metadata", "name"])
    }

    pub(crate) fn annotation(self, key: &str) -> Option<&'a str> {
        self.map(&["metadata", "annotations"])?.get(key)?.as_str()
    }

    /// Rendered like resource.Quantity.String(): stored text as is, "0" when unset.
    pub(crate) fn quantity(self, path: &[&str]) -> String {
        match self.at(path) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => "0".to_string(),
        }
    }
}

/// Parses an RFC 3339 timestamp; Go's zero time (year 1) counts as unset, as in metav1.Time.IsZero.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
    (t != zero_time()).then_some(t)
}

/// Go's `time.Time{}`: 0001-01-01T00:00:00Z.
pub(crate) fn zero_time() -> DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
