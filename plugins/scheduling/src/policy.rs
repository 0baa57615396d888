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

/// A node and what the policy derives from it once per change.
struct Slot {
    node: Node,
    /// Pods per owner (by interned owner id), for spreading an owner's pods.
    owners: Vec<(u32, u32)>,
}

pub struct Policy {
    config: Config,
    /// By node index; None for free slots.
    nodes: Vec<Option<Slot>>,
    /// Owner uids as small numbers, so counting an owner's pods on a node
    /// compares integers rather than strings.
    owner_ids: HashMap<String, u32>,
    /// The indexes in use, ascending: the order nodes are visited in.
    live: Vec<u32>,
    /// Where the next pod's search starts (rotates so load spreads, as in kube-scheduler).
    next_start: usize,
    /// How many pods on the nodes carry required anti-affinity terms; when
    /// none do, new pods skip that check.
    anti_affinity_pods: usize,
    /// Buffers reused from pod to pod (allocating them per pod shows in wasm).
    scratch: Scratch,
}

#[derive(Default)]
struct Scratch {
    feasible: Vec<u32>,
    raw: Vec<Raw>,
}

/// The per-pod state filters and scores share.
pub(crate) struct Cycle<'a> {
    pub pod: &'a Pod,
    /// The pod has a node selector or required node affinity (most have neither).
    pub node_constrained: bool,
    pub affinity: Option<AffinityState>,
    pub spread: Option<SpreadState>,
}

impl Policy {
    pub fn new(config: Config) -> Policy {
        Policy {
            config,
            nodes: Vec::new(),
            owner_ids: HashMap::new(),
            live: Vec::new(),
            next_start: 0,
            anti_affinity_pods: 0,
            scratch: Scratch::default(),
        }
    }

    pub fn set_nodes(&mut self, nodes: Vec<Node>) {
        self.nodes.clear();
        // Owners come and go: interned ids start over with the nodes.
        self.owner_ids.clear();
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
            let mut owners = Vec::new();
            for pod in &node.pods {
                if let Some(uid) = &pod.owner_uid {
                    count_owner(&mut owners, self.owner_id(uid));
                }
            }
            self.nodes[index] = Some(Slot { node, owners });
        }
        self.live = self.nodes.iter().enumerate().filter(|(_, n)| n.is_some()).map(|(i, _)| i as u32).collect();
        self.anti_affinity_pods =
            self.nodes().map(|n| n.pods.iter().filter(|p| !p.anti_affinity.is_empty()).count()).sum();
    }

    pub fn node(&self, index: u32) -> Option<&Node> {
        self.nodes.get(index as usize).and_then(Option::as_ref).map(|s| &s.node)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().flatten().map(|s| &s.node)
    }

    fn owner_id(&mut self, uid: &str) -> u32 {
        if let Some(&id) = self.owner_ids.get(uid) {
            return id;
        }
        let id = self.owner_ids.len() as u32;
        self.owner_ids.insert(uid.to_string(), id);
        id
    }

    /// How many pods of `owner` the node at `index` has.
    fn owned_on(&self, index: u32, owner: u32) -> i64 {
        let Some(Some(slot)) = self.nodes.get(index as usize) else { return 0 };
        slot.owners.iter().find(|(o, _)| *o == owner).map(|(_, n)| *n as i64).unwrap_or(0)
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
            node_constrained: !pod.node_selector.is_empty()
                || pod.node_affinity.as_ref().is_some_and(|a| a.required.is_some()),
            affinity: AffinityState::new(self, pod, self.anti_affinity_pods > 0),
            spread: SpreadState::new(self, pod),
        };
        let wanted = self.feasible_to_find(all);
        let mut scratch = std::mem::take(&mut self.scratch);
        let feasible = &mut scratch.feasible;
        feasible.clear();
        let mut reasons: HashMap<String, u32> = HashMap::new();
        let mut visited = 0;
        // From where the last pod's search stopped, wrapping around.
        let (head, tail) = self.live.split_at(self.next_start.min(all));
        for &index in tail.iter().chain(head) {
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
        let mut rejections: Vec<Rejection> =
            reasons.into_iter().map(|(reason, nodes)| Rejection { reason, nodes }).collect();
        rejections.sort_by(|a, b| a.reason.cmp(&b.reason));
        let chosen = self.best(&cycle, feasible, &mut scratch.raw);
        self.scratch = scratch;
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
        let owner = pod.owner_uid.as_ref().map(|uid| self.owner_id(uid));
        let Some(Some(Slot { node, owners })) = self.nodes.get_mut(index as usize) else { return };
        if let Some(owner) = owner {
            count_owner(owners, owner);
        }
        node.requested.add_pod(&pod.requests);
        node.used_ports.extend(pod.host_ports.iter().cloned());
        node.pods.push(pod.summary());
        if pod.pod_anti_affinity.as_ref().is_some_and(|a| !a.required.is_empty()) {
            self.anti_affinity_pods += 1;
        }
    }

    /// The feasible node with the highest weighted score; ties go to the first visited.
    // Kept out of line (as `filter` is): one huge function compiles worse in
    // wasm (Cranelift spills registers) than a few middle-sized ones.
    #[inline(never)]
    fn best(&self, cycle: &Cycle, feasible: &[u32], raw: &mut Vec<Raw>) -> Option<u32> {
        match feasible {
            [] => return None,
            [only] => return Some(*only),
            _ => {}
        }
        let pod = cycle.pod;
        let strategy = self.config.scoring_strategy;
        let preferred = pod.node_affinity.as_ref().map(|a| a.preferred.as_slice()).unwrap_or(&[]);
        let inter_pod = cycle.affinity.as_ref().filter(|a| a.has_preferences());
        let spread = cycle.spread.as_ref().filter(|s| s.scores());
        // Without constraints of its own a pod spreads from its owner's other pods.
        let owner = match &cycle.spread {
            None => pod.owner_uid.as_ref().and_then(|uid| self.owner_ids.get(uid)).copied(),
            Some(_) => None,
        };
        // One pass for the raw values; the scores normalised over the
        // feasible nodes need their extremes before they can be summed.
        raw.clear();
        let mut max = Raw::default();
        let mut min_inter_pod = i64::MAX;
        for &index in feasible {
            let Some(node) = self.node(index) else { continue };
            let r = Raw {
                index,
                direct: W_FIT * fit_score(strategy, pod, node) + W_BALANCED * balanced_score(pod, node),
                taints: intolerable_preferred_taints(pod, node),
                affinity: preferred.iter().filter(|p| term_matches(&p.term, node)).map(|p| p.weight as i64).sum(),
                inter_pod: inter_pod.map_or(0, |a| a.score(node)),
                spread: match (spread, owner) {
                    (Some(s), _) => s.score(node),
                    (None, Some(o)) => self.owned_on(index, o),
                    (None, None) => 0,
                },
            };
            max.taints = max.taints.max(r.taints);
            max.affinity = max.affinity.max(r.affinity);
            max.inter_pod = max.inter_pod.max(r.inter_pod);
            max.spread = max.spread.max(r.spread);
            min_inter_pod = min_inter_pod.min(r.inter_pod);
            raw.push(r);
        }
        let mut best: Option<(i64, u32)> = None;
        for r in raw.iter() {
            let mut total = r.direct + W_TAINT * reverse(r.taints, max.taints);
            if !preferred.is_empty() {
                total += W_NODE_AFFINITY * scale_to_max(r.affinity, max.affinity);
            }
            if inter_pod.is_some() {
                total += W_INTER_POD * min_max(r.inter_pod, min_inter_pod, max.inter_pod);
            }
            if spread.is_some() || owner.is_some() {
                total += W_SPREAD * reverse(r.spread, max.spread);
            }
            if best.is_none_or(|(b, _)| total > b) {
                best = Some((total, r.index));
            }
        }
        best.map(|(_, index)| index)
    }
}

/// A feasible node's raw values, before normalisation.
#[derive(Default)]
struct Raw {
    index: u32,
    /// Fit and balanced allocation, weighted (already 0-100 each).
    direct: i64,
    taints: i64,
    affinity: i64,
    inter_pod: i64,
    spread: i64,
}

fn count_owner(owners: &mut Vec<(u32, u32)>, owner: u32) {
    match owners.iter_mut().find(|(o, _)| *o == owner) {
        Some((_, n)) => *n += 1,
        None => owners.push((owner, 1)),
    }
}

/// Runs the filters in order; the first that fails gives the node's reasons.
pub(crate) fn filter(cycle: &Cycle, node: &Node) -> Result<(), Vec<String>> {
    let pod = cycle.pod;
    if node.unschedulable && !tolerates_unschedulable(&pod.tolerations) {
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
    if cycle.node_constrained && !node_affinity_matches(pod, node) {
        return Err(vec!["node(s) didn't match Pod's node affinity/selector".into()]);
    }
    if !pod.host_ports.is_empty()
        && pod.host_ports.iter().any(|want| node.used_ports.iter().any(|used| ports_conflict(want, used)))
    {
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

fn tolerates_unschedulable(tolerations: &[Toleration]) -> bool {
    let taint =
        Taint { key: "node.kubernetes.io/unschedulable".into(), value: String::new(), effect: TaintEffect::NoSchedule };
    tolerations.iter().any(|t| tolerates(t, &taint))
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
    if short.is_empty() {
        Ok(())
    } else {
        Err(short)
    }
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
    let (mut sum, mut counted) = (0, 0);
    // As kube-scheduler: resources the node has none of are left out of the average.
    for (requested, allocatable) in after_placing(pod, node) {
        if allocatable == 0 {
            continue;
        }
        sum += match strategy {
            ScoringStrategy::LeastAllocated if requested > allocatable => 0,
            ScoringStrategy::LeastAllocated => percent(allocatable - requested, allocatable),
            ScoringStrategy::MostAllocated => percent(requested.min(allocatable), allocatable),
        };
        counted += 1;
    }
    if counted == 0 {
        0
    } else {
        div(sum, counted)
    }
}

/// `part * 100 / whole`, rounded down, for `part <= whole`.
fn percent(part: u64, whole: u64) -> i64 {
    // Beyond these, u128 (no realistic node has 2^57 bytes of anything).
    if whole > u64::MAX / 128 || part > whole {
        return (part as u128 * 100 / whole as u128) as i64;
    }
    let n = part * 100;
    if (n | whole) >> 32 == 0 {
        return div(n as i64, whole as i64);
    }
    // Memory is counted in bytes, so these rarely fit 32 bits. A 64-bit
    // divide costs several times a float one; the float quotient is off by
    // at most one, which two multiplications settle.
    // (q <= 101 and whole <= u64::MAX / 128: the products cannot overflow.)
    let mut q = (n as f64 / whole as f64) as u64;
    if q * whole > n {
        q -= 1;
    } else if (q + 1) * whole <= n {
        q += 1;
    }
    q as i64
}

/// `a / b` in 32 bits when both fit (the usual case for scores): a 64-bit
/// divide is several times slower on x86, and Cranelift, unlike LLVM, does
/// not make this choice by itself.
fn div(a: i64, b: i64) -> i64 {
    match (i32::try_from(a), i32::try_from(b)) {
        (Ok(a), Ok(b)) if b != -1 => (a / b) as i64,
        _ => a / b,
    }
}

/// NodeResourcesBalancedAllocation: nodes whose CPU and memory fill alike score higher.
fn balanced_score(pod: &Pod, node: &Node) -> i64 {
    let fraction = |(requested, allocatable): (u64, u64)| -> f64 {
        if allocatable == 0 || requested >= allocatable {
            1.0
        } else {
            requested as f64 / allocatable as f64
        }
    };
    let [cpu, memory] = after_placing(pod, node);
    let deviation = (fraction(cpu) - fraction(memory)).abs() / 2.0;
    ((1.0 - deviation) * 100.0) as i64
}

/// Higher raw values score lower: the largest gets 0, zero gets 100.
fn reverse(value: i64, max: i64) -> i64 {
    if max <= 0 {
        100
    } else {
        100 - div(value * 100, max)
    }
}

/// Scales to 0-100 by the largest value.
fn scale_to_max(value: i64, max: i64) -> i64 {
    if max <= 0 {
        0
    } else {
        div(value * 100, max)
    }
}

/// Scales to 0-100 between the smallest and largest value (values may be negative).
fn min_max(value: i64, min: i64, max: i64) -> i64 {
    if max == min {
        0
    } else {
        div((value - min) * 100, max - min)
    }
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
