//! CustomResourceDefinitions: which CRDs' names are accepted (no clash with
//! a built-in kind or an older CRD of the same group), the registry that
//! serves them (swapped whole, so discovery and OpenAPI follow), each CRD's
//! status (acceptedNames, NamesAccepted, Established, storedVersions) and,
//! when a CRD is deleted, the removal of its objects before the CRD goes.
//!
//! Every server runs this loop (the registry is each process's own); the
//! status it writes is the same whichever server writes it.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::api::{meta, Api, DeleteOptions, ListOptions};
use crate::auth::User;
use crate::resources::{custom, Registry, ResourceType};
use crate::store::Change;

const CRDS: &str = "apiextensions.k8s.io/customresourcedefinitions";
/// Held by every CRD until its objects are gone, as in Kubernetes (set by the CRD strategy).
const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

pub async fn handle(api: Arc<Api>, change: Arc<Change>) {
    if change.resource == CRDS {
        resync(api).await;
    }
}

pub async fn resync(api: Arc<Api>) {
    let Some(crd_rt) = Registry::builtin().lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions").cloned()
    else {
        return;
    };
    let mut crds = match api.list_all(&crd_rt, None, &ListOptions::default()).await {
        Ok(items) => items,
        Err(e) => {
            tracing::warn!(error = %e.message, "listing CustomResourceDefinitions failed");
            return;
        }
    };
    // The oldest CRD keeps a contested name.
    crds.sort_by(|a, b| {
        let ts = |o: &Value| o["metadata"]["creationTimestamp"].as_str().unwrap_or("").to_string();
        ts(a).cmp(&ts(b)).then_with(|| meta::name(a).cmp(meta::name(b)))
    });
    let builtin = Registry::builtin();
    let mut taken: HashSet<(String, String)> = HashSet::new();
    for t in builtin.all() {
        for n in [&t.plural, &t.singular, &t.kind].into_iter().chain(t.short_names.iter()) {
            taken.insert((t.group.clone(), n.to_ascii_lowercase()));
        }
    }
    let mut served: Vec<Arc<ResourceType>> = Vec::new();
    let mut fingerprint = Vec::new();
    let mut verdicts = Vec::new();
    for crd in &crds {
        let group = crd["spec"]["group"].as_str().unwrap_or("").to_string();
        let names = &crd["spec"]["names"];
        // Each name with the reason Kubernetes gives when it is taken.
        let wanted: Vec<(&str, String)> = [
            ("plural", "PluralConflict"),
            ("singular", "SingularConflict"),
            ("kind", "KindConflict"),
            ("listKind", "ListKindConflict"),
        ]
        .iter()
        .filter_map(|(f, reason)| names[*f].as_str().map(|n| (*reason, n.to_string())))
        .chain(
            names["shortNames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|n| ("ShortNamesConflict", n.to_string())),
        )
        .filter(|(_, n)| !n.is_empty())
        .map(|(r, n)| (r, n.to_ascii_lowercase()))
        .collect();
        let clash = wanted.iter().find(|(_, n)| taken.contains(&(group.clone(), n.clone()))).cloned();
        if clash.is_none() {
            for (_, n) in &wanted {
                taken.insert((group.clone(), n.clone()));
            }
        }
        let deleting = meta::is_deleting(crd);
        let mut serving = false;
        if clash.is_none() {
            let types = custom::types_for(crd, deleting);
            if !types.is_empty() {
                // The spec (generation) and whether it is going decide what is served; status writes do not.
                let generation = crd["metadata"]["generation"].as_i64().unwrap_or(0);
                fingerprint.push(format!("{}@{generation}{}", meta::name(crd), if deleting { "-" } else { "" }));
                served.extend(types);
                serving = true;
            }
        }
        verdicts.push((crd.clone(), clash, serving));
    }
    api.resources.replace_if_changed(fingerprint.join(","), || Registry::with_custom(served));
    for (crd, clash, serving) in verdicts {
        if meta::is_deleting(&crd) {
            // Only a CRD that served its kind has objects of its own to remove.
            clean_up(&api, &crd_rt, &crd, serving).await;
        } else {
            write_status(&api, &crd_rt, &crd, clash.as_ref().map(|(r, n)| (*r, n.as_str())), serving).await;
        }
    }
}

/// The status a CRD should have given whether its names were accepted.
fn desired_status(crd: &Value, clash: Option<(&str, &str)>, serving: bool) -> Value {
    let names = &crd["spec"]["names"];
    let kind = names["kind"].as_str().unwrap_or("");
    let now = meta::now();
    let condition = |type_: &str, ok: bool, reason: &str, message: String| {
        let previous = crd["status"]["conditions"].as_array().into_iter().flatten().find(|c| c["type"] == type_);
        let status = if ok { "True" } else { "False" };
        let since = previous
            .filter(|p| p["status"] == status)
            .and_then(|p| p["lastTransitionTime"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| now.clone());
        json!({"type": type_, "status": status, "lastTransitionTime": since, "reason": reason, "message": message})
    };
    let mut status = crd["status"].clone();
    if !status.is_object() {
        status = json!({});
    }
    let mut stored: Vec<String> = status["storedVersions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    match clash {
        None => {
            let mut accepted = json!({
                "plural": names["plural"],
                "singular": names["singular"].as_str().filter(|s| !s.is_empty()).map_or_else(|| json!(kind.to_ascii_lowercase()), |s| json!(s)),
                "kind": kind,
                "listKind": names["listKind"].as_str().filter(|s| !s.is_empty()).map_or_else(|| json!(format!("{kind}List")), |s| json!(s)),
            });
            for f in ["shortNames", "categories"] {
                if names[f].is_array() {
                    accepted[f] = names[f].clone();
                }
            }
            status["acceptedNames"] = accepted;
            let established = if serving {
                condition("Established", true, "InitialNamesAccepted", "the initial names have been accepted".into())
            } else {
                condition("Established", false, "NotServed", "no version could be served".into())
            };
            status["conditions"] =
                json!([condition("NamesAccepted", true, "NoConflicts", "no conflicts found".into()), established,]);
            let storage = crd["spec"]["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|v| v["storage"].as_bool() == Some(true))
                .and_then(|v| v["name"].as_str());
            if let Some(v) = storage {
                if !stored.iter().any(|s| s == v) {
                    stored.push(v.to_string());
                }
            }
        }
        Some((reason, name)) => {
            if !status["acceptedNames"].is_object() {
                status["acceptedNames"] = json!({"plural": "", "kind": ""});
            }
            status["conditions"] = json!([
                condition("NamesAccepted", false, reason, format!("\"{name}\" is already in use")),
                condition("Established", false, "NotAccepted", "not all names are accepted".into()),
            ]);
        }
    }
    status["storedVersions"] = json!(stored);
    status
}

async fn write_status(api: &Api, crd_rt: &ResourceType, crd: &Value, clash: Option<(&str, &str)>, serving: bool) {
    let status = desired_status(crd, clash, serving);
    if status == crd["status"] {
        return;
    }
    let name = meta::name(crd).to_string();
    let user = User::component("crd-controller");
    let result = api
        .modify(&user, crd_rt, None, &name, Some("status"), |obj| {
            obj["status"] = desired_status(obj, clash, serving);
            Ok(())
        })
        .await;
    if let Err(e) = result {
        if e.code != 404 {
            tracing::warn!(crd = %name, error = %e.message, "updating CustomResourceDefinition status failed");
        }
    }
}

/// Deletes every object of a deleted CRD, then lets the CRD go. A CRD that
/// never served (its names were taken, by a built-in kind too) owns no
/// objects: what is stored under its names belongs to another.
async fn clean_up(api: &Api, crd_rt: &ResourceType, crd: &Value, serving: bool) {
    let name = meta::name(crd).to_string();
    mark_terminating(api, crd_rt, crd).await;
    let own = if serving { custom::types_for(crd, true).into_iter().find(|t| t.storage) } else { None };
    if let Some(rt) = own {
        let items = match api.list_all(&rt, None, &ListOptions::default()).await {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(crd = %name, error = %e.message, "listing a deleted CRD's objects failed; retrying");
                return;
            }
        };
        let user = User::component("crd-controller");
        let opts = DeleteOptions { user: Some(user), ..Default::default() };
        let mut left = 0;
        for item in &items {
            match api.delete(&rt, Some(meta::namespace(item)), meta::name(item), &opts).await {
                Ok(crate::api::Outcome::Deleted(_)) => {}
                Err(e) if e.code == 404 => {}
                // Waiting on the object's own finalizers.
                _ => left += 1,
            }
        }
        if left > 0 {
            return;
        }
    }
    if !meta::finalizers(crd).iter().any(|f| f == CLEANUP_FINALIZER) {
        return;
    }
    let user = User::component("crd-controller");
    let result = api
        .modify(&user, crd_rt, None, &name, None, |obj| {
            let rest: Vec<String> = meta::finalizers(obj).into_iter().filter(|f| f != CLEANUP_FINALIZER).collect();
            meta::set_finalizers(obj, rest);
            Ok(())
        })
        .await;
    if let Err(e) = result {
        if e.code != 404 {
            tracing::warn!(crd = %name, error = %e.message, "releasing CustomResourceDefinition failed");
        }
    }
}

/// `Terminating=True` while a deleted CRD's objects are removed, as
/// `kubectl describe crd` shows in Kubernetes.
async fn mark_terminating(api: &Api, crd_rt: &ResourceType, crd: &Value) {
    let already = crd["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Terminating" && c["status"] == "True");
    if already {
        return;
    }
    let user = User::component("crd-controller");
    let result = api
        .modify(&user, crd_rt, None, meta::name(crd), Some("status"), |obj| {
            if !obj["status"].is_object() {
                obj["status"] = json!({});
            }
            let terminating = json!({"type": "Terminating", "status": "True", "lastTransitionTime": meta::now(),
                "reason": "InstanceDeletionInProgress", "message": "CustomResource deletion is in progress"});
            let mut conditions: Vec<Value> = obj["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["type"] != "Terminating")
                .cloned()
                .collect();
            conditions.push(terminating);
            obj["status"]["conditions"] = Value::Array(conditions);
            Ok(())
        })
        .await;
    if let Err(e) = result {
        if e.code == 404 {
            return;
        }
        tracing::warn!(crd = %meta::name(crd), error = %e.message, "marking a CustomResourceDefinition Terminating failed");
    }
}
