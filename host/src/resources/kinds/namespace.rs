//! Namespace: Active on create; its `spec.finalizers` change only through
//! `/finalize` (the namespace controller's), and it stays until they are gone.

use serde_json::{json, Value};

use super::reset_status;
use crate::resources::{NameRule, Strategy};

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

    fn deletion_pending(&self, obj: &Value) -> bool {
        obj["spec"]["finalizers"].as_array().is_some_and(|f| !f.is_empty())
    }

    fn field_labels(&self) -> &[&str] {
        &["status.phase"]
    }
}
