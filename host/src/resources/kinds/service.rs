//! Service: a DNS-label name, ports, and the cluster IP and node ports the
//! API allocates kept when an update leaves them out.

use serde_json::{json, Value};

use super::reset_status;
use crate::errors::Cause;
use crate::resources::validation::{immutable, service};
use crate::resources::{NameRule, Strategy};

pub struct Service;

impl Strategy for Service {
    fn prepare_for_create(&self, obj: &mut Value) {
        reset_status(obj, json!({"loadBalancer": {}}));
    }

    /// An update that leaves out a Service's cluster IP or node ports keeps the
    /// allocated ones, as Kubernetes does (clients rarely send them back).
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else { return };
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            let missing = spec.get(field).is_none_or(|v| v.is_null() || v.as_str() == Some(""));
            if missing && !old["spec"][field].is_null() {
                spec.insert(field.into(), old["spec"][field].clone());
            }
        }
        let old_ports = old["spec"]["ports"].as_array().cloned().unwrap_or_default();
        for port in spec.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
            if !port["nodePort"].is_null() {
                continue;
            }
            let protocol = port["protocol"].as_str().unwrap_or("TCP").to_string();
            let same = old_ports
                .iter()
                .find(|o| o["port"] == port["port"] && o["protocol"].as_str().unwrap_or("TCP") == protocol);
            if let (Some(same), Some(p)) = (same, port.as_object_mut()) {
                if !same["nodePort"].is_null() {
                    p.insert("nodePort".into(), same["nodePort"].clone());
                }
            }
        }
    }

    fn name_rule(&self) -> NameRule {
        NameRule::Label
    }

    fn returns_deleted_object(&self) -> bool {
        true
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        service(&obj["spec"], &mut errs);
        errs
    }

    fn validate_update(&self, obj: &Value, old: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        if obj["spec"]["clusterIP"].as_str().is_some_and(|ip| !ip.is_empty()) {
            immutable(obj, old, &["spec.clusterIP"], &mut errs);
        }
        errs
    }
}
