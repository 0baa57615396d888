//! One call's sandbox: a fresh `Store` whose WASI context grants nothing
//! (no preopened directories, environment, arguments or network; stdio is
//! captured), a memory cap, a deadline, and the host imports every world
//! shares (log, clock, config, cluster).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::types::{Error as WitError, ErrorCode, GroupVersionResource, ObjectKey};
use crate::bindings::{clock, cluster, config, log, types};
use crate::engine::PluginEngine;
use crate::error::PluginError;

/// What one call of a plugin may use.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Wall time for one call, instantiation included.
    pub timeout: Duration,
    /// All of the instance's linear memories together.
    pub memory_bytes: usize,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Read-only access to cluster objects, answered by the host as the plugin's
/// identity. Objects travel as JSON text.
pub trait Cluster: Send + Sync {
    fn get<'a>(&'a self, plugin: &'a str, key: ObjectKey) -> BoxFuture<'a, Result<Option<String>, WitError>>;
    fn list<'a>(
        &'a self,
        plugin: &'a str,
        gvr: GroupVersionResource,
        namespace: Option<String>,
        label_selector: Option<String>,
    ) -> BoxFuture<'a, Result<Vec<String>, WitError>>;
}

/// A cluster with no objects, for running a plugin away from any server.
pub struct EmptyCluster;

impl Cluster for EmptyCluster {
    fn get<'a>(&'a self, _: &'a str, _: ObjectKey) -> BoxFuture<'a, Result<Option<String>, WitError>> {
        Box::pin(async { Ok(None) })
    }
    fn list<'a>(
        &'a self,
        _: &'a str,
        _: GroupVersionResource,
        _: Option<String>,
        _: Option<String>,
    ) -> BoxFuture<'a, Result<Vec<String>, WitError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// How much a plugin may print or log in one call before the rest is dropped.
const STDIO_CAPACITY: usize = 64 << 10;
const LOG_RECORDS_PER_CALL: u32 = 200;

pub struct HostState {
    plugin: Arc<str>,
    config: Arc<str>,
    cluster: Arc<dyn Cluster>,
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
    started: Instant,
    deadline: Instant,
    timed_out: bool,
    logs_left: u32,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    /// How much of stdout and stderr is already in the host's logs (a
    /// long-lived instance's pipes outlive one call).
    forwarded: [usize; 2],
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Caps the sum of an instance's memories and remembers whether the cap was hit,
/// so the trap that follows a failed allocation is reported as out-of-memory.
struct MemoryCap {
    limit: usize,
    used: usize,
    hit: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let after = self.used + desired.saturating_sub(current);
        if after > self.limit {
            self.hit = true;
            return Ok(false);
        }
        self.used = after;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// A store for one call of `plugin`.
pub(crate) fn new_store(
    engine: &PluginEngine,
    plugin: &Arc<str>,
    config: &Arc<str>,
    limits: Limits,
    cluster: Arc<dyn Cluster>,
) -> Store<HostState> {
    let stdout = MemoryOutputPipe::new(STDIO_CAPACITY);
    let stderr = MemoryOutputPipe::new(STDIO_CAPACITY);
    let wasi = WasiCtxBuilder::new()
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let now = Instant::now();
    let state = HostState {
        plugin: plugin.clone(),
        config: config.clone(),
        cluster,
        wasi,
        table: ResourceTable::new(),
        memory: MemoryCap { limit: limits.memory_bytes, used: 0, hit: false },
        started: now,
        deadline: now + limits.timeout,
        timed_out: false,
        logs_left: LOG_RECORDS_PER_CALL,
        stdout,
        stderr,
        forwarded: [0, 0],
    };
    let mut store = Store::new(engine.engine(), state);
    store.limiter(|state| &mut state.memory);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut ctx| {
        let state = ctx.data_mut();
        if Instant::now() >= state.deadline {
            state.timed_out = true;
            Ok(UpdateDeadline::Interrupt)
        } else {
            // Let other tasks run while a plugin computes.
            Ok(UpdateDeadline::Yield(1))
        }
    });
    store
}

/// Gives a long-lived store's next call a fresh deadline and log allowance.
pub(crate) fn rearm(store: &mut Store<HostState>, limits: Limits) {
    let state = store.data_mut();
    state.deadline = Instant::now() + limits.timeout;
    state.timed_out = false;
    state.logs_left = LOG_RECORDS_PER_CALL;
}

/// Whether a long-lived store's output pipes are half full: they cannot be
/// emptied, so the instance should be replaced before they refuse writes.
pub(crate) fn stdio_half_full(store: &Store<HostState>) -> bool {
    let state = store.data();
    state.forwarded.iter().any(|&n| n > STDIO_CAPACITY / 2)
}

/// Turns a call's outcome into the plugin's answer or a [`PluginError`], and
/// forwards what the plugin printed to the host's logs.
pub(crate) fn finish<T>(
    store: &mut Store<HostState>,
    limits: Limits,
    outcome: wasmtime::Result<Result<T, WitError>>,
) -> Result<T, PluginError> {
    let state = store.data_mut();
    state.forwarded[0] = forward_stdio(&state.plugin, "stdout", &state.stdout, state.forwarded[0]);
    state.forwarded[1] = forward_stdio(&state.plugin, "stderr", &state.stderr, state.forwarded[1]);
    let state = store.data();
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.into()),
        Err(_) if state.timed_out => Err(PluginError::Timeout(limits.timeout)),
        Err(_) if state.memory.hit => Err(PluginError::OutOfMemory(limits.memory_bytes >> 20)),
        Err(e) => Err(PluginError::Trap(trap_message(&e))),
    }
}

fn trap_message(e: &wasmtime::Error) -> String {
    // The first line says what happened; the wasm backtrace that follows is for logs.
    let full = format!("{e:#}");
    tracing::debug!(error = %full, "plugin trap");
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => full.lines().next().unwrap_or("unknown trap").to_string(),
    }
}

/// Logs what the plugin wrote after `from`; returns how much is now logged.
fn forward_stdio(plugin: &str, stream: &str, pipe: &MemoryOutputPipe, from: usize) -> usize {
    let bytes = pipe.contents();
    let new = bytes.get(from..).unwrap_or_default();
    for line in String::from_utf8_lossy(new).lines().filter(|l| !l.trim().is_empty()) {
        tracing::info!(target: "skiff::plugin", plugin, stream, "{line}");
    }
    bytes.len()
}

impl types::Host for HostState {}

impl log::Host for HostState {
    async fn write(
        &mut self,
        level: log::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        if self.logs_left == 0 {
            return Ok(());
        }
        self.logs_left -= 1;
        let plugin = &*self.plugin;
        let fields = if fields.is_empty() {
            String::new()
        } else {
            fields.iter().map(|(k, v)| format!("{k}={v:?}")).collect::<Vec<_>>().join(" ")
        };
        match level {
            log::Level::Trace => tracing::trace!(target: "skiff::plugin", plugin, fields, "{message}"),
            log::Level::Debug => tracing::debug!(target: "skiff::plugin", plugin, fields, "{message}"),
            log::Level::Info => tracing::info!(target: "skiff::plugin", plugin, fields, "{message}"),
            log::Level::Warn => tracing::warn!(target: "skiff::plugin", plugin, fields, "{message}"),
            log::Level::Error => tracing::error!(target: "skiff::plugin", plugin, fields, "{message}"),
        }
        Ok(())
    }
}

impl clock::Host for HostState {
    async fn now_unix_millis(&mut self) -> wasmtime::Result<u64> {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Ok(since.as_millis() as u64)
    }

    async fn monotonic_nanos(&mut self) -> wasmtime::Result<u64> {
        Ok(self.started.elapsed().as_nanos() as u64)
    }
}

impl config::Host for HostState {
    async fn get(&mut self) -> wasmtime::Result<String> {
        Ok(self.config.to_string())
    }
}

impl cluster::Host for HostState {
    async fn get(&mut self, key: ObjectKey) -> wasmtime::Result<Result<Option<String>, WitError>> {
        Ok(self.cluster.get(&self.plugin, key).await)
    }

    async fn list_objects(
        &mut self,
        gvr: GroupVersionResource,
        namespace: Option<String>,
        label_selector: Option<String>,
    ) -> wasmtime::Result<Result<Vec<String>, WitError>> {
        Ok(self.cluster.list(&self.plugin, gvr, namespace, label_selector).await)
    }
}

/// A WIT error for the host's answers to plugins.
pub fn wit_error(code: ErrorCode, message: impl Into<String>) -> WitError {
    WitError { code, message: message.into() }
}
