//! skiff-bench: starts a skiff server on loopback, loads it with concurrent
//! creates, gets, lists and updates of ConfigMaps while many watches count the
//! events, then creates custom objects of a CRD with a validating schema the
//! same way, then measures a local etcd's raw put rate with the same clients
//! and value size as the yardstick, and prints them side by side.
//!
//! Progress goes to stderr, the results to stdout. Every process started here
//! is stopped by pid and its temp dir removed, also on errors and Ctrl-C.

mod conn;
mod custom;
mod etcd;
mod kube;
mod load;
mod phases;
mod proc;
mod report;
mod runtime;
mod scheduling;
mod skiff;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use crate::conn::Endpoint;
use crate::kube::{clock_us, filler, Collection, KubeConfig};
use crate::load::{run_phase, Limits, PhaseResult};
use crate::report::{Config, Delivery, Report, Row, WatchReport, CREATE, CUSTOM_ADDED, CUSTOM_CREATE};
use crate::watch::WatcherStats;

#[derive(Parser, Debug, Clone)]
#[command(
    version,
    about = "Benchmark a skiff server against etcd's raw put rate",
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// The skiff binary to start.
    #[arg(long, default_value = "target/release/skiff")]
    skiff: PathBuf,
    /// The etcd binary (Debian package etcd-server).
    #[arg(long, default_value = "etcd")]
    etcd: PathBuf,
    /// Concurrent workers per phase, each with its own connection.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    clients: u32,
    /// Time limit per phase.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Concurrent watches on the benchmark namespace's ConfigMaps.
    #[arg(long, default_value_t = 100)]
    watches: usize,
    /// Most objects the create phase (and etcd put) may write; the other
    /// phases stop after --max-ops operations.
    #[arg(long, default_value_t = 50_000)]
    objects: u64,
    /// Most operations in a get, list or update phase.
    #[arg(long, default_value_t = 1_000_000)]
    max_ops: u64,
    /// Length of the value string in every ConfigMap (and etcd value).
    #[arg(long, default_value_t = 128)]
    value_size: usize,
    /// Offer only HTTP/1.1 to skiff (the default also offers HTTP/2).
    #[arg(long)]
    http1: bool,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Only measure etcd.
    #[arg(long, conflicts_with = "skip_etcd")]
    skip_skiff: bool,
    /// Only measure skiff.
    #[arg(long)]
    skip_etcd: bool,
    /// Leave out the custom-object phase (CRD with a validating schema).
    #[arg(long)]
    skip_custom: bool,
    /// How long skiff and etcd may take to become ready.
    #[arg(long, default_value_t = 120)]
    startup_timeout: u64,
    /// How long to wait for watchers to catch up after a write phase.
    #[arg(long, default_value_t = 30)]
    drain_timeout: u64,
    /// How long the benchmark's CRD may take to become Established and served.
    #[arg(long, default_value_t = 30)]
    establish_timeout: u64,
}

#[derive(clap::Subcommand, Debug, Clone)]
enum Mode {
    /// The end-to-end scheduling rate, wasm policy against native (see bench/README.md).
    Scheduler(scheduling::SchedulerArgs),
    /// Container create-to-delete time against runc and crun, and pod startup latency (see bench/README.md).
    Runtime(crate::runtime::RuntimeArgs),
}

impl Mode {
    async fn run(self) -> anyhow::Result<()> {
        match self {
            Mode::Scheduler(args) => scheduling::run(args).await,
            Mode::Runtime(args) => crate::runtime::run(args).await,
        }
    }
}

impl Args {
    fn limits(&self, max_ops: u64) -> anyhow::Result<Limits> {
        let duration = Duration::try_from_secs_f64(self.seconds).context("--seconds must be a non-negative number")?;
        Ok(Limits { duration, max_ops })
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(mode) = args.mode.clone() {
        let outcome = runtime.block_on(async move {
            tokio::select! {
                r = mode.run() => r,
                s = interrupted() => Err(anyhow::anyhow!("interrupted by {s}; cleaning up")),
            }
        });
        return match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let json = args.json;
    // Dropping the `run` future on a signal drops its process guards, which
    // stop the servers and remove their temp dirs.
    let outcome = runtime.block_on(async move {
        tokio::select! {
            r = run(args) => r,
            s = interrupted() => Err(anyhow::anyhow!("interrupted by {s}; cleaning up")),
        }
    });
    match outcome {
        Ok(report) => {
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => eprintln!("error: {e}"),
                }
            } else {
                print!("{}", report.table());
            }
            if report.clean() {
                ExitCode::SUCCESS
            } else {
                eprintln!("some operations failed or some watch events were missing");
                ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn interrupted() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return "SIGINT";
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

async fn run(args: Args) -> anyhow::Result<Report> {
    clock_us(); // starts the clock watchers measure against
    let value = filler(args.value_size, 1);
    let mut protocol = None;
    let (rows, watch, custom) = if args.skip_skiff {
        (Vec::new(), None, None)
    } else {
        let (rows, watch, custom, proto) = bench_skiff(&args, &value).await?;
        protocol = Some(proto);
        (rows, watch, custom)
    };
    let etcd_put = if args.skip_etcd { None } else { Some(Row::from(&bench_etcd(&args, &value).await?)) };
    let config = Config {
        clients: args.clients as usize,
        seconds: args.seconds,
        watches: if args.skip_skiff { 0 } else { args.watches },
        objects: args.objects,
        value_size: args.value_size,
        protocol,
    };
    Ok(Report::finish(config, rows, watch, etcd_put, custom))
}

type SkiffResults = (Vec<Row>, Option<WatchReport>, Option<custom::Setup>, String);

async fn bench_skiff(args: &Args, value: &str) -> anyhow::Result<SkiffResults> {
    let clients = args.clients as usize;
    let drain = Duration::from_secs(args.drain_timeout);
    eprintln!("starting {} ...", args.skiff.display());
    let mut server = skiff::start(&args.skiff, Duration::from_secs(args.startup_timeout), &[]).await?;
    let kubeconfig = KubeConfig::load(&server.kubeconfig)?;
    let endpoint = kubeconfig.endpoint(args.http1)?;
    let protocol = endpoint.connect().await.context("connecting to skiff")?.protocol().to_string();
    eprintln!("skiff is up at {} ({protocol}); data in {}", kubeconfig.server, server.process.dir().display());

    let rv = phases::prepare(&endpoint).await?;
    eprintln!("opening {} watches from resourceVersion {rv} ...", args.watches);
    let watches = watch::WatchSet::open(&endpoint, &Collection::configmaps(), args.watches, &rv).await?;

    let mut rows = Vec::new();
    let create_start = clock_us();
    let workers = (0..clients).map(|_| phases::Create::new(endpoint.clone(), value.to_string())).collect();
    let (create, workers) = phase(CREATE, workers, args.limits(args.objects)?).await;
    server.process.ensure_running()?;
    let added = watches.drain(false, create.ok * args.watches as u64, drain).await;
    report_drain("ADDED", &added, create.ok * args.watches as u64);
    let objects: Vec<phases::Object> = workers.into_iter().flat_map(|w| w.created).collect();
    rows.push(Row::from(&create));

    let names = Arc::new(objects.iter().map(|o| o.name.clone()).collect::<Vec<_>>());
    let workers = (0..clients).map(|i| phases::Get::new(endpoint.clone(), names.clone(), i as u64)).collect();
    rows.push(Row::from(&phase("get", workers, args.limits(args.max_ops)?).await.0));
    server.process.ensure_running()?;

    let workers = (0..clients).map(|_| phases::List::new(endpoint.clone())).collect();
    rows.push(Row::from(&phase("list", workers, args.limits(args.max_ops)?).await.0));
    server.process.ensure_running()?;

    let update_start = clock_us();
    let workers = phases::deal(objects, clients)
        .into_iter()
        .map(|share| phases::Update::new(endpoint.clone(), value.to_string(), share))
        .collect();
    let (update, _) = phase("update", workers, args.limits(args.max_ops)?).await;
    server.process.ensure_running()?;
    let modified = watches.drain(true, update.ok * args.watches as u64, drain).await;
    report_drain("MODIFIED", &modified, update.ok * args.watches as u64);
    rows.push(Row::from(&update));

    let stats = watches.finish().await;
    let deliveries = vec![
        Delivery::new("ADDED", false, create.ok, &stats, added.last_event_us.saturating_sub(create_start)),
        Delivery::new("MODIFIED", true, update.ok, &stats, modified.last_event_us.saturating_sub(update_start)),
    ];
    let mut watch = WatchReport::new(&stats, deliveries);

    let custom = if args.skip_custom {
        None
    } else {
        let mut setup = custom::Setup { crd: custom::crd_name(), ..Default::default() };
        match bench_custom(args, &endpoint, value, &mut setup).await {
            Ok((row, stats, delivery)) => {
                rows.push(row);
                watch.add(&stats, delivery);
            }
            Err(e) => {
                eprintln!("the custom phase did not run: {e:#}");
                setup.error = Some(format!("{e:#}"));
            }
        }
        server.process.ensure_running()?;
        Some(setup)
    };

    eprintln!("stopping skiff (SIGTERM) ...");
    if let Err(e) = server.process.stop().await {
        eprintln!("note: stopping skiff: {e:#}");
    }
    Ok((rows, Some(watch), custom, protocol))
}

/// Creates the benchmark's CRD, checks that invalid objects are refused,
/// then runs the custom create phase as the ConfigMap one runs: the same
/// workers, limits and value size, with `--watches` watches on the custom
/// objects (opened fresh; the ConfigMap watches are closed by then).
async fn bench_custom(
    args: &Args,
    endpoint: &Endpoint,
    value: &str,
    setup: &mut custom::Setup,
) -> anyhow::Result<(Row, Vec<WatcherStats>, Delivery)> {
    eprintln!("creating CRD {} and waiting until it is Established ...", setup.crd);
    custom::install(endpoint, args.value_size, Duration::from_secs(args.establish_timeout), setup).await?;
    eprintln!("CRD Established and served after {:.0} ms", setup.established_ms.unwrap_or_default());
    custom::probe_validation(endpoint, value, setup).await?;
    for r in &setup.rejections {
        eprintln!("  invalid object, {r}");
    }
    eprintln!("{}/{} invalid objects rejected with 422", setup.invalid_rejected, setup.invalid_probes);
    if let Some(u) = &setup.first_unexpected {
        eprintln!("note: an invalid object was not rejected as expected: {u}");
    }
    let rv = custom::list_version(endpoint).await?;
    eprintln!("opening {} watches on {} from resourceVersion {rv} ...", args.watches, custom::PLURAL);
    let watches = watch::WatchSet::open(endpoint, &custom::collection(), args.watches, &rv).await?;
    let start = clock_us();
    let workers = (0..args.clients).map(|_| custom::Create::new(endpoint.clone(), value.to_string())).collect();
    let (create, _) = phase(CUSTOM_CREATE, workers, args.limits(args.objects)?).await;
    let expected = create.ok * args.watches as u64;
    let added = watches.drain(false, expected, Duration::from_secs(args.drain_timeout)).await;
    report_drain(CUSTOM_ADDED, &added, expected);
    let stats = watches.finish().await;
    let delivery = Delivery::new(CUSTOM_ADDED, false, create.ok, &stats, added.last_event_us.saturating_sub(start));
    Ok((Row::from(&create), stats, delivery))
}

async fn bench_etcd(args: &Args, value: &str) -> anyhow::Result<PhaseResult> {
    eprintln!("starting etcd ...");
    let mut server = etcd::start(&args.etcd, Duration::from_secs(args.startup_timeout)).await?;
    eprintln!("etcd is up (log {})", server.log_path().display());
    let workers = (0..args.clients).map(|_| etcd::Put::new(server.endpoint.clone(), value.to_string())).collect();
    let (put, _) = phase("etcd put", workers, args.limits(args.objects)?).await;
    server.ensure_running()?;
    eprintln!("stopping etcd (SIGTERM) ...");
    server.stop().await?;
    Ok(put)
}

async fn phase<W: load::Worker>(name: &str, workers: Vec<W>, limits: Limits) -> (PhaseResult, Vec<W>) {
    eprintln!("{name}: {} clients for up to {:?} / {} ops ...", workers.len(), limits.duration, limits.max_ops);
    let (r, w) = run_phase(name, workers, limits).await;
    eprintln!("{name}: {} ok, {} errors in {:.2}s", r.ok, r.errors, r.elapsed.as_secs_f64());
    (r, w)
}

fn report_drain(event: &str, d: &watch::Drained, expected: u64) {
    if !d.complete {
        eprintln!("watchers got {} of {expected} {event} events before the drain timeout", d.delivered);
    }
}
