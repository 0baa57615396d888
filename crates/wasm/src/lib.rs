//! The plugin host: runs skiff's plugins — WebAssembly components built
//! against the `skiff:plugin` WIT package — in a sandbox.
//!
//! - [`PluginEngine`] compiles components once (an on-disk cache keyed by the
//!   module's digest and the engine's settings) and drives time: an epoch
//!   ticker gives every call a deadline.
//! - Every call gets a fresh `Store` from a pooling allocator, a memory cap,
//!   no ambient WASI filesystem, network, environment or arguments, and its
//!   stdout/stderr and `log` calls go to the host's logs tagged with the
//!   plugin's name. A trap, a timeout or running out of memory is a
//!   [`PluginError`]; it never takes the host down.
//! - One module per world: [`admission`] (a fresh instance per call) and
//!   [`scheduler`] (long-lived instances that keep the nodes they were sent).

pub mod admission;
mod bindings;
mod engine;
mod error;
mod sandbox;
pub mod scheduler;

pub use skiff_scheduling as scheduling;

pub use bindings::types::{Error as WitError, ErrorCode, GroupVersionKind, GroupVersionResource, ObjectKey};
pub use engine::{EngineSettings, PluginEngine};
pub use error::PluginError;
pub use sandbox::{wit_error, BoxFuture, Cluster, EmptyCluster, Limits};
