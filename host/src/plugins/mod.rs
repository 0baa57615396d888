//! The plugin platform's host side: the WasmPlugin and PodPreset types,
//! the module blobs (upload and download over the API), the built-in
//! plugins, what plugins may read of the cluster, and the manager that
//! loads and hot-swaps plugin versions. The sandbox itself is the
//! `skiff-wasm` crate; admission is `crate::admission`.

pub mod builtin;
mod cluster;
mod manager;

pub use cluster::StoreCluster;
pub use manager::Manager;
