//! The engine every plugin runs in: wasmtime settings (pooling allocator,
//! epoch interruption), the epoch ticker that gives calls their deadlines,
//! the linker with the host's imports, and the compile cache.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::bindings::AdmissionPolicy;
use crate::error::PluginError;
use crate::sandbox::{HostState, Limits};

/// How often the epoch advances: the granularity of call deadlines, and how
/// often a running plugin yields to the async runtime.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// Compiled components kept in memory; older ones are reloaded from disk.
const COMPILED_IN_MEMORY: usize = 64;

#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// Where compiled components are cached; none compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// The largest memory cap a plugin may be given (the pool's slot size).
    pub max_memory_bytes: usize,
    /// How many plugin instances may be alive at once (calls in flight).
    pub max_instances: u32,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings { cache_dir: None, max_memory_bytes: 512 << 20, max_instances: 64 }
    }
}

/// Cheap to clone: all clones share one engine, ticker and cache.
#[derive(Clone)]
pub struct PluginEngine {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<HostState>,
    settings: EngineSettings,
    /// Identifies the engine's compile settings in cache file names, so a
    /// cached artifact from another wasmtime or configuration is never loaded.
    engine_tag: String,
    compiled: Mutex<HashMap<String, Component>>,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl PluginEngine {
    pub fn new(settings: EngineSettings) -> Result<PluginEngine, PluginError> {
        let engine = Engine::new(&engine_config(&settings)).map_err(|e| PluginError::Load(format!("{e:#}")))?;
        let linker = host_linker(&engine).map_err(|e| PluginError::Load(format!("{e:#}")))?;
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_tag = format!("{:016x}", hasher.finish());
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.clone(), ticker_stop.clone());
        if let Some(dir) = &settings.cache_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| PluginError::Load(format!("cannot create the plugin cache {}: {e}", dir.display())))?;
        }
        Ok(PluginEngine {
            inner: Arc::new(Inner {
                engine,
                linker,
                settings,
                engine_tag,
                compiled: Mutex::new(HashMap::new()),
                ticker_stop,
            }),
        })
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.inner.settings
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub(crate) fn linker(&self) -> &Linker<HostState> {
        &self.inner.linker
    }

    /// The sha256 digest of `bytes` as `sha256:<hex>`.
    pub fn digest(bytes: &[u8]) -> String {
        let hash = Sha256::digest(bytes);
        let mut out = String::with_capacity(71);
        out.push_str("sha256:");
        for b in hash {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// What every world's load starts with: checks `limits` against this
    /// server's maximum, compiles (or takes from the cache) and links `module`.
    /// Returns its digest and the linked component, ready to pre-instantiate as a world.
    pub(crate) async fn prepare(
        &self,
        module: Arc<[u8]>,
        limits: Limits,
    ) -> Result<(String, InstancePre<HostState>), PluginError> {
        let max = self.settings().max_memory_bytes;
        if limits.memory_bytes > max {
            return Err(PluginError::Load(format!(
                "a memory limit of {} MiB is over this server's maximum of {} MiB",
                limits.memory_bytes >> 20,
                max >> 20
            )));
        }
        let (digest, component) = self.compile(module).await?;
        let pre = self.linker().instantiate_pre(&component).map_err(|e| PluginError::Load(format!("{e:#}")))?;
        Ok((digest, pre))
    }

    /// Compiles `bytes` (a component), or takes it from the memory or disk cache.
    pub(crate) async fn compile(&self, bytes: Arc<[u8]>) -> Result<(String, Component), PluginError> {
        let digest = Self::digest(&bytes);
        if let Some(c) = self.lock_compiled().get(&digest) {
            return Ok((digest, c.clone()));
        }
        let this = self.clone();
        let key = digest.clone();
        let component = tokio::task::spawn_blocking(move || this.compile_blocking(&key, &bytes))
            .await
            .map_err(|e| PluginError::Load(format!("compilation did not finish: {e}")))??;
        let mut compiled = self.lock_compiled();
        if compiled.len() >= COMPILED_IN_MEMORY {
            compiled.clear();
        }
        compiled.insert(digest.clone(), component.clone());
        Ok((digest, component))
    }

    fn lock_compiled(&self) -> std::sync::MutexGuard<'_, HashMap<String, Component>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.inner.compiled.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn compile_blocking(&self, digest: &str, bytes: &[u8]) -> Result<Component, PluginError> {
        let engine = &self.inner.engine;
        let cached = self.cache_path(digest);
        if let Some(path) = &cached {
            if path.exists() {
                // SAFETY: only this engine writes the cache directory, and a file
                // name carries both the module's digest and the engine's tag, so
                // the bytes are an artifact this engine serialised for this module.
                match unsafe { Component::deserialize_file(engine, path) } {
                    Ok(c) => return Ok(c),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "dropping an unusable cached plugin build");
                        let _ = std::fs::remove_file(path);
                    }
                }
            }
        }
        let started = std::time::Instant::now();
        let component = Component::new(engine, bytes).map_err(|e| PluginError::Load(format!("{e:#}")))?;
        tracing::info!(%digest, elapsed_ms = started.elapsed().as_millis() as u64, "compiled plugin module");
        if let Some(path) = &cached {
            if let Err(e) = component.serialize().map_err(|e| e.to_string()).and_then(|b| write_atomically(path, &b)) {
                tracing::warn!(path = %path.display(), error = %e, "cannot cache a compiled plugin");
            }
        }
        Ok(component)
    }

    fn cache_path(&self, digest: &str) -> Option<PathBuf> {
        let dir = self.inner.settings.cache_dir.as_ref()?;
        let hex = digest.trim_start_matches("sha256:");
        Some(dir.join(format!("{hex}-{}.cwasm", self.inner.engine_tag)))
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path)).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        e.to_string()
    })
}

fn engine_config(settings: &EngineSettings) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    let instances = settings.max_instances.max(1);
    // Interpreters compiled to wasm (Python, JavaScript) are components of
    // many core modules, memories and large tables; the limits leave room
    // for them while the memory cap per call is enforced by the limiter.
    pool.total_component_instances(instances)
        .total_core_instances(instances * 32)
        .total_memories(instances * 4)
        .total_tables(instances * 32)
        .total_stacks(instances)
        .max_core_instances_per_component(64)
        .max_memories_per_component(16)
        .max_tables_per_component(64)
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(4 << 20)
        .table_elements(200_000)
        .max_memory_size(settings.max_memory_bytes)
        // Keep recently used slots warm so instantiation stays cheap.
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(64 << 10);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .memory_init_cow(true);
    config
}

/// WASI (with nothing granted: see the sandbox) and the `skiff:plugin` imports.
fn host_linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    AdmissionPolicy::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
    Ok(linker)
}

fn spawn_ticker(engine: Engine, stop: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new().name("skiff-plugin-epoch".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(TICK);
            engine.increment_epoch();
        }
    });
    if let Err(e) = spawned {
        // Without the ticker no call would ever time out; say so loudly.
        tracing::error!(error = %e, "cannot start the plugin epoch ticker: plugin deadlines will not fire");
    }
}
