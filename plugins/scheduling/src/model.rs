//! The views a policy works on. They mirror the records of `wit/scheduler.wit`
//! one for one, so the wasm plugin converts them field by field and the host
//! can hand the same values to the policy compiled natively.

pub type Labels = Vec<(String, String)>;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: u64,
    pub memory: u64,
    pub ephemeral_storage: u64,
    pub pods: u32,
    pub extended: Vec<(String, u64)>,
}

impl Resources {
    pub fn extended(&self, name: &str) -> u64 {
        self.extended.iter().find(|(n, _)| n == name).map(|(_, v)| *v).unwrap_or(0)
    }

    /// Adds `other` (a pod's requests) and counts one pod.
    pub fn add_pod(&mut self, other: &Resources) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.pods += 1;
        for (name, amount) in &other.extended {
            match self.extended.iter_mut().find(|(n, _)| n == name) {
                Some((_, v)) => *v += amount,
                None => self.extended.push((name.clone(), *amount)),
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: TaintEffect,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TolerationOperator {
    Equal,
    Exists,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Toleration {
    pub key: String,
    pub operator: TolerationOperator,
    pub value: String,
    pub effect: Option<TaintEffect>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    pub port: u16,
    pub protocol: String,
    pub host_ip: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub match_labels: Labels,
    pub match_expressions: Vec<Requirement>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSelectorTerm {
    pub match_expressions: Vec<Requirement>,
    pub match_fields: Vec<Requirement>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreferredNodeTerm {
    pub weight: i32,
    pub term: NodeSelectorTerm,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeAffinity {
    pub required: Option<Vec<NodeSelectorTerm>>,
    pub preferred: Vec<PreferredNodeTerm>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodAffinityTerm {
    pub selector: Option<LabelSelector>,
    pub namespaces: Vec<String>,
    pub all_namespaces: bool,
    pub topology_key: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightedPodAffinityTerm {
    pub weight: i32,
    pub term: PodAffinityTerm,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodAffinity {
    pub required: Vec<PodAffinityTerm>,
    pub preferred: Vec<WeightedPodAffinityTerm>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenUnsatisfiable {
    DoNotSchedule,
    ScheduleAnyway,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopologySpreadConstraint {
    pub max_skew: u32,
    pub topology_key: String,
    pub when_unsatisfiable: WhenUnsatisfiable,
    pub selector: Option<LabelSelector>,
    pub min_domains: Option<u32>,
    pub honor_node_affinity: bool,
    pub honor_node_taints: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSummary {
    pub namespace: String,
    pub labels: Labels,
    pub owner_uid: Option<String>,
    pub anti_affinity: Vec<PodAffinityTerm>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    pub index: u32,
    pub name: String,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    pub allocatable: Resources,
    pub requested: Resources,
    pub used_ports: Vec<HostPort>,
    pub unschedulable: bool,
    pub pods: Vec<PodSummary>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub labels: Labels,
    pub owner_uid: Option<String>,
    pub requests: Resources,
    pub host_ports: Vec<HostPort>,
    pub node_name: Option<String>,
    pub node_selector: Labels,
    pub node_affinity: Option<NodeAffinity>,
    pub pod_affinity: Option<PodAffinity>,
    pub pod_anti_affinity: Option<PodAffinity>,
    pub tolerations: Vec<Toleration>,
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
}

impl Pod {
    /// What the nodes keep of this pod once it is placed.
    pub fn summary(&self) -> PodSummary {
        PodSummary {
            namespace: self.namespace.clone(),
            labels: self.labels.clone(),
            owner_uid: self.owner_uid.clone(),
            anti_affinity: self.pod_anti_affinity.as_ref().map(|a| a.required.clone()).unwrap_or_default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub reason: String,
    pub nodes: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    pub node: Option<u32>,
    pub rejections: Vec<Rejection>,
}

pub fn label<'a>(labels: &'a Labels, key: &str) -> Option<&'a str> {
    labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}
