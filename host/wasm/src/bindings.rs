//! Bindings generated from `wit/`, in one place. Host imports are async (a
//! cluster lookup reads the store) and trappable (a host bug becomes the
//! plugin's trap, not the host's panic).

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "admission-policy",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use exports::skiff::plugin::admission;
pub use skiff::plugin::{clock, cluster, config, log, types};
