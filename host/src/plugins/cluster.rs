//! What plugins may read of the cluster (the `cluster` import): objects by
//! key or by resource, namespace and label selector, straight from the
//! store. Secrets stay out of reach until RBAC can grant them to a plugin's
//! identity.

use std::sync::Arc;

use skiff_apimachinery::labels::Selector;
use skiff_wasm::{wit_error, BoxFuture, Cluster, ErrorCode, GroupVersionResource, ObjectKey, WitError};

use crate::api::key_for;
use crate::resources::{Registry, ResourceType};
use crate::store::Store;

/// The most objects one `list-objects` call returns.
const LIST_LIMIT: usize = 10_000;

pub struct StoreCluster {
    store: Arc<Store>,
}

impl StoreCluster {
    pub fn new(store: Arc<Store>) -> StoreCluster {
        StoreCluster { store }
    }
}

fn resource(plugin: &str, gvr: &GroupVersionResource) -> Result<Arc<ResourceType>, WitError> {
    let rt = Registry::builtin().lookup(&gvr.group, &gvr.version, &gvr.plural).cloned().ok_or_else(|| {
        wit_error(
            ErrorCode::NotFound,
            format!("the server does not have a resource {}/{}/{}", gvr.group, gvr.version, gvr.plural),
        )
    })?;
    if rt.is("", "secrets") {
        return Err(wit_error(
            ErrorCode::Forbidden,
            format!("secrets are forbidden: User \"system:plugin:{plugin}\" cannot read secrets"),
        ));
    }
    Ok(rt)
}

fn unavailable(e: impl std::fmt::Display) -> WitError {
    wit_error(ErrorCode::Unavailable, format!("the store does not answer: {e}"))
}

impl Cluster for StoreCluster {
    fn get<'a>(&'a self, plugin: &'a str, key: ObjectKey) -> BoxFuture<'a, Result<Option<String>, WitError>> {
        Box::pin(async move {
            let rt = resource(plugin, &key.gvr)?;
            let store_key = key_for(&rt, key.namespace.as_deref(), &key.name);
            let obj = self.store.get(&store_key).await.map_err(unavailable)?;
            Ok(obj.map(|o| o.to_string()))
        })
    }

    fn list<'a>(
        &'a self,
        plugin: &'a str,
        gvr: GroupVersionResource,
        namespace: Option<String>,
        label_selector: Option<String>,
    ) -> BoxFuture<'a, Result<Vec<String>, WitError>> {
        Box::pin(async move {
            let rt = resource(plugin, &gvr)?;
            let selector = match label_selector.as_deref().filter(|s| !s.trim().is_empty()) {
                Some(s) => Selector::parse(s)
                    .map_err(|e| wit_error(ErrorCode::InvalidInput, format!("label selector {s:?}: {e}")))?,
                None => Selector::everything(),
            };
            let namespace = if rt.namespaced { namespace.filter(|n| !n.is_empty()) } else { None };
            let items = self.store.list_every(&rt.store_key(), namespace.as_deref()).await.map_err(unavailable)?;
            let out: Vec<String> = items.iter().filter(|o| selector.matches_object(o)).map(|o| o.to_string()).collect();
            if out.len() > LIST_LIMIT {
                return Err(wit_error(
                    ErrorCode::Unsupported,
                    format!("more than {LIST_LIMIT} objects match; narrow the namespace or selector"),
                ));
            }
            Ok(out)
        })
    }
}
