//! The Kubernetes-compatible API. `Api` owns the object operations (create,
//! read, update, patch, delete, watch) that every component goes through; the
//! HTTP layer in `http` maps requests onto them.

pub mod request;

mod binding;
mod create;
mod delete;
mod discovery;
mod http;
mod list;
mod managed;
mod modules;
mod openapi;
mod patch;
mod proxy;
mod scale;
mod selectors;
mod table;
mod update;
mod watch;

#[cfg(test)]
mod pipeline_tests;

/// Kubernetes `Status` errors and object metadata are shared with the
/// strategies and admission; the API re-exports them under its own name.
pub(crate) use crate::{errors as error, meta};

use std::sync::Arc;

use serde_json::Value;

use crate::admission::Admission;
use crate::auth::User;
use crate::metrics::Metrics;
use crate::resources::{FieldValidation, Registry, ResourceType, Resources};
use crate::store::{Decision, Key, Store, StoreError};
use error::{ApiError, ApiResult};

pub use binding::set_condition as set_pod_condition;
pub use delete::{DeleteOptions, FOREGROUND, ORPHAN};
pub use http::{router, HttpState};
pub use list::ListOptions;

/// Options shared by the write verbs.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_validation: FieldValidation,
    /// Who asks (admission plugins see it; they cannot change it).
    pub user: Arc<User>,
    /// The name field ownership is recorded under (`fieldManager`).
    pub field_manager: String,
    /// Whether the client named the manager (server-side apply requires it).
    pub manager_given: bool,
    /// Server-side apply's `force`.
    pub force: bool,
    /// The object's managedFields were recorded by an apply already.
    pub(super) owners_recorded: bool,
}

impl WriteOptions {
    /// A write the server makes itself, as `user`, recorded under its name.
    pub fn internal(user: Arc<User>) -> WriteOptions {
        WriteOptions {
            dry_run: false,
            field_validation: FieldValidation::Strict,
            field_manager: user.name.clone(),
            manager_given: true,
            force: false,
            owners_recorded: false,
            user,
        }
    }
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions::internal(User::server())
    }
}

/// What a write did.
#[derive(Debug)]
pub enum Outcome {
    /// Created or changed; the object as stored.
    Written(Value),
    /// Created by a write that may also update (server-side apply): 201.
    Created(Value),
    /// The request changed nothing; the object as it is.
    Unchanged(Value),
    /// Removed; the object as it was at removal.
    Deleted(Value),
}

impl Outcome {
    pub fn object(&self) -> &Value {
        match self {
            Outcome::Written(v) | Outcome::Created(v) | Outcome::Unchanged(v) | Outcome::Deleted(v) => v,
        }
    }

    pub fn into_object(self) -> Value {
        match self {
            Outcome::Written(v) | Outcome::Created(v) | Outcome::Unchanged(v) | Outcome::Deleted(v) => v,
        }
    }
}

pub struct Api {
    pub store: Arc<Store>,
    /// The kinds served now: the built-in ones and the CRDs'.
    pub resources: Resources,
    /// The server's version, answered at /version.
    pub version: Value,
    /// Flips to true when the server shuts down; long requests (watches) end then.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Held from choosing a Service's cluster IP and node ports until it is
    /// stored, so two creates never pick the same ones.
    service_addresses: tokio::sync::Mutex<()>,
    /// The admission plugins every write goes through.
    pub admission: Admission,
}

/// The key an object of `rt` is stored under.
pub fn key_for(rt: &ResourceType, namespace: Option<&str>, name: &str) -> Key {
    Key::new(&rt.store_key(), if rt.namespaced { namespace.unwrap_or("") } else { "" }, name)
}

impl Api {
    /// `cluster` is what admission plugins may read of the cluster.
    pub fn new(
        store: Arc<Store>,
        shutdown: tokio::sync::watch::Receiver<bool>,
        metrics: Arc<Metrics>,
        cluster: Arc<dyn skiff_wasm::Cluster>,
    ) -> Arc<Api> {
        Arc::new(Api {
            admission: Admission::new(store.clone(), metrics, cluster),
            store,
            resources: Resources::new(),
            version: version_info(),
            shutdown,
            service_addresses: tokio::sync::Mutex::new(()),
        })
    }

    /// The kinds served at this moment.
    pub fn registry(&self) -> Arc<Registry> {
        self.resources.current()
    }

    /// Reads the current object, decides, and writes the decision atomically.
    /// With `dry_run` the decision is computed the same way but not written.
    pub(crate) async fn commit<F>(&self, rt: &ResourceType, key: &Key, dry_run: bool, decide: F) -> ApiResult<Outcome>
    where
        F: FnOnce(Option<Value>) -> ApiResult<Decision>,
    {
        let map_store = |e: StoreError| ApiError::from_store(e, &rt.group, &rt.plural, &key.name);
        let decide = |current: Option<Value>| {
            let decision = decide(current.map(|c| rt.as_served(c)))?;
            if let Decision::Put(obj) = &decision {
                check_storable(obj)?;
            }
            Ok(decision)
        };
        if dry_run {
            let current = self.store.get(key).await.map_err(map_store)?;
            return Ok(match decide(current.clone())? {
                Decision::Put(v) => Outcome::Written(v),
                Decision::Keep => Outcome::Unchanged(current.unwrap_or(Value::Null)),
                Decision::Delete => match current {
                    Some(v) => Outcome::Deleted(v),
                    None => return Err(ApiError::not_found(&rt.group, &rt.plural, &key.name)),
                },
            });
        }
        let mut kept: Option<Value> = None;
        let mut deleting = false;
        let written = self
            .store
            .mutate::<WriteError, _>(key, |current| {
                let snapshot = current.clone();
                let decision = decide(current).map_err(WriteError::Api)?;
                match &decision {
                    Decision::Keep => kept = snapshot,
                    Decision::Delete => deleting = true,
                    Decision::Put(_) => {}
                }
                Ok(decision)
            })
            .await
            .map_err(|e| match e {
                WriteError::Api(e) => e,
                WriteError::Store(e) => map_store(e),
            })?;
        Ok(match written {
            Some(v) if deleting => Outcome::Deleted(rt.as_served(v)),
            Some(v) => Outcome::Written(v),
            None => Outcome::Unchanged(rt.as_served(kept.unwrap_or(Value::Null))),
        })
    }

    /// Reads one object.
    pub async fn get(&self, rt: &ResourceType, namespace: Option<&str>, name: &str) -> ApiResult<Value> {
        let key = key_for(rt, namespace, name);
        self.store
            .get(&key)
            .await
            .map_err(|e| ApiError::from_store(e, &rt.group, &rt.plural, name))?
            .map(|o| rt.as_served(o))
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
    }

    /// A read-modify-write by one of the server's own components (`user`),
    /// through the same pipeline as a client's update: admission included.
    /// `change` may run more than once if the object changes meanwhile.
    pub async fn modify<F>(
        &self,
        user: &Arc<User>,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        change: F,
    ) -> ApiResult<Outcome>
    where
        F: Fn(&mut Value) -> ApiResult<()>,
    {
        let key = key_for(rt, namespace, name);
        let mut opts = WriteOptions::internal(user.clone());
        opts.field_validation = FieldValidation::Ignore;
        let how = update::Finish::new(&opts, subresource);
        let compute = |old: Value, validate: bool| {
            let mut new = old.clone();
            change(&mut new)?;
            update::finish(rt, old, new, &how, validate)
        };
        let (outcome, _) = self.write_update(rt, &key, subresource, &opts, compute, None).await?;
        Ok(outcome)
    }
}

/// Objects are stored as JSON and read back with serde_json, whose parser
/// refuses nesting deeper than 128; refuse to write what could not be read.
const MAX_DEPTH: usize = 100;

/// What may be written: at most as large as a request body, and no deeper
/// than MAX_DEPTH (patches can build either out of a small request).
fn check_storable(obj: &Value) -> ApiResult<()> {
    fn depth(v: &Value, at: usize) -> bool {
        if at > MAX_DEPTH {
            return false;
        }
        match v {
            Value::Array(items) => items.iter().all(|i| depth(i, at + 1)),
            Value::Object(map) => map.values().all(|i| depth(i, at + 1)),
            _ => true,
        }
    }
    if !depth(obj, 0) {
        return Err(ApiError::unprocessable(format!("the object is nested deeper than {MAX_DEPTH} levels")));
    }
    let size = serde_json::to_vec(obj).map(|b| b.len()).unwrap_or(usize::MAX);
    if size > request::MAX_BODY {
        return Err(ApiError::entity_too_large(format!(
            "the object would be {size} bytes; the limit is {}",
            request::MAX_BODY
        )));
    }
    Ok(())
}

enum WriteError {
    Api(ApiError),
    Store(StoreError),
}

impl From<StoreError> for WriteError {
    fn from(e: StoreError) -> Self {
        WriteError::Store(e)
    }
}

fn version_info() -> Value {
    serde_json::json!({
        "major": "1",
        "minor": "37",
        "emulationMajor": "1",
        "emulationMinor": "37",
        "gitVersion": format!("v1.37.0-skiff.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_too_deep_or_too_large_are_not_storable() {
        let mut deep = Value::String("leaf".into());
        for _ in 0..=MAX_DEPTH {
            deep = serde_json::json!({ "a": deep });
        }
        assert_eq!(check_storable(&deep).unwrap_err().code, 422);
        let big = serde_json::json!({"data": {"k": "x".repeat(request::MAX_BODY)}});
        assert_eq!(check_storable(&big).unwrap_err().code, 413);
        assert!(check_storable(&serde_json::json!({"metadata": {"name": "ok"}})).is_ok());
    }
}
