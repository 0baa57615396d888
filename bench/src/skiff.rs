//! Running the skiff server under test: a fresh data dir (SQLite store) and a
//! free loopback port, ready once it prints `export KUBECONFIG=...`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::proc::{free_port, Managed};

pub struct Skiff {
    pub process: Managed,
    pub kubeconfig: PathBuf,
}

pub async fn start(bin: &Path, startup_timeout: Duration, extra_args: &[&str]) -> anyhow::Result<Skiff> {
    if !bin.is_file() {
        bail!(
            "skiff binary {} not found; build it first with `cargo build --release -p skiff` \
             (or `cargo build -p skiff` and pass --skiff target/debug/skiff)",
            bin.display()
        );
    }
    let dir = tempfile::Builder::new().prefix("skiff-bench-").tempdir().context("creating a temp dir")?;
    let data_dir = dir.path().join("data");
    launch(bin, dir, data_dir, startup_timeout, extra_args).await
}

/// Like [`start`], on a data dir the caller prepared (images imported) and
/// keeps: it outlives the server, so `skiff node reset` can still run on it.
pub async fn start_on(
    bin: &Path,
    data_dir: &Path,
    startup_timeout: Duration,
    extra_args: &[&str],
) -> anyhow::Result<Skiff> {
    let dir = tempfile::Builder::new().prefix("skiff-bench-").tempdir().context("creating a temp dir")?;
    launch(bin, dir, data_dir.to_path_buf(), startup_timeout, extra_args).await
}

async fn launch(
    bin: &Path,
    dir: tempfile::TempDir,
    data_dir: PathBuf,
    startup_timeout: Duration,
    extra_args: &[&str],
) -> anyhow::Result<Skiff> {
    let listen = format!("127.0.0.1:{}", free_port()?);
    let mut cmd = Command::new(bin);
    cmd.arg("server").arg("--data-dir").arg(&data_dir).arg("--listen").arg(&listen).args(extra_args);
    // The server's own environment variables must not point it elsewhere.
    cmd.env_remove("SKIFF_DATA_DIR").env_remove("SKIFF_DATASTORE");
    let mut process = Managed::spawn("skiff", cmd, dir, true)?;
    let stdout = process.take_stdout().context("skiff's stdout was not piped")?;
    let mut lines = BufReader::new(stdout).lines();

    let wait = async {
        while let Some(line) = lines.next_line().await? {
            if let Some(path) = line.trim().strip_prefix("export KUBECONFIG=") {
                return anyhow::Ok(Some(PathBuf::from(path.trim_matches(|c| c == '"' || c == '\''))));
            }
        }
        Ok(None)
    };
    let kubeconfig = match tokio::time::timeout(startup_timeout, wait).await {
        Ok(Ok(Some(path))) => path,
        Ok(Ok(None)) => bail!("skiff exited before it was ready ({:?})\n{}", process.exited(), process.log_tail(30)),
        Ok(Err(e)) => bail!("reading skiff's output: {e}\n{}", process.log_tail(30)),
        Err(_) => bail!("skiff printed no `export KUBECONFIG=` within {startup_timeout:?}\n{}", process.log_tail(30)),
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    let stdout_log = process.dir().join("skiff.stdout.log");
    tokio::spawn(async move {
        let Ok(mut file) = tokio::fs::File::create(&stdout_log).await else { return };
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = file.write_all(line.as_bytes()).await;
            let _ = file.write_all(b"\n").await;
        }
    });
    let kubeconfig = if kubeconfig.is_file() { kubeconfig } else { data_dir.join("kubeconfig") };
    Ok(Skiff { process, kubeconfig })
}

/// Watches pods (`path` carries `watch=true` and any selector): sends ("",
/// now) once the watch is open, then (name, arrival) for every event whose
/// pod `pick` names. `T` is what of a pod `pick` needs, decoded from each event.
pub async fn watch_pods<T: serde::de::DeserializeOwned>(
    endpoint: crate::conn::Endpoint,
    path: String,
    tx: tokio::sync::mpsc::UnboundedSender<(String, std::time::Instant)>,
    pick: impl Fn(T) -> Option<String>,
) -> anyhow::Result<()> {
    use http_body_util::BodyExt;

    #[derive(serde::Deserialize)]
    struct Event<T> {
        object: Option<T>,
    }

    let mut conn = endpoint.connect().await?;
    let resp = conn.send(http::Method::GET, &path, None).await?;
    if !resp.status().is_success() {
        bail!("watching pods: HTTP {}", resp.status());
    }
    let _ = tx.send((String::new(), std::time::Instant::now()));
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else { continue };
        let at = std::time::Instant::now();
        buf.extend_from_slice(&data);
        while let Some(end) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            let Ok(Event { object: Some(pod) }) = serde_json::from_slice::<Event<T>>(&line) else { continue };
            if let Some(name) = pick(pod) {
                let _ = tx.send((name, at));
            }
        }
    }
    Ok(())
}
