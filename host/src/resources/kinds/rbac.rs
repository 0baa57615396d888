//! RBAC kinds: names need only be path segments; a binding's roleRef is
//! required and never changes.

use serde_json::Value;

use crate::errors::Cause;
use crate::resources::validation::immutable;
use crate::resources::{NameRule, Strategy};

/// Role and ClusterRole.
pub struct Rbac;

impl Strategy for Rbac {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }
}

/// RoleBinding and ClusterRoleBinding.
pub struct RoleBinding;

impl Strategy for RoleBinding {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        ["kind", "name"]
            .iter()
            .filter(|f| obj["roleRef"][**f].as_str().is_none())
            .map(|f| Cause::required(format!("roleRef.{f}")))
            .collect()
    }

    fn validate_update(&self, obj: &Value, old: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        immutable(obj, old, &["roleRef"], &mut errs);
        errs
    }
}
