//! The scheduler world: the default policy built to wasm decides exactly as
//! the same source compiled natively, an instance keeps its nodes between
//! calls, and bad modules or config fail with clear errors.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::cluster;
use skiff_wasm::scheduler::SchedulerPlugin;
use skiff_wasm::scheduling::model::{Pod, Taint, TaintEffect, Toleration, TolerationOperator};
use skiff_wasm::scheduling::{Config, Policy};
use skiff_wasm::{EmptyCluster, EngineSettings, ErrorCode, Limits, PluginEngine, PluginError};

fn limits() -> Limits {
    Limits { timeout: Duration::from_secs(10), memory_bytes: 256 << 20 }
}

async fn load(config: &str) -> Result<SchedulerPlugin, PluginError> {
    let engine = PluginEngine::new(EngineSettings::default()).expect("engine");
    let module: Arc<[u8]> = std::fs::read(common::plugins_dir().join("default_scheduler.wasm"))
        .expect("default_scheduler.wasm is built by tests/run")
        .into();
    SchedulerPlugin::load(&engine, "default-scheduler", module, config.into(), limits(), Arc::new(EmptyCluster)).await
}

/// A mix of pods that exercises most filters and scores.
fn mixed_pod(i: usize) -> Pod {
    let mut pod = cluster::pod(i);
    match i % 5 {
        0 => pod.node_selector = vec![("topology.kubernetes.io/zone".into(), "zone-1".into())],
        1 => {
            pod.tolerations = vec![Toleration {
                key: "dedicated".into(),
                operator: TolerationOperator::Exists,
                value: String::new(),
                effect: None,
            }]
        }
        2 => pod.requests.milli_cpu = 1500,
        3 => pod.owner_uid = Some(format!("owner-{}", i % 3)),
        _ => pod.requests.memory = 0,
    }
    pod
}

#[tokio::test]
async fn the_wasm_build_decides_exactly_as_the_native_build() {
    let plugin = load("{}").await.expect("load");
    let mut instance = plugin.instance().await.expect("instance");
    let mut native = Policy::new(Config::default());
    let mut nodes = cluster::nodes(150);
    for node in nodes.iter_mut().step_by(7) {
        node.taints.push(Taint { key: "dedicated".into(), value: "db".into(), effect: TaintEffect::NoSchedule });
    }
    nodes[3].unschedulable = true;
    instance.set_nodes(&nodes).await.expect("set-nodes");
    native.set_nodes(nodes.clone());
    let pods: Vec<Pod> = (0..600).map(mixed_pod).collect();
    for batch in pods.chunks(37) {
        let from_wasm = instance.schedule(batch).await.expect("schedule");
        assert_eq!(from_wasm, native.schedule(batch));
    }
    // A node changes in both: the next decisions still agree.
    let mut changed = nodes[10].clone();
    changed.labels.push(("disk".into(), "ssd".into()));
    instance.update_nodes(std::slice::from_ref(&changed), &[11]).await.expect("update-nodes");
    native.update_nodes(vec![changed], &[11]);
    let more: Vec<Pod> = (600..700).map(mixed_pod).collect();
    assert_eq!(instance.schedule(&more).await.expect("schedule"), native.schedule(&more));
}

#[tokio::test]
async fn a_pod_that_fits_nowhere_gets_every_nodes_reason() {
    let plugin = load(r#"{"percentageOfNodesToScore": 50}"#).await.expect("load");
    let mut instance = plugin.instance().await.expect("instance");
    instance.set_nodes(&cluster::nodes(3)).await.expect("set-nodes");
    let mut huge = cluster::pod(0);
    huge.requests.milli_cpu = 64_000;
    let placements = instance.schedule(&[huge]).await.expect("schedule");
    assert_eq!(placements[0].node, None);
    assert_eq!(placements[0].rejections.len(), 1);
    assert_eq!(placements[0].rejections[0].reason, "Insufficient cpu");
    assert_eq!(placements[0].rejections[0].nodes, 3);
    assert!(instance.usable());
}

#[tokio::test]
async fn bad_config_and_modules_of_another_world_are_refused() {
    match load(r#"{"scoringStrategy": "Random"}"#).await {
        Err(PluginError::Returned { code: ErrorCode::InvalidInput, message }) => {
            assert!(message.contains("scoringStrategy"), "{message}")
        }
        other => panic!("expected an invalid-input error, got {:?}", other.err()),
    }
    let engine = PluginEngine::new(EngineSettings::default()).expect("engine");
    let chaos: Arc<[u8]> = std::fs::read(common::plugins_dir().join("chaos.wasm")).expect("chaos.wasm").into();
    match SchedulerPlugin::load(&engine, "chaos", chaos, "{}".into(), limits(), Arc::new(EmptyCluster)).await {
        Err(PluginError::Load(message)) => assert!(message.contains("scheduler interface"), "{message}"),
        other => panic!("expected a load error, got {:?}", other.err()),
    }
}
