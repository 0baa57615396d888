//! Test scaffolding only, not an agent: serves the node agent's HTTP server
//! (`skiff_node::server::serve`) over host processes, so the end-to-end
//! tests can drive `kubectl logs/exec/attach/cp` through the API server
//! without a container runtime. Never run it anywhere but a test machine:
//! its "containers" are ordinary processes of the user who starts it.
//!
//! `fake_agent --dir DIR --token TOKEN [--port N]` listens on 127.0.0.1 and
//! prints `PORT=<port>` once it serves. Every exec runs in `DIR/root`;
//! `DIR/logs/NS_POD_CONTAINER.log` is a container's CRI log, followed while
//! `DIR/logs/NS_POD_CONTAINER.live` exists; attach runs `cat`.

#[path = "../tests/support/host_streams.rs"]
mod host_streams;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut dir = None;
    let mut token = None;
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--dir" => dir = Some(PathBuf::from(value()?)),
            "--token" => token = Some(value()?),
            "--port" => port = value()?.parse().context("--port")?,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let dir = dir.context("--dir is required")?;
    let token = token.context("--token is required")?;
    let streams = host_streams::HostStreams {
        root: dir.join("root"),
        log_dir: dir.join("logs"),
        attach_command: vec!["cat".into()],
    };
    std::fs::create_dir_all(&streams.root)?;
    std::fs::create_dir_all(&streams.log_dir)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("PORT={}", listener.local_addr()?.port());
    std::io::stdout().flush()?;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop.send(true);
    });
    skiff_node::server::serve(listener, Arc::new(token), Arc::new(streams), shutdown).await?;
    Ok(())
}
