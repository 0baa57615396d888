//! `skiff dev nodes`: registers simulated nodes — Node objects with the
//! capacity, labels and taints you give, Ready, and run by no agent (like
//! kwok) — so scheduling can be tried and measured at any scale. Pods
//! bound to them stay Pending, as nothing runs them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail};
use serde_json::{json, Value};

use super::Client;

/// The label every simulated node carries (and `--delete` selects on).
pub const SIMULATED: &str = "skiff.dev/simulated";

#[derive(clap::Subcommand, Debug)]
pub enum DevCommand {
    /// Register (or with --delete, remove) simulated nodes.
    Nodes(NodesArgs),
}

#[derive(clap::Args, Debug)]
pub struct NodesArgs {
    /// How many nodes: named PREFIX-00000, PREFIX-00001, ...
    #[arg(long, default_value_t = 3)]
    pub count: usize,
    #[arg(long, default_value = "sim")]
    pub prefix: String,
    /// Allocatable CPU of each node (a quantity: 4, 3500m).
    #[arg(long, default_value = "4")]
    pub cpu: String,
    /// Allocatable memory of each node.
    #[arg(long, default_value = "16Gi")]
    pub memory: String,
    /// How many pods each node takes.
    #[arg(long, default_value_t = 110)]
    pub pods: u32,
    /// Spread the nodes over this many zones (label topology.kubernetes.io/zone=zone-N).
    #[arg(long, default_value_t = 1)]
    pub zones: usize,
    /// Extra labels for every node: key=value (repeatable).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Taints for every node: key=value:Effect or key:Effect (repeatable).
    #[arg(long = "taint")]
    pub taints: Vec<String>,
    /// Extended resources for every node: name=count (repeatable), e.g. example.com/gpu=4.
    #[arg(long = "extended")]
    pub extended: Vec<String>,
    /// Remove every simulated node with this prefix instead.
    #[arg(long)]
    pub delete: bool,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    pub parallel: usize,
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
}

pub async fn run(cmd: DevCommand) -> anyhow::Result<()> {
    match cmd {
        DevCommand::Nodes(args) => nodes(args).await,
    }
}

fn key_value(text: &str, what: &str) -> anyhow::Result<(String, String)> {
    let (k, v) = text.split_once('=').ok_or_else(|| anyhow!("{what} {text:?}: write key=value"))?;
    Ok((k.trim().to_string(), v.trim().to_string()))
}

fn taint(text: &str) -> anyhow::Result<Value> {
    let (kv, effect) = text.rsplit_once(':').ok_or_else(|| anyhow!("taint {text:?}: write key=value:Effect"))?;
    if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        bail!("taint {text:?}: the effect must be NoSchedule, PreferNoSchedule or NoExecute");
    }
    let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
    Ok(json!({"key": key, "value": value, "effect": effect}))
}

/// The Node object for simulated node `i`.
fn node(args: &NodesArgs, i: usize) -> anyhow::Result<Value> {
    let name = format!("{}-{i:05}", args.prefix);
    let mut labels = json!({
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": "simulated",
        SIMULATED: "true",
    });
    if args.zones > 1 {
        labels["topology.kubernetes.io/zone"] = json!(format!("zone-{}", i % args.zones));
    }
    for l in &args.labels {
        let (k, v) = key_value(l, "label")?;
        labels[k] = json!(v);
    }
    let mut resources = json!({
        "cpu": args.cpu, "memory": args.memory, "pods": args.pods.to_string(), "ephemeral-storage": "100Gi",
    });
    for e in &args.extended {
        let (k, v) = key_value(e, "extended resource")?;
        resources[k] = json!(v);
    }
    let taints: Vec<Value> = args.taints.iter().map(|t| taint(t)).collect::<anyhow::Result<_>>()?;
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": {"skiff.dev/simulated-by": "skiff dev nodes"}},
        "spec": {"taints": taints},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "SimulatedNodeReady",
                "message": "simulated by skiff dev nodes: no agent runs its pods",
                "lastHeartbeatTime": now, "lastTransitionTime": now,
            }],
            "nodeInfo": {
                "architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "v1.37.0-skiff-simulated",
                "containerRuntimeVersion": "simulated", "kernelVersion": "", "osImage": "simulated",
                "machineID": "", "systemUUID": "", "bootID": "", "kubeProxyVersion": "",
            },
        },
    }))
}

async fn nodes(args: NodesArgs) -> anyhow::Result<()> {
    let client = Client::from_kubeconfig(args.kubeconfig.clone())?;
    if args.delete {
        let selector = format!("{SIMULATED}=true");
        let list = client.get(&format!("/api/v1/nodes?labelSelector={selector}")).await?.unwrap_or(Value::Null);
        let prefix = format!("{}-", args.prefix);
        let mut removed = 0;
        for item in list["items"].as_array().into_iter().flatten() {
            let name = item["metadata"]["name"].as_str().unwrap_or("");
            if name.starts_with(&prefix) {
                client.delete(&format!("/api/v1/nodes/{name}")).await?;
                removed += 1;
            }
        }
        println!("{removed} simulated node(s) removed");
        return Ok(());
    }
    // Check the flags once before sending anything.
    node(&args, 0)?;
    let args = Arc::new(args);
    let next = Arc::new(AtomicUsize::new(0));
    let (created, existed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.parallel.max(1) {
        let (client, args, next, created, existed) =
            (client.clone(), args.clone(), next.clone(), created.clone(), existed.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= args.count {
                    return Ok::<(), anyhow::Error>(());
                }
                let obj = node(&args, i)?;
                let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
                if client.get(&format!("/api/v1/nodes/{name}")).await?.is_some() {
                    existed.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                client.post_json("/api/v1/nodes", &obj).await?;
                let done = created.fetch_add(1, Ordering::Relaxed) + 1;
                if done % 1000 == 0 {
                    eprintln!("{done}/{} nodes registered…", args.count);
                }
            }
        }));
    }
    for w in workers {
        w.await.map_err(|e| anyhow!("a worker stopped: {e}"))??;
    }
    println!(
        "{} simulated node(s) registered, {} already there ({:.1}s)",
        created.load(Ordering::Relaxed),
        existed.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
