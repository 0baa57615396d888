//! Discovery: the legacy documents (`/api`, `/apis`, per group and version)
//! and aggregated discovery (`apidiscovery.k8s.io/v2`), which kubectl prefers.

use axum::http::HeaderMap;
use serde_json::{json, Value};

use crate::resources::{Registry, ResourceType};

pub const VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
pub const AGGREGATED_CONTENT_TYPE: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether the client asked for aggregated discovery.
pub fn wants_aggregated(headers: &HeaderMap) -> bool {
    headers.get(axum::http::header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| {
        a.split(',').any(|part| {
            let part = part.replace(' ', "");
            part.starts_with("application/json")
                && part.contains("g=apidiscovery.k8s.io")
                && part.contains("v=v2")
                && part.contains("as=APIGroupDiscoveryList")
        })
    })
}

pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_object(group: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> =
        versions.iter().map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v})).collect();
    json!({
        "name": group,
        "versions": versions,
        "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
    })
}

pub fn api_group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .groups()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, versions)| group_object(&g, &versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn api_group(registry: &Registry, group: &str) -> Option<Value> {
    let (_, versions) = registry.groups().into_iter().find(|(g, _)| *g == group && !group.is_empty())?;
    let mut obj = group_object(group, &versions);
    obj["kind"] = json!("APIGroup");
    obj["apiVersion"] = json!("v1");
    Some(obj)
}

fn subresources(rt: &ResourceType) -> Vec<(&'static str, &str, &str, &str)> {
    let mut out = Vec::new();
    if rt.status {
        out.push(("status", rt.group.as_str(), rt.version.as_str(), rt.kind.as_str()));
    }
    if rt.scale().is_some() {
        out.push(("scale", "autoscaling", "v1", "Scale"));
    }
    out
}

pub fn resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for rt in registry.in_group_version(group, version) {
        resources.push(json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": VERBS,
            "shortNames": rt.short_names,
            "categories": rt.categories,
        }));
        for (sub, g, v, kind) in subresources(rt) {
            let mut entry = json!({
                "name": format!("{}/{sub}", &rt.plural),
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": kind,
                "verbs": ["get", "patch", "update"],
            });
            if g != rt.group || v != rt.version {
                entry["group"] = json!(g);
                entry["version"] = json!(v);
            }
            resources.push(entry);
        }
        for s in rt.strategy.subresources() {
            resources.push(json!({
                "name": format!("{}/{}", rt.plural, s.name), "singularName": "", "namespaced": rt.namespaced,
                "kind": s.kind, "verbs": s.verbs,
            }));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
}

/// Aggregated discovery for the core group (`legacy`) or all named groups.
pub fn aggregated(registry: &Registry, legacy: bool) -> Value {
    let items: Vec<Value> = registry
        .groups()
        .into_iter()
        .filter(|(g, _)| g.is_empty() == legacy)
        .map(|(group, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|version| {
                    let resources: Vec<Value> = registry
                        .in_group_version(&group, version)
                        .map(|rt| {
                            let mut subs: Vec<Value> = subresources(rt)
                                .into_iter()
                                .map(|(sub, g, v, kind)| {
                                    json!({
                                        "subresource": sub,
                                        "responseKind": {"group": g, "version": v, "kind": kind},
                                        "verbs": ["get", "patch", "update"],
                                    })
                                })
                                .collect();
                            subs.extend(rt.strategy.subresources().iter().map(|s| {
                                json!({
                                    "subresource": s.name,
                                    "responseKind": {"group": "", "version": "v1", "kind": s.kind},
                                    "verbs": s.verbs,
                                })
                            }));
                            json!({
                                "resource": rt.plural,
                                "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
                                "scope": if rt.namespaced { "Namespaced" } else { "Cluster" },
                                "singularResource": rt.singular,
                                "verbs": VERBS,
                                "shortNames": rt.short_names,
                                "categories": rt.categories,
                                "subresources": subs,
                            })
                        })
                        .collect();
                    json!({"version": version, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}
