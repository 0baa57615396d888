//! `x-kubernetes-validations`: CEL rules on schema nodes, evaluated with
//! the `cel-interpreter` crate.
//!
//! Supported: `self`, `oldSelf` (transition rules, evaluated only on update
//! where old and new values correlate: object properties, granular map
//! entries, list-type=map items by key), `has()`, `size()`, the macros
//! (`all`, `exists`, `exists_one`, `map`, `filter`), string functions
//! (`startsWith`, `endsWith`, `contains`, `matches`, plus Kubernetes'
//! `lowerAscii`, `upperAscii`, `trim`, `replace`, `split`, `join`,
//! `indexOf`), `message`, `messageExpression`, `reason` and `fieldPath`.
//!
//! Not replicated: CEL's static type checking (type errors surface when a
//! rule runs, not when the CRD is written) and the cost budget.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use cel_interpreter::extractors::This;
use cel_interpreter::objects::{Key, Map as CelMap};
use cel_interpreter::{Context, ExecutionError, Program, Value as Cel};
use serde_json::Value;

use super::path::{child, display, index, key};
use super::structural::Node;
use super::MAX_DEPTH;
use crate::field_error::FieldError;

const REASONS: [&str; 4] = ["FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"];

// Deeply nested expressions would recurse deeply in the parser; CRD
// authors do not need more than this.
const MAX_EXPR_NESTING: usize = 64;

/// One `x-kubernetes-validations` entry, compiled.
#[derive(Clone, Debug, Default)]
pub(crate) struct Rule {
    rule: String,
    message: Option<String>,
    message_expression: Option<String>,
    reason: Option<String>,
    field_path: Option<String>,
    optional_old_self: Option<bool>,
    raw: Value,
    program: Option<Arc<Program>>,
    compile_error: Option<String>,
    message_program: Option<Arc<Program>>,
    message_compile_error: Option<String>,
    uses_old_self: bool,
}

fn compile(src: &str) -> Result<Program, String> {
    // The parser panics on some unbalanced inputs (caught below, but noisy
    // in logs), so brackets outside string literals are checked first.
    let mut open: Vec<char> = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in src.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => {
                open.push(c);
                if open.len() > MAX_EXPR_NESTING {
                    return Err(format!("expression nested more than {MAX_EXPR_NESTING} levels"));
                }
            }
            ')' | ']' | '}' => {
                let want = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if open.pop() != Some(want) {
                    return Err(format!("unexpected '{c}'"));
                }
            }
            _ => {}
        }
    }
    if let Some(c) = open.last() {
        return Err(format!("unclosed '{c}'"));
    }
    match catch_unwind(|| Program::compile(src)) {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(e.to_string().trim().to_string()),
        Err(_) => Err("the expression could not be parsed".to_string()),
    }
}

impl Rule {
    pub fn parse(v: &Value, path: &str, errs: &mut Vec<FieldError>) -> Rule {
        let mut r = Rule { raw: v.clone(), ..Rule::default() };
        let Value::Object(m) = v else {
            errs.push(FieldError::invalid(path, v.clone(), "must be a JSON object"));
            return r;
        };
        let string = |name: &str, errs: &mut Vec<FieldError>| -> Option<String> {
            match m.get(name) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => {
                    errs.push(FieldError::invalid(child(path, name), other.clone(), "must be a string"));
                    None
                }
            }
        };
        r.rule = string("rule", errs).unwrap_or_default();
        r.message = string("message", errs);
        r.message_expression = string("messageExpression", errs);
        r.reason = string("reason", errs);
        r.field_path = string("fieldPath", errs);
        r.optional_old_self = m.get("optionalOldSelf").and_then(Value::as_bool);
        if !r.rule.trim().is_empty() {
            match compile(&r.rule) {
                Ok(p) => {
                    r.uses_old_self = p.references().has_variable("oldSelf");
                    r.program = Some(Arc::new(p));
                }
                Err(e) => r.compile_error = Some(e),
            }
        }
        if let Some(me) = r.message_expression.as_deref().filter(|s| !s.trim().is_empty()) {
            match compile(me) {
                Ok(p) => r.message_program = Some(Arc::new(p)),
                Err(e) => r.message_compile_error = Some(e),
            }
        }
        r
    }

    /// CRD-time checks of one rule at `path` (`...x-kubernetes-validations[i]`).
    pub fn check(&self, path: &str, node: &Node, uncorrelatable: Option<&str>, errs: &mut Vec<FieldError>) {
        if self.rule.trim().is_empty() {
            errs.push(FieldError::required(child(path, "rule"), "rule is not specified"));
        }
        if let Some(msg) = &self.message {
            if msg.trim().is_empty() {
                errs.push(FieldError::invalid(
                    child(path, "message"),
                    Value::String(msg.clone()),
                    "must be non-empty if specified",
                ));
            } else if msg.contains('\n') {
                errs.push(FieldError::invalid(
                    child(path, "message"),
                    Value::String(msg.clone()),
                    "must not contain line breaks",
                ));
            }
        } else if self.rule.trim().contains('\n') {
            errs.push(FieldError::required(
                child(path, "message"),
                "message must be specified if rule contains line breaks",
            ));
        }
        if let Some(me) = &self.message_expression {
            if me.trim().is_empty() {
                errs.push(FieldError::required(
                    child(path, "messageExpression"),
                    "messageExpression must be non-empty if specified",
                ));
            }
        }
        if let Some(reason) = &self.reason {
            if !REASONS.contains(&reason.as_str()) {
                errs.push(FieldError::not_supported(child(path, "reason"), Value::String(reason.clone()), &REASONS));
            }
        }
        if let Some(fp) = &self.field_path {
            let p = child(path, "fieldPath");
            if fp.trim().is_empty() {
                errs.push(FieldError::invalid(&p, Value::String(fp.clone()), "must be non-empty if specified"));
            } else if fp.contains('\n') {
                errs.push(FieldError::invalid(&p, Value::String(fp.clone()), "must not contain line breaks"));
            } else if !field_path_valid(node, fp) {
                errs.push(FieldError::invalid(&p, Value::String(fp.clone()), "must be a valid path"));
            }
        }
        if let Some(e) = &self.compile_error {
            errs.push(FieldError::invalid(child(path, "rule"), self.raw.clone(), format!("compilation failed: {e}")));
        }
        if let Some(e) = &self.message_compile_error {
            errs.push(FieldError::invalid(
                child(path, "messageExpression"),
                self.raw.clone(),
                format!("messageExpression compilation failed: {e}"),
            ));
        }
        if self.uses_old_self {
            if let Some(u) = uncorrelatable {
                errs.push(FieldError::invalid(
                    child(path, "rule"),
                    Value::String(self.rule.clone()),
                    format!("oldSelf cannot be used on the uncorrelatable portion of the schema within {u}"),
                ));
            }
        }
        if let Some(b) = self.optional_old_self {
            if !self.uses_old_self {
                errs.push(FieldError::invalid(
                    child(path, "optionalOldSelf"),
                    Value::Bool(b),
                    "may not be set if oldSelf is not used in rule",
                ));
            }
        }
    }

    fn error_string(&self) -> String {
        match &self.message {
            Some(m) if !m.trim().is_empty() => m.trim().to_string(),
            _ => self.rule.trim().to_string(),
        }
    }
}

/// `fieldPath` must name a field of the schema: `.a.b`, `['a.b']`, `.list[0]`.
fn field_path_valid(node: &Node, fp: &str) -> bool {
    let mut n = node;
    let mut rest = fp.trim();
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let name: String;
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            name = r[..end].to_string();
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("['") {
            let Some(end) = r.find("']") else { return false };
            name = r[..end].to_string();
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else { return false };
            if r[..end].parse::<usize>().is_err() {
                return false;
            }
            rest = &r[end + 1..];
            match &n.items {
                Some(items) => n = items,
                None => return false,
            }
            continue;
        } else {
            return false;
        }
        if name.is_empty() {
            return false;
        }
        n = match n.properties.get(&name) {
            Some(p) => p,
            None => match n.additional_schema() {
                Some(s) => s,
                None => return false,
            },
        };
    }
    true
}

/// Evaluates every rule in the tree against `obj` (and `old`, on update).
pub(crate) fn validate(root: &Node, obj: &Value, old: Option<&Value>, prefix: &str, errs: &mut Vec<FieldError>) {
    walk(root, obj, old, prefix, 0, errs);
}

fn walk(n: &Node, v: &Value, old: Option<&Value>, path: &str, depth: usize, errs: &mut Vec<FieldError>) {
    if depth > MAX_DEPTH || v.is_null() {
        return;
    }
    if !n.rules.is_empty() {
        eval_rules(n, v, old, path, errs);
    }
    match v {
        Value::Object(m) => {
            let old_map = old.and_then(Value::as_object);
            for (k, x) in m {
                let old_x = old_map.and_then(|o| o.get(k));
                if let Some(p) = n.properties.get(k) {
                    walk(p, x, old_x, &child(path, k), depth + 1, errs);
                } else if let Some(s) = n.additional_schema() {
                    let correlated = if n.map_type.as_deref() == Some("atomic") { None } else { old_x };
                    walk(s, x, correlated, &key(path, k), depth + 1, errs);
                }
            }
        }
        Value::Array(a) => {
            let Some(is) = &n.items else { return };
            let old_items = old.and_then(Value::as_array);
            for (i, x) in a.iter().enumerate() {
                let old_x = match (n.list_type.as_deref(), old_items) {
                    (Some("map"), Some(olds)) => olds.iter().find(|o| same_map_key(&n.list_map_keys, x, o)),
                    _ => None,
                };
                walk(is, x, old_x, &index(path, i), depth + 1, errs);
            }
        }
        _ => {}
    }
}

fn same_map_key(keys: &[String], a: &Value, b: &Value) -> bool {
    keys.iter().all(|k| a.get(k) == b.get(k))
}

fn eval_rules(n: &Node, v: &Value, old: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let type_value = Value::String(n.ty.clone());
    let mut ctx = context();
    ctx.add_variable_from_value("self", to_cel(v, 0));
    if let Some(o) = old {
        ctx.add_variable_from_value("oldSelf", to_cel(o, 0));
    }
    for r in &n.rules {
        // Transition rules only run when there is something to transition from.
        if r.uses_old_self && old.is_none() {
            continue;
        }
        let Some(program) = &r.program else {
            let e = r.compile_error.clone().unwrap_or_default();
            errs.push(FieldError::invalid(display(path), type_value.clone(), format!("rule compile error: {e}")));
            continue;
        };
        let result = catch_unwind(AssertUnwindSafe(|| program.execute(&ctx)));
        match result {
            Ok(Ok(Cel::Bool(true))) => continue,
            Ok(Ok(Cel::Bool(false))) => {}
            Ok(Ok(_)) => {
                errs.push(FieldError::invalid(
                    display(path),
                    type_value.clone(),
                    format!("rule did not evaluate to a bool evaluating rule: {}", r.error_string()),
                ));
                continue;
            }
            Ok(Err(e)) => {
                errs.push(FieldError::invalid(
                    display(path),
                    type_value.clone(),
                    format!("{e} evaluating rule: {}", r.error_string()),
                ));
                continue;
            }
            Err(_) => {
                errs.push(FieldError::invalid(
                    display(path),
                    type_value.clone(),
                    format!("internal error evaluating rule: {}", r.error_string()),
                ));
                continue;
            }
        }
        let field = match r.field_path.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(fp) => display(&child(path, fp.trim_start_matches('.'))),
            None => display(path),
        };
        let detail = message_from_expression(r, &ctx).unwrap_or_else(|| match &r.message {
            Some(m) if !m.trim().is_empty() => m.trim().to_string(),
            _ => format!("failed rule: {}", r.error_string()),
        });
        // Kubernetes does not echo whole objects or lists back.
        let value = if n.ty == "object" || n.ty == "array" { type_value.clone() } else { v.clone() };
        errs.push(match r.reason.as_deref() {
            Some("FieldValueForbidden") => FieldError::forbidden(field, detail),
            Some("FieldValueRequired") => FieldError::required(field, detail),
            Some("FieldValueDuplicate") => FieldError::duplicate(field, value),
            _ => FieldError::invalid(field, value, detail),
        });
    }
}

fn message_from_expression(r: &Rule, ctx: &Context) -> Option<String> {
    let program = r.message_program.as_ref()?;
    match catch_unwind(AssertUnwindSafe(|| program.execute(ctx))) {
        Ok(Ok(Cel::String(s))) => {
            let t = s.trim();
            (!t.is_empty() && !t.contains('\n') && t.len() <= 5 * 1024).then(|| t.to_string())
        }
        _ => None,
    }
}

fn to_cel(v: &Value, depth: usize) -> Cel {
    if depth > MAX_DEPTH * 2 {
        return Cel::Null;
    }
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Cel::Int(i),
            (None, Some(u)) => Cel::UInt(u),
            _ => Cel::Float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(a) => Cel::List(Arc::new(a.iter().map(|x| to_cel(x, depth + 1)).collect())),
        Value::Object(m) => {
            let map: HashMap<Key, Cel> =
                m.iter().map(|(k, x)| (Key::String(Arc::new(k.clone())), to_cel(x, depth + 1))).collect();
            Cel::Map(CelMap { map: Arc::new(map) })
        }
    }
}

type CelResult = Result<Cel, ExecutionError>;

fn string_list(v: &Cel) -> Option<Vec<String>> {
    match v {
        Cel::List(items) => items
            .iter()
            .map(|i| match i {
                Cel::String(s) => Some(s.to_string()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn lower_ascii(This(s): This<Arc<String>>) -> String {
    s.to_ascii_lowercase()
}

fn upper_ascii(This(s): This<Arc<String>>) -> String {
    s.to_ascii_uppercase()
}

fn trim(This(s): This<Arc<String>>) -> String {
    s.trim().to_string()
}

fn replace(This(s): This<Arc<String>>, from: Arc<String>, to: Arc<String>) -> String {
    s.replace(from.as_str(), to.as_str())
}

fn split(This(s): This<Arc<String>>, sep: Arc<String>) -> CelResult {
    let parts: Vec<Cel> = s.split(sep.as_str()).map(|p| Cel::String(Arc::new(p.to_string()))).collect();
    Ok(Cel::List(Arc::new(parts)))
}

fn join(This(list): This<Cel>, sep: Arc<String>) -> CelResult {
    string_list(&list)
        .map(|l| Cel::String(Arc::new(l.join(sep.as_str()))))
        .ok_or_else(|| ExecutionError::function_error("join", "join expects a list of strings"))
}

fn index_of(This(s): This<Arc<String>>, sub: Arc<String>) -> CelResult {
    Ok(Cel::Int(s.find(sub.as_str()).map(|b| s[..b].chars().count() as i64).unwrap_or(-1)))
}

fn context() -> Context<'static> {
    let mut ctx = Context::default();
    ctx.add_function("lowerAscii", lower_ascii);
    ctx.add_function("upperAscii", upper_ascii);
    ctx.add_function("trim", trim);
    ctx.add_function("replace", replace);
    ctx.add_function("split", split);
    ctx.add_function("join", join);
    ctx.add_function("indexOf", index_of);
    ctx
}
