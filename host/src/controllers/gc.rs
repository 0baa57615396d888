//! The garbage collector: dependents (objects whose `ownerReferences` name an
//! owner) follow their owner's deletion per its propagation policy —
//! background (owner first, then dependents), foreground (dependents first,
//! the owner waits on the `foregroundDeletion` finalizer) or orphan
//! (dependents lose the owner reference, then the `orphan` finalizer goes).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;

use crate::api::{meta, Api, DeleteOptions, FOREGROUND, ORPHAN};
use crate::resources::ResourceType;
use crate::store::{Change, EventType, Key};

pub async fn handle(api: Arc<Api>, change: Arc<Change>) {
    let Some(rt) = api.registry().by_store_key(&change.resource).cloned() else { return };
    let obj = &change.object;
    match change.event {
        EventType::Deleted => {
            collect_dependents_of(&api, &rt, obj).await;
            // A dependent going away may let a foreground-deleting owner finish.
            for (owner_rt, owner_obj) in owners_of(&api, obj).await {
                if let Some(owner_rt) = owner_rt.filter(|_| pending(&owner_obj, FOREGROUND)) {
                    foreground(&api, &owner_rt, &owner_obj).await;
                }
            }
        }
        _ => {
            if pending(obj, ORPHAN) {
                orphan(&api, &rt, obj).await;
            } else if pending(obj, FOREGROUND) {
                foreground(&api, &rt, obj).await;
            }
        }
    }
}

/// Sweeps for dangling owner references on the first resync and then every
/// SWEEP_EVERY-th: they only arise when the collector could not follow the log.
const SWEEP_EVERY: u64 = 30;

pub async fn resync(api: Arc<Api>) {
    static RESYNCS: AtomicU64 = AtomicU64::new(0);
    if RESYNCS.fetch_add(1, Ordering::Relaxed).is_multiple_of(SWEEP_EVERY) {
        sweep_dangling(&api).await;
    }
    for needle in [FOREGROUND, ORPHAN] {
        let candidates = match api.store.scan_containing(None, needle).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "garbage collector resync failed");
                return;
            }
        };
        for (key, obj) in candidates {
            let Some(rt) = api.registry().by_store_key(&key.resource).cloned() else { continue };
            if !pending(&obj, needle) {
                continue;
            }
            if needle == ORPHAN {
                orphan(&api, &rt, &obj).await;
            } else {
                foreground(&api, &rt, &obj).await;
            }
        }
    }
}

/// Deletes objects none of whose owners exist any more (owners deleted while
/// the collector was not following the log).
async fn sweep_dangling(api: &Api) {
    let candidates = match api.store.scan_containing(None, "ownerReferences").await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "garbage collector sweep failed");
            return;
        }
    };
    let opts = DeleteOptions {
        propagation: Some("Background".into()),
        user: Some(crate::auth::User::component("garbage-collector")),
        ..Default::default()
    };
    for (key, obj) in candidates {
        let has_owners = obj["metadata"]["ownerReferences"].as_array().is_some_and(|r| !r.is_empty());
        if !has_owners || meta::is_deleting(&obj) {
            continue;
        }
        let Some(rt) = api.registry().by_store_key(&key.resource).cloned() else { continue };
        if owners_of(api, &obj).await.is_empty() {
            tracing::info!(object = %key.name, resource = %key.resource, "collecting an object whose owners are gone");
            log_err(api.delete(&rt, namespace_of(&key), &key.name, &opts).await.map(|_| ()), &key.name, "collecting");
        }
    }
}

/// Being deleted and waiting on the garbage collector's `finalizer`.
fn pending(obj: &Value, finalizer: &str) -> bool {
    meta::is_deleting(obj) && meta::finalizers(obj).iter().any(|f| f == finalizer)
}

/// The namespace to address `key`'s object in (None when cluster-scoped).
fn namespace_of(key: &Key) -> Option<&str> {
    Some(key.namespace.as_str()).filter(|n| !n.is_empty())
}

/// Objects that name `owner` in their ownerReferences.
async fn dependents(api: &Api, owner_rt: &ResourceType, owner: &Value) -> Vec<(Key, Value)> {
    let uid = owner["metadata"]["uid"].as_str().unwrap_or("");
    if uid.is_empty() {
        return Vec::new();
    }
    let scope = if owner_rt.namespaced { Some(meta::namespace(owner)) } else { None };
    match api.store.scan_containing(scope, uid).await {
        Ok(found) => found
            .into_iter()
            .filter(|(_, obj)| {
                obj["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"].as_str() == Some(uid)))
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "looking up dependents failed");
            Vec::new()
        }
    }
}

/// The owners of `obj` that still exist. An owner that could not be read
/// counts as existing (with a null object), and so does one of a kind this
/// server does not serve (with no type): the collector only acts on certainty.
async fn owners_of(api: &Api, obj: &Value) -> Vec<(Option<std::sync::Arc<ResourceType>>, Value)> {
    let mut out = Vec::new();
    for r in obj["metadata"]["ownerReferences"].as_array().into_iter().flatten() {
        let group = r["apiVersion"].as_str().and_then(|v| v.rsplit_once('/').map(|(g, _)| g)).unwrap_or("");
        let Some(rt) = api.registry().by_kind(group, r["kind"].as_str().unwrap_or("")).cloned() else {
            // A kind this server does not serve cannot be checked: assume it exists.
            out.push((None, Value::Null));
            continue;
        };
        let ns = if rt.namespaced { Some(meta::namespace(obj)) } else { None };
        match api.get(&rt, ns, r["name"].as_str().unwrap_or("")).await {
            Ok(owner) if owner["metadata"]["uid"] == r["uid"] => out.push((Some(rt), owner)),
            // Gone, or a new object under the same name: this owner no longer exists.
            Ok(_) => {}
            Err(e) if e.code == 404 => {}
            // Unsure: count it as alive, so nothing is collected on a hiccup.
            Err(_) => out.push((Some(rt), Value::Null)),
        }
    }
    out
}

/// After an owner is gone: dependents with no remaining owner are deleted
/// (background); those with other live owners just lose the dangling reference.
async fn collect_dependents_of(api: &Api, rt: &ResourceType, owner: &Value) {
    let uid = owner["metadata"]["uid"].clone();
    for (key, dep) in dependents(api, rt, owner).await {
        let Some(dep_rt) = api.registry().by_store_key(&key.resource).cloned() else { continue };
        let live = owners_of(api, &dep).await;
        let ns = namespace_of(&key);
        if live.is_empty() {
            let opts = DeleteOptions {
                propagation: Some("Background".into()),
                user: Some(crate::auth::User::component("garbage-collector")),
                ..Default::default()
            };
            log_err(api.delete(&dep_rt, ns, &key.name, &opts).await.map(|_| ()), &key.name, "deleting dependent");
        } else {
            drop_owner_reference(api, &dep_rt, &key, &uid, "removing a dangling owner reference").await;
        }
    }
}

/// Removes `dependent`'s reference to the owner `uid`.
async fn drop_owner_reference(api: &Api, rt: &ResourceType, dependent: &Key, uid: &Value, what: &str) {
    let ns = namespace_of(dependent);
    let result = api
        .modify(&crate::auth::User::component("garbage-collector"), rt, ns, &dependent.name, None, |obj| {
            remove_owner_ref(obj, uid);
            Ok(())
        })
        .await;
    log_err(result.map(|_| ()), &dependent.name, what);
}

fn remove_owner_ref(obj: &mut Value, uid: &Value) {
    if let Some(refs) = obj["metadata"]["ownerReferences"].as_array_mut() {
        refs.retain(|r| &r["uid"] != uid);
        if refs.is_empty() {
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("ownerReferences");
            }
        }
    }
}

async fn orphan(api: &Api, rt: &ResourceType, owner: &Value) {
    let uid = owner["metadata"]["uid"].clone();
    for (key, _) in dependents(api, rt, owner).await {
        let Some(dep_rt) = api.registry().by_store_key(&key.resource).cloned() else { continue };
        drop_owner_reference(api, &dep_rt, &key, &uid, "orphaning dependent").await;
    }
    remove_finalizer(api, rt, owner, ORPHAN).await;
}

async fn foreground(api: &Api, rt: &ResourceType, owner: &Value) {
    let deps = dependents(api, rt, owner).await;
    if deps.is_empty() {
        remove_finalizer(api, rt, owner, FOREGROUND).await;
        return;
    }
    let opts = DeleteOptions {
        propagation: Some("Foreground".into()),
        user: Some(crate::auth::User::component("garbage-collector")),
        ..Default::default()
    };
    for (key, dep) in deps {
        if meta::is_deleting(&dep) {
            continue;
        }
        let Some(dep_rt) = api.registry().by_store_key(&key.resource).cloned() else { continue };
        let ns = namespace_of(&key);
        log_err(
            api.delete(&dep_rt, ns, &key.name, &opts).await.map(|_| ()),
            &key.name,
            "deleting dependent (foreground)",
        );
    }
}

async fn remove_finalizer(api: &Api, rt: &ResourceType, obj: &Value, finalizer: &str) {
    let ns = if rt.namespaced { Some(meta::namespace(obj)) } else { None };
    let name = meta::name(obj).to_string();
    let result = api
        .modify(&crate::auth::User::component("garbage-collector"), rt, ns, &name, None, |o| {
            if let Some(list) = o["metadata"]["finalizers"].as_array_mut() {
                list.retain(|f| f.as_str() != Some(finalizer));
            }
            Ok(())
        })
        .await;
    log_err(result.map(|_| ()), &name, "removing a garbage-collector finalizer");
}

fn log_err(result: Result<(), crate::errors::ApiError>, name: &str, what: &str) {
    if let Err(e) = result {
        if e.code != 404 {
            tracing::warn!(object = name, error = %e.message, "{what} failed");
        }
    }
}
