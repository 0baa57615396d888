//! The yardstick: a single-member etcd on loopback (Debian's `etcd-server`),
//! written to through its JSON gRPC gateway (`POST /v3/kv/put`) with the same
//! client count and value bytes as skiff's create phase.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use http::Method;
use serde_json::json;
use tokio::process::Command;

use crate::conn::{Client, Endpoint};
use crate::kube;
use crate::load::Worker;
use crate::proc::{find_program, free_port, Managed};

const INSTALL_HINT: &str = "install it with `apt-get install -y --no-install-recommends etcd-server` \
     (tests/run does), pass --etcd PATH, or skip this part with --skip-etcd";

pub struct Etcd {
    process: Managed,
    pub endpoint: Endpoint,
}

pub async fn start(bin: &Path, timeout: Duration) -> anyhow::Result<Etcd> {
    let Some(bin) = find_program(bin) else {
        bail!("etcd binary {} not found; {INSTALL_HINT}", bin.display());
    };
    let dir = tempfile::Builder::new().prefix("skiff-bench-etcd-").tempdir().context("creating a temp dir")?;
    let client_url = format!("http://127.0.0.1:{}", free_port()?);
    let peer_url = format!("http://127.0.0.1:{}", free_port()?);
    let mut cmd = Command::new(&bin);
    cmd.arg("--name")
        .arg("default")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--listen-client-urls")
        .arg(&client_url)
        .arg("--advertise-client-urls")
        .arg(&client_url)
        .arg("--listen-peer-urls")
        .arg(&peer_url)
        .arg("--initial-advertise-peer-urls")
        .arg(&peer_url)
        .arg("--initial-cluster")
        .arg(format!("default={peer_url}"))
        .arg("--initial-cluster-state")
        .arg("new");
    // ETCD_* variables in the caller's environment would override the flags above.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ETCD_") {
            cmd.env_remove(&key);
        }
    }
    let mut process = Managed::spawn("etcd", cmd, dir, false)?;
    let endpoint = Endpoint::new(&client_url, None, None)?;

    let deadline = Instant::now() + timeout;
    let mut client = Client::new(endpoint.clone());
    loop {
        if let Some(status) = process.exited() {
            bail!("etcd exited during startup ({status})\n{}", process.log_tail(30));
        }
        if let Ok(reply) = client.call(Method::GET, "/health", None).await {
            if reply.status.is_success() && String::from_utf8_lossy(&reply.body).contains("\"true\"") {
                break;
            }
        }
        if Instant::now() > deadline {
            bail!("etcd was not healthy within {timeout:?}\n{}", process.log_tail(30));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Etcd { process, endpoint })
}

impl Etcd {
    /// SIGTERM by pid, then its dir is removed.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.process.stop().await?;
        Ok(())
    }

    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        self.process.ensure_running()
    }

    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }
}

/// One client putting keys `/bench/cm-<ticket>` with a ConfigMap body as value.
pub struct Put {
    client: Client,
    value: String,
}

impl Put {
    pub fn new(endpoint: Endpoint, value: String) -> Put {
        Put { client: Client::new(endpoint), value }
    }
}

impl Worker for Put {
    async fn run(&mut self, ticket: u64) -> Result<(), String> {
        let name = format!("{}{ticket:07}", kube::NAME_PREFIX);
        let value = kube::configmap(&name, &self.value, None);
        let body = json!({
            "key": B64.encode(format!("/{}/{name}", kube::NAMESPACE)),
            "value": B64.encode(&value),
        });
        self.client.expect_ok(Method::POST, "/v3/kv/put", Some(Bytes::from(body.to_string()))).await.map(|_| ())
    }
}
