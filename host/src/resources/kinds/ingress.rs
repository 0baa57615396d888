//! Ingress: rules and backends.

use serde_json::{json, Value};

use super::reset_status;
use crate::errors::Cause;
use crate::resources::Strategy;

pub struct Ingress;

impl Strategy for Ingress {
    fn prepare_for_create(&self, obj: &mut Value) {
        reset_status(obj, json!({"loadBalancer": {}}));
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        crate::resources::validation::ingress(&obj["spec"], &mut errs);
        errs
    }
}
