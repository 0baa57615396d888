//! Admission plugin call cost: `cargo bench -p skiff-wasm --bench admission -- [NAME=FILE.wasm[:CONFIG_JSON]]...`
//! (relative paths are taken from the repository root).
//!
//! For each plugin: the one-time load (compile or cache hit, instantiate,
//! init), then sequential `validate` calls on a small Pod for a few seconds
//! (each a fresh instance + init + validate, as in the server), reported as
//! calls/s and p50/p99 latency, and the same with two calls in parallel.
//! Without arguments it measures the `chaos` test plugin (allow).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use skiff_wasm::admission::AdmissionPlugin;
use skiff_wasm::{EmptyCluster, EngineSettings, Limits, PluginEngine};

const PHASE: Duration = Duration::from_secs(3);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure(plugin: Arc<AdmissionPlugin>, parallel: usize) -> (f64, Duration, Duration) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..parallel)
        .map(|_| {
            let plugin = plugin.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let req = common::pod_create("reg.example.com/web:1");
                while started.elapsed() < PHASE {
                    let t = Instant::now();
                    plugin.validate(&req, Arc::new(EmptyCluster)).await.expect("validate");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("join"));
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort();
    (rate, percentile(&all, 0.5), percentile(&all, 0.99))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let specs: Vec<(String, PathBuf, String)> = if args.is_empty() {
        vec![("chaos (Rust, allow)".into(), common::plugins_dir().join("chaos.wasm"), "{}".into())]
    } else {
        args.iter()
            .map(|a| {
                let (name, rest) = a.split_once('=').expect("NAME=FILE.wasm[:CONFIG]");
                let (file, config) = rest.split_once(':').unwrap_or((rest, "{}"));
                let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
                (name.to_string(), root.join(file), config.to_string())
            })
            .collect()
    };
    let engine = PluginEngine::new(EngineSettings::default()).expect("engine");
    let limits = Limits { timeout: Duration::from_secs(10), memory_bytes: 256 << 20 };
    println!(
        "{:<28} {:>9} {:>10} {:>12} {:>10} {:>10} {:>12}",
        "plugin", "size MiB", "load ms", "calls/s", "p50 µs", "p99 µs", "calls/s ×2"
    );
    for (name, file, config) in specs {
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let size = bytes.len() as f64 / (1 << 20) as f64;
        let t = Instant::now();
        let plugin = AdmissionPlugin::load(&engine, &name, Arc::from(bytes), config, limits, Arc::new(EmptyCluster))
            .await
            .expect("load");
        let load_ms = t.elapsed().as_secs_f64() * 1e3;
        let plugin = Arc::new(plugin);
        let (rate, p50, p99) = measure(plugin.clone(), 1).await;
        let (rate2, _, _) = measure(plugin, 2).await;
        println!(
            "{name:<28} {size:>9.2} {load_ms:>10.0} {rate:>12.0} {:>10.0} {:>10.0} {rate2:>12.0}",
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6
        );
    }
}
