//! Parsing `openAPIV3Schema` JSON into [`Node`]s and refusing what a
//! CustomResourceDefinition may not say: the checks of apiextensions'
//! `ValidateCustomResourceDefinitionOpenAPISchema`, the structural-schema
//! invariants and completeness rules, and the validity of `default`s.
//!
//! One [`Node`] type serves both the structural part of a schema and the
//! value validations nested under `allOf`/`anyOf`/`oneOf`/`not`: the parser
//! records everything it sees so the structural checks can say precisely
//! which keyword is not allowed where.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::cel::Rule;
use super::path::{child, index, key};
use super::{formats, MAX_DEPTH};
use crate::field_error::FieldError;

/// `additionalProperties`: a bool or a schema.
#[derive(Clone, Debug)]
pub(crate) enum Additional {
    Bool(bool),
    Schema(Box<Node>),
}

/// A compiled `pattern`; the source is kept because messages quote it.
#[derive(Clone, Debug)]
pub(crate) struct Pattern {
    pub source: String,
    pub regex: Option<Arc<regex::Regex>>,
}

/// One schema node, structural or nested value validation.
#[derive(Clone, Debug, Default)]
pub(crate) struct Node {
    pub ty: String,
    pub format: String,
    pub nullable: bool,
    pub has_title: bool,
    pub has_description: bool,
    pub default: Option<Value>,
    pub properties: BTreeMap<String, Node>,
    pub additional: Option<Additional>,
    pub items: Option<Box<Node>>,

    pub maximum: Option<f64>,
    pub exclusive_maximum: bool,
    pub minimum: Option<f64>,
    pub exclusive_minimum: bool,
    pub max_length: Option<i64>,
    pub min_length: Option<i64>,
    pub pattern: Option<Pattern>,
    pub max_items: Option<i64>,
    pub min_items: Option<i64>,
    pub unique_items: bool,
    pub multiple_of: Option<f64>,
    pub enumeration: Option<Vec<Value>>,
    pub max_properties: Option<i64>,
    pub min_properties: Option<i64>,
    pub required: Vec<String>,
    pub all_of: Vec<Node>,
    pub any_of: Vec<Node>,
    pub one_of: Vec<Node>,
    pub not: Option<Box<Node>>,

    pub preserve_unknown: bool,
    /// `x-kubernetes-preserve-unknown-fields: false` was written explicitly.
    pub preserve_unknown_false: bool,
    pub embedded: bool,
    pub int_or_string: bool,
    pub list_type: Option<String>,
    pub list_map_keys: Vec<String>,
    pub map_type: Option<String>,
    pub rules: Vec<Rule>,
}

impl Node {
    pub fn additional_schema(&self) -> Option<&Node> {
        match &self.additional {
            Some(Additional::Schema(s)) => Some(s),
            _ => None,
        }
    }

    /// The format the validator enforces: Kubernetes strips formats it does
    /// not support instead of refusing them, so they validate nothing.
    pub fn effective_format(&self) -> &str {
        let f = self.format.as_str();
        if f.is_empty() {
            return "";
        }
        let keep = match self.ty.as_str() {
            "" | "string" => formats::is_supported(f),
            "integer" => f == "int32" || f == "int64",
            "number" => f == "float" || f == "double",
            _ => false,
        };
        if keep {
            f
        } else {
            ""
        }
    }

    fn has_value_validation(&self) -> bool {
        !self.all_of.is_empty() || !self.any_of.is_empty() || !self.one_of.is_empty() || self.not.is_some()
    }
}

const OPENAPI_TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];
const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Parses the JSON and records decoding problems (wrong JSON types,
/// unsupported keywords) as it goes.
pub(crate) struct Parser {
    pub errs: Vec<FieldError>,
}

impl Parser {
    pub fn parse(&mut self, v: &Value, path: &str, depth: usize) -> Node {
        let mut n = Node::default();
        if depth > MAX_DEPTH {
            self.errs
                .push(FieldError::forbidden(path, format!("must not be nested more than {MAX_DEPTH} levels deep")));
            return n;
        }
        let obj = match v {
            Value::Object(m) => m,
            other => {
                self.errs.push(FieldError::invalid(path, other.clone(), "must be a JSON object"));
                return n;
            }
        };
        for (k, val) in obj {
            let p = child(path, k);
            match k.as_str() {
                "type" => n.ty = self.string(val, &p),
                "format" => n.format = self.string(val, &p),
                "nullable" => n.nullable = self.boolean(val, &p),
                "title" => n.has_title = !self.string(val, &p).is_empty(),
                "description" => n.has_description = !self.string(val, &p).is_empty(),
                "default" => n.default = Some(val.clone()),
                "example" | "externalDocs" | "$schema" => {}
                "properties" => {
                    if let Some(m) = self.object(val, &p) {
                        for (name, sub) in m {
                            let s = self.parse(sub, &key(&p, name), depth + 1);
                            n.properties.insert(name.clone(), s);
                        }
                    }
                }
                "additionalProperties" => match val {
                    Value::Bool(b) => n.additional = Some(Additional::Bool(*b)),
                    Value::Object(_) => {
                        n.additional = Some(Additional::Schema(Box::new(self.parse(val, &p, depth + 1))))
                    }
                    other => self.errs.push(FieldError::invalid(&p, other.clone(), "must be a boolean or an object")),
                },
                "items" => match val {
                    Value::Array(_) => {
                        self.errs.push(FieldError::forbidden(&p, "items must be a schema object and not an array"))
                    }
                    _ => n.items = Some(Box::new(self.parse(val, &p, depth + 1))),
                },
                "maximum" => n.maximum = self.number(val, &p),
                "minimum" => n.minimum = self.number(val, &p),
                "exclusiveMaximum" => n.exclusive_maximum = self.boolean(val, &p),
                "exclusiveMinimum" => n.exclusive_minimum = self.boolean(val, &p),
                "multipleOf" => n.multiple_of = self.number(val, &p),
                "maxLength" => n.max_length = self.int(val, &p),
                "minLength" => n.min_length = self.int(val, &p),
                "maxItems" => n.max_items = self.int(val, &p),
                "minItems" => n.min_items = self.int(val, &p),
                "maxProperties" => n.max_properties = self.int(val, &p),
                "minProperties" => n.min_properties = self.int(val, &p),
                "uniqueItems" => n.unique_items = self.boolean(val, &p),
                "pattern" => {
                    let source = self.string(val, &p);
                    if !source.is_empty() {
                        let regex = match formats::compile_pattern(&source) {
                            Ok(r) => Some(Arc::new(r)),
                            Err(e) => {
                                self.errs.push(FieldError::invalid(
                                    &p,
                                    Value::String(source.clone()),
                                    format!("must be a valid regular expression, but isn't: {e}"),
                                ));
                                None
                            }
                        };
                        n.pattern = Some(Pattern { source, regex });
                    }
                }
                "enum" => match val {
                    Value::Array(a) => n.enumeration = Some(a.clone()),
                    other => self.errs.push(FieldError::invalid(&p, other.clone(), "must be an array")),
                },
                "required" => n.required = self.strings(val, &p),
                "allOf" => n.all_of = self.list(val, &p, depth),
                "anyOf" => n.any_of = self.list(val, &p, depth),
                "oneOf" => n.one_of = self.list(val, &p, depth),
                "not" => n.not = Some(Box::new(self.parse(val, &p, depth + 1))),
                "x-kubernetes-preserve-unknown-fields" => {
                    let b = self.boolean(val, &p);
                    n.preserve_unknown = b;
                    n.preserve_unknown_false = !b && val.is_boolean();
                }
                "x-kubernetes-embedded-resource" => n.embedded = self.boolean(val, &p),
                "x-kubernetes-int-or-string" => n.int_or_string = self.boolean(val, &p),
                "x-kubernetes-list-type" => n.list_type = Some(self.string(val, &p)),
                "x-kubernetes-list-map-keys" => n.list_map_keys = self.strings(val, &p),
                "x-kubernetes-map-type" => n.map_type = Some(self.string(val, &p)),
                "x-kubernetes-validations" => {
                    if let Value::Array(rules) = val {
                        for (i, r) in rules.iter().enumerate() {
                            n.rules.push(Rule::parse(r, &index(&p, i), &mut self.errs));
                        }
                    } else {
                        self.errs.push(FieldError::invalid(&p, val.clone(), "must be an array"));
                    }
                }
                "id" => self.errs.push(FieldError::forbidden(&p, "id is not supported")),
                "additionalItems" => self.errs.push(FieldError::forbidden(&p, "additionalItems is not supported")),
                "patternProperties" if !is_empty(val) => {
                    self.errs.push(FieldError::forbidden(&p, "patternProperties is not supported"))
                }
                "definitions" if !is_empty(val) => {
                    self.errs.push(FieldError::forbidden(&p, "definitions is not supported"))
                }
                "dependencies" => self.errs.push(FieldError::forbidden(&p, "dependencies is not supported")),
                "$ref" => self.errs.push(FieldError::forbidden(&p, "$ref is not supported")),
                // Unknown keys are dropped by Kubernetes' decoder too.
                _ => {}
            }
        }
        n
    }

    fn list(&mut self, v: &Value, p: &str, depth: usize) -> Vec<Node> {
        match v {
            Value::Array(a) => a.iter().enumerate().map(|(i, s)| self.parse(s, &index(p, i), depth + 1)).collect(),
            other => {
                self.errs.push(FieldError::invalid(p, other.clone(), "must be an array"));
                Vec::new()
            }
        }
    }

    fn string(&mut self, v: &Value, p: &str) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => {
                self.errs.push(FieldError::invalid(p, other.clone(), "must be a string"));
                String::new()
            }
        }
    }

    fn strings(&mut self, v: &Value, p: &str) -> Vec<String> {
        match v {
            Value::Array(a) => a.iter().filter_map(|x| Some(self.string(x, p)).filter(|s| !s.is_empty())).collect(),
            Value::Null => Vec::new(),
            other => {
                self.errs.push(FieldError::invalid(p, other.clone(), "must be an array of strings"));
                Vec::new()
            }
        }
    }

    fn boolean(&mut self, v: &Value, p: &str) -> bool {
        match v {
            Value::Bool(b) => *b,
            Value::Null => false,
            other => {
                self.errs.push(FieldError::invalid(p, other.clone(), "must be a boolean"));
                false
            }
        }
    }

    fn number(&mut self, v: &Value, p: &str) -> Option<f64> {
        match v {
            Value::Number(n) => n.as_f64(),
            Value::Null => None,
            other => {
                self.errs.push(FieldError::invalid(p, other.clone(), "must be a number"));
                None
            }
        }
    }

    fn int(&mut self, v: &Value, p: &str) -> Option<i64> {
        match v {
            Value::Number(n) if n.as_i64().is_some() => n.as_i64(),
            Value::Null => None,
            other => {
                self.errs.push(FieldError::invalid(p, other.clone(), "must be an integer"));
                None
            }
        }
    }

    fn object<'v>(&mut self, v: &'v Value, p: &str) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            Value::Null => None,
            other => {
                self.errs.push(FieldError::invalid(p, other.clone(), "must be an object"));
                None
            }
        }
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

/// Where in the resource a schema node sits, for the rules that depend on it.
#[derive(Clone, Default)]
struct Scope {
    inside_meta: bool,
    forbid_defaults: Option<String>,
    /// Path of the nearest list/map whose elements old and new objects cannot be matched by.
    uncorrelatable: Option<String>,
}

/// The CRD-level checks (`ValidateCustomResourceDefinitionOpenAPISchema`),
/// applied to every node including nested value validations.
fn check_crd_rules(n: &Node, path: &str, is_root: bool, scope: &Scope, errs: &mut Vec<FieldError>) {
    if !n.ty.is_empty() && !OPENAPI_TYPES.contains(&n.ty.as_str()) {
        errs.push(FieldError::not_supported(child(path, "type"), Value::String(n.ty.clone()), &OPENAPI_TYPES));
    }
    if n.ty == "null" {
        errs.push(FieldError::forbidden(
            child(path, "type"),
            "type cannot be set to null, use nullable as an alternative",
        ));
    }
    if n.default.is_some() {
        if let Some(reason) = &scope.forbid_defaults {
            errs.push(FieldError::forbidden(child(path, "default"), format!("must not be set {reason}")));
        }
    }
    if scope.inside_meta && n.embedded {
        errs.push(FieldError::forbidden(
            child(path, "x-kubernetes-embedded-resource"),
            "must not be used inside of resource meta",
        ));
    }
    if n.unique_items {
        errs.push(FieldError::forbidden(
            child(path, "uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    if let Some(a) = &n.additional {
        let conflicting = matches!(a, Additional::Bool(false) | Additional::Schema(_));
        if !n.properties.is_empty() && conflicting {
            errs.push(FieldError::forbidden(
                child(path, "additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        if let Additional::Schema(s) = a {
            let mut sub = scope.clone();
            if scope.inside_meta {
                sub.forbid_defaults = Some("inside additionalProperties applying to object metadata".into());
            }
            if n.map_type.as_deref() == Some("atomic") {
                sub.uncorrelatable.get_or_insert_with(|| path.to_string());
            }
            check_crd_rules(s, &child(path, "additionalProperties"), false, &sub, errs);
        }
    }
    for (name, p) in &n.properties {
        let mut sub = scope.clone();
        if n.map_type.as_deref() == Some("atomic") {
            sub.uncorrelatable.get_or_insert_with(|| path.to_string());
        }
        if (is_root || n.embedded) && META_FIELDS.contains(&name.as_str()) {
            sub.inside_meta = true;
            if is_root {
                sub.forbid_defaults = Some(format!("in top-level {name}"));
            }
        }
        check_crd_rules(p, &key(&child(path, "properties"), name), false, &sub, errs);
    }
    if let Some(not) = &n.not {
        check_crd_rules(not, &child(path, "not"), false, scope, errs);
    }
    for (kw, list) in [("allOf", &n.all_of), ("oneOf", &n.one_of), ("anyOf", &n.any_of)] {
        for (i, s) in list.iter().enumerate() {
            check_crd_rules(s, &index(&child(path, kw), i), false, scope, errs);
        }
    }
    if let Some(items) = &n.items {
        let mut sub = scope.clone();
        if n.list_type.as_deref() != Some("map") {
            sub.uncorrelatable.get_or_insert_with(|| path.to_string());
        }
        check_crd_rules(items, &child(path, "items"), false, &sub, errs);
    }
    if n.preserve_unknown_false {
        errs.push(FieldError::invalid(
            child(path, "x-kubernetes-preserve-unknown-fields"),
            Value::Bool(false),
            "must be true or undefined",
        ));
    }
    if let Some(mt) = &n.map_type {
        if n.ty != "object" {
            if n.ty.is_empty() {
                errs.push(FieldError::required(
                    child(path, "type"),
                    "must be object if x-kubernetes-map-type is specified",
                ));
            } else {
                errs.push(FieldError::invalid(
                    child(path, "type"),
                    Value::String(n.ty.clone()),
                    "must be object if x-kubernetes-map-type is specified",
                ));
            }
        }
        if mt != "atomic" && mt != "granular" {
            errs.push(FieldError::not_supported(
                child(path, "x-kubernetes-map-type"),
                Value::String(mt.clone()),
                &["atomic", "granular"],
            ));
        }
    }
    check_list_type(n, path, errs);
    for (i, r) in n.rules.iter().enumerate() {
        r.check(&index(&child(path, "x-kubernetes-validations"), i), n, scope.uncorrelatable.as_deref(), errs);
    }
}

fn check_list_type(n: &Node, path: &str, errs: &mut Vec<FieldError>) {
    let lt = n.list_type.as_deref();
    if let Some(lt) = lt {
        if n.ty != "array" {
            if n.ty.is_empty() {
                errs.push(FieldError::required(
                    child(path, "type"),
                    "must be array if x-kubernetes-list-type is specified",
                ));
            } else {
                errs.push(FieldError::invalid(
                    child(path, "type"),
                    Value::String(n.ty.clone()),
                    "must be array if x-kubernetes-list-type is specified",
                ));
            }
        } else if lt == "set" {
            if let Some(is) = &n.items {
                let items_path = child(path, "items");
                match is.ty.as_str() {
                    "array" if is.list_type.as_deref().is_some_and(|t| t != "atomic") => {
                        errs.push(FieldError::invalid(
                            child(&items_path, "x-kubernetes-list-type"),
                            Value::String(is.list_type.clone().unwrap_or_default()),
                            "must be atomic as item of a list with x-kubernetes-list-type=set",
                        ))
                    }
                    "object" if is.map_type.as_deref() != Some("atomic") => errs.push(FieldError::invalid(
                        child(&items_path, "x-kubernetes-map-type"),
                        is.map_type.clone().map(Value::String).unwrap_or(Value::Null),
                        "must be atomic as item of a list with x-kubernetes-list-type=set",
                    )),
                    _ => {}
                }
            }
        }
        if !["atomic", "set", "map"].contains(&lt) {
            errs.push(FieldError::not_supported(
                child(path, "x-kubernetes-list-type"),
                Value::String(lt.to_string()),
                &["atomic", "set", "map"],
            ));
        }
    }
    if !n.list_map_keys.is_empty() {
        match lt {
            None => errs.push(FieldError::required(
                child(path, "x-kubernetes-list-type"),
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )),
            Some("map") => {}
            Some(other) => errs.push(FieldError::invalid(
                child(path, "x-kubernetes-list-type"),
                Value::String(other.to_string()),
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )),
        }
    }
    if lt == Some("map") {
        if n.list_map_keys.is_empty() {
            errs.push(FieldError::required(
                child(path, "x-kubernetes-list-map-keys"),
                "must not be empty if x-kubernetes-list-type is map",
            ));
        }
        match &n.items {
            None => errs.push(FieldError::required(
                child(path, "items"),
                "must have a schema if x-kubernetes-list-type is map",
            )),
            Some(is) if is.ty != "object" => errs.push(FieldError::invalid(
                child(&child(path, "items"), "type"),
                Value::String(is.ty.clone()),
                "must be object if parent array's x-kubernetes-list-type is map",
            )),
            Some(is) => {
                let keys_value = Value::Array(n.list_map_keys.iter().cloned().map(Value::String).collect());
                let mut seen: Vec<&str> = Vec::new();
                for k in &n.list_map_keys {
                    match is.properties.get(k) {
                        Some(p) if p.ty == "array" || p.ty == "object" => errs.push(FieldError::invalid(
                            child(&key(&child(&child(path, "items"), "properties"), k), "type"),
                            Value::String(is.ty.clone()),
                            "must be a scalar type if parent array's x-kubernetes-list-type is map",
                        )),
                        Some(_) => {}
                        None => errs.push(FieldError::invalid(
                            child(path, "x-kubernetes-list-map-keys"),
                            keys_value.clone(),
                            "entries must all be names of item properties",
                        )),
                    }
                    if seen.contains(&k.as_str()) {
                        errs.push(FieldError::invalid(
                            child(path, "x-kubernetes-list-map-keys"),
                            keys_value.clone(),
                            "must not contain duplicate entries",
                        ));
                    }
                    seen.push(k);
                }
            }
        }
    }
    // Set and map list items are identified by value, so they cannot be null.
    if let (Some(lt @ ("set" | "map")), Some(is)) = (lt, &n.items) {
        let items_path = child(path, "items");
        if is.nullable {
            errs.push(FieldError::forbidden(
                child(&items_path, "nullable"),
                format!("cannot be nullable when x-kubernetes-list-type is {lt}"),
            ));
        }
        if lt == "map" {
            for k in &n.list_map_keys {
                if let Some(p) = is.properties.get(k) {
                    let kp = key(&child(&items_path, "properties"), k);
                    if !is.required.contains(k) && p.default.is_none() {
                        errs.push(FieldError::required(
                            child(&kp, "default"),
                            "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
                        ));
                    }
                    if p.nullable {
                        errs.push(FieldError::forbidden(
                            child(&kp, "nullable"),
                            "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
                        ));
                    }
                }
            }
        }
    }
}

fn is_int_or_string_any_of(list: &[Node]) -> bool {
    list.len() == 2 && is_bare_type(&list[0], "integer") && is_bare_type(&list[1], "string")
}

fn is_bare_type(n: &Node, ty: &str) -> bool {
    let bare = Node { ty: ty.to_string(), ..Node::default() };
    n.ty == ty && format!("{n:?}") == format!("{bare:?}")
}

/// The structural invariants (`validateStructuralInvariants`).
fn check_structural(n: &Node, lvl: Level, path: &str, errs: &mut Vec<FieldError>) {
    if n.ty == "array" && n.items.is_none() {
        errs.push(FieldError::required(child(path, "items"), "must be specified"));
    }
    if let Some(items) = &n.items {
        check_structural(items, Level::Item, &child(path, "items"), errs);
    }
    for (name, p) in &n.properties {
        check_structural(p, Level::Field, &key(&child(path, "properties"), name), errs);
    }
    if let Some(a) = &n.additional {
        if lvl == Level::Root {
            errs.push(FieldError::forbidden(child(path, "additionalProperties"), "must not be used at the root"));
        }
        if let Additional::Schema(s) = a {
            check_structural(s, Level::Field, &child(path, "additionalProperties"), errs);
        }
    }
    if n.int_or_string && n.preserve_unknown {
        errs.push(FieldError::invalid(
            child(path, "x-kubernetes-preserve-unknown-fields"),
            Value::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if n.int_or_string && n.embedded {
        errs.push(FieldError::invalid(
            child(path, "x-kubernetes-embedded-resource"),
            Value::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    let skip_any_of = is_int_or_string_any_of(&n.any_of);
    let skip_first_all_of_any_of = n.all_of.first().is_some_and(|a| is_int_or_string_any_of(&a.any_of));
    check_value_validation(n, skip_any_of, skip_first_all_of_any_of, path, errs);

    let check_metadata = lvl == Level::Root || n.embedded;
    if n.embedded && n.ty != "object" {
        if n.ty.is_empty() {
            errs.push(FieldError::required(
                child(path, "type"),
                "must be object if x-kubernetes-embedded-resource is true",
            ));
        } else {
            errs.push(FieldError::invalid(
                child(path, "type"),
                Value::String(n.ty.clone()),
                "must be object if x-kubernetes-embedded-resource is true",
            ));
        }
    } else if n.ty.is_empty() && !n.int_or_string && !n.preserve_unknown {
        let detail = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(FieldError::required(child(path, "type"), detail));
    }
    if n.embedded && n.additional.is_some() {
        errs.push(FieldError::forbidden(
            child(path, "additionalProperties"),
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if lvl == Level::Root && !n.ty.is_empty() && n.ty != "object" {
        errs.push(FieldError::invalid(child(path, "type"), Value::String(n.ty.clone()), "must be object at the root"));
    }
    if check_metadata {
        for f in ["kind", "apiVersion"] {
            if let Some(p) = n.properties.get(f) {
                if p.ty != "string" {
                    errs.push(FieldError::invalid(
                        child(&key(&child(path, "properties"), f), "type"),
                        Value::String(p.ty.clone()),
                        "must be string",
                    ));
                }
            }
        }
    }
    if let Some(meta) = n.properties.get("metadata") {
        let mp = key(&child(path, "properties"), "metadata");
        if check_metadata && meta.ty != "object" {
            errs.push(FieldError::invalid(child(&mp, "type"), Value::String(meta.ty.clone()), "must be object"));
        }
        if lvl == Level::Root && !root_metadata_is_implicit(meta) {
            errs.push(FieldError::forbidden(
                mp,
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            ));
        }
    }
    if n.embedded && !n.preserve_unknown && n.properties.is_empty() {
        errs.push(FieldError::required(
            child(path, "properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
}

// The root's metadata may only restrict name and generateName (as
// strings): the server owns the rest of ObjectMeta.
fn root_metadata_is_implicit(meta: &Node) -> bool {
    let mut m = meta.clone();
    let names = m.properties.keys().filter(|k| *k == "name" || *k == "generateName").count();
    if names == m.properties.len() {
        m.properties.clear();
    }
    m.ty.clear();
    m.default = None;
    format!("{m:?}") == format!("{:?}", Node::default())
}

fn check_value_validation(
    n: &Node,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    if !skip_any_of {
        for (i, s) in n.any_of.iter().enumerate() {
            check_nested(s, false, &index(&child(path, "anyOf"), i), errs);
        }
    }
    for (i, s) in n.all_of.iter().enumerate() {
        check_nested(s, skip_first_all_of_any_of && i == 0, &index(&child(path, "allOf"), i), errs);
    }
    for (i, s) in n.one_of.iter().enumerate() {
        check_nested(s, false, &index(&child(path, "oneOf"), i), errs);
    }
    if let Some(not) = &n.not {
        check_nested(not, false, &child(path, "not"), errs);
    }
}

fn check_nested(n: &Node, skip_any_of: bool, path: &str, errs: &mut Vec<FieldError>) {
    check_value_validation(n, skip_any_of, false, path, errs);
    if let Some(items) = &n.items {
        check_nested(items, false, &child(path, "items"), errs);
    }
    for (name, p) in &n.properties {
        check_nested(p, false, &key(&child(path, "properties"), name), errs);
    }
    let forbid = |errs: &mut Vec<FieldError>, kw: &str, what: &str| {
        errs.push(FieldError::forbidden(child(path, kw), format!("must be {what} to be structural")));
    };
    if !n.ty.is_empty() {
        forbid(errs, "type", "empty");
    }
    if n.additional.is_some() {
        forbid(errs, "additionalProperties", "undefined");
    }
    if n.default.is_some() {
        forbid(errs, "default", "undefined");
    }
    if n.has_title {
        forbid(errs, "title", "empty");
    }
    if n.has_description {
        forbid(errs, "description", "empty");
    }
    if n.nullable {
        forbid(errs, "nullable", "false");
    }
    if n.preserve_unknown {
        forbid(errs, "x-kubernetes-preserve-unknown-fields", "false");
    }
    if n.embedded {
        forbid(errs, "x-kubernetes-embedded-resource", "false");
    }
    if n.int_or_string {
        forbid(errs, "x-kubernetes-int-or-string", "false");
    }
    if !n.list_map_keys.is_empty() {
        forbid(errs, "x-kubernetes-list-map-keys", "empty");
    }
    if n.list_type.is_some() {
        forbid(errs, "x-kubernetes-list-type", "undefined");
    }
    if n.map_type.is_some() {
        forbid(errs, "x-kubernetes-map-type", "undefined");
    }
    if !n.rules.is_empty() {
        forbid(errs, "x-kubernetes-validations", "empty");
    }
    if n.properties.contains_key("metadata") {
        errs.push(FieldError::forbidden(
            key(&child(path, "properties"), "metadata"),
            "must not be specified in a nested context",
        ));
    }
}

/// Completeness: every property a value validation mentions must also be
/// specified structurally, or pruning would silently drop what it checks.
fn check_completeness(v: &Node, s: Option<&Node>, s_path: &str, v_path: &str, errs: &mut Vec<FieldError>) {
    let Some(s) = s else {
        errs.push(FieldError::required(s_path, format!("because it is defined in {v_path}")));
        return;
    };
    if let Some(not) = &v.not {
        check_nested_completeness(not, s, s_path, &child(v_path, "not"), errs);
    }
    for (kw, list) in [("allOf", &v.all_of), ("anyOf", &v.any_of), ("oneOf", &v.one_of)] {
        for (i, n) in list.iter().enumerate() {
            check_nested_completeness(n, s, s_path, &index(&child(v_path, kw), i), errs);
        }
    }
}

fn check_nested_completeness(v: &Node, s: &Node, s_path: &str, v_path: &str, errs: &mut Vec<FieldError>) {
    check_completeness(v, Some(s), s_path, v_path, errs);
    if let Some(items) = &v.items {
        let sp = child(s_path, "items");
        match &s.items {
            Some(si) => check_nested_completeness(items, si, &sp, &child(v_path, "items"), errs),
            None => errs.push(FieldError::required(sp, format!("because it is defined in {}", child(v_path, "items")))),
        }
    }
    for (k, vp) in &v.properties {
        let vpath = key(&child(v_path, "properties"), k);
        let spath = key(&child(s_path, "properties"), k);
        match s.properties.get(k) {
            Some(sp) => check_nested_completeness(vp, sp, &spath, &vpath, errs),
            None => errs.push(FieldError::required(spath, format!("because it is defined in {vpath}"))),
        }
    }
}

/// Everything `from_json` checks beyond decoding.
pub(crate) fn check_all(root: &Node, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    check_crd_rules(root, path, true, &Scope::default(), &mut errs);
    if root.nullable {
        errs.push(FieldError::forbidden(child(path, "nullable"), "nullable cannot be true at the root"));
    }
    let mut structural = Vec::new();
    check_structural(root, Level::Root, path, &mut structural);
    walk_structural(root, path, &mut |n, p| {
        if n.has_value_validation() {
            check_completeness(n, Some(n), p, p, &mut structural);
        }
    });
    // Kubernetes sorts these so the CRD status condition is stable.
    structural.sort_by_key(|e| e.to_string());
    errs.extend(structural);
    errs
}

/// Visits every node of the structural part (not value validations).
pub(crate) fn walk_structural(n: &Node, path: &str, f: &mut dyn FnMut(&Node, &str)) {
    f(n, path);
    for (name, p) in &n.properties {
        walk_structural(p, &key(&child(path, "properties"), name), f);
    }
    if let Some(s) = n.additional_schema() {
        walk_structural(s, &child(path, "additionalProperties"), f);
    }
    if let Some(items) = &n.items {
        walk_structural(items, &child(path, "items"), f);
    }
}

/// Serialises a node back to JSON for the published OpenAPI document.
pub(crate) fn to_json(raw: &Value, depth: usize) -> Value {
    // The raw schema is already in published form except for what
    // Kubernetes strips: nothing but refusal-worthy keys, so a deep clone
    // bounded by depth is enough.
    if depth > MAX_DEPTH + 2 {
        return Value::Object(Map::new());
    }
    match raw {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v, depth + 1))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(|v| to_json(v, depth + 1)).collect()),
        other => other.clone(),
    }
}
