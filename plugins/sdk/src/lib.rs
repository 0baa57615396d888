//! The Rust SDK for skiff plugins: WebAssembly components that implement a world of the
//! `skiff:plugin@0.1.0` contract (the WIT files in the repository's `wit/` folder).
//!
//! A plugin crate is a `cdylib` built for `wasm32-wasip2`. It implements the generated `Guest`
//! trait of its world and hands its type to that world's export macro:
//!
//! ```ignore
//! use skiff_plugin_sdk::admission::{Guest, Mutation, Request, Verdict};
//! use skiff_plugin_sdk::Error;
//!
//! struct Policy;
//!
//! impl Guest for Policy {
//!     fn init(_config: String) -> Result<(), Error> { Ok(()) }
//!     fn validate(_req: Request) -> Result<Verdict, Error> { Ok(Verdict::allow()) }
//!     fn mutate(_req: Request) -> Result<Mutation, Error> { Ok(Mutation::unchanged()) }
//! }
//!
//! skiff_plugin_sdk::export_admission!(Policy);
//! ```
//!
//! What the crate owns:
//! - [`admission`]: the bindings of the `admission-policy` world (the only place they are
//!   generated) and helpers on its request, verdict and mutation types;
//! - [`Error`] constructors that map to the contract's error codes ([`error`]);
//! - [`patch`]: an RFC 6902 JSON patch builder with RFC 6901 pointer escaping;
//! - [`cluster`]: typed read-only lookups of cluster objects;
//! - [`log`]: logging through the host, with the [`info!`], [`warn!`] … macros;
//! - [`clock`]: wall and monotonic time from the host;
//! - [`config`] / [`parse_config`]: the plugin's configuration as a typed value;
//! - re-exports of [`k8s_openapi`] (the typed Kubernetes objects), [`serde`] and [`serde_json`]
//!   so plugins use the very versions the SDK decodes with.
//!
//! Off `wasm32` the host imports are stubs that panic, so the pure parts of a plugin (its policy
//! logic on typed objects) can be unit tested with a plain `cargo test`.
//!
//! Every call reaches a fresh instance of the plugin (the host gives each call a new store) and
//! `init` runs again at its start, so nothing outlives one request. Keep `init` cheap; read the
//! configuration with [`config`] where it is needed (or keep what `init` parsed in a static).

pub mod admission;
pub mod cluster;

/// Time, the only clock a plugin sees (no WASI clocks are granted).
pub mod clock {
    pub use crate::admission::skiff::plugin::clock::{monotonic_nanos, now_unix_millis};
}

pub mod error;
pub mod log;
pub mod patch;

pub use k8s_openapi;
pub use serde;
pub use serde_json;

/// Exports a type implementing [`admission::Guest`] as the plugin's `admission` interface:
/// `skiff_plugin_sdk::export_admission!(MyPolicy);`.
pub use admission::export_admission;
pub use error::{Error, ErrorCode};
pub use patch::{Patch, Pointer};

/// The shared types of the contract (`skiff:plugin/types`): every world's bindings use these.
///
/// They are generated with the admission world; the bindings of later worlds map the shared
/// interfaces onto these same modules (wit-bindgen's `with`), so one Rust type stays one type.
pub use admission::skiff::plugin::types::{GroupVersionKind, GroupVersionResource, ObjectKey};

use serde::de::DeserializeOwned;

/// The plugin's configuration (`spec.config` of its WasmPlugin), decoded into `T`.
///
/// Reads the `config` import, so it works in every call, not only in `init`.
/// A value that does not fit `T` is an `invalid-input` error naming the problem.
pub fn config<T: DeserializeOwned>() -> Result<T, Error> {
    parse_config(&config_json())
}

/// The plugin's configuration as JSON text (`{}` when none was given), for plugins that check
/// it by hand.
pub fn config_json() -> String {
    admission::skiff::plugin::config::get()
}

/// Decodes configuration JSON (as passed to `init`) into `T`; `invalid-input` when it does not fit.
pub fn parse_config<T: DeserializeOwned>(json: &str) -> Result<T, Error> {
    serde_json::from_str(json).map_err(|e| Error::invalid(format!("invalid plugin config: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Cfg {
        registries: Vec<String>,
    }

    #[test]
    fn parse_config_decodes_and_reports_invalid_input() {
        let cfg: Cfg = parse_config(r#"{"registries": ["a"]}"#).unwrap();
        assert_eq!(cfg, Cfg { registries: vec!["a".into()] });

        let err = parse_config::<Cfg>(r#"{"registries": 3}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.starts_with("invalid plugin config: invalid type"), "{}", err.message);
    }
}

/// Compiles the README's examples as doctests, so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
