//! `skiff server`: opens the store, makes sure the built-in namespaces and
//! credentials exist, starts the controllers and serves the API over HTTPS
//! until SIGTERM or SIGINT.

pub mod pki;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;

use crate::api::{self, Api, HttpState};
use crate::metrics::Metrics;
use crate::resources::ResourceType;
use crate::store::Store;

#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// Where skiff keeps its state (store, PKI, kubeconfig).
    #[arg(long, env = "SKIFF_DATA_DIR", default_value_os_t = crate::process::default_data_dir())]
    pub data_dir: PathBuf,
    /// Address to serve the API on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// `sqlite://FILE` or `postgres://...`; the default is an SQLite file in the data dir.
    #[arg(long, env = "SKIFF_DATASTORE")]
    pub datastore: Option<String>,
    /// How many of the newest revisions the change log keeps for watches;
    /// watching from an older one gets 410 Gone.
    #[arg(long, default_value_t = 100_000)]
    pub watch_history: i64,
    /// Seconds between compactions of the change log.
    #[arg(long, default_value_t = 60)]
    pub compaction_interval: u64,
    /// Where compiled plugins are cached (default: DATA_DIR/plugin-cache).
    #[arg(long, env = "SKIFF_PLUGIN_CACHE")]
    pub plugin_cache: Option<PathBuf>,
    /// Do not create the built-in plugins' WasmPlugin objects (pod-security,
    /// podpreset, default-scheduler) at startup.
    #[arg(long)]
    pub no_default_plugins: bool,
    /// Run the built-in default scheduling policy compiled into the host
    /// rather than as its wasm plugin: the same source, for measuring what
    /// the wasm boundary costs (see bench/README.md).
    #[arg(long)]
    pub native_scheduler: bool,
    /// Seconds a node's Lease may go unrenewed before the node is marked Unknown.
    #[arg(long, default_value_t = 40)]
    pub node_monitor_grace_period: u64,
    /// Run no node agent here: this server schedules onto other nodes only.
    #[arg(long)]
    pub no_agent: bool,
    #[command(flatten)]
    pub node: crate::node::NodeArgs,
}

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir).with_context(|| format!("creating {}", args.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&args.data_dir)?;
    let datastore =
        args.datastore.clone().unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("skiff.db").display()));
    let host = if args.listen.ip().is_unspecified() { "127.0.0.1".to_string() } else { args.listen.ip().to_string() };
    let url_host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
    let server_url = format!("https://{url_host}:{}", args.listen.port());
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
        "kubernetes.default.svc.cluster.local".to_string(),
        "10.43.0.1".to_string(),
    ];
    if !names.contains(&host) {
        names.push(host.clone());
    }
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim().to_string();
        if !h.is_empty() && !names.contains(&h) {
            names.push(h);
        }
    }
    let creds = pki::ensure(&data_dir, &server_url, &names).context("creating credentials")?;

    let store =
        Store::open(&datastore).await.with_context(|| format!("opening the datastore {}", redact(&datastore)))?;
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let metrics = Arc::new(Metrics::default());
    let cluster = Arc::new(crate::plugins::StoreCluster::new(store.clone()));
    let api = Api::new(store.clone(), shutdown_rx, metrics.clone(), cluster);
    bootstrap(&api).await?;
    if !args.no_default_plugins {
        create_default_plugins(&api).await?;
    }
    let engine = skiff_wasm::PluginEngine::new(skiff_wasm::EngineSettings {
        cache_dir: Some(args.plugin_cache.clone().unwrap_or_else(|| data_dir.join("plugin-cache"))),
        ..Default::default()
    })
    .map_err(|e| anyhow::anyhow!("starting the plugin engine: {e}"))?;
    // Plugins load before the API serves, so no request slips past them.
    let profiles = Arc::new(crate::scheduler::Profiles::default());
    crate::plugins::Manager::new(api.clone(), engine, profiles.clone(), args.native_scheduler).start().await;
    crate::controllers::spawn_all(api.clone(), Duration::from_secs(args.node_monitor_grace_period));
    crate::scheduler::spawn(api.clone(), profiles, metrics.clone());
    spawn_compaction(
        store.clone(),
        args.watch_history,
        Duration::from_secs(args.compaction_interval.max(1)),
        api.shutdown.clone(),
    );

    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem(creds.cert_pem.into_bytes(), creds.key_pem.into_bytes())
        .await
        .context("loading the serving certificate")?;
    let admin_token = Arc::new(creds.admin_token);
    let state_advertise = format!("{url_host}:{}", args.listen.port());
    let state = HttpState {
        api: api.clone(),
        admin_token: admin_token.clone(),
        metrics,
        advertise: Arc::new(format!("{url_host}:{}", args.listen.port())),
    };
    let app = api::router(state);
    let handle = axum_server::Handle::new();
    // Without TCP_NODELAY small HTTP/2 frames wait on delayed ACKs (~40 ms each).
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls).acceptor(axum_server::accept::NoDelayAcceptor);
    let server =
        axum_server::bind(args.listen).acceptor(acceptor).handle(handle.clone()).serve(app.into_make_service());
    let server = tokio::spawn(server);
    match handle.listening().await {
        Some(addr) => {
            tracing::info!(%addr, datastore = %redact(&datastore), "skiff API serving");
            println!("export KUBECONFIG={}", creds.kubeconfig.display());
        }
        None => {
            let result = server.await.context("server task")?;
            result.with_context(|| format!("listening on {}", args.listen))?;
            anyhow::bail!("the server stopped before it listened");
        }
    }

    let as_root = nix::unistd::geteuid().is_root();
    if !args.no_agent && !as_root {
        tracing::warn!("not running as root: no local node (containers need root); pass --no-agent to silence this");
    }
    if !args.no_agent && as_root {
        let ca = std::fs::read(data_dir.join("pki").join("ca.crt")).ok();
        let default_listen = std::net::SocketAddr::new(args.listen.ip(), 0);
        let config = crate::node::config(
            format!("https://{}", state_advertise),
            admin_token.to_string(),
            ca,
            &data_dir,
            &args.node,
            default_listen,
        )?;
        let shutdown = api.shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = skiff_node::run(config, shutdown).await {
                tracing::error!(error = %e, "the node agent stopped");
            }
        });
    }

    crate::process::wait_for_signal().await;
    tracing::info!("shutting down");
    let _ = shutdown_tx.send(true);
    handle.graceful_shutdown(Some(Duration::from_secs(10)));
    server.await.context("server task")??;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// The namespaces every cluster has, and the `kubernetes` Service.
async fn bootstrap(api: &Api) -> anyhow::Result<()> {
    let ns_type = api.registry().lookup("", "v1", "namespaces").cloned().context("namespaces type")?;
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}});
        ensure(api, &ns_type, None, ns).await?;
    }
    let svc_type = api.registry().lookup("", "v1", "services").cloned().context("services type")?;
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": "10.43.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}
    });
    ensure(api, &svc_type, Some("default"), svc).await?;
    Ok(())
}

/// The built-in plugins' objects, when absent (a deleted one comes back at the next start).
async fn create_default_plugins(api: &Api) -> anyhow::Result<()> {
    let rt =
        api.registry().lookup("plugins.skiff.dev", "v1alpha1", "wasmplugins").cloned().context("wasmplugins type")?;
    for obj in crate::plugins::builtin::default_plugins() {
        ensure(api, &rt, None, obj).await?;
    }
    Ok(())
}

/// Creates `obj` unless an object of that name exists (or appears meanwhile).
async fn ensure(api: &Api, rt: &ResourceType, namespace: Option<&str>, obj: serde_json::Value) -> anyhow::Result<()> {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
    if api.get(rt, namespace, &name).await.is_ok() {
        return Ok(());
    }
    match api.create(rt, namespace, obj, Default::default()).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => anyhow::bail!("creating {} {name}: {}", rt.singular, e.message),
    }
}

fn spawn_compaction(store: Arc<Store>, keep: i64, every: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = ticker.tick() => {
                    match store.compact(keep).await {
                        Ok(upto) => tracing::debug!(compacted = upto, "change log compacted"),
                        Err(e) => tracing::warn!(error = %e, "compaction failed"),
                    }
                }
            }
        }
    });
}
