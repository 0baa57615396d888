//! Defaulting (apiextensions' `defaulting.Default`) and the CRD-time check
//! that every `default` prunes and validates cleanly against its own
//! schema — a default that would be refused or silently lose fields must be
//! refused when the CRD is written, not when an object is read.

use serde_json::Value;

use super::path::child;
use super::structural::{walk_structural, Node};
use super::{prune, validate, MAX_DEPTH};
use crate::field_error::FieldError;

/// Fills missing fields (and nulls where the schema is not nullable) of
/// present objects with their defaults, then descends — also into what a
/// default just put there, so nested defaults compose. Absent parents stay
/// absent unless a parent default creates them.
pub(crate) fn apply(n: &Node, v: &mut Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, p) in &n.properties {
                let Some(d) = &p.default else { continue };
                let missing = match m.get(k) {
                    None => true,
                    Some(x) => non_nullable_null(x, p),
                };
                if missing {
                    m.insert(k.clone(), d.clone());
                }
            }
            for (k, x) in m.iter_mut() {
                if let Some(p) = n.properties.get(k) {
                    apply(p, x, depth + 1);
                } else if let Some(s) = n.additional_schema() {
                    if non_nullable_null(x, s) {
                        if let Some(d) = &s.default {
                            *x = d.clone();
                        }
                    }
                    apply(s, x, depth + 1);
                }
            }
        }
        Value::Array(a) => {
            let Some(is) = &n.items else { return };
            for x in a.iter_mut() {
                if non_nullable_null(x, is) {
                    if let Some(d) = &is.default {
                        *x = d.clone();
                    }
                }
                apply(is, x, depth + 1);
            }
        }
        _ => {}
    }
}

fn non_nullable_null(x: &Value, s: &Node) -> bool {
    x.is_null() && s.default.is_some() && !s.nullable
}

/// Each default must survive pruning unchanged and validate against the
/// schema it belongs to (including object meta for embedded resources and
/// CEL rules).
pub(crate) fn check_defaults(root: &Node, base_path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    walk_structural(root, base_path, &mut |n, p| {
        let Some(d) = &n.default else { return };
        let dp = child(p, "default");
        let mut pruned = d.clone();
        prune::prune_value(n, &mut pruned, n.embedded);
        if &pruned != d {
            errs.push(FieldError::invalid(&dp, d.clone(), "must not have unknown fields"));
            return;
        }
        errs.extend(validate::validate_object(n, d, None, &dp));
    });
    errs
}
