//! Label selectors: the `?labelSelector=` string syntax, the
//! `metav1.LabelSelector` object form (`matchLabels` + `matchExpressions`),
//! matching against an object's labels, and validation.
//!
//! Behaviour follows `k8s.io/apimachinery/pkg/labels` (parser, matching,
//! canonical `String()`) and `pkg/apis/meta/v1` (`LabelSelectorAsSelector`,
//! `ValidateLabelSelector`), including their error wording, because kubectl
//! users see these messages verbatim.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::field_error::{aggregate, FieldError};
use crate::names::{is_qualified_name, is_valid_label_value};

/// A selector that could not be parsed or built; the message is the one a
/// Kubernetes API server would put in its 400 response.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct SelectorError {
    message: String,
}

impl SelectorError {
    fn new(message: impl Into<String>) -> Self {
        SelectorError { message: message.into() }
    }
}

/// How a requirement relates a label to its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key=value`
    Equals,
    /// `key==value` (same meaning, kept so `Display` round-trips)
    DoubleEquals,
    /// `key!=value` (also matches objects without the label)
    NotEquals,
    /// `key in (a,b)`
    In,
    /// `key notin (a,b)` (also matches objects without the label)
    NotIn,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>3` (integer comparison; non-integers never match)
    GreaterThan,
    /// `key<3`
    LessThan,
}

impl Operator {
    /// Kubernetes' `selection.Operator` spelling (`gt`, `notin`, `!`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

const BINARY_OPERATORS: &str = "in, notin, =, ==, !=, gt, lt";

/// Read access to a set of labels.
pub trait Labels {
    /// The value of `key`, or `None` when the label is absent.
    fn get(&self, key: &str) -> Option<&str>;
}

impl Labels for Map<String, Value> {
    fn get(&self, key: &str) -> Option<&str> {
        Map::get(self, key).and_then(Value::as_str)
    }
}

impl Labels for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        BTreeMap::get(self, key).map(String::as_str)
    }
}

impl Labels for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key).map(String::as_str)
    }
}

/// One `key op values` clause of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// Builds a requirement with Kubernetes' `NewRequirement` checks: a
    /// qualified-name key, valid label values, and the value count each
    /// operator needs (In/NotIn non-empty, equality exactly one, Exists none,
    /// Gt/Lt one integer).
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, SelectorError> {
        let errors = requirement_errors(key, operator, &values);
        if errors.is_empty() {
            Ok(Requirement { key: key.to_string(), operator, values })
        } else {
            Err(SelectorError::new(aggregate(&errors)))
        }
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values (sorted and de-duplicated when parsed from a string).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether `labels` satisfy this requirement.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        let actual = labels.get(&self.key);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                actual.is_some_and(|v| self.values.iter().any(|x| x == v))
            }
            Operator::NotIn | Operator::NotEquals => actual.is_none_or(|v| !self.values.iter().any(|x| x == v)),
            Operator::Exists => actual.is_some(),
            Operator::DoesNotExist => actual.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(have) = actual.and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let [want] = self.values.as_slice() else {
                    return false;
                };
                let Ok(want) = want.parse::<i64>() else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
        };
        f.write_str(op)?;
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        // Sorted output makes selectors comparable as strings, as in Go.
        let mut values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        values.sort_unstable();
        f.write_str(&values.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

fn requirement_errors(key: &str, operator: Operator, values: &[String]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let key_msgs = is_qualified_name(key);
    if !key_msgs.is_empty() {
        errors.push(FieldError::invalid("key", Value::from(key), key_msgs.join("; ")));
    }
    let as_json = || Value::Array(values.iter().map(|v| Value::from(v.as_str())).collect());
    match operator {
        Operator::In | Operator::NotIn => {
            if values.is_empty() {
                errors.push(FieldError::invalid(
                    "values",
                    as_json(),
                    "for 'in', 'notin' operators, values set can't be empty",
                ));
            }
        }
        Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
            if values.len() != 1 {
                errors.push(FieldError::invalid(
                    "values",
                    as_json(),
                    "exact-match compatibility requires one single value",
                ));
            }
        }
        Operator::Exists | Operator::DoesNotExist => {
            if !values.is_empty() {
                errors.push(FieldError::invalid(
                    "values",
                    as_json(),
                    "values set must be empty for exists and does not exist",
                ));
            }
        }
        Operator::GreaterThan | Operator::LessThan => {
            if values.len() != 1 {
                errors.push(FieldError::invalid(
                    "values",
                    as_json(),
                    "for 'Gt', 'Lt' operators, exactly one value is required",
                ));
            }
            for (i, v) in values.iter().enumerate() {
                if v.parse::<i64>().is_err() {
                    errors.push(FieldError::invalid(
                        format!("values[{i}]"),
                        Value::from(v.as_str()),
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    ));
                }
            }
        }
    }
    for (i, v) in values.iter().enumerate() {
        let msgs = is_valid_label_value(v);
        if !msgs.is_empty() {
            errors.push(FieldError::invalid(format!("values[{i}][{key}]"), Value::from(v.as_str()), msgs.join("; ")));
        }
    }
    errors
}

/// A conjunction of requirements, or the special selector that matches
/// nothing (what a `null` `metav1.LabelSelector` means).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl Selector {
    /// Matches every object (the empty string selector, or `{}`).
    pub fn everything() -> Self {
        Selector::default()
    }

    /// Matches no object (a `null` `metav1.LabelSelector`).
    pub fn nothing() -> Self {
        Selector { requirements: Vec::new(), nothing: true }
    }

    /// Parses the `?labelSelector=` syntax: comma-separated `k=v`, `k==v`,
    /// `k!=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`, `k>1`, `k<1`.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut requirements = Parser::new(input).parse()?;
        // Sorted by key so equal selectors print identically, as in Go.
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector { requirements, nothing: false })
    }

    /// Builds a selector from a `metav1.LabelSelector` JSON value the way
    /// `LabelSelectorAsSelector` does: `null` selects nothing, `{}` selects
    /// everything.
    pub fn from_label_selector(selector: &Value) -> Result<Self, SelectorError> {
        let obj = match selector {
            Value::Null => return Ok(Selector::nothing()),
            Value::Object(obj) => obj,
            other => return Err(SelectorError::new(format!("a label selector must be an object, got {other}"))),
        };
        let mut requirements = Vec::new();
        match obj.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                for (k, v) in labels {
                    let Some(v) = v.as_str() else {
                        return Err(SelectorError::new(format!(
                            "matchLabels[{k}]: label values must be strings, got {v}"
                        )));
                    };
                    requirements.push(Requirement::new(k, Operator::Equals, vec![v.to_string()])?);
                }
            }
            Some(other) => return Err(SelectorError::new(format!("matchLabels must be an object, got {other}"))),
        }
        match obj.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(exprs)) => {
                for expr in exprs {
                    requirements.push(expression_requirement(expr)?);
                }
            }
            Some(other) => return Err(SelectorError::new(format!("matchExpressions must be a list, got {other}"))),
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector { requirements, nothing: false })
    }

    /// Builds an equality selector from a plain `map[string]string` selector
    /// (Service and ReplicationController `spec.selector`); empty selects
    /// everything, like Go's `ValidatedSelectorFromSet`.
    pub fn from_map(labels: &Map<String, Value>) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for (k, v) in labels {
            let Some(v) = v.as_str() else {
                return Err(SelectorError::new(format!("{k}: label values must be strings, got {v}")));
            };
            requirements.push(Requirement::new(k, Operator::Equals, vec![v.to_string()])?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector { requirements, nothing: false })
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Matches against `metadata.labels` of a whole object (missing = none).
    pub fn matches_object(&self, object: &Value) -> bool {
        match object.get("metadata").and_then(|m| m.get("labels")).and_then(Value::as_object) {
            Some(labels) => self.matches(labels),
            None => self.matches(&Map::new()),
        }
    }

    /// True for the match-everything selector.
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// True for the match-nothing selector.
    pub fn is_nothing(&self) -> bool {
        self.nothing
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// The single value `key` must have, if the selector pins it exactly
    /// (`k=v`, `k==v`, `k in (v)`); lets callers narrow a lookup.
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == key)?;
        match (r.operator, r.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [v]) => Some(v.as_str()),
            _ => None,
        }
    }
}

impl fmt::Display for Selector {
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

impl std::str::FromStr for Selector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

fn expression_requirement(expr: &Value) -> Result<Requirement, SelectorError> {
    let key = expr.get("key").and_then(Value::as_str).unwrap_or_default();
    let operator = expr.get("operator").and_then(Value::as_str).unwrap_or_default();
    let op = match operator {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        other => {
            return Err(SelectorError::new(format!(
                "{} is not a valid label selector operator",
                crate::field_error::go_quote(other)
            )))
        }
    };
    let values = match expr.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut values = Vec::with_capacity(items.len());
            for item in items {
                let Some(s) = item.as_str() else {
                    return Err(SelectorError::new(format!(
                        "values: label selector values must be strings, got {item}"
                    )));
                };
                values.push(s.to_string());
            }
            values
        }
        Some(other) => return Err(SelectorError::new(format!("values must be a list, got {other}"))),
    };
    Requirement::new(key, op, values)
}

/// Validates a `metav1.LabelSelector` value found at `path` the way the API
/// server does for workload specs (`ValidateLabelSelector`): one error per
/// problem, with Kubernetes' field paths and wording.
pub fn validate_label_selector(selector: &Value, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let obj = match selector {
        Value::Null => return errors,
        Value::Object(obj) => obj,
        other => {
            errors.push(FieldError::invalid(path, other.clone(), "must be an object"));
            return errors;
        }
    };
    let labels_path = child(path, "matchLabels");
    match obj.get("matchLabels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(labels)) => errors.extend(validate_labels(labels, &labels_path)),
        Some(other) => errors.push(FieldError::invalid(labels_path, other.clone(), "must be an object")),
    }
    let exprs_path = child(path, "matchExpressions");
    match obj.get("matchExpressions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(exprs)) => {
            for (i, expr) in exprs.iter().enumerate() {
                errors.extend(validate_requirement(expr, &format!("{exprs_path}[{i}]")));
            }
        }
        Some(other) => errors.push(FieldError::invalid(exprs_path, other.clone(), "must be a list")),
    }
    errors
}

fn validate_requirement(expr: &Value, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let values_path = child(path, "values");
    let values: &[Value] = expr.get("values").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let operator = expr.get("operator").cloned().unwrap_or(Value::from(""));
    match operator.as_str() {
        Some("In" | "NotIn") => {
            if values.is_empty() {
                errors.push(FieldError::required(
                    values_path.clone(),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ));
            }
        }
        Some("Exists" | "DoesNotExist") => {
            if !values.is_empty() {
                errors.push(FieldError::forbidden(
                    values_path.clone(),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
        }
        _ => {
            errors.push(FieldError::invalid(child(path, "operator"), operator.clone(), "not a valid selector operator"))
        }
    }
    let key = expr.get("key").and_then(Value::as_str).unwrap_or_default();
    errors.extend(validate_label_name(key, &child(path, "key")));
    for (i, value) in values.iter().enumerate() {
        let item_path = format!("{values_path}[{i}]");
        match value.as_str() {
            Some(s) => {
                for msg in is_valid_label_value(s) {
                    errors.push(FieldError::invalid(item_path.clone(), Value::from(s), msg));
                }
            }
            None => errors.push(FieldError::invalid(item_path, value.clone(), "must be a string")),
        }
    }
    errors
}

/// Validates a label map (`metadata.labels`, `matchLabels`) like
/// Kubernetes' `ValidateLabels`: every key a qualified name, every value a
/// valid label value; errors carry `path` itself as the field.
pub fn validate_labels(labels: &Map<String, Value>, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (k, v) in labels {
        errors.extend(validate_label_name(k, path));
        match v.as_str() {
            Some(s) => {
                for msg in is_valid_label_value(s) {
                    errors.push(FieldError::invalid(path, Value::from(s), msg));
                }
            }
            None => errors.push(FieldError::invalid(path, v.clone(), "label values must be strings")),
        }
    }
    errors
}

fn validate_label_name(name: &str, path: &str) -> Vec<FieldError> {
    is_qualified_name(name).into_iter().map(|msg| FieldError::invalid(path, Value::from(name), msg)).collect()
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Error,
    End,
    ClosePar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword(s: &str) -> Option<Tok> {
    Some(match s {
        ")" => Tok::ClosePar,
        "," => Tok::Comma,
        "!" => Tok::DoesNotExist,
        "==" => Tok::DoubleEquals,
        "=" => Tok::Equals,
        ">" => Tok::GreaterThan,
        "in" => Tok::In,
        "<" => Tok::LessThan,
        "!=" => Tok::NotEquals,
        "notin" => Tok::NotIn,
        "(" => Tok::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

// Splits only at ASCII bytes, so every slice boundary is a char boundary;
// `get` keeps that an invariant rather than a panic risk.
fn lex(input: &str) -> Vec<(Tok, String)> {
    let bytes = input.as_bytes();
    let slice = |a: usize, b: usize| input.get(a..b).unwrap_or_default().to_string();
    let mut items = Vec::new();
    let mut pos = 0;
    loop {
        while bytes.get(pos).is_some_and(|&b| is_whitespace(b)) {
            pos += 1;
        }
        let Some(&first) = bytes.get(pos) else {
            items.push((Tok::End, String::new()));
            return items;
        };
        let start = pos;
        if is_special(first) {
            // Longest run of symbols that still spells an operator, so
            // "!=" is one token but "=!" is "=" followed by "!".
            let mut best: Option<(Tok, usize)> = None;
            while let Some(&b) = bytes.get(pos) {
                if !is_special(b) {
                    break;
                }
                pos += 1;
                if let Some(tok) = keyword(&slice(start, pos)) {
                    best = Some((tok, pos));
                } else if best.is_some() {
                    pos -= 1;
                    break;
                }
            }
            match best {
                Some((tok, end)) => {
                    pos = end;
                    items.push((tok, slice(start, end)));
                }
                None => items.push((Tok::Error, format!("error expected: keyword found '{}'", slice(start, pos)))),
            }
        } else {
            while bytes.get(pos).is_some_and(|&b| !is_special(b) && !is_whitespace(b)) {
                pos += 1;
            }
            let word = slice(start, pos);
            let tok = match keyword(&word) {
                Some(tok) => tok,
                None => Tok::Identifier,
            };
            items.push((tok, word));
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Tok, String)>,
    position: usize,
}

impl Parser {
    fn new(input: &str) -> Self {
        Parser { items: lex(input), position: 0 }
    }

    fn peek(&self, ctx: Context) -> (Tok, String) {
        let (tok, lit) = self.items.get(self.position).cloned().unwrap_or((Tok::End, String::new()));
        // "in"/"notin" are ordinary words where a value is expected,
        // so `x in (in)` works.
        let tok = match (ctx, tok) {
            (Context::Values, Tok::In | Tok::NotIn) => Tok::Identifier,
            (_, t) => t,
        };
        (tok, lit)
    }

    fn next(&mut self, ctx: Context) -> (Tok, String) {
        let item = self.peek(ctx);
        if self.position < self.items.len() {
            self.position += 1;
        }
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.peek(Context::Values);
            match tok {
                Tok::Identifier | Tok::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| SelectorError::new(format!("unable to parse requirement: {e}")))?;
                    requirements.push(r);
                    let (t, l) = self.next(Context::Values);
                    match t {
                        Tok::End => return Ok(requirements),
                        Tok::Comma => {
                            let (t2, l2) = self.peek(Context::Values);
                            if t2 != Tok::Identifier && t2 != Tok::DoesNotExist {
                                return Err(SelectorError::new(format!(
                                    "found '{l2}', expected: identifier after ','"
                                )));
                            }
                        }
                        _ => return Err(SelectorError::new(format!("found '{l}', expected: ',' or 'end of string'"))),
                    }
                }
                Tok::End => return Ok(requirements),
                _ => {
                    return Err(SelectorError::new(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    )))
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, SelectorError> {
        let (key, inferred) = self.parse_key_and_infer_operator()?;
        if let Some(op) = inferred {
            return Requirement::new(&key, op, Vec::new());
        }
        let op = self.parse_operator()?;
        let values = match op {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(&key, op, values)
    }

    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), SelectorError> {
        let (mut tok, mut lit) = self.next(Context::Values);
        let negated = tok == Tok::DoesNotExist;
        if negated {
            (tok, lit) = self.next(Context::Values);
        }
        if tok != Tok::Identifier {
            return Err(SelectorError::new(format!("found '{lit}', expected: identifier")));
        }
        let msgs = is_qualified_name(&lit);
        if !msgs.is_empty() {
            // Kubernetes parses with a nil field path, which Go prints as "<nil>".
            return Err(SelectorError::new(
                FieldError::invalid("<nil>", Value::from(lit.as_str()), msgs.join("; ")).to_string(),
            ));
        }
        let (next, _) = self.peek(Context::Values);
        let op = if negated {
            Some(Operator::DoesNotExist)
        } else if matches!(next, Tok::End | Tok::Comma) {
            Some(Operator::Exists)
        } else {
            None
        };
        Ok((lit, op))
    }

    fn parse_operator(&mut self) -> Result<Operator, SelectorError> {
        let (tok, lit) = self.next(Context::KeyAndOperator);
        Ok(match tok {
            Tok::In => Operator::In,
            Tok::Equals => Operator::Equals,
            Tok::DoubleEquals => Operator::DoubleEquals,
            Tok::GreaterThan => Operator::GreaterThan,
            Tok::LessThan => Operator::LessThan,
            Tok::NotIn => Operator::NotIn,
            Tok::NotEquals => Operator::NotEquals,
            _ => return Err(SelectorError::new(format!("found '{lit}', expected: {BINARY_OPERATORS}"))),
        })
    }

    fn parse_values(&mut self) -> Result<Vec<String>, SelectorError> {
        let (tok, lit) = self.next(Context::Values);
        if tok != Tok::OpenPar {
            return Err(SelectorError::new(format!("found '{lit}' expected: '('")));
        }
        let (tok, lit) = self.peek(Context::Values);
        match tok {
            Tok::Identifier | Tok::Comma => {
                let values = self.parse_identifiers_list()?;
                let (close, _) = self.next(Context::Values);
                if close != Tok::ClosePar {
                    return Err(SelectorError::new(format!("found '{lit}', expected: ')'")));
                }
                Ok(values)
            }
            Tok::ClosePar => {
                self.next(Context::Values);
                // `()` means "the empty value", as in Go.
                Ok(vec![String::new()])
            }
            _ => Err(SelectorError::new(format!("found '{lit}', expected: ',', ')' or identifier"))),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, SelectorError> {
        let mut set = std::collections::BTreeSet::new();
        loop {
            let (tok, lit) = self.next(Context::Values);
            match tok {
                Tok::Identifier => {
                    set.insert(lit);
                    let (t2, l2) = self.peek(Context::Values);
                    match t2 {
                        Tok::Comma => continue,
                        Tok::ClosePar => return Ok(set.into_iter().collect()),
                        _ => return Err(SelectorError::new(format!("found '{l2}', expected: ',' or ')'"))),
                    }
                }
                Tok::Comma => {
                    // Empty items (`(,a)`, `(a,)`, `(a,,b)`) stand for "".
                    if set.is_empty() {
                        set.insert(String::new());
                    }
                    let (t2, _) = self.peek(Context::Values);
                    if t2 == Tok::ClosePar {
                        set.insert(String::new());
                        return Ok(set.into_iter().collect());
                    }
                    if t2 == Tok::Comma {
                        self.next(Context::Values);
                        set.insert(String::new());
                    }
                }
                _ => return Err(SelectorError::new(format!("found '{lit}', expected: ',', or identifier"))),
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<Vec<String>, SelectorError> {
        let (tok, _) = self.peek(Context::Values);
        if matches!(tok, Tok::End | Tok::Comma) {
            return Ok(vec![String::new()]);
        }
        let (tok, lit) = self.next(Context::Values);
        if tok == Tok::Identifier {
            Ok(vec![lit])
        } else {
            Err(SelectorError::new(format!("found '{lit}', expected: identifier")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn parse_err(s: &str) -> String {
        Selector::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn parses_valid_selectors_like_kubernetes() {
        for ok in [
            "",
            "x=a,y=b,z=c",
            "x = a , y=b ,z  = c",
            "x=a",
            "x==a",
            "x!=a",
            "x in (a)",
            "x in (a,,b)",
            "x in (,b)",
            "x notin ()",
            "x in (  a ,  b  )",
            "x",
            "!x",
            "x,y",
            "x>1",
            "x<1",
            "x in (in)",
            "in in (notin)",
            "x=",
            "x= ",
            "x=,z= ",
            "a.b/c-d=e_f",
            "\tx\n=\ra",
        ] {
            assert!(Selector::parse(ok).is_ok(), "{ok:?}: {:?}", Selector::parse(ok));
        }
    }

    #[test]
    fn rejects_invalid_selectors_like_kubernetes() {
        for bad in [
            "x=a||y=b",
            "x==a==b",
            "!x=a",
            "x<a",
            "x>1.5",
            "x in a",
            "x in (a",
            "x notin (a,b",
            "x=(a)",
            "(",
            ",",
            "x,",
            ",x",
            "x=a,",
            "x in ((a))",
            "x y",
            "-x=a",
            "x=-a",
            "x in (a b)",
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn error_messages_match_kubernetes() {
        assert_eq!(parse_err("x=a b"), "found 'b', expected: ',' or 'end of string'");
        assert_eq!(parse_err("x y"), "unable to parse requirement: found 'y', expected: in, notin, =, ==, !=, gt, lt");
        assert_eq!(parse_err(",x"), "found ',', expected: !, identifier, or 'end of string'");
        assert_eq!(parse_err("x,"), "found '', expected: identifier after ','");
        assert_eq!(parse_err("x in a"), "unable to parse requirement: found 'a' expected: '('");
        assert_eq!(parse_err("x in (a"), "unable to parse requirement: found '', expected: ',' or ')'");
        assert_eq!(parse_err("x=(a)"), "unable to parse requirement: found '(', expected: identifier");
        assert_eq!(parse_err("!x=a"), "found '=', expected: ',' or 'end of string'");
        assert_eq!(
            parse_err("x ( a"),
            "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            parse_err("x>a"),
            "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
        assert!(parse_err("-x=a").starts_with(
            "unable to parse requirement: <nil>: Invalid value: \"-x\": name part must consist of alphanumeric characters"
        ));
        assert!(parse_err("x=-a").starts_with(
            "unable to parse requirement: values[0][x]: Invalid value: \"-a\": a valid label must be an empty string"
        ));
    }

    #[test]
    fn matching_semantics() {
        let l = labels(&[("env", "prod"), ("tier", "web"), ("n", "5")]);
        let m = |s: &str| Selector::parse(s).map(|sel| sel.matches(&l)).unwrap_or(false);
        assert!(m(""));
        assert!(m("env=prod"));
        assert!(m("env==prod,tier=web"));
        assert!(!m("env=dev"));
        assert!(m("env!=dev"));
        assert!(m("missing!=x"), "!= matches absent labels");
        assert!(m("env in (dev,prod)"));
        assert!(!m("env notin (dev,prod)"));
        assert!(m("missing notin (x)"), "notin matches absent labels");
        assert!(!m("missing in (x)"));
        assert!(m("env"));
        assert!(!m("!env"));
        assert!(m("!missing"));
        assert!(m("n>4"));
        assert!(!m("n>5"));
        assert!(m("n<6"));
        assert!(!m("env>1"), "non-integer label never compares");
        assert!(!m("missing<10"));
        assert!(!m("missing="), "k= is k==\"\" which needs the label");
        let with_empty = labels(&[("k", "")]);
        assert!(Selector::parse("k=").is_ok_and(|s| s.matches(&with_empty)));
        assert!(Selector::parse("k in ()").is_ok_and(|s| s.matches(&with_empty)));
    }

    #[test]
    fn missing_equals_empty_is_false() {
        let l = labels(&[]);
        assert!(!Selector::parse("k=").is_ok_and(|s| s.matches(&l)));
    }

    #[test]
    fn display_is_canonical() {
        let cases = [
            ("x=a,y=b,z=c", "x=a,y=b,z=c"),
            ("z=c,x=a", "x=a,z=c"),
            ("x in (b,a,a)", "x in (a,b)"),
            ("x  notin  ( b , a )", "x notin (a,b)"),
            ("!x", "!x"),
            ("x", "x"),
            ("x==a", "x==a"),
            ("x!=a", "x!=a"),
            ("x>1", "x>1"),
            ("x<1", "x<1"),
            ("x in (,a)", "x in (,a)"),
            ("x=", "x="),
            ("", ""),
        ];
        for (input, want) in cases {
            let sel = Selector::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(sel.to_string(), want);
            assert_eq!(Selector::parse(&sel.to_string()).as_ref().ok(), Some(&sel), "round trip {input}");
        }
    }

    #[test]
    fn label_selector_object() {
        let sel = Selector::from_label_selector(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["a", "b"]},
                {"key": "legacy", "operator": "DoesNotExist"}
            ]
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sel.to_string(), "app=web,!legacy,tier in (a,b)");
        assert!(sel.matches(&labels(&[("app", "web"), ("tier", "a")])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("tier", "a"), ("legacy", "1")])));
        assert!(!sel.matches(&labels(&[("app", "web")])));
        assert_eq!(sel.requires_exact_match("app"), Some("web"));
        assert_eq!(sel.requires_exact_match("tier"), None);

        assert!(Selector::from_label_selector(&json!({})).is_ok_and(|s| s.is_empty()));
        let nothing = Selector::from_label_selector(&Value::Null).unwrap_or_default();
        assert!(nothing.is_nothing());
        assert!(!nothing.matches(&labels(&[])));
        assert!(Selector::everything().matches(&labels(&[])));
    }

    #[test]
    fn label_selector_object_errors() {
        let err = |v: Value| Selector::from_label_selector(&v).unwrap_err().to_string();
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})),
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]})),
            "\"Foo\" is not a valid label selector operator"
        );
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})),
            "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"
        );
        assert!(err(json!({"matchLabels": {"a": 1}})).contains("must be strings"));
        assert!(err(json!("x")).contains("must be an object"));
    }

    #[test]
    fn validation_matches_kubernetes() {
        let errs = validate_label_selector(
            &json!({
                "matchLabels": {"-bad": "ok", "good": "-bad"},
                "matchExpressions": [
                    {"key": "a", "operator": "In"},
                    {"key": "b", "operator": "Exists", "values": ["x"]},
                    {"key": "c", "operator": "Gt", "values": ["1"]}
                ]
            }),
            "spec.selector",
        );
        let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(msgs.len(), 5, "{msgs:#?}");
        assert!(msgs[0].starts_with("spec.selector.matchLabels: Invalid value: \"-bad\": name part must consist"));
        assert!(msgs[1].starts_with("spec.selector.matchLabels: Invalid value: \"-bad\": a valid label must"));
        assert_eq!(msgs[2], "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'");
        assert_eq!(msgs[3], "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
        assert_eq!(
            msgs[4],
            "spec.selector.matchExpressions[2].operator: Invalid value: \"Gt\": not a valid selector operator"
        );
        assert!(validate_label_selector(&json!({"matchLabels": {"app": "x"}}), "spec.selector").is_empty());
    }

    #[test]
    fn matches_object_reads_metadata_labels() {
        let sel = Selector::parse("app=web").unwrap_or_default();
        assert!(sel.matches_object(&json!({"metadata": {"labels": {"app": "web"}}})));
        assert!(!sel.matches_object(&json!({"metadata": {}})));
        assert!(Selector::everything().matches_object(&json!(42)));
    }

    #[test]
    fn from_map_is_equality_selector() {
        let map = json!({"b": "2", "a": "1"});
        let sel = map.as_object().map(Selector::from_map);
        let sel = sel.and_then(Result::ok).unwrap_or_else(Selector::nothing);
        assert_eq!(sel.to_string(), "a=1,b=2");
        assert!(Selector::from_map(&Map::new()).is_ok_and(|s| s.is_empty()));
    }

    #[test]
    fn requirement_constructor_validates() {
        assert!(Requirement::new("a", Operator::In, vec![]).is_err());
        assert!(Requirement::new("a", Operator::Equals, vec!["x".into(), "y".into()]).is_err());
        assert!(Requirement::new("a", Operator::GreaterThan, vec!["7".into()]).is_ok());
        assert_eq!(
            Requirement::new("a b", Operator::Exists, vec![]).unwrap_err().to_string(),
            "key: Invalid value: \"a b\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
    }
}
