//! The resource types skiff serves: their names for discovery, how their
//! objects are decoded (typed through `k8s-openapi`, so wrong types and unknown
//! fields are caught), defaulted and validated.

mod codec;
pub mod custom;
mod defaults;
pub mod kinds;
mod strategy;
pub mod validation;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use k8s_openapi::api::{apps, batch, coordination, core, discovery, networking, rbac, storage};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
use k8s_openapi::Resource;
use serde_json::Value;

pub use codec::{Codec, FieldValidation, Typed};
pub use defaults::Defaults;
pub use strategy::{
    read_path, write_path, GracefulDelete, NameRule, Plain, Propagation, ScalePaths, SelectorForm, Strategy,
    Subresource,
};

const ALL_API_EXTENSIONS: &[&str] = &["api-extensions"];

/// One served resource (one group/version/plural): its names, how its
/// objects are typed ([`Codec`]) and how the verbs treat them ([`Strategy`]).
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Has a `status` subresource: the main endpoint ignores status changes.
    pub status: bool,
    /// Whether `generation` counts changes of the desired state.
    pub generation: bool,
    /// Added by a CustomResourceDefinition.
    pub custom: bool,
    /// The version objects are stored in (a CRD may serve several).
    pub storage: bool,
    pub codec: Box<dyn Codec>,
    pub strategy: Box<dyn Strategy>,
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
        self.list_kind.clone()
    }

    /// Whether `generation` tracks changes of this type's desired state.
    pub fn has_generation(&self) -> bool {
        self.generation
    }

    /// `obj` as this version serves it. Custom resources' versions share one
    /// schema shape (conversion strategy None), so only apiVersion differs.
    pub fn as_served(&self, mut obj: Value) -> Value {
        if self.custom && obj.is_object() && obj["apiVersion"].as_str() != Some(self.api_version().as_str()) {
            obj["apiVersion"] = Value::String(self.api_version());
        }
        obj
    }

    /// Whether a CustomResourceDefinition added the kind.
    pub fn is_custom(&self) -> bool {
        self.custom
    }

    /// Whether the kind has a `scale` subresource.
    pub fn scale(&self) -> Option<ScalePaths> {
        self.strategy.scale()
    }

    /// The propagation policy used when a delete request names none.
    pub fn default_propagation(&self) -> &'static str {
        self.strategy.default_propagation().as_str()
    }
}

struct Spec {
    short: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
}

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];

fn entry<T>(spec: Spec, strategy: impl Strategy + 'static) -> Arc<ResourceType>
where
    T: Resource + codec::Decodable + 'static,
{
    let namespaced =
        std::any::TypeId::of::<T::Scope>() == std::any::TypeId::of::<k8s_openapi::NamespaceResourceScope>();
    Arc::new(ResourceType {
        group: T::GROUP.into(),
        version: T::VERSION.into(),
        plural: T::URL_PATH_SEGMENT.into(),
        singular: T::KIND.to_ascii_lowercase(),
        kind: T::KIND.into(),
        list_kind: format!("{}List", T::KIND),
        namespaced,
        short_names: spec.short.iter().map(|s| s.to_string()).collect(),
        categories: spec.categories.iter().map(|s| s.to_string()).collect(),
        status: spec.status,
        generation: spec.status,
        custom: false,
        storage: true,
        codec: Box::new(Typed::<T>::new()),
        strategy: Box::new(strategy),
    })
}

fn s(short: &'static [&'static str], categories: &'static [&'static str], status: bool) -> Spec {
    Spec { short, categories, status }
}

/// The kinds served at one moment: the built-in ones and those the
/// CustomResourceDefinitions add. A new set replaces the old whole (see
/// [`Resources`]), so a request sees one consistent registry.
pub struct Registry {
    types: Vec<Arc<ResourceType>>,
    by_path: HashMap<(String, String, String), usize>,
    by_kind: HashMap<(String, String), usize>,
}

impl Registry {
    fn builtin_types() -> Vec<Arc<ResourceType>> {
        vec![
            entry::<core::v1::Namespace>(s(&["ns"], NONE, true), kinds::Namespace),
            entry::<core::v1::Pod>(s(&["po"], ALL, true), kinds::Pod),
            entry::<core::v1::Node>(s(&["no"], NONE, true), kinds::Node),
            entry::<core::v1::Service>(s(&["svc"], ALL, true), kinds::Service),
            entry::<core::v1::Endpoints>(s(&["ep"], NONE, false), Plain),
            entry::<core::v1::ConfigMap>(s(&["cm"], NONE, false), kinds::ConfigMap),
            entry::<core::v1::Secret>(s(NONE, NONE, false), kinds::Secret),
            entry::<core::v1::Event>(s(&["ev"], NONE, false), kinds::Event),
            entry::<core::v1::ServiceAccount>(s(&["sa"], NONE, false), Plain),
            entry::<core::v1::PersistentVolume>(s(&["pv"], NONE, true), kinds::PersistentVolume),
            entry::<core::v1::PersistentVolumeClaim>(s(&["pvc"], NONE, true), kinds::PersistentVolumeClaim),
            entry::<apps::v1::Deployment>(s(&["deploy"], ALL, true), kinds::Deployment),
            entry::<apps::v1::ReplicaSet>(s(&["rs"], ALL, true), kinds::ReplicaSet),
            entry::<apps::v1::StatefulSet>(s(&["sts"], ALL, true), kinds::StatefulSet),
            entry::<apps::v1::DaemonSet>(s(&["ds"], ALL, true), kinds::DaemonSet),
            entry::<apps::v1::ControllerRevision>(s(NONE, NONE, false), Plain),
            entry::<batch::v1::Job>(s(NONE, ALL, true), kinds::Job),
            entry::<batch::v1::CronJob>(s(&["cj"], ALL, true), kinds::CronJob),
            entry::<networking::v1::Ingress>(s(&["ing"], NONE, true), kinds::Ingress),
            entry::<networking::v1::NetworkPolicy>(s(&["netpol"], NONE, false), Plain),
            entry::<storage::v1::StorageClass>(s(&["sc"], NONE, false), kinds::StorageClass),
            entry::<rbac::v1::Role>(s(NONE, NONE, false), kinds::Rbac),
            entry::<rbac::v1::RoleBinding>(s(NONE, NONE, false), kinds::RoleBinding),
            entry::<rbac::v1::ClusterRole>(s(NONE, NONE, false), kinds::Rbac),
            entry::<rbac::v1::ClusterRoleBinding>(s(NONE, NONE, false), kinds::RoleBinding),
            entry::<coordination::v1::Lease>(s(NONE, NONE, false), Plain),
            entry::<discovery::v1::EndpointSlice>(s(NONE, NONE, false), kinds::EndpointSlice),
            entry::<apiextensions::v1::CustomResourceDefinition>(
                s(&["crd", "crds"], ALL_API_EXTENSIONS, true),
                kinds::CustomResourceDefinition,
            ),
            entry::<kinds::WasmPlugin>(s(&["wp"], NONE, true), kinds::WasmPluginStrategy),
            entry::<kinds::PodPreset>(s(NONE, NONE, false), Plain),
        ]
    }

    /// The built-in kinds alone (what tests and tools that never see a CRD use).
    pub fn builtin() -> Arc<Registry> {
        static BUILTIN: OnceLock<Arc<Registry>> = OnceLock::new();
        BUILTIN.get_or_init(|| Arc::new(Registry::new(Registry::builtin_types()))).clone()
    }

    fn new(types: Vec<Arc<ResourceType>>) -> Registry {
        let mut by_path = HashMap::new();
        let mut by_kind = HashMap::new();
        for (i, t) in types.iter().enumerate() {
            by_path.insert((t.group.clone(), t.version.clone(), t.plural.clone()), i);
            by_kind.entry((t.group.clone(), t.kind.clone())).or_insert(i);
        }
        Registry { types, by_path, by_kind }
    }

    /// The built-in kinds plus `custom` (which never shadow a built-in one).
    pub fn with_custom(custom: Vec<Arc<ResourceType>>) -> Registry {
        let mut types = Registry::builtin().types.clone();
        for t in custom {
            if !types.iter().any(|b| b.group == t.group && b.version == t.version && b.plural == t.plural) {
                types.push(t);
            }
        }
        Registry::new(types)
    }

    pub fn all(&self) -> &[Arc<ResourceType>] {
        &self.types
    }

    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<&Arc<ResourceType>> {
        self.by_path.get(&(group.to_string(), version.to_string(), plural.to_string())).map(|&i| &self.types[i])
    }

    pub fn by_kind(&self, group: &str, kind: &str) -> Option<&Arc<ResourceType>> {
        self.by_kind.get(&(group.to_string(), kind.to_string())).map(|&i| &self.types[i])
    }

    /// By store key (`group/plural`): the storage version's type.
    pub fn by_store_key(&self, key: &str) -> Option<&Arc<ResourceType>> {
        let (group, plural) = key.split_once('/')?;
        let mut same = self.types.iter().filter(|t| t.group == group && t.plural == plural);
        let first = same.next()?;
        Some(if first.storage { first } else { same.find(|t| t.storage).unwrap_or(first) })
    }

    /// Every group with the versions it serves, in discovery order (core
    /// first; a group's versions in the order they were registered, the
    /// preferred one first).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in &self.types {
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) => {
                    if !versions.contains(&t.version) {
                        versions.push(t.version.clone())
                    }
                }
                None => out.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        for (_, versions) in out.iter_mut() {
            versions.sort_by(|a, b| version_priority(b).cmp(&version_priority(a)).then(a.cmp(b)));
        }
        out
    }

    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a Arc<ResourceType>> + 'a {
        self.types.iter().filter(move |t| t.group == group && t.version == version)
    }
}

/// Kubernetes' version priority: GA above beta above alpha, higher numbers
/// first; versions of another shape come last.
fn version_priority(v: &str) -> (u8, u64, u64) {
    let Some(rest) = v.strip_prefix('v') else { return (0, 0, 0) };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u64>() else { return (0, 0, 0) };
    let tail = &rest[digits.len()..];
    let (level, minor) = match tail {
        "" => (3, 0),
        t if t.starts_with("beta") => (2, t[4..].parse().unwrap_or(u64::MAX)),
        t if t.starts_with("alpha") => (1, t[5..].parse().unwrap_or(u64::MAX)),
        _ => return (0, 0, 0),
    };
    if level < 3 && tail[if level == 2 { 4 } else { 5 }..].parse::<u64>().is_err() {
        return (0, 0, 0);
    }
    (level, major, minor)
}

/// The registry in force, swapped whole when CustomResourceDefinitions
/// change; readers take a snapshot and keep it for their request.
pub struct Resources {
    current: RwLock<Arc<Registry>>,
    /// What the current registry was built from.
    fingerprint: std::sync::Mutex<String>,
}

impl Resources {
    pub fn new() -> Resources {
        Resources { current: RwLock::new(Registry::builtin()), fingerprint: Default::default() }
    }

    pub fn current(&self) -> Arc<Registry> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Builds and swaps in a new registry when `fingerprint` (what it is
    /// built from) differs from the last one's.
    pub fn replace_if_changed(&self, fingerprint: String, build: impl FnOnce() -> Registry) {
        let mut last = self.fingerprint.lock().unwrap_or_else(|p| p.into_inner());
        if *last == fingerprint {
            return;
        }
        let registry = Arc::new(build());
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = registry;
        *last = fingerprint;
    }
}

impl Default for Resources {
    fn default() -> Self {
        Resources::new()
    }
}
