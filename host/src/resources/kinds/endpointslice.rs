//! EndpointSlice: its address type is required and one of three.

use serde_json::Value;

use crate::errors::Cause;
use crate::resources::Strategy;

pub struct EndpointSlice;

impl Strategy for EndpointSlice {
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let supported = ["IPv4", "IPv6", "FQDN"];
        match obj["addressType"].as_str() {
            None => vec![Cause::required("addressType")],
            Some(t) if !supported.contains(&t) => {
                vec![Cause::unsupported("addressType", &obj["addressType"], &supported)]
            }
            _ => Vec::new(),
        }
    }

    fn validate_update(&self, obj: &Value, old: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        crate::resources::validation::immutable(obj, old, &["addressType"], &mut errs);
        errs
    }
}
