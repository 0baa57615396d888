//! Admission plugins: a loaded version of a component of world
//! `admission-policy`, ready to validate or mutate requests.

use std::sync::Arc;

use wasmtime::Store;

use crate::bindings::AdmissionPolicyPre;
use crate::engine::PluginEngine;
use crate::error::PluginError;
use crate::sandbox::{self, Cluster, HostState, Limits};

pub use crate::bindings::admission::{Change, Mutation, Operation, Request, UserInfo, Verdict};

/// One loaded version: compiled, linked and pre-instantiated, its `init`
/// passed. Every call instantiates it afresh, so versions are immutable and
/// a hot swap is replacing one `Arc<AdmissionPlugin>` by another.
pub struct AdmissionPlugin {
    name: Arc<str>,
    digest: String,
    config: Arc<str>,
    limits: Limits,
    engine: PluginEngine,
    pre: AdmissionPolicyPre<HostState>,
}

enum Call<'a> {
    Init,
    Validate(&'a Request),
    Mutate(&'a Request),
}

enum Answer {
    Ready,
    Verdict(Verdict),
    Mutation(Mutation),
}

impl AdmissionPlugin {
    /// Compiles (or takes from the cache) and links `module`, then runs its
    /// `init(config)`: only a version that passes is returned.
    pub async fn load(
        engine: &PluginEngine,
        name: &str,
        module: Arc<[u8]>,
        config: String,
        limits: Limits,
        cluster: Arc<dyn Cluster>,
    ) -> Result<AdmissionPlugin, PluginError> {
        let (digest, pre) = engine.prepare(module, limits).await?;
        let pre = AdmissionPolicyPre::new(pre).map_err(|e| {
            PluginError::Load(format!("the module does not export the admission interface of skiff:plugin: {e:#}"))
        })?;
        let plugin =
            AdmissionPlugin { name: name.into(), digest, config: config.into(), limits, engine: engine.clone(), pre };
        plugin.call(Call::Init, cluster).await?;
        Ok(plugin)
    }

    /// `sha256:<hex>` of the module.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    pub async fn validate(&self, request: &Request, cluster: Arc<dyn Cluster>) -> Result<Verdict, PluginError> {
        match self.call(Call::Validate(request), cluster).await? {
            Answer::Verdict(v) => Ok(v),
            _ => Err(PluginError::Trap("validate gave no verdict".into())),
        }
    }

    pub async fn mutate(&self, request: &Request, cluster: Arc<dyn Cluster>) -> Result<Mutation, PluginError> {
        match self.call(Call::Mutate(request), cluster).await? {
            Answer::Mutation(m) => Ok(m),
            _ => Err(PluginError::Trap("mutate gave no mutation".into())),
        }
    }

    async fn call(&self, call: Call<'_>, cluster: Arc<dyn Cluster>) -> Result<Answer, PluginError> {
        let mut store = sandbox::new_store(&self.engine, &self.name, &self.config, self.limits, cluster);
        let outcome = self.run(&mut store, call).await;
        sandbox::finish(&mut store, self.limits, outcome)
    }

    async fn run(
        &self,
        store: &mut Store<HostState>,
        call: Call<'_>,
    ) -> wasmtime::Result<Result<Answer, crate::WitError>> {
        let instance = self.pre.instantiate_async(&mut *store).await?;
        let admission = instance.skiff_plugin_admission();
        // Every instance is fresh, so every call starts with the configuration.
        let config = self.config.to_string();
        if let Err(e) = admission.call_init(&mut *store, &config).await? {
            return Ok(Err(e));
        }
        Ok(match call {
            Call::Init => Ok(Answer::Ready),
            Call::Validate(request) => admission.call_validate(&mut *store, request).await?.map(Answer::Verdict),
            Call::Mutate(request) => admission.call_mutate(&mut *store, request).await?.map(Answer::Mutation),
        })
    }
}
