//! The nodes the policy knows, and placing pods on them: filter, score, pick,
//! then count the pod on its node so the next pod sees it.

use std::collections::HashMap;

use crate::model::{
    label, HostPort, Node, Placement, Pod, Rejection, Resources, Taint, TaintEffect, Toleration, TolerationOperator,
};
use crate::selectors::term_matches;
use crate::spread::{AffinityState, SpreadState};

/// kube-scheduler's NodeResourcesFit scoring strategies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ScoringStrategy {
    /// Prefer emptier nodes: spreads load.
    #[default]
    LeastAllocated,
    /// Prefer fuller nodes: packs pods onto fewer nodes.
    MostAllocated,
}

#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Stop filtering once this share of the nodes fits (at least 100 nodes);
    /// None picks kube-scheduler's adaptive share (50% minus 1% per 125 nodes, at least 5%).
    pub percentage_of_nodes_to_score: Option<u32>,
    pub scoring_strategy: ScoringStrategy,
}

impl Config {
    /// Reads the policy's config: JSON, every field optional —
    /// `{"percentageOfNodesToScore": 0-100, "scoringStrategy": "LeastAllocated" | "MostAllocated"}`.
    pub fn from_json(text: &str) -> Result<Config, String> {
        let mut config = Config::default();
        if text.trim().is_empty() {
            return Ok(config);
        }
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("config is not JSON: {e}"))?;
        let Some(map) = value.as_object() else {
            return if value.is_null() { Ok(config) } else { Err("config must be a JSON object".into()) };
        };
        for (key, v) in map {
            match key.as_str() {
                "percentageOfNodesToScore" => {
                    let p = v.as_u64().filter(|p| *p <= 100).ok_or("percentageOfNodesToScore must be 0-100")?;
                    config.percentage_of_nodes_to_score = Some(p as u32);
                }
                "scoringStrategy" => {
                    config.scoring_strategy = match v.as_str() {
                        Some("LeastAllocated") => ScoringStrategy::LeastAllocated,
                        Some("MostAllocated") => ScoringStrategy::MostAllocated,
                        _ => return Err("scoringStrategy must be \"LeastAllocated\" or \"MostAllocated\"".into()),
                    }
                }
                other => {
                    return Err(format!(
                        "unknown config field {other:?} (known: percentageOfNodesToScore, scoringStrategy)"
                    ))
                }
            }
        }
        Ok(config)
    }
}

/// Below this many nodes every node is filtered and scored.
const MIN_FEASIBLE_NODES: usize = 100;

/// What kube-scheduler assumes a pod asks for when it asks for nothing, for scoring only.
const DEFAULT_MILLI_CPU: u64 = 100;
const DEFAULT_MEMORY: u64 = 200 * 1024 * 1024;

/// Score weights of the default profile.
const W_TAINT: i64 = 3;
const W_NODE_AFFINITY: i64 = 2;
const W_FIT: i64 = 1;
const W_BALANCED: i64 = 1;
const W_INTER_POD: i64 = 2;
const W_SPREAD: i64 = 2;

pub struct Policy {
    config: Config,
    /// By node index; None for free slots.
    nodes: Vec<Option<Node>>,
    /// The indexes in use, ascending: the order nodes are visited in.
    live: Vec<u32>,
    /// Where the next pod's search starts (rotates so load spreads, as in kube-scheduler).
    next_start: usize,
    /// How many pods on the nodes carry required anti-affinity terms; when
    /// none do, new pods skip that check.
    anti_affinity_pods: usize,
}

/// The per-pod state filters and scores share.
pub(crate) struct Cycle<'a> {
    pub pod: &'a Pod,
    pub affinity: Option<AffinityState>,
    pub spread: Option<SpreadState>,
}

impl Policy {
    pub fn new(config: Config) -> Policy {
        Policy { config, nodes: Vec::new(), live: Vec::new(), next_start: 0, anti_affinity_pods: 0 }
    }

    pub fn set_nodes(&mut self, nodes: Vec<Node>) {
        self.nodes.clear();
        self.update_nodes(nodes, &[]);
    }

    pub fn update_nodes(&mut self, changed: Vec<Node>, removed: &[u32]) {
        for &index in removed {
            if let Some(slot) = self.nodes.get_mut(index as usize) {
                *slot = None;
            }
        }
        for node in changed {
            let index = node.index as usize;
            if self.nodes.len() <= index {
                self.nodes.resize_with(index + 1, || None);
            }
            self.nodes[index] = Some(node);
        }
        self.live = self.nodes.iter().enumerate().filter(|(_, n)| n.is_some()).map(|(i, _)| i as u32).collect();
        self.anti_affinity_pods =
            self.nodes().map(|n| n.pods.iter().filter(|p| !p.anti_affinity.is_empty()).count()).sum();
    }

    pub fn node(&self, index: u32) -> Option<&Node> {
        self.nodes.get(index as usize).and_then(Option::as_ref)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().flatten()
    }

    pub fn schedule(&mut self, pods: &[Pod]) -> Vec<Placement> {
        pods.iter().map(|pod| self.schedule_one(pod)).collect()
    }

    fn schedule_one(&mut self, pod: &Pod) -> Placement {
        let all = self.live.len();
        if all == 0 {
            return Placement::default();
        }
        let cycle = Cycle {
            pod,
            affinity: AffinityState::new(self, pod, self.anti_affinity_pods > 0),
            spread: SpreadState::new(self, pod),
        };
        let wanted = self.feasible_to_find(all);
        let mut feasible: Vec<u32> = Vec::with_capacity(wanted.min(all));
        let mut reasons: HashMap<String, u32> = HashMap::new();
        let mut visited = 0;
        for step in 0..all {
            let index = self.live[(self.next_start + step) % all];
            visited += 1;
            let Some(node) = self.node(index) else { continue };
            match filter(&cycle, node) {
                Ok(()) => {
                    feasible.push(index);
                    if feasible.len() >= wanted {
                        break;
                    }
                }
                Err(why) => {
                    for reason in why {
                        *reasons.entry(reason).or_default() += 1;
                    }
                }
            }
        }
        self.next_start = (self.next_start + visited) % all;
        let mut rejections: Vec<Rejection> = reasons.into_iter().map(|(reason, nodes)| Rejection { reason, nodes }).collect();
        rejections.sort_by(|a, b| a.reason.cmp(&b.reason));
        let chosen = self.best(&cycle, &feasible);
        if let Some(index) = chosen {
            self.assume(pod, index);
        }
        Placement { node: chosen, rejections }
    }

    fn feasible_to_find(&self, all: usize) -> usize {
        if all < MIN_FEASIBLE_NODES {
            return all;
        }
        let percentage = match self.config.percentage_of_nodes_to_score {
            Some(p) if p > 0 => p.min(100) as usize,
            _ => 50usize.saturating_sub(all / 125).max(5),
        };
        (all * percentage / 100).max(MIN_FEASIBLE_NODES)
    }

    /// Counts a placed pod on its node, as the host will once it binds it.
    fn assume(&mut self, pod: &Pod, index: u32) {
        let Some(Some(node)) = self.nodes.get_mut(index as usize) else { return };
        node.requested.add_pod(&pod.requests);
        node.used_ports.extend(pod.host_ports.iter().cloned());
        node.pods.push(pod.summary());
        if pod.pod_anti_affinity.as_ref().is_some_and(|a| !a.required.is_empty()) {
            self.anti_affinity_pods += 1;
        }
    }

    /// The feasible node with the highest weighted score; ties go to the first visited.
    fn best(&self, cycle: &Cycle, feasible: &[u32]) -> Option<u32> {
        match feasible {
            [] => return None,
            [only] => return Some(*only),
            _ => {}
        }
        let nodes: Vec<&Node> = feasible.iter().filter_map(|&i| self.node(i)).collect();
        let pod = cycle.pod;
        let mut total = vec![0i64; nodes.len()];
        let mut add = |weight: i64, scores: Vec<i64>| {
            for (t, s) in total.iter_mut().zip(scores) {
                *t += weight * s;
            }
        };
        add(W_TAINT, reverse(nodes.iter().map(|n| intolerable_preferred_taints(pod, n)).collect()));
        if let Some(affinity) = &pod.node_affinity {
            if !affinity.preferred.is_empty() {
                add(
                    W_NODE_AFFINITY,
                    scale_to_max(
                        nodes
                            .iter()
                            .map(|n| {
                                affinity.preferred.iter().filter(|p| term_matches(&p.term, n)).map(|p| p.weight as i64).sum()
                            })
                            .collect(),
                    ),
                );
            }
        }
        let strategy = self.config.scoring_strategy;
        add(W_FIT, nodes.iter().map(|n| fit_score(strategy, pod, n)).collect());
        add(W_BALANCED, nodes.iter().map(|n| balanced_score(pod, n)).collect());
        if let Some(affinity) = &cycle.affinity {
            if affinity.has_preferences() {
                add(W_INTER_POD, min_max(nodes.iter().map(|n| affinity.score(n)).collect()));
            }
        }
        match &cycle.spread {
            Some(spread) if spread.scores() => add(W_SPREAD, reverse(nodes.iter().map(|n| spread.score(n)).collect())),
            Some(_) => {}
            None => {
                if let Some(owner) = &pod.owner_uid {
                    let same_owner =
                        |n: &&Node| n.pods.iter().filter(|p| p.owner_uid.as_ref() == Some(owner)).count() as i64;
                    add(W_SPREAD, reverse(nodes.iter().map(same_owner).collect()));
                }
            }
        }
        let mut best = 0;
        for i in 1..total.len() {
            if total[i] > total[best] {
                best = i;
            }
        }
        Some(nodes[best].index)
    }
}

/// Runs the filters in order; the first that fails gives the node's reasons.
pub(crate) fn filter(cycle: &Cycle, node: &Node) -> Result<(), Vec<String>> {
    let pod = cycle.pod;
    let unschedulable_taint =
        Taint { key: "node.kubernetes.io/unschedulable".into(), value: String::new(), effect: TaintEffect::NoSchedule };
    if node.unschedulable && !pod.tolerations.iter().any(|t| tolerates(t, &unschedulable_taint)) {
        return Err(vec!["node(s) were unschedulable".into()]);
    }
    if pod.node_name.as_ref().is_some_and(|name| *name != node.name) {
        return Err(vec!["node(s) didn't match the requested node name".into()]);
    }
    if let Some(taint) = node
        .taints
        .iter()
        .find(|t| t.effect != TaintEffect::PreferNoSchedule && !pod.tolerations.iter().any(|tol| tolerates(tol, t)))
    {
        return Err(vec![format!("node(s) had untolerated taint {{{}: {}}}", taint.key, taint.value)]);
    }
    if !node_affinity_matches(pod, node) {
        return Err(vec!["node(s) didn't match Pod's node affinity/selector".into()]);
    }
    if pod.host_ports.iter().any(|want| node.used_ports.iter().any(|used| ports_conflict(want, used))) {
        return Err(vec!["node(s) didn't have free ports for the requested pod ports".into()]);
    }
    fits(&pod.requests, node)?;
    if let Some(spread) = &cycle.spread {
        spread.filter(node)?;
    }
    if let Some(affinity) = &cycle.affinity {
        affinity.filter(node)?;
    }
    Ok(())
}

pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if toleration.effect.is_some_and(|e| e != taint.effect) {
        return false;
    }
    if toleration.key.is_empty() {
        return toleration.operator == TolerationOperator::Exists;
    }
    toleration.key == taint.key
        && match toleration.operator {
            TolerationOperator::Exists => true,
            TolerationOperator::Equal => toleration.value == taint.value,
        }
}

/// nodeSelector and required node affinity both hold.
pub fn node_affinity_matches(pod: &Pod, node: &Node) -> bool {
    pod.node_selector.iter().all(|(k, v)| label(&node.labels, k) == Some(v.as_str()))
        && match pod.node_affinity.as_ref().and_then(|a| a.required.as_ref()) {
            Some(terms) => terms.iter().any(|t| term_matches(t, node)),
            None => true,
        }
}

fn ports_conflict(a: &HostPort, b: &HostPort) -> bool {
    let any = |ip: &str| ip.is_empty() || ip == "0.0.0.0" || ip == "::";
    a.port == b.port && a.protocol == b.protocol && (any(&a.host_ip) || any(&b.host_ip) || a.host_ip == b.host_ip)
}

/// NodeResourcesFit: every resource the pod asks for, and one more pod.
fn fits(want: &Resources, node: &Node) -> Result<(), Vec<String>> {
    let (have, used) = (&node.allocatable, &node.requested);
    let mut short = Vec::new();
    if used.pods + 1 > have.pods {
        short.push("Too many pods".to_string());
    }
    if want.milli_cpu > 0 && used.milli_cpu + want.milli_cpu > have.milli_cpu {
        short.push("Insufficient cpu".into());
    }
    if want.memory > 0 && used.memory + want.memory > have.memory {
        short.push("Insufficient memory".into());
    }
    if want.ephemeral_storage > 0 && used.ephemeral_storage + want.ephemeral_storage > have.ephemeral_storage {
        short.push("Insufficient ephemeral-storage".into());
    }
    for (name, amount) in &want.extended {
        if *amount > 0 && used.extended(name) + amount > have.extended(name) {
            short.push(format!("Insufficient {name}"));
        }
    }
    if short.is_empty() { Ok(()) } else { Err(short) }
}

fn intolerable_preferred_taints(pod: &Pod, node: &Node) -> i64 {
    node.taints
        .iter()
        .filter(|t| t.effect == TaintEffect::PreferNoSchedule)
        .filter(|t| !pod.tolerations.iter().any(|tol| tolerates(tol, t)))
        .count() as i64
}

/// CPU and memory as the pod would leave them on the node, with
/// kube-scheduler's defaults for a pod that asks for none.
fn after_placing(pod: &Pod, node: &Node) -> [(u64, u64); 2] {
    let cpu = if pod.requests.milli_cpu == 0 { DEFAULT_MILLI_CPU } else { pod.requests.milli_cpu };
    let memory = if pod.requests.memory == 0 { DEFAULT_MEMORY } else { pod.requests.memory };
    [
        (node.requested.milli_cpu + cpu, node.allocatable.milli_cpu),
        (node.requested.memory + memory, node.allocatable.memory),
    ]
}

fn fit_score(strategy: ScoringStrategy, pod: &Pod, node: &Node) -> i64 {
    // As kube-scheduler: resources the node has none of are left out of the average.
    let scores: Vec<i64> = after_placing(pod, node)
        .into_iter()
        .filter(|(_, allocatable)| *allocatable > 0)
        .map(|(requested, allocatable)| {
            let used = (requested.min(allocatable) as u128 * 100 / allocatable as u128) as i64;
            match strategy {
                ScoringStrategy::LeastAllocated if requested > allocatable => 0,
                ScoringStrategy::LeastAllocated => ((allocatable - requested) as u128 * 100 / allocatable as u128) as i64,
                ScoringStrategy::MostAllocated => used,
            }
        })
        .collect();
    if scores.is_empty() { 0 } else { scores.iter().sum::<i64>() / scores.len() as i64 }
}

/// NodeResourcesBalancedAllocation: nodes whose CPU and memory fill alike score higher.
fn balanced_score(pod: &Pod, node: &Node) -> i64 {
    let fraction = |(requested, allocatable): (u64, u64)| -> f64 {
        if allocatable == 0 { 1.0 } else { (requested as f64 / allocatable as f64).min(1.0) }
    };
    let [cpu, memory] = after_placing(pod, node);
    let deviation = (fraction(cpu) - fraction(memory)).abs() / 2.0;
    ((1.0 - deviation) * 100.0) as i64
}

/// Higher raw values score lower: the largest gets 0, zero gets 100.
fn reverse(raw: Vec<i64>) -> Vec<i64> {
    let max = raw.iter().copied().max().unwrap_or(0);
    raw.into_iter().map(|v| if max <= 0 { 100 } else { 100 - v * 100 / max }).collect()
}

/// Scales to 0-100 by the largest value.
fn scale_to_max(raw: Vec<i64>) -> Vec<i64> {
    let max = raw.iter().copied().max().unwrap_or(0);
    raw.into_iter().map(|v| if max <= 0 { 0 } else { v * 100 / max }).collect()
}

/// Scales to 0-100 between the smallest and largest value (values may be negative).
fn min_max(raw: Vec<i64>) -> Vec<i64> {
    let (min, max) = (raw.iter().copied().min().unwrap_or(0), raw.iter().copied().max().unwrap_or(0));
    raw.into_iter().map(|v| if max == min { 0 } else { (v - min) * 100 / (max - min) }).collect()
}

/// Used by the spread state: whether a node passes the filters that decide
/// which domains count (node affinity, and taints when asked).
pub(crate) fn node_counts_for_spread(pod: &Pod, node: &Node, honor_affinity: bool, honor_taints: bool) -> bool {
    (!honor_affinity || node_affinity_matches(pod, node))
        && (!honor_taints
            || node.taints.iter().all(|t| {
                t.effect == TaintEffect::PreferNoSchedule || pod.tolerations.iter().any(|tol| tolerates(tol, t))
            }))
}
