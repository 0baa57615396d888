//! CronJob: a schedule and a job template.

use serde_json::{json, Value};

use super::reset_status;
use crate::errors::Cause;
use crate::resources::Strategy;

pub struct CronJob;

impl Strategy for CronJob {
    fn prepare_for_create(&self, obj: &mut Value) {
        reset_status(obj, json!({}));
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        crate::resources::validation::cronjob(&obj["spec"], &mut errs);
        errs
    }
}
