//! Field selectors (`?fieldSelector=metadata.name=x,status.phase!=Running`):
//! parsing with Kubernetes' backslash escaping, matching, and the
//! requirement list the server uses to reject unsupported field labels.
//!
//! Follows `k8s.io/apimachinery/pkg/fields`: terms are split on unescaped
//! commas and sorted, the first `!=`, `==` or `=` splits a term, spaces are
//! significant, and a missing field reads as the empty string.

use std::fmt;

use thiserror::Error;

/// A field selector that could not be parsed; the message is Kubernetes'.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct FieldSelectorError {
    message: String,
}

impl FieldSelectorError {
    fn new(message: impl Into<String>) -> Self {
        FieldSelectorError { message: message.into() }
    }
}

/// The only two comparisons field selectors support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOp {
    /// `=` or `==`
    Equals,
    /// `!=`
    NotEquals,
}

/// One `field op value` term, value already unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// The field label, e.g. `metadata.name` or `spec.nodeName`.
    pub field: String,
    /// The comparison.
    pub op: FieldOp,
    /// The literal value compared against.
    pub value: String,
}

impl FieldRequirement {
    fn matches(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        let actual = get(&self.field).unwrap_or_default();
        match self.op {
            FieldOp::Equals => actual == self.value,
            FieldOp::NotEquals => actual != self.value,
        }
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            FieldOp::Equals => "=",
            FieldOp::NotEquals => "!=",
        };
        write!(f, "{}{}{}", self.field, op, escape_value(&self.value))
    }
}

/// A conjunction of field requirements; empty matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// The selector that matches everything.
    pub fn everything() -> Self {
        FieldSelector::default()
    }

    /// Parses `?fieldSelector=` syntax.
    pub fn parse(selector: &str) -> Result<Self, FieldSelectorError> {
        let mut parts = split_terms(selector);
        // Kubernetes sorts the raw terms so equal selectors print the same.
        parts.sort_unstable();
        let mut requirements = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((field, op, raw)) = split_term(part) else {
                return Err(FieldSelectorError::new(format!(
                    "invalid selector: '{selector}'; can't understand '{part}'"
                )));
            };
            requirements.push(FieldRequirement { field: field.to_string(), op, value: unescape_value(raw)? });
        }
        Ok(FieldSelector { requirements })
    }

    /// The terms, for checking which field labels a resource supports.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// True when the selector has no terms.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object matches; `get` returns a field label's value for
    /// the object (`None` when it has none, which compares as "").
    pub fn matches(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| r.matches(get))
    }

    /// The value `field` must equal, if some `=` term pins it (lets the
    /// server turn `metadata.name=x` into a direct lookup).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements.iter().find(|r| r.field == field && r.op == FieldOp::Equals).map(|r| r.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for FieldSelector {
    type Err = FieldSelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FieldSelector::parse(s)
    }
}

/// Escapes `\`, `,` and `=` so a value survives inside a selector.
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Reverses [`escape_value`], rejecting unknown escapes and bare `,`/`=`.
pub fn unescape_value(value: &str) -> Result<String, FieldSelectorError> {
    let mut out = String::with_capacity(value.len());
    let mut in_slash = false;
    for c in value.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(FieldSelectorError::new(format!("invalid field selector: invalid escape sequence: \\{c}")));
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            // Go formats the rune with %v, i.e. as its code point number.
            ',' | '=' => {
                return Err(FieldSelectorError::new(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                )))
            }
            c => out.push(c),
        }
    }
    if in_slash {
        return Err(FieldSelectorError::new("invalid field selector: invalid escape sequence: \\"));
    }
    Ok(out)
}

// Splits on commas not preceded by a backslash; escapes stay in the terms.
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in selector.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(selector.get(start..i).unwrap_or_default());
            start = i + 1;
        }
    }
    terms.push(selector.get(start..).unwrap_or_default());
    terms
}

// The first operator occurrence wins and `!=`/`==` are tried before `=`,
// so `a==b` never leaves a stray `=` in the value.
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (i, _) in term.char_indices() {
        let rest = term.get(i..)?;
        for (op, kind) in [("!=", FieldOp::NotEquals), ("==", FieldOp::Equals), ("=", FieldOp::Equals)] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((term.get(..i)?, kind, value));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn getter(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn parses_and_prints_canonically() {
        let cases = [
            ("", ""),
            ("a=b", "a=b"),
            ("a==b", "a=b"),
            ("a!=b", "a!=b"),
            ("x=a,y=b,z=c", "x=a,y=b,z=c"),
            ("z=c,x=a", "x=a,z=c"),
            ("x=a,", "x=a"),
            ("x=", "x="),
            ("x=a\\,b", "x=a\\,b"),
            ("x=a\\=b", "x=a\\=b"),
            ("x=a\\\\b", "x=a\\\\b"),
            ("metadata.name=foo,status.phase!=Running", "metadata.name=foo,status.phase!=Running"),
        ];
        for (input, want) in cases {
            let sel = FieldSelector::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(sel.to_string(), want, "{input}");
        }
    }

    #[test]
    fn requirements_are_unescaped() {
        let sel = FieldSelector::parse("spec.nodeName=n1,metadata.name!=a\\,b").unwrap_or_default();
        assert_eq!(
            sel.requirements(),
            &[
                FieldRequirement { field: "metadata.name".into(), op: FieldOp::NotEquals, value: "a,b".into() },
                FieldRequirement { field: "spec.nodeName".into(), op: FieldOp::Equals, value: "n1".into() },
            ]
        );
        assert_eq!(sel.requires_exact_match("spec.nodeName"), Some("n1"));
        assert_eq!(sel.requires_exact_match("metadata.name"), None);
    }

    #[test]
    fn errors_match_kubernetes() {
        let err = |s: &str| FieldSelector::parse(s).unwrap_err().to_string();
        assert_eq!(err("a"), "invalid selector: 'a'; can't understand 'a'");
        assert_eq!(err("x=a,b"), "invalid selector: 'x=a,b'; can't understand 'b'");
        assert_eq!(err("x=a=b"), "invalid field selector: unescaped character in value: 61");
        assert_eq!(err("x=a\\b"), "invalid field selector: invalid escape sequence: \\b");
        assert_eq!(err("x=a\\"), "invalid field selector: invalid escape sequence: \\");
    }

    #[test]
    fn matching_treats_missing_as_empty() {
        let get = getter(&[("metadata.name", "web"), ("status.phase", "Running")]);
        let m = |s: &str| FieldSelector::parse(s).map(|sel| sel.matches(&get)).unwrap_or(false);
        assert!(m(""));
        assert!(m("metadata.name=web"));
        assert!(m("metadata.name==web,status.phase=Running"));
        assert!(!m("status.phase!=Running"));
        assert!(m("spec.nodeName="), "missing field equals empty string");
        assert!(!m("spec.nodeName!="));
        assert!(m("spec.nodeName!=n1"));
    }

    #[test]
    fn spaces_are_significant() {
        let sel = FieldSelector::parse("a = b").unwrap_or_default();
        assert_eq!(sel.requirements()[0].field, "a ");
        assert_eq!(sel.requirements()[0].value, " b");
    }

    #[test]
    fn escape_round_trip() {
        for v in ["", "plain", "a,b", "a=b", "a\\b", "\\,=", "ünïcode"] {
            assert_eq!(unescape_value(&escape_value(v)).as_deref(), Ok(v));
        }
    }
}
