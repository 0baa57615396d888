//! `skiff-bench scheduler`: the end-to-end scheduling rate — bindings
//! persisted through the API and seen on a watch — with the default policy
//! in wasm and, in the same run, the same policy source compiled into the
//! host (`skiff server --native-scheduler`), so the wasm cost is a ratio.
//!
//! For each node count and policy: a fresh server; `skiff dev nodes`
//! registers the simulated nodes (4 CPU, 16 GiB, 110 pods, three zones);
//! the pods (100m CPU, 128 MiB) are created for a scheduler that does not
//! exist yet (`schedulerName: bench`), so they wait; then a WasmPlugin
//! brings up that profile and the clock runs until a watch has seen every
//! pod bound. Then pods are created one at a time with the scheduler
//! running, for the per-pod latency from the create being sent to the
//! binding arriving on the watch.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use http::Method;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::conn::{Client, Endpoint};
use crate::kube::KubeConfig;
use crate::skiff;

#[derive(clap::Args, Debug, Clone)]
pub struct SchedulerArgs {
    /// The skiff binary to start.
    #[arg(long, default_value = "target/release/skiff")]
    skiff: PathBuf,
    /// Node counts to measure at (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [100, 1_000, 5_000])]
    nodes: Vec<usize>,
    /// Pods to schedule per run (at most 30 per node, so they all fit).
    #[arg(long, default_value_t = 10_000)]
    pods: usize,
    /// Pods created one at a time afterwards, for the per-pod latency.
    #[arg(long, default_value_t = 200)]
    latency_pods: usize,
    /// Concurrent connections creating pods.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// How long one run may take to bind every pod.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    #[arg(long, default_value_t = 120)]
    startup_timeout: u64,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize, Debug)]
pub struct Run {
    nodes: usize,
    policy: &'static str,
    pods: usize,
    /// From the profile's WasmPlugin being created to the first binding seen.
    first_binding_s: f64,
    /// Pods bound per second, first binding to last.
    pods_per_s: f64,
    /// Per-pod latency, create sent to binding seen, one pod at a time.
    latency_p50_ms: f64,
    latency_p99_ms: f64,
}

pub async fn run(args: SchedulerArgs) -> anyhow::Result<()> {
    let mut runs = Vec::new();
    for &nodes in &args.nodes {
        for policy in ["wasm", "native"] {
            eprintln!("== {nodes} nodes, {policy} policy");
            runs.push(one(&args, nodes, policy).await?);
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(());
    }
    println!(
        "{:>6} {:>7} {:>7} {:>12} {:>10} {:>12} {:>12} {:>14}",
        "nodes", "policy", "pods", "first bind", "pods/s", "latency p50", "latency p99", "native/wasm"
    );
    for pair in runs.chunks(2) {
        for r in pair {
            let ratio = match (r.policy, pair.get(1)) {
                ("wasm", Some(native)) => format!("{:.2}x", native.pods_per_s / r.pods_per_s),
                _ => String::new(),
            };
            println!(
                "{:>6} {:>7} {:>7} {:>11.2}s {:>10.0} {:>10.1}ms {:>10.1}ms {:>14}",
                r.nodes, r.policy, r.pods, r.first_binding_s, r.pods_per_s, r.latency_p50_ms, r.latency_p99_ms, ratio
            );
        }
    }
    Ok(())
}

fn pod(name: &str) -> Bytes {
    Bytes::from(
        serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {
                "schedulerName": "bench",
                "containers": [{"name": "c", "image": "registry.local/bench:1",
                                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}],
            },
        })
        .to_string(),
    )
}

const PODS: &str = "/api/v1/namespaces/default/pods";

async fn one(args: &SchedulerArgs, nodes: usize, policy: &'static str) -> anyhow::Result<Run> {
    // Simulated nodes only: no agent registers this machine as a node.
    let extra: &[&str] = if policy == "native" { &["--native-scheduler", "--no-agent"] } else { &["--no-agent"] };
    let server = skiff::start(&args.skiff, Duration::from_secs(args.startup_timeout), extra).await?;
    let endpoint = KubeConfig::load(&server.kubeconfig)?.endpoint(false)?;

    let started = Instant::now();
    let status = tokio::process::Command::new(&args.skiff)
        .args(["dev", "nodes", "--zones", "3", "--count", &nodes.to_string(), "--kubeconfig"])
        .arg(&server.kubeconfig)
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .context("running skiff dev nodes")?;
    if !status.success() {
        bail!("skiff dev nodes failed ({status})");
    }
    eprintln!("{nodes} nodes registered in {:.1}s", started.elapsed().as_secs_f64());

    let count = args.pods.min(nodes * 30);
    let started = Instant::now();
    create_pods(&endpoint, count, args.clients).await?;
    eprintln!("{count} pods created in {:.1}s", started.elapsed().as_secs_f64());

    let (bound_tx, mut bound) = mpsc::unbounded_channel();
    // (pod name, arrival) for every event that shows a pod with a node.
    let watch =
        tokio::spawn(skiff::watch_pods(endpoint.clone(), format!("{PODS}?watch=true"), bound_tx, |pod: EventPod| {
            let bound = pod.spec.and_then(|s| s.node_name).is_some_and(|n| !n.is_empty());
            bound.then(|| pod.metadata.and_then(|m| m.name)).flatten()
        }));
    // The watch is open once it reports its start.
    bound.recv().await.context("the watch did not start")?;

    let mut client = Client::new(endpoint.clone());
    let plugin = serde_json::json!({
        "apiVersion": "plugins.skiff.dev/v1alpha1", "kind": "WasmPlugin",
        "metadata": {"name": "bench"},
        "spec": {"world": "scheduler", "module": "builtin:default-scheduler", "scheduler": {"schedulerName": "bench"}},
    });
    let t0 = Instant::now();
    client
        .expect_ok(Method::POST, "/apis/plugins.skiff.dev/v1alpha1/wasmplugins", Some(Bytes::from(plugin.to_string())))
        .await
        .map_err(|e| anyhow::anyhow!("creating the bench profile: {e}"))?;
    let deadline = t0 + Duration::from_secs(args.timeout);
    let mut seen = HashSet::with_capacity(count);
    let (mut first, mut last) = (None, t0);
    while seen.len() < count {
        let next = tokio::time::timeout_at(deadline.into(), bound.recv()).await;
        let Ok(Some((name, at))) = next else {
            bail!("only {} of {count} pods were bound within {}s", seen.len(), args.timeout);
        };
        if seen.insert(name) {
            first.get_or_insert(at);
            last = at;
        }
    }
    let first = first.unwrap_or(t0);
    let pods_per_s = (count.saturating_sub(1)) as f64 / last.duration_since(first).as_secs_f64().max(1e-9);
    eprintln!("{count} pods bound: {pods_per_s:.0} pods/s");

    let mut latencies = Vec::with_capacity(args.latency_pods);
    for i in 0..args.latency_pods {
        let name = format!("latency-{i}");
        let sent = Instant::now();
        client.expect_ok(Method::POST, PODS, Some(pod(&name))).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        loop {
            match tokio::time::timeout(Duration::from_secs(30), bound.recv()).await {
                Ok(Some((n, at))) if n == name => {
                    latencies.push(at.duration_since(sent));
                    break;
                }
                Ok(Some(_)) => continue,
                _ => bail!("pod {name} was not bound within 30s"),
            }
        }
    }
    watch.abort();
    latencies.sort();
    let pct = |p: f64| {
        latencies.get(((latencies.len() as f64 - 1.0) * p).round() as usize).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let run = Run {
        nodes,
        policy,
        pods: count,
        first_binding_s: first.duration_since(t0).as_secs_f64(),
        pods_per_s,
        latency_p50_ms: pct(0.5),
        latency_p99_ms: pct(0.99),
    };
    server.process.stop().await?;
    Ok(run)
}

async fn create_pods(endpoint: &Endpoint, count: usize, clients: usize) -> anyhow::Result<()> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..clients.max(1) {
        let (next, endpoint) = (next.clone(), endpoint.clone());
        workers.push(tokio::spawn(async move {
            let mut client = Client::new(endpoint);
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    return Ok::<(), anyhow::Error>(());
                }
                client
                    .expect_ok(Method::POST, PODS, Some(pod(&format!("bench-{i:06}"))))
                    .await
                    .map_err(|e| anyhow::anyhow!("creating pod {i}: {e}"))?;
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    Ok(())
}

#[derive(Deserialize)]
struct EventPod {
    metadata: Option<Named>,
    spec: Option<Spec>,
}

#[derive(Deserialize)]
struct Named {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Spec {
    #[serde(rename = "nodeName")]
    node_name: Option<String>,
}
