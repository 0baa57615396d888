//! The default scheduling policy: kube-scheduler's default filters and
//! scores over the compact views of `wit/scheduler.wit`. The
//! `default-scheduler` plugin runs it in wasm; the host can run the same
//! source natively, which is how the wasm overhead is measured.
//!
//! Filters, in kube-scheduler's order (a node's first failing filter is its
//! reason): NodeUnschedulable, NodeName, TaintToleration, NodeAffinity,
//! NodePorts, NodeResourcesFit, PodTopologySpread, InterPodAffinity.
//! Scores (0-100 each, weighted as in kube-scheduler's default profile):
//! TaintToleration ×3, NodeAffinity ×2, NodeResourcesFit ×1 (least or most
//! allocated), NodeResourcesBalancedAllocation ×1, InterPodAffinity ×2, and
//! ×2 for PodTopologySpread's ScheduleAnyway constraints or, for pods without
//! constraints, spreading the pods of one owner over nodes.

pub mod model;
mod policy;
pub mod selectors;
mod spread;

pub use policy::{Config, Policy, ScoringStrategy};
