//! Node: registered by its agent with its status; `spec.unschedulable` is a field label.

use crate::resources::Strategy;

pub struct Node;

impl Strategy for Node {
    /// Nodes may set all fields on create, status included (the agent does).
    fn resets_status_on_create(&self) -> bool {
        false
    }

    fn field_labels(&self) -> &[&str] {
        &["spec.unschedulable"]
    }
}
