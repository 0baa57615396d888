//! The resource types skiff serves: their names for discovery, how their
//! objects are decoded (typed through `k8s-openapi`, so wrong types and unknown
//! fields are caught), defaulted and validated.

mod codec;
mod defaults;
pub mod validation;

use std::collections::HashMap;
use std::sync::OnceLock;

use k8s_openapi::api::{apps, batch, coordination, core, discovery, networking, rbac, storage};
use k8s_openapi::Resource;

pub use codec::{Codec, FieldValidation, Typed};
pub use defaults::Defaults;

/// One served resource (one group/version/plural).
pub struct ResourceType {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: String,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    /// Has a `status` subresource: the main endpoint ignores status changes.
    pub status: bool,
    /// Has a `scale` subresource backed by `spec.replicas`.
    pub scale: bool,
    pub codec: Box<dyn Codec>,
}

impl ResourceType {
    pub fn is(&self, group: &str, plural: &str) -> bool {
        self.group == group && self.plural == plural
    }

    /// The store's key prefix: `group/plural`.
    pub fn store_key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Whether `generation` tracks changes of this type's desired state.
    pub fn has_generation(&self) -> bool {
        self.status
    }

    /// The propagation policy used when a delete request names none.
    pub fn default_propagation(&self) -> &'static str {
        // batch/v1 Jobs keep their historical default so old clients do not lose pods' logs.
        if self.group == "batch" && self.plural == "jobs" {
            "Orphan"
        } else {
            "Background"
        }
    }
}

struct Spec {
    short: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    scale: bool,
}

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];

fn entry<T>(spec: Spec) -> ResourceType
where
    T: Resource + codec::Decodable + 'static,
{
    let namespaced =
        std::any::TypeId::of::<T::Scope>() == std::any::TypeId::of::<k8s_openapi::NamespaceResourceScope>();
    ResourceType {
        group: T::GROUP,
        version: T::VERSION,
        plural: T::URL_PATH_SEGMENT,
        singular: T::KIND.to_ascii_lowercase(),
        kind: T::KIND,
        namespaced,
        short_names: spec.short,
        categories: spec.categories,
        status: spec.status,
        scale: spec.scale,
        codec: Box::new(Typed::<T>::new()),
    }
}

fn s(short: &'static [&'static str], categories: &'static [&'static str], status: bool, scale: bool) -> Spec {
    Spec { short, categories, status, scale }
}

pub struct Registry {
    types: Vec<ResourceType>,
    by_path: HashMap<(String, String, String), usize>,
    by_kind: HashMap<(String, String), usize>,
}

impl Registry {
    fn build() -> Registry {
        let types = vec![
            entry::<core::v1::Namespace>(s(&["ns"], NONE, true, false)),
            entry::<core::v1::Pod>(s(&["po"], ALL, true, false)),
            entry::<core::v1::Node>(s(&["no"], NONE, true, false)),
            entry::<core::v1::Service>(s(&["svc"], ALL, true, false)),
            entry::<core::v1::Endpoints>(s(&["ep"], NONE, false, false)),
            entry::<core::v1::ConfigMap>(s(&["cm"], NONE, false, false)),
            entry::<core::v1::Secret>(s(NONE, NONE, false, false)),
            entry::<core::v1::Event>(s(&["ev"], NONE, false, false)),
            entry::<core::v1::ServiceAccount>(s(&["sa"], NONE, false, false)),
            entry::<core::v1::PersistentVolume>(s(&["pv"], NONE, true, false)),
            entry::<core::v1::PersistentVolumeClaim>(s(&["pvc"], NONE, true, false)),
            entry::<apps::v1::Deployment>(s(&["deploy"], ALL, true, true)),
            entry::<apps::v1::ReplicaSet>(s(&["rs"], ALL, true, true)),
            entry::<apps::v1::StatefulSet>(s(&["sts"], ALL, true, true)),
            entry::<apps::v1::DaemonSet>(s(&["ds"], ALL, true, false)),
            entry::<apps::v1::ControllerRevision>(s(NONE, NONE, false, false)),
            entry::<batch::v1::Job>(s(NONE, ALL, true, false)),
            entry::<batch::v1::CronJob>(s(&["cj"], ALL, true, false)),
            entry::<networking::v1::Ingress>(s(&["ing"], NONE, true, false)),
            entry::<networking::v1::NetworkPolicy>(s(&["netpol"], NONE, false, false)),
            entry::<storage::v1::StorageClass>(s(&["sc"], NONE, false, false)),
            entry::<rbac::v1::Role>(s(NONE, NONE, false, false)),
            entry::<rbac::v1::RoleBinding>(s(NONE, NONE, false, false)),
            entry::<rbac::v1::ClusterRole>(s(NONE, NONE, false, false)),
            entry::<rbac::v1::ClusterRoleBinding>(s(NONE, NONE, false, false)),
            entry::<coordination::v1::Lease>(s(NONE, NONE, false, false)),
            entry::<discovery::v1::EndpointSlice>(s(NONE, NONE, false, false)),
            entry::<crate::plugins::types::WasmPlugin>(s(&["wp"], NONE, true, false)),
            entry::<crate::plugins::types::PodPreset>(s(NONE, NONE, false, false)),
        ];
        let mut by_path = HashMap::new();
        let mut by_kind = HashMap::new();
        for (i, t) in types.iter().enumerate() {
            by_path.insert((t.group.to_string(), t.version.to_string(), t.plural.to_string()), i);
            by_kind.insert((t.group.to_string(), t.kind.to_string()), i);
        }
        Registry { types, by_path, by_kind }
    }

    /// The process-wide registry.
    pub fn get() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(Registry::build)
    }

    pub fn all(&self) -> &[ResourceType] {
        &self.types
    }

    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.by_path.get(&(group.to_string(), version.to_string(), plural.to_string())).map(|&i| &self.types[i])
    }

    pub fn by_kind(&self, group: &str, kind: &str) -> Option<&ResourceType> {
        self.by_kind.get(&(group.to_string(), kind.to_string())).map(|&i| &self.types[i])
    }

    /// By store key (`group/plural`).
    pub fn by_store_key(&self, key: &str) -> Option<&ResourceType> {
        let (group, plural) = key.split_once('/')?;
        self.types.iter().find(|t| t.group == group && t.plural == plural)
    }

    /// Every group with the versions it serves, in discovery order (core first).
    pub fn groups(&self) -> Vec<(&'static str, Vec<&'static str>)> {
        let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
        for t in &self.types {
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) => {
                    if !versions.contains(&t.version) {
                        versions.push(t.version)
                    }
                }
                None => out.push((t.group, vec![t.version])),
            }
        }
        out
    }

    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a ResourceType> + 'a {
        self.types.iter().filter(move |t| t.group == group && t.version == version)
    }
}
