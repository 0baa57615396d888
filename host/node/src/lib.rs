//! The node agent, skiff's kubelet: registers the Node and keeps its Lease,
//! runs the pods bound to it through skiff-runtime, reports their status, and
//! serves their logs and exec sessions to the API server.

pub mod streams;
