//! Scheduler profiles: which policy serves which `schedulerName`, and the
//! runners that keep one live instance of a policy in step with the cache.
//! The plugin manager installs profiles; the scheduler loop reads them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use skiff_wasm::scheduler::{SchedulerInstance, SchedulerPlugin};
use skiff_wasm::scheduling::model::{Placement, Pod};
use skiff_wasm::scheduling::{Config, Policy};
use skiff_wasm::PluginError;

use super::cache::Cache;

/// Where a profile's decisions come from.
pub enum Source {
    /// A loaded version of a plugin of world scheduler.
    Wasm(Arc<SchedulerPlugin>),
    /// The default policy compiled into the host (to measure the wasm
    /// boundary against; `skiff server --native-scheduler`).
    Native(Config),
}

#[derive(Clone)]
pub struct Profile {
    /// The WasmPlugin that serves it.
    pub plugin: String,
    pub source: Arc<Source>,
}

#[derive(Default)]
pub struct Profiles {
    by_scheduler: Mutex<HashMap<String, Profile>>,
    /// Counts changes, so a busy scheduler loop notices them between batches.
    generation: std::sync::atomic::AtomicU64,
    /// Wakes an idle scheduler loop when profiles change.
    pub changed: tokio::sync::Notify,
}

impl Profiles {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Profile>> {
        self.by_scheduler.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn announce(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.changed.notify_one();
    }

    /// Makes `plugin` serve `scheduler_name` (and nothing else); refused
    /// when another plugin serves that name.
    pub fn install(&self, plugin: &str, scheduler_name: &str, source: Source) -> Result<(), String> {
        let mut map = self.lock();
        if let Some(other) = map.get(scheduler_name).filter(|p| p.plugin != plugin) {
            return Err(format!(
                "schedulerName {scheduler_name:?} is already served by WasmPlugin {:?}; delete it or choose another name",
                other.plugin
            ));
        }
        map.retain(|_, p| p.plugin != plugin);
        map.insert(scheduler_name.to_string(), Profile { plugin: plugin.to_string(), source: Arc::new(source) });
        drop(map);
        self.announce();
        Ok(())
    }

    pub fn remove_plugin(&self, plugin: &str) {
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, p| p.plugin != plugin);
        let changed = map.len() != before;
        drop(map);
        if changed {
            self.announce();
        }
    }

    /// The schedulerName `plugin` serves, if any.
    pub fn served_by(&self, plugin: &str) -> Option<String> {
        self.lock().iter().find(|(_, p)| p.plugin == plugin).map(|(name, _)| name.clone())
    }

    pub fn get(&self, scheduler_name: &str) -> Option<Profile> {
        self.lock().get(scheduler_name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }
}

enum State {
    Native(Policy),
    /// None until the first call, and after a failure.
    Wasm(Arc<SchedulerPlugin>, Option<SchedulerInstance>),
}

/// One live policy instance and how far it has caught up with the cache.
pub struct Runner {
    pub source: Arc<Source>,
    state: State,
    /// The cache version the instance has seen; None: it must be sent every node.
    synced: Option<u64>,
}

impl Runner {
    pub fn new(source: Arc<Source>) -> Runner {
        let state = match &*source {
            Source::Native(config) => State::Native(Policy::new(config.clone())),
            Source::Wasm(plugin) => State::Wasm(plugin.clone(), None),
        };
        Runner { source, state, synced: None }
    }

    /// Brings the instance up to date with `cache`, then places `pods`.
    pub async fn schedule(&mut self, cache: &Cache, pods: &[Pod]) -> Result<Vec<Placement>, PluginError> {
        let result = self.sync_and_schedule(cache, pods).await;
        if result.is_err() {
            // Whatever the instance holds now is unknown: start over next time.
            self.synced = None;
        }
        result
    }

    async fn sync_and_schedule(&mut self, cache: &Cache, pods: &[Pod]) -> Result<Vec<Placement>, PluginError> {
        match &mut self.state {
            State::Native(policy) => {
                match self.synced.filter(|v| cache.can_delta(*v)) {
                    None => policy.set_nodes(cache.all_nodes()),
                    Some(v) if v < cache.version() => {
                        let delta = cache.delta(v);
                        policy.update_nodes(delta.changed, &delta.removed);
                    }
                    Some(_) => {}
                }
                self.synced = Some(cache.version());
                Ok(policy.schedule(pods))
            }
            State::Wasm(plugin, slot) => {
                let instance = match slot {
                    Some(instance) if instance.usable() => instance,
                    _ => {
                        self.synced = None;
                        slot.insert(plugin.instance().await?)
                    }
                };
                match self.synced.filter(|v| cache.can_delta(*v)) {
                    None => instance.set_nodes(&cache.all_nodes()).await?,
                    Some(v) if v < cache.version() => {
                        let delta = cache.delta(v);
                        instance.update_nodes(&delta.changed, &delta.removed).await?;
                    }
                    Some(_) => {}
                }
                self.synced = Some(cache.version());
                instance.schedule(pods).await
            }
        }
    }

    /// The cache counted this instance's own placements (up to `version`):
    /// it already knows them.
    pub fn placed(&mut self, version: u64) {
        if self.synced.is_some() {
            self.synced = Some(version);
        }
    }
}
