//! The sandbox against real components: the `chaos` test plugin (built by
//! tests/run from plugins/testing/chaos into $SKIFF_PLUGINS_DIR) misbehaves
//! on request, and every misbehaviour must come back as a `PluginError`.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use skiff_wasm::admission::{AdmissionPlugin, Change, Request};
use skiff_wasm::{EmptyCluster, EngineSettings, Limits, PluginEngine, PluginError};

fn chaos() -> Arc<[u8]> {
    let path = common::plugins_dir().join("chaos.wasm");
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (tests/run builds plugins/ first)", path.display()));
    Arc::from(bytes)
}

fn engine() -> PluginEngine {
    let cache = std::env::temp_dir().join("skiff-wasm-test-cache");
    PluginEngine::new(EngineSettings { cache_dir: Some(cache), ..Default::default() }).expect("engine")
}

fn limits() -> Limits {
    Limits { timeout: Duration::from_millis(500), memory_bytes: 32 << 20 }
}

async fn load(engine: &PluginEngine, config: serde_json::Value) -> Result<AdmissionPlugin, PluginError> {
    AdmissionPlugin::load(engine, "chaos", chaos(), config.to_string(), limits(), Arc::new(EmptyCluster)).await
}

fn pod_request() -> Request {
    common::pod_create("busybox")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_and_mutations_come_back() {
    let engine = engine();
    let allow = load(&engine, json!({})).await.expect("loads");
    assert!(allow.digest().starts_with("sha256:"));
    let verdict = allow.validate(&pod_request(), Arc::new(EmptyCluster)).await.expect("validates");
    assert!(verdict.allowed);

    let deny = load(&engine, json!({"validate": "deny", "message": "nope"})).await.expect("loads");
    let verdict = deny.validate(&pod_request(), Arc::new(EmptyCluster)).await.expect("validates");
    assert!(!verdict.allowed);
    assert_eq!(verdict.message.as_deref(), Some("nope"));

    let label = load(&engine, json!({"mutate": "add-label"})).await.expect("loads");
    let mutation = label.mutate(&pod_request(), Arc::new(EmptyCluster)).await.expect("mutates");
    assert!(matches!(mutation.change, Change::JsonPatch(_)), "a JSON patch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traps_timeouts_and_memory_hogs_are_plugin_errors() {
    let engine = engine();
    let trap = load(&engine, json!({"validate": "trap"})).await.expect("loads");
    let err = trap.validate(&pod_request(), Arc::new(EmptyCluster)).await.expect_err("traps");
    assert!(matches!(err, PluginError::Trap(_)), "{err:?}");

    let spin = load(&engine, json!({"validate": "loop"})).await.expect("loads");
    let started = Instant::now();
    let err = spin.validate(&pod_request(), Arc::new(EmptyCluster)).await.expect_err("times out");
    assert!(matches!(err, PluginError::Timeout(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "the deadline stopped it");

    let hog = load(&engine, json!({"validate": "hog"})).await.expect("loads");
    let err = hog.validate(&pod_request(), Arc::new(EmptyCluster)).await.expect_err("runs out");
    assert!(matches!(err, PluginError::OutOfMemory(32)), "{err:?}");

    // The same plugins still answer afterwards: every call has a fresh instance.
    let err = trap.validate(&pod_request(), Arc::new(EmptyCluster)).await.expect_err("traps again");
    assert!(matches!(err, PluginError::Trap(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_plugin_does_not_block_other_calls() {
    let engine = engine();
    let spin = Arc::new(load(&engine, json!({"validate": "loop"})).await.expect("loads"));
    let quick = load(&engine, json!({})).await.expect("loads");
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            let spin = spin.clone();
            tokio::spawn(async move { spin.validate(&pod_request(), Arc::new(EmptyCluster)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let verdict = quick.validate(&pod_request(), Arc::new(EmptyCluster)).await.expect("answers");
    assert!(verdict.allowed);
    for s in spinners {
        assert!(matches!(s.await.expect("joins"), Err(PluginError::Timeout(_))));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_init_or_a_non_component_does_not_load() {
    let engine = engine();
    match load(&engine, json!({"init": "fail"})).await {
        Err(PluginError::Returned { .. }) => {}
        other => panic!("expected the plugin's own error, got {:?}", other.err()),
    }
    let core_module: Arc<[u8]> = Arc::from(&b"\0asm\x01\0\0\0"[..]);
    let err = AdmissionPlugin::load(&engine, "core", core_module, "{}".into(), limits(), Arc::new(EmptyCluster))
        .await
        .err()
        .expect("a core module is not a component");
    assert!(matches!(err, PluginError::Load(_)), "{err:?}");
    let too_big = Limits { memory_bytes: engine.settings().max_memory_bytes + 1, ..limits() };
    let err = AdmissionPlugin::load(&engine, "big", chaos(), "{}".into(), too_big, Arc::new(EmptyCluster))
        .await
        .err()
        .expect("over the engine's maximum");
    assert!(matches!(err, PluginError::Load(_)));
}
