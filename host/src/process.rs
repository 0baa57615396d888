//! What every skiff process shares: where it keeps its data and how it
//! learns it should stop.

use std::path::PathBuf;

/// `/var/lib/skiff` for root, else `~/.local/share/skiff`.
pub fn default_data_dir() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/skiff");
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".local/share/skiff"))
        .unwrap_or_else(|| PathBuf::from(".skiff"))
}

/// Returns on SIGTERM or Ctrl-C.
pub async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
