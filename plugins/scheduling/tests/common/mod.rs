//! Builders for the node and pod views the policy works on, so a test case
//! reads like the manifests it stands for, and a runner that names nodes
//! rather than indexes.
#![allow(dead_code)]

use skiff_scheduling::model::{
    HostPort, LabelSelector, Node, NodeAffinity, NodeSelectorTerm, Operator, Pod, PodAffinity, PodAffinityTerm,
    PodSummary, PreferredNodeTerm, Requirement, Resources, Taint, TaintEffect, Toleration, TolerationOperator,
    TopologySpreadConstraint, WeightedPodAffinityTerm, WhenUnsatisfiable,
};
use skiff_scheduling::{Config, Policy};

pub const MI: u64 = 1 << 20;
pub const GI: u64 = 1 << 30;
pub const HOSTNAME: &str = "kubernetes.io/hostname";
pub const ZONE: &str = "topology.kubernetes.io/zone";
pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// A node with room to spare (4 CPUs, 8 GiB, 100 GiB of disk, 110 pods)
/// and its hostname label, as the kubelet registers it.
pub fn node(name: &str) -> Node {
    Node {
        name: name.into(),
        labels: vec![(HOSTNAME.into(), name.into())],
        allocatable: Resources {
            milli_cpu: 4000,
            memory: 8 * GI,
            ephemeral_storage: 100 * GI,
            pods: 110,
            extended: vec![],
        },
        ..Node::default()
    }
}

pub trait NodeExt: Sized {
    fn at(self, index: u32) -> Self;
    fn label(self, key: &str, value: &str) -> Self;
    fn unlabel(self, key: &str) -> Self;
    fn zone(self, zone: &str) -> Self {
        self.label(ZONE, zone)
    }
    fn taint(self, key: &str, value: &str, effect: TaintEffect) -> Self;
    /// `kubectl cordon`: the flag, and the taint the node lifecycle controller adds.
    fn cordon(self) -> Self;
    /// Allocatable and already requested CPU, in millicores.
    fn cpu(self, allocatable: u64, requested: u64) -> Self;
    fn memory(self, allocatable: u64, requested: u64) -> Self;
    fn storage(self, allocatable: u64, requested: u64) -> Self;
    fn extended(self, name: &str, allocatable: u64, requested: u64) -> Self;
    /// The pod capacity, and how many pods the node runs (beyond those added with `with_pod`).
    fn max_pods(self, allocatable: u32, running: u32) -> Self;
    fn port(self, port: u16, protocol: &str, host_ip: &str) -> Self;
    /// A pod already on the node (counted against its pod capacity).
    fn with_pod(self, pod: PodSummary) -> Self;
}

impl NodeExt for Node {
    fn at(mut self, index: u32) -> Self {
        self.index = index;
        self
    }
    fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.retain(|(k, _)| k != key);
        self.labels.push((key.into(), value.into()));
        self
    }
    fn unlabel(mut self, key: &str) -> Self {
        self.labels.retain(|(k, _)| k != key);
        self
    }
    fn taint(mut self, key: &str, value: &str, effect: TaintEffect) -> Self {
        self.taints.push(Taint { key: key.into(), value: value.into(), effect });
        self
    }
    fn cordon(mut self) -> Self {
        self.unschedulable = true;
        self.taint(UNSCHEDULABLE, "", TaintEffect::NoSchedule)
    }
    fn cpu(mut self, allocatable: u64, requested: u64) -> Self {
        self.allocatable.milli_cpu = allocatable;
        self.requested.milli_cpu = requested;
        self
    }
    fn memory(mut self, allocatable: u64, requested: u64) -> Self {
        self.allocatable.memory = allocatable;
        self.requested.memory = requested;
        self
    }
    fn storage(mut self, allocatable: u64, requested: u64) -> Self {
        self.allocatable.ephemeral_storage = allocatable;
        self.requested.ephemeral_storage = requested;
        self
    }
    fn extended(mut self, name: &str, allocatable: u64, requested: u64) -> Self {
        self.allocatable.extended.push((name.into(), allocatable));
        self.requested.extended.push((name.into(), requested));
        self
    }
    fn max_pods(mut self, allocatable: u32, running: u32) -> Self {
        self.allocatable.pods = allocatable;
        self.requested.pods = running;
        self
    }
    fn port(mut self, port: u16, protocol: &str, host_ip: &str) -> Self {
        self.used_ports.push(host_port(port, protocol, host_ip));
        self
    }
    fn with_pod(mut self, pod: PodSummary) -> Self {
        self.pods.push(pod);
        self.requested.pods += 1;
        self
    }
}

/// A pod already placed, in namespace `default`.
pub fn running(labels: &[(&str, &str)]) -> PodSummary {
    PodSummary { namespace: "default".into(), labels: pairs(labels), owner_uid: None, anti_affinity: vec![] }
}

pub trait SummaryExt: Sized {
    fn in_ns(self, namespace: &str) -> Self;
    fn owner(self, uid: &str) -> Self;
    /// A required anti-affinity term of the placed pod.
    fn anti(self, term: PodAffinityTerm) -> Self;
}

impl SummaryExt for PodSummary {
    fn in_ns(mut self, namespace: &str) -> Self {
        self.namespace = namespace.into();
        self
    }
    fn owner(mut self, uid: &str) -> Self {
        self.owner_uid = Some(uid.into());
        self
    }
    fn anti(mut self, term: PodAffinityTerm) -> Self {
        self.anti_affinity.push(term);
        self
    }
}

/// A pod in namespace `default` that asks for nothing.
pub fn pod(name: &str) -> Pod {
    Pod { namespace: "default".into(), name: name.into(), uid: format!("uid-{name}"), ..Pod::default() }
}

pub trait PodExt: Sized {
    fn in_ns(self, namespace: &str) -> Self;
    fn label(self, key: &str, value: &str) -> Self;
    fn owner(self, uid: &str) -> Self;
    /// Requested CPU in millicores.
    fn cpu(self, milli: u64) -> Self;
    fn memory(self, bytes: u64) -> Self;
    fn storage(self, bytes: u64) -> Self;
    fn extended(self, name: &str, amount: u64) -> Self;
    fn port(self, port: u16, protocol: &str, host_ip: &str) -> Self;
    fn node_name(self, name: &str) -> Self;
    /// One `nodeSelector` pair.
    fn select(self, key: &str, value: &str) -> Self;
    /// `requiredDuringScheduling…` node affinity: these terms, OR'd.
    fn require_nodes(self, terms: Vec<NodeSelectorTerm>) -> Self;
    fn prefer_nodes(self, weight: i32, term: NodeSelectorTerm) -> Self;
    fn tolerate(self, toleration: Toleration) -> Self;
    fn affinity(self, term: PodAffinityTerm) -> Self;
    fn prefer_affinity(self, weight: i32, term: PodAffinityTerm) -> Self;
    fn anti(self, term: PodAffinityTerm) -> Self;
    fn prefer_anti(self, weight: i32, term: PodAffinityTerm) -> Self;
    fn spread(self, constraint: TopologySpreadConstraint) -> Self;
}

impl PodExt for Pod {
    fn in_ns(mut self, namespace: &str) -> Self {
        self.namespace = namespace.into();
        self
    }
    fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.push((key.into(), value.into()));
        self
    }
    fn owner(mut self, uid: &str) -> Self {
        self.owner_uid = Some(uid.into());
        self
    }
    fn cpu(mut self, milli: u64) -> Self {
        self.requests.milli_cpu = milli;
        self
    }
    fn memory(mut self, bytes: u64) -> Self {
        self.requests.memory = bytes;
        self
    }
    fn storage(mut self, bytes: u64) -> Self {
        self.requests.ephemeral_storage = bytes;
        self
    }
    fn extended(mut self, name: &str, amount: u64) -> Self {
        self.requests.extended.push((name.into(), amount));
        self
    }
    fn port(mut self, port: u16, protocol: &str, host_ip: &str) -> Self {
        self.host_ports.push(host_port(port, protocol, host_ip));
        self
    }
    fn node_name(mut self, name: &str) -> Self {
        self.node_name = Some(name.into());
        self
    }
    fn select(mut self, key: &str, value: &str) -> Self {
        self.node_selector.push((key.into(), value.into()));
        self
    }
    fn require_nodes(mut self, terms: Vec<NodeSelectorTerm>) -> Self {
        self.node_affinity.get_or_insert_with(NodeAffinity::default).required = Some(terms);
        self
    }
    fn prefer_nodes(mut self, weight: i32, term: NodeSelectorTerm) -> Self {
        self.node_affinity.get_or_insert_with(NodeAffinity::default).preferred.push(PreferredNodeTerm { weight, term });
        self
    }
    fn tolerate(mut self, toleration: Toleration) -> Self {
        self.tolerations.push(toleration);
        self
    }
    fn affinity(mut self, term: PodAffinityTerm) -> Self {
        self.pod_affinity.get_or_insert_with(PodAffinity::default).required.push(term);
        self
    }
    fn prefer_affinity(mut self, weight: i32, term: PodAffinityTerm) -> Self {
        self.pod_affinity
            .get_or_insert_with(PodAffinity::default)
            .preferred
            .push(WeightedPodAffinityTerm { weight, term });
        self
    }
    fn anti(mut self, term: PodAffinityTerm) -> Self {
        self.pod_anti_affinity.get_or_insert_with(PodAffinity::default).required.push(term);
        self
    }
    fn prefer_anti(mut self, weight: i32, term: PodAffinityTerm) -> Self {
        self.pod_anti_affinity
            .get_or_insert_with(PodAffinity::default)
            .preferred
            .push(WeightedPodAffinityTerm { weight, term });
        self
    }
    fn spread(mut self, constraint: TopologySpreadConstraint) -> Self {
        self.topology_spread_constraints.push(constraint);
        self
    }
}

pub fn pairs(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub fn host_port(port: u16, protocol: &str, host_ip: &str) -> HostPort {
    HostPort { port, protocol: protocol.into(), host_ip: host_ip.into() }
}

/// `operator: Exists` (an empty key tolerates every taint); `effect: None` tolerates every effect.
pub fn tolerate_exists(key: &str, effect: Option<TaintEffect>) -> Toleration {
    Toleration { key: key.into(), operator: TolerationOperator::Exists, value: String::new(), effect }
}

pub fn tolerate_equal(key: &str, value: &str, effect: Option<TaintEffect>) -> Toleration {
    Toleration { key: key.into(), operator: TolerationOperator::Equal, value: value.into(), effect }
}

pub fn req(key: &str, operator: Operator, values: &[&str]) -> Requirement {
    Requirement { key: key.into(), operator, values: values.iter().map(|v| v.to_string()).collect() }
}

/// A node selector term over labels.
pub fn term(expressions: Vec<Requirement>) -> NodeSelectorTerm {
    NodeSelectorTerm { match_expressions: expressions, match_fields: vec![] }
}

/// A node selector term over fields (`metadata.name`).
pub fn fields(fields: Vec<Requirement>) -> NodeSelectorTerm {
    NodeSelectorTerm { match_expressions: vec![], match_fields: fields }
}

pub fn selector(labels: &[(&str, &str)]) -> LabelSelector {
    LabelSelector { match_labels: pairs(labels), match_expressions: vec![] }
}

/// A pod (anti-)affinity term selecting pods with `labels` in the declaring pod's namespace.
pub fn pods_with(labels: &[(&str, &str)], topology_key: &str) -> PodAffinityTerm {
    PodAffinityTerm {
        selector: Some(selector(labels)),
        namespaces: vec![],
        all_namespaces: false,
        topology_key: topology_key.into(),
    }
}

pub trait TermExt: Sized {
    fn namespaces(self, namespaces: &[&str]) -> Self;
    fn all_namespaces(self) -> Self;
}

impl TermExt for PodAffinityTerm {
    fn namespaces(mut self, namespaces: &[&str]) -> Self {
        self.namespaces = namespaces.iter().map(|n| n.to_string()).collect();
        self
    }
    fn all_namespaces(mut self) -> Self {
        self.all_namespaces = true;
        self
    }
}

/// A topology spread constraint with the API's defaults (node affinity
/// honoured, taints ignored, no minDomains).
pub fn spread(key: &str, max_skew: u32, when: WhenUnsatisfiable, labels: &[(&str, &str)]) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        max_skew,
        topology_key: key.into(),
        when_unsatisfiable: when,
        selector: Some(selector(labels)),
        min_domains: None,
        honor_node_affinity: true,
        honor_node_taints: false,
    }
}

/// Gives nodes the indexes of their positions.
pub fn indexed(nodes: Vec<Node>) -> Vec<Node> {
    nodes.into_iter().enumerate().map(|(i, n)| n.at(i as u32)).collect()
}

/// What a placement says, by node name: the node chosen, and the rejections as (reason, nodes).
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub node: Option<String>,
    pub rejections: Vec<(String, u32)>,
}

/// Schedules a batch on a policy and names the chosen nodes.
pub fn schedule(policy: &mut Policy, pods: &[Pod]) -> Vec<Outcome> {
    policy
        .schedule(pods)
        .into_iter()
        .map(|p| Outcome {
            node: p
                .node
                .map(|i| policy.node(i).map(|n| n.name.clone()).unwrap_or_else(|| format!("<unknown index {i}>"))),
            rejections: p.rejections.into_iter().map(|r| (r.reason, r.nodes)).collect(),
        })
        .collect()
}

/// A fresh policy over `nodes` (indexed by position), scheduling `pods` as one batch.
pub fn place(config: Config, nodes: Vec<Node>, pods: &[Pod]) -> Vec<Outcome> {
    let mut policy = Policy::new(config);
    policy.set_nodes(indexed(nodes));
    schedule(&mut policy, pods)
}

pub fn reasons(list: &[(&str, u32)]) -> Vec<(String, u32)> {
    list.iter().map(|(r, n)| (r.to_string(), *n)).collect()
}
