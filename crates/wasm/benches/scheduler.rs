//! Scheduling decision cost, the default policy in wasm against the same
//! source compiled natively, side by side:
//! `cargo bench -p skiff-wasm --bench scheduler [-- FILE.wasm]` (default: the
//! built default-scheduler component; relative paths from the repository root).
//!
//! For 100, 1,000 and 5,000 nodes (4 CPU, 16 GiB, 110 pods, three zones):
//! the time to send every node (`set-nodes`), then pods of one owner
//! (100m CPU, 128 MiB) placed in batches of 64 as the host's loop does —
//! pods/s, the best of three rounds — and one at a time — per-pod latency
//! p50/p99. Each placement
//! counts against the nodes, so the cluster fills as it runs. The wasm
//! figures include converting the views to WIT records and back, as in the server.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster;
use skiff_wasm::scheduler::{SchedulerInstance, SchedulerPlugin};
use skiff_wasm::scheduling::model::{Node, Placement, Pod};
use skiff_wasm::scheduling::{Config, Policy};
use skiff_wasm::{EmptyCluster, EngineSettings, Limits, PluginEngine};

const BATCH: usize = 64;
/// Pods placed per measurement (fewer than the nodes can take at 100 nodes).
fn pods_for(nodes: usize) -> usize {
    (nodes * 20).clamp(2_000, 20_000)
}
const SINGLES: usize = 1_000;
const ROUNDS: usize = 3;

enum Subject {
    Native(Policy),
    Wasm(SchedulerInstance),
}

impl Subject {
    async fn set_nodes(&mut self, nodes: &[Node]) {
        match self {
            Subject::Native(p) => p.set_nodes(nodes.to_vec()),
            Subject::Wasm(i) => i.set_nodes(nodes).await.expect("set-nodes"),
        }
    }

    async fn schedule(&mut self, pods: &[Pod]) -> Vec<Placement> {
        match self {
            Subject::Native(p) => p.schedule(pods),
            Subject::Wasm(i) => i.schedule(pods).await.expect("schedule"),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Figures {
    set_nodes: Duration,
    rate: f64,
    p50: Duration,
    p99: Duration,
}

async fn measure(subject: &mut Subject, nodes: &[Node]) -> Figures {
    let t = Instant::now();
    subject.set_nodes(nodes).await;
    let set_nodes = t.elapsed();
    let total = pods_for(nodes.len());
    let pods: Vec<Pod> = (0..total).map(cluster::pod).collect();
    // The best of a few rounds, each on an empty cluster: this machine is noisy.
    let mut rate: f64 = 0.0;
    for round in 0..ROUNDS {
        if round > 0 {
            subject.set_nodes(nodes).await;
        }
        let started = Instant::now();
        let mut placed = 0;
        for batch in pods.chunks(BATCH) {
            placed += subject.schedule(batch).await.iter().filter(|p| p.node.is_some()).count();
        }
        rate = rate.max(total as f64 / started.elapsed().as_secs_f64());
        assert_eq!(placed, total, "every pod should fit");
    }
    // Per-pod latency on a fresh cluster, one pod per call.
    subject.set_nodes(nodes).await;
    let mut latencies = Vec::with_capacity(SINGLES);
    for i in 0..SINGLES {
        let pod = [cluster::pod(total + i)];
        let t = Instant::now();
        subject.schedule(&pod).await;
        latencies.push(t.elapsed());
    }
    latencies.sort();
    Figures { set_nodes, rate, p50: percentile(&latencies, 0.5), p99: percentile(&latencies, 0.99) }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let arg = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let file = match arg {
        Some(path) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path),
        None => common::plugins_dir().join("default_scheduler.wasm"),
    };
    let module: Arc<[u8]> = std::fs::read(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display())).into();
    let engine = PluginEngine::new(EngineSettings::default()).expect("engine");
    let limits = Limits { timeout: Duration::from_secs(30), memory_bytes: 512 << 20 };
    let t = Instant::now();
    let plugin =
        SchedulerPlugin::load(&engine, "default-scheduler", module, "{}".into(), limits, Arc::new(EmptyCluster))
            .await
            .expect("load the default-scheduler component");
    println!("default-scheduler: compile + instantiate + init {:.2}s ({})", t.elapsed().as_secs_f64(), file.display());
    println!(
        "{:>6} {:>7} {:>12} {:>12} {:>10} {:>10} {:>7}",
        "nodes", "policy", "set-nodes", "pods/s", "p50", "p99", "ratio"
    );
    for count in [100, 1_000, 5_000] {
        let nodes = cluster::nodes(count);
        let native = measure(&mut Subject::Native(Policy::new(Config::default())), &nodes).await;
        let instance = plugin.instance().await.expect("instance");
        let wasm = measure(&mut Subject::Wasm(instance), &nodes).await;
        for (name, f) in [("native", &native), ("wasm", &wasm)] {
            let ratio = if name == "wasm" { format!("{:.2}x", native.rate / wasm.rate) } else { String::new() };
            println!(
                "{count:>6} {name:>7} {:>10.2}ms {:>12.0} {:>8.1}µs {:>8.1}µs {ratio:>7}",
                f.set_nodes.as_secs_f64() * 1e3,
                f.rate,
                f.p50.as_secs_f64() * 1e6,
                f.p99.as_secs_f64() * 1e6,
            );
        }
    }
}
