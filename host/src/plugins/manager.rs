//! Keeps this server's active plugins in step with the WasmPlugin objects:
//! a changed spec is loaded (module fetched, compiled, instantiated, `init`
//! passed) and only then swapped in; a spec that does not load leaves the
//! previous version serving. The outcome is written to the object's status:
//! conditions, the active digest and revision, and the revision history
//! that `skiff plugin rollback` picks from.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use skiff_wasm::admission::AdmissionPlugin;
use skiff_wasm::scheduler::SchedulerPlugin;
use skiff_wasm::{Limits, PluginEngine, PluginError};

use super::builtin;
use crate::admission::{Hook, Installed};
use crate::api::{meta, Api, ListOptions, WriteOptions};
use crate::resources::kinds::wasmplugin::{Condition, Revision, WasmPlugin, WasmPluginStatus};
use crate::resources::ResourceType;
use crate::scheduler::{Profiles, Source};
use crate::store::modules::is_digest;
use crate::store::{Change, EventType};

const RESYNC: Duration = Duration::from_secs(10);
const WORLDS: &[&str] = &["admission", "scheduler", "controller", "cni", "csi"];

pub struct Manager {
    api: Arc<Api>,
    engine: PluginEngine,
    /// Where scheduler plugins go.
    profiles: Arc<Profiles>,
    /// Run `builtin:default-scheduler` as the same policy compiled into the
    /// host instead of in wasm (to measure what the boundary costs).
    native_scheduler: bool,
    rt: std::sync::Arc<ResourceType>,
    /// The spec each plugin was last loaded (or refused) with, so an
    /// unchanged spec is not loaded again.
    tried: HashMap<String, String>,
}

/// A version that loaded, ready to serve.
enum Loaded {
    Admission(Installed),
    Scheduler { scheduler_name: String, source: Source },
}

/// Why a spec did not become active.
struct Refusal {
    reason: &'static str,
    message: String,
    /// Worth trying again without a spec change (a module not uploaded yet).
    retry: bool,
}

impl Refusal {
    fn new(reason: &'static str, message: impl Into<String>) -> Refusal {
        Refusal { reason, message: message.into(), retry: false }
    }
}

impl From<PluginError> for Refusal {
    fn from(e: PluginError) -> Refusal {
        let reason = match &e {
            PluginError::Load(_) => "LoadFailed",
            PluginError::Returned { .. } => "InitFailed",
            PluginError::Timeout(_) => "InitTimedOut",
            PluginError::OutOfMemory(_) => "InitOutOfMemory",
            PluginError::Trap(_) => "InitTrapped",
        };
        Refusal::new(reason, e.to_string())
    }
}

impl Manager {
    pub fn new(api: Arc<Api>, engine: PluginEngine, profiles: Arc<Profiles>, native_scheduler: bool) -> Manager {
        let rt = api
            .registry()
            .lookup("plugins.skiff.dev", "v1alpha1", "wasmplugins")
            .cloned()
            .expect("the registry serves wasmplugins");
        Manager { api, engine, profiles, native_scheduler, rt, tried: HashMap::new() }
    }

    /// Loads every plugin once (the server calls this before it serves), then
    /// follows changes in the background with the controllers' watch-and-resync
    /// loop. Every server runs it: each serves admission with its own loaded versions.
    pub async fn start(mut self) {
        self.sync_all().await;
        let api = self.api.clone();
        let manager = Arc::new(tokio::sync::Mutex::new(self));
        let on_change = manager.clone();
        tokio::spawn(crate::controllers::run(
            "plugins",
            api,
            RESYNC,
            move |_, change| {
                let manager = on_change.clone();
                async move { manager.lock().await.handle(&change).await }
            },
            move |_| {
                let manager = manager.clone();
                async move { manager.lock().await.sync_all().await }
            },
        ));
    }

    async fn handle(&mut self, change: &Change) {
        if change.resource != self.rt.store_key() {
            return;
        }
        if change.event == EventType::Deleted {
            self.forget(meta::name(&change.object));
        } else {
            self.reconcile(&change.object).await;
        }
    }

    async fn sync_all(&mut self) {
        let items = match self.api.list_all(&self.rt, None, &ListOptions::default()).await {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(error = %e.message, "cannot list WasmPlugins");
                return;
            }
        };
        let present: HashSet<String> = items.iter().map(|o| meta::name(o).to_string()).collect();
        let gone: Vec<String> = self.tried.keys().filter(|n| !present.contains(*n)).cloned().collect();
        for name in gone {
            self.forget(&name);
        }
        for item in &items {
            self.reconcile(item).await;
        }
    }

    fn forget(&mut self, name: &str) {
        if self.tried.remove(name).is_some() {
            tracing::info!(plugin = name, "plugin removed");
        }
        self.api.admission.install(name, None);
        self.profiles.remove_plugin(name);
    }

    fn serving(&self, name: &str) -> bool {
        self.api.admission.active(name).is_some() || self.profiles.served_by(name).is_some()
    }

    /// Puts a loaded version in service (replacing this plugin's previous one).
    fn activate(&self, name: &str, loaded: Loaded) -> Result<(), Refusal> {
        match loaded {
            Loaded::Admission(installed) => {
                self.profiles.remove_plugin(name);
                self.api.admission.install(name, Some(installed));
            }
            Loaded::Scheduler { scheduler_name, source } => {
                self.profiles.install(name, &scheduler_name, source).map_err(|m| Refusal::new("InvalidSpec", m))?;
                self.api.admission.install(name, None);
            }
        }
        Ok(())
    }

    async fn reconcile(&mut self, obj: &Value) {
        let name = meta::name(obj).to_string();
        if meta::is_deleting(obj) {
            self.forget(&name);
            return;
        }
        let plugin: WasmPlugin = match serde_json::from_value(obj.clone()) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(plugin = %name, error = %e, "unreadable WasmPlugin");
                return;
            }
        };
        let fingerprint = serde_json::to_string(&plugin.spec).unwrap_or_default();
        if self.tried.get(&name) == Some(&fingerprint) {
            return;
        }
        let outcome = match self.load(&name, &plugin).await {
            Ok((loaded, digest)) => self.activate(&name, loaded).map(|()| digest),
            Err(refusal) => Err(refusal),
        };
        match outcome {
            Ok(digest) => {
                tracing::info!(plugin = %name, %digest, "plugin version active");
                self.tried.insert(name.clone(), fingerprint);
                self.write_status(&name, Ok(digest)).await;
            }
            Err(refusal) => {
                tracing::warn!(plugin = %name, reason = refusal.reason, message = %refusal.message, "plugin version not loaded");
                if !refusal.retry {
                    self.tried.insert(name.clone(), fingerprint);
                }
                self.write_status(&name, Err(refusal)).await;
            }
        }
    }

    async fn load(&self, name: &str, plugin: &WasmPlugin) -> Result<(Loaded, String), Refusal> {
        let spec = &plugin.spec;
        let memory_mib = spec.memory_limit_mib.unwrap_or(128);
        let max_mib = self.engine.settings().max_memory_bytes >> 20;
        if memory_mib < 1 || memory_mib as usize > max_mib {
            return Err(Refusal::new(
                "InvalidSpec",
                format!("spec.memoryLimitMiB: Invalid value: {memory_mib}: must be between 1 and {max_mib}"),
            ));
        }
        let memory_bytes = (memory_mib as usize) << 20;
        let config = spec.config.clone().unwrap_or_else(|| json!({})).to_string();
        match spec.world.as_str() {
            "admission" => {
                let admission = spec
                    .admission
                    .as_ref()
                    .ok_or_else(|| Refusal::new("InvalidSpec", "spec.admission is required for world admission"))?;
                let hook = Hook::from_spec(admission).map_err(|m| Refusal::new("InvalidSpec", m))?;
                let module = self.module_bytes(&spec.module).await?;
                let limits = Limits { timeout: Duration::from_secs(hook.timeout_seconds as u64), memory_bytes };
                let cluster = self.api.admission.cluster();
                let plugin = AdmissionPlugin::load(&self.engine, name, module, config, limits, cluster).await?;
                let digest = plugin.digest().to_string();
                Ok((Loaded::Admission(Installed { name: name.to_string(), hook, plugin: Arc::new(plugin) }), digest))
            }
            "scheduler" => {
                let settings = spec.scheduler.clone().unwrap_or_default();
                let scheduler_name = settings.scheduler_name.unwrap_or_else(|| name.to_string());
                let problems = skiff_apimachinery::names::is_dns1123_subdomain(&scheduler_name);
                if !problems.is_empty() {
                    return Err(Refusal::new(
                        "InvalidSpec",
                        format!(
                            "spec.scheduler.schedulerName: Invalid value: {scheduler_name:?}: {}",
                            problems.join("; ")
                        ),
                    ));
                }
                let timeout = settings.timeout_seconds.unwrap_or(10);
                if !(1..=30).contains(&timeout) {
                    return Err(Refusal::new(
                        "InvalidSpec",
                        format!("spec.scheduler.timeoutSeconds: Invalid value: {timeout}: must be between 1 and 30"),
                    ));
                }
                let module = self.module_bytes(&spec.module).await?;
                if self.native_scheduler && spec.module == "builtin:default-scheduler" {
                    let config = skiff_wasm::scheduling::Config::from_json(&config)
                        .map_err(|m| Refusal::new("InitFailed", format!("invalid input: {m}")))?;
                    let digest = PluginEngine::digest(&module);
                    return Ok((Loaded::Scheduler { scheduler_name, source: Source::Native(config) }, digest));
                }
                let limits = Limits { timeout: Duration::from_secs(timeout as u64), memory_bytes };
                let cluster = self.api.admission.cluster();
                let plugin = SchedulerPlugin::load(&self.engine, name, module, config, limits, cluster).await?;
                let digest = plugin.digest().to_string();
                Ok((Loaded::Scheduler { scheduler_name, source: Source::Wasm(Arc::new(plugin)) }, digest))
            }
            world if WORLDS.contains(&world) => Err(Refusal::new(
                "WorldNotServed",
                format!("world {world:?} is not served by this skiff yet: admission and scheduler plugins run"),
            )),
            world => Err(Refusal::new(
                "InvalidSpec",
                format!("spec.world: Unsupported value: {world:?}: supported values: {}", WORLDS.join(", ")),
            )),
        }
    }

    async fn module_bytes(&self, module: &str) -> Result<Arc<[u8]>, Refusal> {
        if let Some(builtin) = module.strip_prefix("builtin:") {
            return builtin::module(builtin).map(Arc::from).ok_or_else(|| {
                let known: Vec<&str> = builtin::BUILTINS.iter().map(|b| b.name).collect();
                Refusal::new(
                    "ModuleNotFound",
                    format!("there is no built-in module {builtin:?} (built-ins: {})", known.join(", ")),
                )
            });
        }
        if !is_digest(module) {
            return Err(Refusal::new(
                "InvalidSpec",
                format!("spec.module: Invalid value: {module:?}: must be sha256:<64 hex digits> or builtin:<name>"),
            ));
        }
        match self.api.store.get_module(module).await {
            Ok(Some(bytes)) => Ok(Arc::from(bytes)),
            Ok(None) => Err(Refusal {
                reason: "ModuleNotFound",
                message: format!("module {module} has not been uploaded (skiff plugin push uploads it)"),
                retry: true,
            }),
            Err(e) => Err(Refusal { reason: "ModuleUnavailable", message: e.to_string(), retry: true }),
        }
    }

    /// Records the outcome in the object's status (a few tries on conflicts).
    async fn write_status(&self, name: &str, outcome: Result<String, Refusal>) {
        for _ in 0..3 {
            let Ok(obj) = self.api.get(&self.rt, None, name).await else { return };
            let Ok(plugin) = serde_json::from_value::<WasmPlugin>(obj.clone()) else { return };
            let status = next_status(&plugin, &outcome, self.serving(name));
            if plugin.status.as_ref() == Some(&status) {
                return;
            }
            let mut updated = obj;
            updated["status"] = serde_json::to_value(&status).unwrap_or(Value::Null);
            let opts = WriteOptions::internal(crate::auth::User::component("plugin-manager"));
            match self.api.update(&self.rt, None, name, Some("status"), updated, opts).await {
                Ok(_) => return,
                Err(e) if e.code == 409 => continue,
                Err(e) => {
                    tracing::warn!(plugin = name, error = %e.message, "cannot write the plugin's status");
                    return;
                }
            }
        }
    }
}

/// The status after a load attempt: conditions, and on success the active
/// revision (an identical earlier revision moves to the top with a new
/// number, as a Deployment's rollback does).
fn next_status(plugin: &WasmPlugin, outcome: &Result<String, Refusal>, serving: bool) -> WasmPluginStatus {
    let mut status = plugin.status.clone().unwrap_or_default();
    let old_conditions = status.conditions.clone();
    status.observed_generation = plugin.metadata.generation;
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::from_second(chrono::Utc::now().timestamp())
            .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    );
    let condition = |type_: &str, ok: bool, reason: &str, message: String| {
        let value = if ok { "True" } else { "False" };
        let since = old_conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == value)
            .and_then(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| now.clone());
        Condition {
            type_: type_.into(),
            status: value.into(),
            reason: Some(reason.into()),
            message: Some(message),
            last_transition_time: Some(since),
        }
    };
    match outcome {
        Ok(digest) => {
            let config = plugin.spec.config.clone();
            let same = |r: &Revision| r.module == plugin.spec.module && &r.digest == digest && r.config == config;
            let revision = match status.revisions.first() {
                Some(top) if same(top) => top.revision,
                _ => {
                    let next = status.revisions.iter().map(|r| r.revision).max().unwrap_or(0) + 1;
                    status.revisions.retain(|r| !same(r));
                    status.revisions.insert(
                        0,
                        Revision {
                            revision: next,
                            module: plugin.spec.module.clone(),
                            digest: digest.clone(),
                            config,
                            loaded_at: Some(now.clone()),
                        },
                    );
                    let keep = plugin.spec.revision_history_limit.unwrap_or(10).max(1) as usize;
                    status.revisions.truncate(keep);
                    next
                }
            };
            status.active_digest = Some(digest.clone());
            status.active_revision = Some(revision);
            status.conditions = vec![
                condition("Ready", true, "Loaded", format!("revision {revision} ({digest}) is serving")),
                condition("Degraded", false, "Loaded", "the newest spec is serving".into()),
            ];
        }
        Err(refusal) => {
            let ready = if serving {
                condition(
                    "Ready",
                    true,
                    "PreviousRevisionServing",
                    format!(
                        "revision {} still serves; the newest spec did not load",
                        status.active_revision.unwrap_or_default()
                    ),
                )
            } else {
                condition("Ready", false, refusal.reason, refusal.message.clone())
            };
            if !serving {
                status.active_digest = None;
                status.active_revision = None;
            }
            status.conditions = vec![ready, condition("Degraded", true, refusal.reason, refusal.message.clone())];
        }
    }
    status
}
