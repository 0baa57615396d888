//! Namespace: Active on create; its `spec.finalizers` change only through
//! `/finalize` (the namespace controller's), and it stays until they are gone.

use serde_json::{json, Value};

use super::reset_status;
use crate::errors::ApiError;
use crate::resources::{NameRule, Strategy, Subresource};

pub struct Namespace;

impl Strategy for Namespace {
    fn prepare_for_create(&self, obj: &mut Value) {
        reset_status(obj, json!({"phase": "Active"}));
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let finalizers = old["spec"]["finalizers"].clone();
        match new.get_mut("spec") {
            Some(Value::Object(spec)) => {
                spec.insert("finalizers".into(), finalizers);
            }
            None | Some(Value::Null) => new["spec"] = json!({"finalizers": finalizers}),
            // A spec of the wrong type is refused by decoding.
            Some(_) => {}
        }
    }

    fn name_rule(&self) -> NameRule {
        NameRule::Label
    }

    fn subresources(&self) -> &'static [Subresource] {
        &[Subresource { name: "finalize", kind: "Namespace", verbs: &["update"] }]
    }

    fn check_delete(&self, name: &str) -> Result<(), ApiError> {
        if matches!(name, "default" | "kube-system" | "kube-public") {
            Err(ApiError::forbidden(format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted")))
        } else {
            Ok(())
        }
    }

    /// The namespace controller empties a Terminating namespace, then removes
    /// its spec finalizer.
    fn mark_deleted(&self, obj: &mut Value, already_deleting: bool) -> Option<Result<(), ApiError>> {
        if already_deleting {
            let name = obj["metadata"]["name"].as_str().unwrap_or_default();
            return Some(Err(ApiError::conflict("", "namespaces", name, "The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.")));
        }
        obj["status"] = json!({"phase": "Terminating"});
        Some(Ok(()))
    }

    fn deletion_pending(&self, obj: &Value) -> bool {
        obj["spec"]["finalizers"].as_array().is_some_and(|f| !f.is_empty())
    }

    fn field_labels(&self) -> &[&str] {
        &["status.phase"]
    }
}
