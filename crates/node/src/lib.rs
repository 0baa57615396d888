//! The node agent, skiff's kubelet: registers the Node and keeps its Lease,
//! runs the pods bound to it through skiff-runtime, reports their status, and
//! serves their logs and exec sessions to the API server.

mod agent;
mod attach;
pub mod client;
pub mod config;
mod events;
mod exec;
pub mod logs;
pub mod node;
pub mod pods;
pub mod probes;
pub mod server;
mod stats;
pub mod streams;
pub mod volumes;

pub use agent::{run, AgentConfig, AgentError};
