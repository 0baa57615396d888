//! The agent's main loop: registration, heartbeat, the pods, the stream server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use skiff_images::ImageStore;
use skiff_runtime::Runtime;

use crate::client::Client;
use crate::events::Recorder;
use crate::node::{self, NodeInfo};
use crate::pods::{Manager, Shared};

/// Everything an agent needs to run.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub server: String,
    pub token: String,
    pub ca_pem: Option<Vec<u8>>,
    pub node_name: String,
    /// Where the agent serves logs and exec for the API server (port 0: any).
    pub listen: SocketAddr,
    /// The address the API server reaches `listen` at.
    pub address: String,
    pub data_dir: PathBuf,
    /// The program (and leading arguments) that runs the shim: `skiff shim`.
    pub shim: Vec<std::ffi::OsString>,
    pub max_pods: u64,
    /// The most processes one container may have.
    pub pids_limit: Option<i64>,
    /// Registries reached over plain HTTP (loopback always is).
    pub insecure_registries: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{0}")]
    Setup(String),
}

fn setup<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> AgentError {
    move |e| AgentError::Setup(format!("{what}: {e}"))
}

/// Runs the agent until `shutdown` turns true. Containers keep running after it returns.
pub async fn run(config: AgentConfig, shutdown: tokio::sync::watch::Receiver<bool>) -> Result<(), AgentError> {
    let client =
        Client::new(&config.server, &config.token, config.ca_pem.as_deref()).map_err(setup("the API client"))?;
    let runtime = Runtime::new(config.data_dir.join("runtime"), config.shim.clone()).map_err(setup("the runtime"))?;
    let images = ImageStore::open(&config.data_dir.join("images")).map_err(setup("the image store"))?;
    images.set_insecure_registries(config.insecure_registries.clone());
    let listener = tokio::net::TcpListener::bind(config.listen).await.map_err(setup("the agent's listener"))?;
    let port = listener.local_addr().map_err(setup("the agent's listener"))?.port();
    let info =
        NodeInfo { name: config.node_name.clone(), address: config.address.clone(), port, max_pods: config.max_pods };
    // The API server may still be starting: retry registration for a while.
    let mut tries = 0;
    loop {
        match node::register(&client, &info, &config.data_dir).await {
            Ok(()) => break,
            Err(e) if tries < 60 => {
                tries += 1;
                tracing::debug!(error = %e, "registering the node");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(AgentError::Setup(format!("registering node {}: {e}", info.name))),
        }
    }
    let status = node::status(&info, &config.data_dir);
    let cpu_milli = status["allocatable"]["cpu"].as_str().and_then(|c| c.parse::<u64>().ok()).unwrap_or(1) * 1000;
    let memory = status["allocatable"]["memory"]
        .as_str()
        .and_then(|m| m.trim_end_matches("Ki").parse::<u64>().ok())
        .unwrap_or(0)
        * 1024;
    let storage = status["allocatable"]["ephemeral-storage"]
        .as_str()
        .and_then(|m| m.trim_end_matches("Ki").parse::<u64>().ok())
        .unwrap_or(0)
        * 1024;
    let shared = Arc::new(Shared {
        client: client.clone(),
        runtime,
        images: Arc::new(images),
        events: Arc::new(Recorder::new(client.clone(), config.node_name.clone())),
        node: config.node_name.clone(),
        host_ip: config.address.clone(),
        data_dir: config.data_dir.clone(),
        allocatable: (cpu_milli, memory),
        allocatable_storage: storage,
        pids_limit: config.pids_limit,
        cgroup_parent: "skiff".into(),
        stats: Default::default(),
    });
    let manager = Manager::new(shared);
    tokio::spawn(crate::server::serve(listener, Arc::new(config.token.clone()), manager.clone(), shutdown.clone()));
    tokio::spawn(heartbeat(client, info, config.data_dir.clone(), shutdown.clone()));
    tracing::info!(node = %config.node_name, port, "node agent running");
    manager.run(shutdown).await;
    Ok(())
}

async fn heartbeat(
    client: Client,
    info: NodeInfo,
    data_dir: PathBuf,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let uid = client
            .get_opt(&format!("/api/v1/nodes/{}", info.name))
            .await
            .ok()
            .flatten()
            .and_then(|n| n["metadata"]["uid"].as_str().map(str::to_string));
        if uid.is_none() {
            // Someone deleted the Node: register it again, as the kubelet does.
            let _ = node::register(&client, &info, &data_dir).await;
        } else if let Err(e) = node::report(&client, &info, &data_dir).await {
            tracing::warn!(error = %e, "reporting the node status");
        }
        if let Err(e) = node::renew_lease(&client, &info.name, uid.as_deref()).await {
            tracing::warn!(error = %e, "renewing the node lease");
        }
        tokio::select! {
            _ = tokio::time::sleep(node::RENEW_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}
