//! Namespace lifecycle: a new namespace gets its `default` ServiceAccount; a
//! Terminating namespace is emptied, then its `kubernetes` finalizer is
//! removed so the namespace itself goes away.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::api::{meta, Api, DeleteOptions, ListOptions};
use crate::store::{Change, EventType};

const NAMESPACES: &str = "/namespaces";

pub async fn handle(api: Arc<Api>, change: Arc<Change>) {
    if change.resource != NAMESPACES || change.event == EventType::Deleted {
        return;
    }
    reconcile(&api, &change.object).await;
}

pub async fn resync(api: Arc<Api>) {
    let (Some(rt), Some(sa_rt)) = (
        api.registry().lookup("", "v1", "namespaces").cloned(),
        api.registry().lookup("", "v1", "serviceaccounts").cloned(),
    ) else {
        return;
    };
    let namespaces = match api.list_all(&rt, None, &Default::default()).await {
        Ok(items) => items,
        Err(e) => {
            tracing::warn!(error = %e.message, "namespace resync failed");
            return;
        }
    };
    // One query for every namespace's default ServiceAccount, not one per namespace.
    let defaults = ListOptions { field_selector: Some("metadata.name=default".into()), ..Default::default() };
    let with_default: HashSet<String> = match api.list_all(&sa_rt, None, &defaults).await {
        Ok(items) => items.iter().map(|sa| meta::namespace(sa).to_string()).collect(),
        Err(_) => return,
    };
    for ns in &namespaces {
        if meta::is_deleting(ns) || !with_default.contains(meta::name(ns)) {
            reconcile(&api, ns).await;
        }
    }
}

async fn reconcile(api: &Api, ns: &Value) {
    let name = meta::name(ns).to_string();
    if !meta::is_deleting(ns) {
        ensure_default_service_account(api, &name).await;
        return;
    }
    let keys = match api.store.keys_in_namespace(&name).await {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(namespace = %name, error = %e, "listing namespace contents failed");
            return;
        }
    };
    if keys.is_empty() {
        let Some(rt) = api.registry().lookup("", "v1", "namespaces").cloned() else { return };
        let result = api
            .modify(&crate::auth::User::component("namespace-controller"), &rt, None, &name, Some("finalize"), |obj| {
                let remaining: Vec<Value> = obj["spec"]["finalizers"]
                    .as_array()
                    .map(|f| f.iter().filter(|x| x.as_str() != Some("kubernetes")).cloned().collect())
                    .unwrap_or_default();
                obj["spec"]["finalizers"] = json!(remaining);
                Ok(())
            })
            .await;
        if let Err(e) = result {
            if e.code != 404 {
                tracing::warn!(namespace = %name, error = %e.message, "finalizing namespace failed");
            }
        } else {
            tracing::info!(namespace = %name, "namespace deleted");
        }
        return;
    }
    let opts = DeleteOptions {
        propagation: Some("Background".into()),
        user: Some(crate::auth::User::component("namespace-controller")),
        ..Default::default()
    };
    for key in keys {
        let Some(rt) = api.registry().by_store_key(&key.resource).cloned() else { continue };
        match api.delete(&rt, Some(&name), &key.name, &opts).await {
            Ok(_) => {}
            Err(e) if e.code == 404 => {}
            Err(e) => {
                tracing::warn!(namespace = %name, object = %key.name, error = %e.message, "deleting namespace content failed")
            }
        }
    }
}

async fn ensure_default_service_account(api: &Api, namespace: &str) {
    let Some(rt) = api.registry().lookup("", "v1", "serviceaccounts").cloned() else { return };
    if api.get(&rt, Some(namespace), "default").await.is_ok() {
        return;
    }
    let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
    let opts = crate::api::WriteOptions::internal(crate::auth::User::component("namespace-controller"));
    match api.create(&rt, Some(namespace), sa, opts).await {
        Ok(_) => {}
        // Already there (a race with ourselves) or the namespace is going away.
        Err(e) if e.code == 409 || e.code == 403 || e.code == 404 => {}
        Err(e) => tracing::warn!(namespace, error = %e.message, "creating the default service account failed"),
    }
}
