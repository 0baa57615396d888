//! core/v1 Event: the field labels `kubectl describe` and `kubectl events` select on.

use crate::resources::Strategy;

pub struct Event;

impl Strategy for Event {
    fn field_labels(&self) -> &[&str] {
        &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ]
    }

    fn field_label_path<'a>(&self, label: &'a str) -> &'a str {
        if label == "source" {
            "source.component"
        } else {
            label
        }
    }
}
