//! skiff's built-in Pod Security admission plugin: Kubernetes' Pod Security Admission (the
//! privileged, baseline and restricted levels of the Pod Security Standards), as a validating
//! WebAssembly component.
//!
//! - [`level`]: levels, versions and the namespace labels that choose them;
//! - [`checks`]: the standard's checks and their messages;
//! - [`pod`]: the parts of a pod the checks read;
//! - [`config`]: the plugin configuration (like Kubernetes' `PodSecurityConfiguration`);
//! - [`admission`]: what each request gets — deny, warn, log;
//! - this file: the component's entry points, and the cluster and log imports behind them.

pub mod admission;
pub mod checks;
pub mod config;
pub mod level;
pub mod pod;

use skiff_plugin_sdk::admission::{Guest, Mutation, Request, Verdict};
use skiff_plugin_sdk::k8s_openapi::api::core::v1::{self, Namespace};
use skiff_plugin_sdk::log::{self, Level};
use skiff_plugin_sdk::{cluster, Error};

use crate::admission::{Cluster, Outcome};
use crate::config::Config;
use crate::pod::Pod;

struct PodSecurity;

impl Guest for PodSecurity {
    fn init(config: String) -> Result<(), Error> {
        Config::parse(&config).map(drop).map_err(Error::invalid)
    }

    fn validate(req: Request) -> Result<Verdict, Error> {
        // Each call gets a fresh instance, so the configuration is read per call.
        let config: Config = skiff_plugin_sdk::config()?;
        let outcome = admission::review(&config, &HostCluster, &req)?;
        Ok(record(&req, outcome))
    }

    fn mutate(_: Request) -> Result<Mutation, Error> {
        Err(Error::unsupported("pod-security only validates; register it as a validating plugin"))
    }
}

skiff_plugin_sdk::export_admission!(PodSecurity);

/// The cluster as the host shows it to this plugin.
struct HostCluster;

impl Cluster for HostCluster {
    fn namespace(&self, name: &str) -> Result<Option<Namespace>, Error> {
        cluster::get(name)
    }

    fn pods(&self, namespace: &str) -> Result<Vec<Pod>, Error> {
        // Listed untyped and decoded into the plugin's own lean pod type.
        let listed = cluster::list_json(&cluster::gvr::<v1::Pod>(), Some(namespace), None)?;
        listed.iter().map(|json| Ok(serde_json::from_str(json)?)).collect()
    }
}

/// Logs what the outcome asks to (the audit mode's finding, label errors) and returns its verdict.
fn record(req: &Request, outcome: Outcome) -> Verdict {
    let object = req.object_ref();
    let fields = [("uid", req.uid.as_str()), ("resource", req.gvr.plural.as_str()), ("object", object.as_str())];
    if let Some(audit) = &outcome.audit {
        log::write(Level::Info, audit, &fields);
    }
    for error in &outcome.errors {
        log::write(Level::Warn, error, &fields);
    }
    outcome.verdict
}
