//! Node and pod objects (JSON) turned into the compact views a policy
//! works on (`skiff_scheduling::model`, mirroring `wit/scheduler.wit`).

use std::collections::HashMap;

use serde_json::Value;
use skiff_apimachinery::Quantity;
use skiff_wasm::scheduling::model::{
    HostPort, LabelSelector, Labels, Node, NodeAffinity, NodeSelectorTerm, Operator, Pod, PodAffinity, PodAffinityTerm,
    PreferredNodeTerm, Requirement, Resources, Taint, TaintEffect, Toleration, TolerationOperator,
    TopologySpreadConstraint, WeightedPodAffinityTerm, WhenUnsatisfiable,
};

use crate::meta;

pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";
pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";

/// A `metadata.labels` map as label pairs.
pub fn labels(map: &Value) -> Labels {
    map.as_object()
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

fn quantity(v: &Value) -> Option<Quantity> {
    Quantity::from_json(v).ok()
}

/// Adds a resource list (`{"cpu": "500m", "memory": "1Gi", ...}`) to `into`.
fn add_resource_list(into: &mut Resources, list: &Value) {
    let Some(map) = list.as_object() else { return };
    for (name, value) in map {
        let Some(q) = quantity(value) else { continue };
        let units = q.as_units().max(0) as u64;
        match name.as_str() {
            "cpu" => into.milli_cpu += q.as_millis().max(0) as u64,
            "memory" => into.memory += units,
            "ephemeral-storage" => into.ephemeral_storage += units,
            "pods" => into.pods += units.min(u32::MAX as u64) as u32,
            other if other.contains('/') || other.starts_with("hugepages-") => {
                match into.extended.iter_mut().find(|(n, _)| n == other) {
                    Some((_, v)) => *v += units,
                    None => into.extended.push((other.to_string(), units)),
                }
            }
            _ => {}
        }
    }
}

fn max_resources(a: Resources, b: &Resources) -> Resources {
    let mut out = a;
    out.milli_cpu = out.milli_cpu.max(b.milli_cpu);
    out.memory = out.memory.max(b.memory);
    out.ephemeral_storage = out.ephemeral_storage.max(b.ephemeral_storage);
    for (name, amount) in &b.extended {
        match out.extended.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = (*v).max(*amount),
            None => out.extended.push((name.clone(), *amount)),
        }
    }
    out
}

/// A container's requests, or its limits where it names none (the API
/// defaults requests to limits).
fn container_requests(c: &Value) -> Resources {
    let mut r = Resources::default();
    let requests = &c["resources"]["requests"];
    let limits = &c["resources"]["limits"];
    add_resource_list(&mut r, requests);
    if let Some(limits) = limits.as_object() {
        for (name, value) in limits {
            if requests.get(name).is_none() {
                add_resource_list(&mut r, &serde_json::json!({ name: value }));
            }
        }
    }
    r
}

/// A pod's effective requests: the larger of its containers' sum and its
/// largest init container, plus the runtime class overhead.
pub fn pod_requests(pod: &Value) -> Resources {
    let spec = &pod["spec"];
    let mut sum = Resources::default();
    for c in spec["containers"].as_array().into_iter().flatten() {
        let r = container_requests(c);
        sum.add_pod(&r);
    }
    sum.pods = 0;
    let mut init_max = Resources::default();
    for c in spec["initContainers"].as_array().into_iter().flatten() {
        init_max = max_resources(init_max, &container_requests(c));
    }
    let mut total = max_resources(sum, &init_max);
    add_resource_list(&mut total, &spec["overhead"]);
    total
}

pub fn host_ports(pod: &Value) -> Vec<HostPort> {
    let mut out = Vec::new();
    for list in ["initContainers", "containers"] {
        for c in pod["spec"][list].as_array().into_iter().flatten() {
            for p in c["ports"].as_array().into_iter().flatten() {
                let Some(port) = p["hostPort"].as_u64().filter(|p| *p > 0 && *p <= 65535) else { continue };
                out.push(HostPort {
                    port: port as u16,
                    protocol: p["protocol"].as_str().unwrap_or("TCP").to_string(),
                    host_ip: p["hostIP"].as_str().unwrap_or("").to_string(),
                });
            }
        }
    }
    out
}

fn operator(s: &str) -> Option<Operator> {
    Some(match s {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        "Gt" => Operator::Gt,
        "Lt" => Operator::Lt,
        _ => return None,
    })
}

fn requirements(list: &Value) -> Vec<Requirement> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|r| Requirement {
            key: r["key"].as_str().unwrap_or("").to_string(),
            // Validation refuses unknown operators; should one slip through, it matches nothing.
            operator: operator(r["operator"].as_str().unwrap_or("")).unwrap_or(Operator::In),
            values: strings(&r["values"]),
        })
        .collect()
}

fn label_selector(v: &Value) -> Option<LabelSelector> {
    if !v.is_object() {
        return None;
    }
    Some(LabelSelector {
        match_labels: labels(&v["matchLabels"]),
        match_expressions: requirements(&v["matchExpressions"]),
    })
}

/// `matchLabelKeys`: the pod's own values of those keys join the selector.
fn with_match_label_keys(selector: Option<LabelSelector>, keys: &Value, pod_labels: &Labels) -> Option<LabelSelector> {
    let keys = strings(keys);
    if keys.is_empty() {
        return selector;
    }
    let mut selector = selector?;
    for key in keys {
        if let Some((_, value)) = pod_labels.iter().find(|(k, _)| *k == key) {
            selector.match_expressions.push(Requirement { key, operator: Operator::In, values: vec![value.clone()] });
        }
    }
    Some(selector)
}

fn node_term(v: &Value) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: requirements(&v["matchExpressions"]),
        match_fields: requirements(&v["matchFields"]),
    }
}

/// Namespace labels, for resolving affinity terms' namespace selectors.
pub type Namespaces = HashMap<String, Labels>;

fn pod_term(v: &Value, pod_labels: &Labels, namespaces: &Namespaces) -> PodAffinityTerm {
    let mut names = strings(&v["namespaces"]);
    let mut all = false;
    if let Some(selector) = label_selector(&v["namespaceSelector"]) {
        if selector.match_labels.is_empty() && selector.match_expressions.is_empty() {
            all = true;
        } else {
            for (ns, ns_labels) in namespaces {
                if skiff_wasm::scheduling::selectors::selector_matches(&selector, ns_labels) && !names.contains(ns) {
                    names.push(ns.clone());
                }
            }
            if names.is_empty() {
                // A selector that matches no namespace selects no pod.
                names.push(String::new());
            }
        }
    }
    PodAffinityTerm {
        selector: with_match_label_keys(label_selector(&v["labelSelector"]), &v["matchLabelKeys"], pod_labels),
        namespaces: names,
        all_namespaces: all,
        topology_key: v["topologyKey"].as_str().unwrap_or("").to_string(),
    }
}

fn pod_affinity(v: &Value, pod_labels: &Labels, namespaces: &Namespaces) -> Option<PodAffinity> {
    if !v.is_object() {
        return None;
    }
    Some(PodAffinity {
        required: v["requiredDuringSchedulingIgnoredDuringExecution"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| pod_term(t, pod_labels, namespaces))
            .collect(),
        preferred: v["preferredDuringSchedulingIgnoredDuringExecution"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|w| WeightedPodAffinityTerm {
                weight: w["weight"].as_i64().unwrap_or(0) as i32,
                term: pod_term(&w["podAffinityTerm"], pod_labels, namespaces),
            })
            .collect(),
    })
}

fn effect(s: &str) -> Option<TaintEffect> {
    Some(match s {
        "NoSchedule" => TaintEffect::NoSchedule,
        "PreferNoSchedule" => TaintEffect::PreferNoSchedule,
        "NoExecute" => TaintEffect::NoExecute,
        _ => return None,
    })
}

/// The UID of the pod's controller (its ownerReference with `controller: true`).
pub fn owner_uid(pod: &Value) -> Option<String> {
    pod["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"].as_bool() == Some(true))
        .and_then(|r| r["uid"].as_str())
        .map(str::to_string)
}

pub fn pod(obj: &Value, namespaces: &Namespaces) -> Pod {
    let spec = &obj["spec"];
    let pod_labels = labels(&obj["metadata"]["labels"]);
    let affinity = &spec["affinity"];
    let node_affinity = affinity["nodeAffinity"].is_object().then(|| {
        let na = &affinity["nodeAffinity"];
        NodeAffinity {
            required: na["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
                .as_array()
                .map(|terms| terms.iter().map(node_term).collect()),
            preferred: na["preferredDuringSchedulingIgnoredDuringExecution"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| PreferredNodeTerm {
                    weight: p["weight"].as_i64().unwrap_or(0) as i32,
                    term: node_term(&p["preference"]),
                })
                .collect(),
        }
    });
    let tolerations = spec["tolerations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| Toleration {
            key: t["key"].as_str().unwrap_or("").to_string(),
            operator: if t["operator"].as_str() == Some("Exists") {
                TolerationOperator::Exists
            } else {
                TolerationOperator::Equal
            },
            value: t["value"].as_str().unwrap_or("").to_string(),
            effect: t["effect"].as_str().and_then(effect),
        })
        .collect();
    let spread = spec["topologySpreadConstraints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| TopologySpreadConstraint {
            max_skew: c["maxSkew"].as_u64().unwrap_or(1) as u32,
            topology_key: c["topologyKey"].as_str().unwrap_or("").to_string(),
            when_unsatisfiable: if c["whenUnsatisfiable"].as_str() == Some("ScheduleAnyway") {
                WhenUnsatisfiable::ScheduleAnyway
            } else {
                WhenUnsatisfiable::DoNotSchedule
            },
            selector: with_match_label_keys(label_selector(&c["labelSelector"]), &c["matchLabelKeys"], &pod_labels),
            min_domains: c["minDomains"].as_u64().map(|m| m as u32),
            honor_node_affinity: c["nodeAffinityPolicy"].as_str() != Some("Ignore"),
            honor_node_taints: c["nodeTaintsPolicy"].as_str() == Some("Honor"),
        })
        .collect();
    Pod {
        namespace: meta::namespace(obj).to_string(),
        name: meta::name(obj).to_string(),
        uid: meta::uid(obj).to_string(),
        owner_uid: owner_uid(obj),
        requests: pod_requests(obj),
        host_ports: host_ports(obj),
        node_name: spec["nodeName"].as_str().filter(|n| !n.is_empty()).map(str::to_string),
        node_selector: labels(&spec["nodeSelector"]),
        node_affinity,
        pod_affinity: pod_affinity(&affinity["podAffinity"], &pod_labels, namespaces),
        pod_anti_affinity: pod_affinity(&affinity["podAntiAffinity"], &pod_labels, namespaces),
        tolerations,
        topology_spread_constraints: spread,
        labels: pod_labels,
    }
}

/// A node's own part of its view (no pods yet): labels, taints (with the
/// ones the node lifecycle controller would add), allocatable, cordon.
pub fn node(obj: &Value, index: u32) -> Node {
    let unschedulable = obj["spec"]["unschedulable"].as_bool().unwrap_or(false);
    let mut taints: Vec<Taint> = obj["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some(Taint {
                key: t["key"].as_str()?.to_string(),
                value: t["value"].as_str().unwrap_or("").to_string(),
                effect: effect(t["effect"].as_str()?)?,
            })
        })
        .collect();
    let ready = obj["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    let mut synthesise = |key: &str| {
        if !taints.iter().any(|t| t.key == key && t.effect == TaintEffect::NoSchedule) {
            taints.push(Taint { key: key.to_string(), value: String::new(), effect: TaintEffect::NoSchedule });
        }
    };
    if unschedulable {
        synthesise(UNSCHEDULABLE_TAINT);
    }
    if !ready {
        synthesise(NOT_READY_TAINT);
    }
    let status = &obj["status"];
    let mut allocatable = Resources::default();
    let source = if status["allocatable"].is_object() { &status["allocatable"] } else { &status["capacity"] };
    add_resource_list(&mut allocatable, source);
    Node {
        index,
        name: meta::name(obj).to_string(),
        labels: labels(&obj["metadata"]["labels"]),
        taints,
        allocatable,
        requested: Resources::default(),
        used_ports: Vec::new(),
        unschedulable,
        pods: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn requests_sum_containers_take_the_largest_init_container_and_add_overhead() {
        let pod = json!({"spec": {
            "containers": [
                {"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
                {"resources": {"limits": {"cpu": "1", "example.com/gpu": "2"}}},
            ],
            "initContainers": [{"resources": {"requests": {"cpu": "2", "memory": "1Mi"}}}],
            "overhead": {"cpu": "10m"},
        }});
        let r = pod_requests(&pod);
        // cpu: max(250m + 1 (limit as request), 2) + 10m; memory: max(64Mi, 1Mi).
        assert_eq!(r.milli_cpu, 2010);
        assert_eq!(r.memory, 64 << 20);
        assert_eq!(r.extended("example.com/gpu"), 2);
        assert_eq!(r.pods, 0);
    }

    #[test]
    fn cordoned_and_not_ready_nodes_carry_the_lifecycle_taints() {
        let node = json!({
            "metadata": {"name": "n1", "labels": {"zone": "a"}},
            "spec": {"unschedulable": true, "taints": [{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]},
            "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "False"}]},
        });
        let view = super::node(&node, 7);
        assert_eq!(view.index, 7);
        assert!(view.unschedulable);
        let keys: Vec<&str> = view.taints.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(keys, ["gpu", UNSCHEDULABLE_TAINT, NOT_READY_TAINT]);
        assert_eq!((view.allocatable.milli_cpu, view.allocatable.memory, view.allocatable.pods), (4000, 8 << 30, 110));
        let ready =
            json!({"metadata": {"name": "n2"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(super::node(&ready, 0).taints.is_empty());
    }

    #[test]
    fn affinity_terms_resolve_namespace_selectors_and_match_label_keys() {
        let mut namespaces = Namespaces::new();
        namespaces.insert("prod".into(), vec![("env".into(), "prod".into())]);
        namespaces.insert("dev".into(), vec![("env".into(), "dev".into())]);
        let pod = json!({
            "metadata": {"namespace": "web", "name": "p", "uid": "u", "labels": {"app": "web", "rev": "7"}},
            "spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "web"}}, "matchLabelKeys": ["rev"],
                 "namespaceSelector": {"matchLabels": {"env": "prod"}}, "topologyKey": "zone"},
                {"labelSelector": {"matchLabels": {"app": "db"}}, "namespaceSelector": {}, "topologyKey": "zone"},
            ]}}},
        });
        let view = super::pod(&pod, &namespaces);
        let terms = &view.pod_anti_affinity.expect("anti-affinity").required;
        assert_eq!(terms[0].namespaces, ["prod"]);
        assert!(!terms[0].all_namespaces);
        let selector = terms[0].selector.as_ref().expect("selector");
        assert_eq!(selector.match_expressions[0].key, "rev");
        assert_eq!(selector.match_expressions[0].values, ["7"]);
        assert!(terms[1].all_namespaces);
    }
}
