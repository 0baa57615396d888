//! The node agent's commands: `skiff agent` joins a server as a node, the
//! server runs one for its own machine, `skiff node reset` stops and removes
//! every container of a node (the runtime's containers outlive the agent by
//! design, so something must end them on purpose), and `skiff shim` is the
//! per-container supervisor the runtime starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use skiff_node::AgentConfig;

#[derive(clap::Args, Debug, Clone)]
pub struct NodeArgs {
    /// The node's name (default: this machine's hostname).
    #[arg(long, env = "SKIFF_NODE_NAME")]
    pub node_name: Option<String>,
    /// Where the agent serves logs and exec to the API server.
    #[arg(long = "agent-listen")]
    pub agent_listen: Option<SocketAddr>,
    /// The address the API server reaches the agent at (default: the listen address, or
    /// when that is 0.0.0.0 the local address that leads to the server).
    #[arg(long = "node-ip")]
    pub node_ip: Option<String>,
    /// At most this many processes in a container (a fork bomb stops there).
    #[arg(long, default_value_t = 1024)]
    pub pod_max_pids: i64,
    /// Pods this node accepts.
    #[arg(long, default_value_t = 110)]
    pub max_pods: u64,
    /// Registries reached over plain HTTP (loopback ones always are).
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// The API server: https://HOST:PORT.
    #[arg(long)]
    pub server: String,
    /// A bearer token the server accepts (today: its admin token).
    #[arg(long, env = "SKIFF_TOKEN")]
    pub token: String,
    /// The cluster CA (the server's <data-dir>/pki/ca.crt).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Images, containers and pod state of this node.
    #[arg(long, env = "SKIFF_DATA_DIR", default_value_os_t = crate::process::default_data_dir())]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub node: NodeArgs,
}

fn hostname() -> String {
    nix::unistd::gethostname().map(|h| h.to_string_lossy().to_lowercase()).unwrap_or_else(|_| "skiff-node".into())
}

/// The runtime starts shims as `<this binary> shim …`.
fn shim_command() -> anyhow::Result<Vec<std::ffi::OsString>> {
    let exe = std::env::current_exe().context("locating the skiff binary for the shim")?;
    Ok(vec![exe.into_os_string(), "shim".into()])
}

/// The local address the kernel would use to reach the server (a UDP
/// connect sends nothing; it only picks the route).
fn route_to(server: &str) -> Option<String> {
    let authority = server.split("://").nth(1)?.split('/').next()?;
    let target = std::net::ToSocketAddrs::to_socket_addrs(authority).ok()?.next()?;
    let any: SocketAddr = if target.is_ipv4() { "0.0.0.0:0".parse().ok()? } else { "[::]:0".parse().ok()? };
    let socket = std::net::UdpSocket::bind(any).ok()?;
    socket.connect(target).ok()?;
    Some(socket.local_addr().ok()?.ip().to_string())
}

pub fn config(
    server: String,
    token: String,
    ca_pem: Option<Vec<u8>>,
    data_dir: &Path,
    node: &NodeArgs,
    default_listen: SocketAddr,
) -> anyhow::Result<AgentConfig> {
    let listen = node.agent_listen.unwrap_or(default_listen);
    let address = match &node.node_ip {
        Some(ip) => ip.clone(),
        None if listen.ip().is_unspecified() => route_to(&server).unwrap_or_else(|| "127.0.0.1".into()),
        None => listen.ip().to_string(),
    };
    Ok(AgentConfig {
        server,
        token,
        ca_pem,
        node_name: node.node_name.clone().unwrap_or_else(hostname),
        listen,
        address,
        data_dir: data_dir.to_path_buf(),
        shim: shim_command()?,
        max_pods: node.max_pods,
        pids_limit: Some(node.pod_max_pids).filter(|p| *p > 0),
        insecure_registries: node.insecure_registries.clone(),
    })
}

pub async fn run_agent(args: AgentArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir).with_context(|| format!("creating {}", args.data_dir.display()))?;
    let ca = match &args.ca_file {
        Some(f) => Some(std::fs::read(f).with_context(|| format!("reading {}", f.display()))?),
        None => None,
    };
    let config = config(args.server, args.token, ca, &args.data_dir, &args.node, "0.0.0.0:10250".parse()?)?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let agent = tokio::spawn(skiff_node::run(config, rx));
    tokio::select! {
        done = agent => done.context("the agent task")?.map_err(|e| anyhow::anyhow!("{e}"))?,
        _ = crate::process::wait_for_signal() => {
            tracing::info!("agent stopping; its containers keep running");
            let _ = tx.send(true);
        }
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct ResetArgs {
    #[arg(long, env = "SKIFF_DATA_DIR", default_value_os_t = crate::process::default_data_dir())]
    pub data_dir: PathBuf,
}

/// Kills and removes every container and pod sandbox of the node's data dir.
pub fn reset(args: ResetArgs) -> anyhow::Result<()> {
    let runtime = skiff_runtime::Runtime::new(args.data_dir.join("runtime"), shim_command()?)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let ids = runtime.list();
    // The pods' groups, emptied once their containers are gone.
    let pod_groups: std::collections::BTreeSet<String> = ids
        .iter()
        .filter_map(|id| runtime.spec(id).ok()?.cgroup.rsplit_once('/').map(|(parent, _)| parent.to_string()))
        .collect();
    for id in &ids {
        runtime.remove(id).map_err(|e| anyhow::anyhow!("removing container {id}: {e}"))?;
    }
    for group in &pod_groups {
        skiff_runtime::cgroups::remove_if_empty(group);
    }
    for uid in runtime.sandboxes() {
        let pod_dir = args.data_dir.join("pods").join(&uid);
        let _ = skiff_node::volumes::Volumes::tear_down(&pod_dir);
        runtime.remove_sandbox(&uid).map_err(|e| anyhow::anyhow!("removing the sandbox of pod {uid}: {e}"))?;
    }
    skiff_runtime::cgroups::remove_if_empty("skiff");
    println!("removed {} containers", ids.len());
    Ok(())
}
