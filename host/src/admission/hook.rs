//! When an admission plugin is called: its operations, resource rules and
//! selectors, with the matching rules of Kubernetes' admission webhooks.

use serde_json::Value;
use skiff_apimachinery::labels::Selector;
use skiff_wasm::admission::Operation;

use super::Attributes;
use crate::resources::kinds::{AdmissionSpec, ResourceRule};

pub struct Hook {
    pub mutating: bool,
    pub operations: Vec<String>,
    pub rules: Vec<ResourceRule>,
    pub namespace_selector: Option<Selector>,
    pub object_selector: Option<Selector>,
    pub fail_closed: bool,
    pub order: i32,
    pub timeout_seconds: i32,
}

const OPERATIONS: &[&str] = &["CREATE", "UPDATE", "DELETE", "CONNECT", "*"];

impl Hook {
    /// Checks and compiles a WasmPlugin's `spec.admission`; the error names the field.
    pub fn from_spec(spec: &AdmissionSpec) -> Result<Hook, String> {
        let mutating = match spec.type_.as_str() {
            "Mutating" => true,
            "Validating" => false,
            other => {
                return Err(format!(
                    "spec.admission.type: Unsupported value: {other:?}: supported values: \"Mutating\", \"Validating\""
                ))
            }
        };
        let operations = spec.operations.clone().unwrap_or_else(|| vec!["CREATE".into(), "UPDATE".into()]);
        if let Some(bad) = operations.iter().find(|o| !OPERATIONS.contains(&o.as_str())) {
            return Err(format!(
                "spec.admission.operations: Unsupported value: {bad:?}: supported values: CREATE, UPDATE, DELETE, CONNECT, *"
            ));
        }
        if spec.resources.is_empty() || spec.resources.iter().any(|r| r.resources.is_empty() || r.api_groups.is_empty())
        {
            return Err(
                "spec.admission.resources: every rule needs apiGroups and resources (use [\"*\"] for all)".into()
            );
        }
        let selector = |s: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>, field: &str| {
            s.as_ref()
                .map(|s| {
                    let value = serde_json::to_value(s).unwrap_or(Value::Null);
                    Selector::from_label_selector(&value).map_err(|e| format!("spec.admission.{field}: {e}"))
                })
                .transpose()
        };
        let fail_closed = match spec.failure_policy.as_deref().unwrap_or("Fail") {
            "Fail" => true,
            "Ignore" => false,
            other => {
                return Err(format!(
                "spec.admission.failurePolicy: Unsupported value: {other:?}: supported values: \"Fail\", \"Ignore\""
            ))
            }
        };
        let timeout_seconds = spec.timeout_seconds.unwrap_or(10);
        if !(1..=30).contains(&timeout_seconds) {
            return Err(format!(
                "spec.admission.timeoutSeconds: Invalid value: {timeout_seconds}: must be between 1 and 30"
            ));
        }
        Ok(Hook {
            mutating,
            operations,
            rules: spec.resources.clone(),
            namespace_selector: selector(&spec.namespace_selector, "namespaceSelector")?,
            object_selector: selector(&spec.object_selector, "objectSelector")?,
            fail_closed,
            order: spec.order.unwrap_or(0),
            timeout_seconds,
        })
    }

    /// Operation and resource match (selectors aside).
    pub fn matches_request(&self, attrs: &Attributes<'_>) -> bool {
        let op = match attrs.operation {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        };
        if !self.operations.iter().any(|o| o == op || o == "*") {
            return false;
        }
        let group = &attrs.rt.group;
        let resource = &attrs.rt.plural;
        self.rules.iter().any(|rule| {
            rule.api_groups.iter().any(|g| g == "*" || g == group)
                && rule.resources.iter().any(|r| resource_matches(r, resource, attrs.subresource))
        })
    }

    /// The object selector matches the new or the old object's labels.
    pub fn matches_object(&self, object: Option<&Value>, old: Option<&Value>) -> bool {
        match &self.object_selector {
            None => true,
            Some(s) => [object, old].into_iter().flatten().any(|o| s.matches_object(o)),
        }
    }
}

/// `pods`, `pods/status`, `*` (every resource, no subresources), `*/*`,
/// `pods/*` and `*/status`, as in webhook rules.
fn resource_matches(rule: &str, resource: &str, subresource: Option<&str>) -> bool {
    let (rule_res, rule_sub) = match rule.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (rule, None),
    };
    let resource_ok = rule_res == "*" || rule_res == resource;
    let sub_ok = match (rule_sub, subresource) {
        (None, None) => true,
        (None, Some(_)) => false,
        // `*/*` is everything; `pods/*` only the subresources of pods.
        (Some("*"), None) => rule_res == "*",
        (Some("*"), Some(_)) => true,
        (Some(r), Some(s)) => r == s,
        (Some(_), None) => false,
    };
    resource_ok && sub_ok
}

#[cfg(test)]
mod tests {
    use super::resource_matches;

    #[test]
    fn resource_rules_match_like_webhook_rules() {
        assert!(resource_matches("pods", "pods", None));
        assert!(!resource_matches("pods", "pods", Some("status")));
        assert!(resource_matches("pods/status", "pods", Some("status")));
        assert!(resource_matches("pods/*", "pods", Some("status")));
        assert!(!resource_matches("pods/*", "pods", None));
        assert!(resource_matches("*/*", "pods", None));
        assert!(resource_matches("*", "deployments", None));
        assert!(!resource_matches("*", "deployments", Some("scale")));
        assert!(resource_matches("*/*", "deployments", Some("scale")));
        assert!(resource_matches("*/scale", "deployments", Some("scale")));
        assert!(!resource_matches("services", "pods", None));
    }
}
