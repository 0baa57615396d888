//! Field-scoped validation errors shaped like Kubernetes' `field.Error`.
//!
//! The server turns these into the `causes` of a 422 `Status`
//! (`reason` = [`FieldErrorKind::reason`], `field`, `message`), and their
//! `Display` matches Go's `field.Error.Error()` so aggregated messages read
//! the same as a real API server's.

use serde_json::Value;
use thiserror::Error;

/// What kind of problem a [`FieldError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// A required field is missing.
    Required,
    /// The value is malformed.
    Invalid,
    /// The field may not be set (in this context).
    Forbidden,
    /// The value is not one of an enumerated set.
    NotSupported,
    /// The value repeats one that must be unique.
    Duplicate,
    /// The value is too long.
    TooLong,
}

impl FieldErrorKind {
    /// The `StatusCause.reason` Kubernetes uses for this kind.
    pub fn reason(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::TooLong => "FieldValueTooLong",
        }
    }

    fn label(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::Invalid => "Invalid value",
            FieldErrorKind::Forbidden => "Forbidden",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::Duplicate => "Duplicate value",
            FieldErrorKind::TooLong => "Too long",
        }
    }

    // Go omits the offending value for these kinds.
    fn shows_value(self) -> bool {
        matches!(self, FieldErrorKind::Invalid | FieldErrorKind::NotSupported | FieldErrorKind::Duplicate)
    }
}

/// One validation problem at one field path (e.g. `spec.selector.matchLabels`).
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{}", self.render())]
pub struct FieldError {
    /// What went wrong.
    pub kind: FieldErrorKind,
    /// Dotted field path; `<nil>` when Kubernetes has no path (selector parsing).
    pub field: String,
    /// The offending value, if the kind reports one.
    pub bad_value: Option<Value>,
    /// Human-readable detail.
    pub detail: String,
}

impl FieldError {
    /// `field.Required`.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Required, field, None, detail)
    }

    /// `field.Invalid`.
    pub fn invalid(field: impl Into<String>, value: Value, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Invalid, field, Some(value), detail)
    }

    /// `field.Forbidden`.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Forbidden, field, None, detail)
    }

    /// `field.NotSupported`, listing the accepted values like Kubernetes does.
    pub fn not_supported(field: impl Into<String>, value: Value, supported: &[&str]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(FieldErrorKind::NotSupported, field, Some(value), detail)
    }

    /// `field.Duplicate`.
    pub fn duplicate(field: impl Into<String>, value: Value) -> Self {
        Self::new(FieldErrorKind::Duplicate, field, Some(value), "")
    }

    /// `field.TooLong`.
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Self::new(FieldErrorKind::TooLong, field, None, format!("may not be more than {max} bytes"))
    }

    fn new(
        kind: FieldErrorKind,
        field: impl Into<String>,
        bad_value: Option<Value>,
        detail: impl Into<String>,
    ) -> Self {
        FieldError { kind, field: field.into(), bad_value, detail: detail.into() }
    }

    /// The part after `field: `, i.e. Go's `ErrorBody()`.
    pub fn body(&self) -> String {
        let mut s = self.kind.label().to_string();
        if self.kind.shows_value() {
            s.push_str(": ");
            s.push_str(&render_value(self.bad_value.as_ref().unwrap_or(&Value::Null)));
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    fn render(&self) -> String {
        format!("{}: {}", self.field, self.body())
    }
}

/// Joins errors the way Go's `utilerrors.NewAggregate(...).Error()` does:
/// one error reads as itself, several as `[a, b]` with duplicates dropped.
pub fn aggregate(errors: &[FieldError]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in errors {
        let msg = e.to_string();
        if !seen.contains(&msg) {
            seen.push(msg);
        }
    }
    match seen.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

// Go prints bad values with %q for strings and %#v for string slices;
// matching that keeps error text identical to what kubectl users know.
fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => go_quote(s),
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            let quoted: Vec<String> = items.iter().filter_map(Value::as_str).map(go_quote).collect();
            format!("[]string{{{}}}", quoted.join(", "))
        }
        other => other.to_string(),
    }
}

/// Go's `strconv.Quote` for the characters that matter in API messages.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_like_go_field_errors() {
        assert_eq!(
            FieldError::invalid("metadata.name", json!("Foo"), "bad").to_string(),
            "metadata.name: Invalid value: \"Foo\": bad"
        );
        assert_eq!(FieldError::required("spec.selector", "").to_string(), "spec.selector: Required value");
        assert_eq!(FieldError::forbidden("spec.x", "may not be set").to_string(), "spec.x: Forbidden: may not be set");
        assert_eq!(
            FieldError::invalid("values", json!([]), "empty").to_string(),
            "values: Invalid value: []string{}: empty"
        );
        assert_eq!(
            FieldError::invalid("values", json!(["a", "b"]), "x").to_string(),
            "values: Invalid value: []string{\"a\", \"b\"}: x"
        );
        assert_eq!(
            FieldError::not_supported("spec.type", json!("X"), &["A", "B"]).to_string(),
            "spec.type: Unsupported value: \"X\": supported values: \"A\", \"B\""
        );
        assert_eq!(
            FieldError::invalid("spec.replicas", json!(-1), "must be greater than or equal to 0").to_string(),
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(FieldErrorKind::Invalid.reason(), "FieldValueInvalid");
    }

    #[test]
    fn aggregate_matches_go() {
        let a = FieldError::required("a", "");
        let b = FieldError::required("b", "");
        assert_eq!(aggregate(&[]), "");
        assert_eq!(aggregate(std::slice::from_ref(&a)), "a: Required value");
        assert_eq!(aggregate(&[a.clone(), b, a]), "[a: Required value, b: Required value]");
    }

    #[test]
    fn quoting_escapes_controls() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\x01\"");
    }
}
