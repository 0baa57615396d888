//! The per-pod state of the two filters that look at other pods:
//! InterPodAffinity and PodTopologySpread. Built once per pod from every
//! node's pods (kube-scheduler's PreFilter), then read per node.

use std::collections::HashMap;

use crate::model::{label, Labels, Node, Pod, PodAffinityTerm, WhenUnsatisfiable};
use crate::policy::{node_counts_for_spread, Policy};
use crate::selectors::selector_matches;

/// Topology key → domain (label value) → a count or a weight.
type ByDomain<T> = HashMap<String, HashMap<String, T>>;

fn bump<T: Default + std::ops::AddAssign>(map: &mut ByDomain<T>, key: &str, node: &Node, by: T) {
    if let Some(value) = label(&node.labels, key) {
        *map.entry(key.to_string()).or_default().entry(value.to_string()).or_default() += by;
    }
}

fn in_domain<T: Copy + Default>(map: &ByDomain<T>, key: &str, node: &Node) -> T {
    label(&node.labels, key).and_then(|v| map.get(key)?.get(v).copied()).unwrap_or_default()
}

/// Whether `term` (declared by a pod in `owner_namespace`) selects a pod in
/// `namespace` with `labels`. A term without a selector selects nothing.
pub fn term_selects(term: &PodAffinityTerm, owner_namespace: &str, namespace: &str, labels: &Labels) -> bool {
    let namespace_ok = term.all_namespaces
        || if term.namespaces.is_empty() {
            namespace == owner_namespace
        } else {
            term.namespaces.iter().any(|n| n == namespace)
        };
    namespace_ok && term.selector.as_ref().is_some_and(|s| selector_matches(s, labels))
}

pub(crate) struct AffinityState {
    /// Topology keys of the pod's required affinity terms, and its anti-affinity terms.
    affinity_keys: Vec<String>,
    anti_keys: Vec<String>,
    /// Pods matching all of the pod's required affinity terms, by domain.
    affinity: ByDomain<u32>,
    /// Pods matching one of the pod's required anti-affinity terms, by domain.
    anti: ByDomain<u32>,
    /// Domains where a pod already placed refuses this pod (its anti-affinity).
    existing_anti: ByDomain<u32>,
    /// Preferred (anti-)affinity weights, by domain.
    preferred: ByDomain<i64>,
    /// The pod matches its own required affinity terms: it may be the first of its group.
    matches_itself: bool,
}

impl AffinityState {
    pub fn new(policy: &Policy, pod: &Pod, existing_anti_affinity: bool) -> Option<AffinityState> {
        let affinity = pod.pod_affinity.as_ref();
        let anti = pod.pod_anti_affinity.as_ref();
        let has_terms = |a: Option<&crate::model::PodAffinity>| {
            a.is_some_and(|a| !a.required.is_empty() || !a.preferred.is_empty())
        };
        if !has_terms(affinity) && !has_terms(anti) && !existing_anti_affinity {
            return None;
        }
        let required: &[PodAffinityTerm] = affinity.map(|a| a.required.as_slice()).unwrap_or(&[]);
        let anti_required: &[PodAffinityTerm] = anti.map(|a| a.required.as_slice()).unwrap_or(&[]);
        let mut state = AffinityState {
            affinity_keys: required.iter().map(|t| t.topology_key.clone()).collect(),
            anti_keys: anti_required.iter().map(|t| t.topology_key.clone()).collect(),
            affinity: HashMap::new(),
            anti: HashMap::new(),
            existing_anti: HashMap::new(),
            preferred: HashMap::new(),
            matches_itself: required.iter().all(|t| term_selects(t, &pod.namespace, &pod.namespace, &pod.labels)),
        };
        let selects = |t: &PodAffinityTerm, other: &crate::model::PodSummary| {
            term_selects(t, &pod.namespace, &other.namespace, &other.labels)
        };
        for node in policy.nodes() {
            for other in &node.pods {
                if !required.is_empty() && required.iter().all(|t| selects(t, other)) {
                    for t in required {
                        bump(&mut state.affinity, &t.topology_key, node, 1);
                    }
                }
                for t in anti_required.iter().filter(|t| selects(t, other)) {
                    bump(&mut state.anti, &t.topology_key, node, 1);
                }
                for w in affinity.map(|a| a.preferred.as_slice()).unwrap_or(&[]) {
                    if selects(&w.term, other) {
                        bump(&mut state.preferred, &w.term.topology_key, node, w.weight as i64);
                    }
                }
                for w in anti.map(|a| a.preferred.as_slice()).unwrap_or(&[]) {
                    if selects(&w.term, other) {
                        bump(&mut state.preferred, &w.term.topology_key, node, -(w.weight as i64));
                    }
                }
                for t in &other.anti_affinity {
                    if term_selects(t, &other.namespace, &pod.namespace, &pod.labels) {
                        bump(&mut state.existing_anti, &t.topology_key, node, 1);
                    }
                }
            }
        }
        Some(state)
    }

    pub fn filter(&self, node: &Node) -> Result<(), Vec<String>> {
        // kube-scheduler's order: the pod's affinity, its anti-affinity, then the existing pods' anti-affinity.
        if !self.affinity_keys.is_empty() {
            let mut pods_exist = true;
            for key in &self.affinity_keys {
                if label(&node.labels, key).is_none() {
                    return Err(vec!["node(s) didn't match pod affinity rules".into()]);
                }
                if in_domain(&self.affinity, key, node) == 0 {
                    pods_exist = false;
                }
            }
            // The first pod of a group that wants to be together goes anywhere.
            let first_of_group = self.affinity.is_empty() && self.matches_itself;
            if !(pods_exist || first_of_group) {
                return Err(vec!["node(s) didn't match pod affinity rules".into()]);
            }
        }
        if self.anti_keys.iter().any(|key| in_domain(&self.anti, key, node) > 0) {
            return Err(vec!["node(s) didn't match pod anti-affinity rules".into()]);
        }
        let refused_by_existing = self
            .existing_anti
            .iter()
            .any(|(key, domains)| label(&node.labels, key).is_some_and(|v| domains.get(v).is_some_and(|&n| n > 0)));
        if refused_by_existing {
            return Err(vec!["node(s) didn't satisfy existing pods anti-affinity rules".into()]);
        }
        Ok(())
    }

    pub fn has_preferences(&self) -> bool {
        !self.preferred.is_empty()
    }

    pub fn score(&self, node: &Node) -> i64 {
        self.preferred.keys().map(|key| in_domain(&self.preferred, key, node)).sum()
    }
}

struct Constraint {
    key: String,
    max_skew: u32,
    hard: bool,
    /// Matching pods per domain, over the nodes that count.
    counts: HashMap<String, u32>,
    min: u32,
    self_match: u32,
}

pub(crate) struct SpreadState {
    constraints: Vec<Constraint>,
}

impl SpreadState {
    pub fn new(policy: &Policy, pod: &Pod) -> Option<SpreadState> {
        if pod.topology_spread_constraints.is_empty() {
            return None;
        }
        let constraints = pod
            .topology_spread_constraints
            .iter()
            .map(|c| {
                let selects = |namespace: &str, labels: &Labels| {
                    namespace == pod.namespace && c.selector.as_ref().is_some_and(|s| selector_matches(s, labels))
                };
                // As kube-scheduler, a node counts only if it has the topology keys of
                // every constraint of this kind (filtered or scored), not just this one's.
                let has_all_keys = |node: &Node| {
                    pod.topology_spread_constraints
                        .iter()
                        .filter(|o| o.when_unsatisfiable == c.when_unsatisfiable)
                        .all(|o| label(&node.labels, &o.topology_key).is_some())
                };
                let mut counts: HashMap<String, u32> = HashMap::new();
                for node in policy.nodes() {
                    if !has_all_keys(node)
                        || !node_counts_for_spread(pod, node, c.honor_node_affinity, c.honor_node_taints)
                    {
                        continue;
                    }
                    let Some(domain) = label(&node.labels, &c.topology_key) else { continue };
                    let n = node.pods.iter().filter(|p| selects(&p.namespace, &p.labels)).count() as u32;
                    *counts.entry(domain.to_string()).or_default() += n;
                }
                let too_few_domains = c.min_domains.is_some_and(|m| (counts.len() as u32) < m);
                let min = if too_few_domains { 0 } else { counts.values().copied().min().unwrap_or(0) };
                Constraint {
                    key: c.topology_key.clone(),
                    max_skew: c.max_skew,
                    hard: c.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule,
                    self_match: selects(&pod.namespace, &pod.labels) as u32,
                    counts,
                    min,
                }
            })
            .collect();
        Some(SpreadState { constraints })
    }

    pub fn filter(&self, node: &Node) -> Result<(), Vec<String>> {
        for c in self.constraints.iter().filter(|c| c.hard) {
            let Some(domain) = label(&node.labels, &c.key) else {
                return Err(vec![
                    "node(s) didn't match pod topology spread constraints (missing required label)".into()
                ]);
            };
            let count = c.counts.get(domain).copied().unwrap_or(0);
            if count + c.self_match > c.min + c.max_skew {
                return Err(vec!["node(s) didn't match pod topology spread constraints".into()]);
            }
        }
        Ok(())
    }

    /// Whether any constraint is ScheduleAnyway (scored rather than filtered).
    pub fn scores(&self) -> bool {
        self.constraints.iter().any(|c| !c.hard)
    }

    /// Matching pods in the node's domains; lower is better. A node without
    /// the topology label counts as worse than every domain.
    pub fn score(&self, node: &Node) -> i64 {
        self.constraints
            .iter()
            .filter(|c| !c.hard)
            .map(|c| match label(&node.labels, &c.key) {
                Some(domain) => c.counts.get(domain).copied().unwrap_or(0) as i64,
                None => c.counts.values().copied().max().unwrap_or(0) as i64 + 1,
            })
            .sum()
    }
}
