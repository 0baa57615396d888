//! Bindings generated from `wit/`, in one place. Host imports are async (a
//! cluster lookup reads the store) and trappable (a host bug becomes the
//! plugin's trap, not the host's panic). Every world imports the same shared
//! interfaces, generated once here and mapped into the other worlds with `with`.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "admission-policy",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use exports::skiff::plugin::admission;
pub use skiff::plugin::{clock, cluster, config, log, types};

pub mod scheduler_world {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "scheduler-policy",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "skiff:plugin/types": super::types,
            "skiff:plugin/log": super::log,
            "skiff:plugin/clock": super::clock,
            "skiff:plugin/config": super::config,
            "skiff:plugin/cluster": super::cluster,
        },
    });
}

pub use scheduler_world::exports::skiff::plugin::scheduler;
