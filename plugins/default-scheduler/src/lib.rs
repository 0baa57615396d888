//! The default scheduling policy as a plugin: the `skiff-scheduling` crate
//! behind the scheduler world. The instance keeps the policy (and with it the
//! nodes) between calls; the host starts a new instance when it must.
//!
//! Config: see [`skiff_scheduling::Config::from_json`].

use std::cell::RefCell;

use skiff_scheduling::{model, Config, Policy};

wit_bindgen::generate!({
    path: "../../wit",
    world: "scheduler-policy",
});

use exports::skiff::plugin::scheduler::{self as wit, Guest};
use skiff::plugin::types::{Error, ErrorCode};

thread_local! {
    static POLICY: RefCell<Option<Policy>> = const { RefCell::new(None) };
}

struct DefaultScheduler;

fn with_policy<T>(f: impl FnOnce(&mut Policy) -> T) -> Result<T, Error> {
    POLICY.with_borrow_mut(|policy| match policy {
        Some(p) => Ok(f(p)),
        None => Err(Error { code: ErrorCode::Internal, message: "the host called the policy before init".into() }),
    })
}

impl Guest for DefaultScheduler {
    fn init(config: String) -> Result<(), Error> {
        let config = Config::from_json(&config).map_err(|message| Error { code: ErrorCode::InvalidInput, message })?;
        POLICY.set(Some(Policy::new(config)));
        Ok(())
    }

    fn set_nodes(nodes: Vec<wit::NodeView>) -> Result<(), Error> {
        with_policy(|p| p.set_nodes(nodes.into_iter().map(node).collect()))
    }

    fn update_nodes(changed: Vec<wit::NodeView>, removed: Vec<u32>) -> Result<(), Error> {
        with_policy(|p| p.update_nodes(changed.into_iter().map(node).collect(), &removed))
    }

    fn schedule(pods: Vec<wit::PodView>) -> Result<Vec<wit::Placement>, Error> {
        let pods: Vec<model::Pod> = pods.into_iter().map(pod).collect();
        with_policy(|p| {
            p.schedule(&pods)
                .into_iter()
                .map(|placement| wit::Placement {
                    node: placement.node,
                    rejections: placement
                        .rejections
                        .into_iter()
                        .map(|r| wit::Rejection { reason: r.reason, nodes: r.nodes })
                        .collect(),
                })
                .collect()
        })
    }
}

export!(DefaultScheduler);

fn resources(r: wit::Resources) -> model::Resources {
    model::Resources {
        milli_cpu: r.milli_cpu,
        memory: r.memory,
        ephemeral_storage: r.ephemeral_storage,
        pods: r.pods,
        extended: r.extended,
    }
}

fn effect(e: wit::TaintEffect) -> model::TaintEffect {
    match e {
        wit::TaintEffect::NoSchedule => model::TaintEffect::NoSchedule,
        wit::TaintEffect::PreferNoSchedule => model::TaintEffect::PreferNoSchedule,
        wit::TaintEffect::NoExecute => model::TaintEffect::NoExecute,
    }
}

fn port(p: wit::HostPort) -> model::HostPort {
    model::HostPort { port: p.port, protocol: p.protocol, host_ip: p.host_ip }
}

fn requirement(r: wit::Requirement) -> model::Requirement {
    let operator = match r.operator {
        wit::SelectorOperator::In => model::Operator::In,
        wit::SelectorOperator::NotIn => model::Operator::NotIn,
        wit::SelectorOperator::Exists => model::Operator::Exists,
        wit::SelectorOperator::DoesNotExist => model::Operator::DoesNotExist,
        wit::SelectorOperator::Gt => model::Operator::Gt,
        wit::SelectorOperator::Lt => model::Operator::Lt,
    };
    model::Requirement { key: r.key, operator, values: r.values }
}

fn selector(s: wit::LabelSelector) -> model::LabelSelector {
    model::LabelSelector {
        match_labels: s.match_labels,
        match_expressions: s.match_expressions.into_iter().map(requirement).collect(),
    }
}

fn node_term(t: wit::NodeSelectorTerm) -> model::NodeSelectorTerm {
    model::NodeSelectorTerm {
        match_expressions: t.match_expressions.into_iter().map(requirement).collect(),
        match_fields: t.match_fields.into_iter().map(requirement).collect(),
    }
}

fn pod_term(t: wit::PodAffinityTerm) -> model::PodAffinityTerm {
    model::PodAffinityTerm {
        selector: t.selector.map(selector),
        namespaces: t.namespaces,
        all_namespaces: t.all_namespaces,
        topology_key: t.topology_key,
    }
}

fn pod_affinity(a: wit::PodAffinity) -> model::PodAffinity {
    model::PodAffinity {
        required: a.required.into_iter().map(pod_term).collect(),
        preferred: a
            .preferred
            .into_iter()
            .map(|w| model::WeightedPodAffinityTerm { weight: w.weight, term: pod_term(w.term) })
            .collect(),
    }
}

fn node(n: wit::NodeView) -> model::Node {
    model::Node {
        index: n.index,
        name: n.name,
        labels: n.labels,
        taints: n
            .taints
            .into_iter()
            .map(|t| model::Taint { key: t.key, value: t.value, effect: effect(t.effect) })
            .collect(),
        allocatable: resources(n.allocatable),
        requested: resources(n.requested),
        used_ports: n.used_ports.into_iter().map(port).collect(),
        unschedulable: n.unschedulable,
        pods: n
            .pods
            .into_iter()
            .map(|p| model::PodSummary {
                namespace: p.namespace,
                labels: p.labels,
                owner_uid: p.owner_uid,
                anti_affinity: p.anti_affinity.into_iter().map(pod_term).collect(),
            })
            .collect(),
    }
}

fn pod(p: wit::PodView) -> model::Pod {
    model::Pod {
        namespace: p.namespace,
        name: p.name,
        uid: p.uid,
        labels: p.labels,
        owner_uid: p.owner_uid,
        requests: resources(p.requests),
        host_ports: p.host_ports.into_iter().map(port).collect(),
        node_name: p.node_name,
        node_selector: p.node_selector,
        node_affinity: p.node_affinity.map(|a| model::NodeAffinity {
            required: a.required.map(|terms| terms.into_iter().map(node_term).collect()),
            preferred: a
                .preferred
                .into_iter()
                .map(|p| model::PreferredNodeTerm { weight: p.weight, term: node_term(p.term) })
                .collect(),
        }),
        pod_affinity: p.pod_affinity.map(pod_affinity),
        pod_anti_affinity: p.pod_anti_affinity.map(pod_affinity),
        tolerations: p
            .tolerations
            .into_iter()
            .map(|t| model::Toleration {
                key: t.key,
                operator: match t.operator {
                    wit::TolerationOperator::Equal => model::TolerationOperator::Equal,
                    wit::TolerationOperator::Exists => model::TolerationOperator::Exists,
                },
                value: t.value,
                effect: t.effect.map(effect),
            })
            .collect(),
        topology_spread_constraints: p
            .topology_spread_constraints
            .into_iter()
            .map(|c| model::TopologySpreadConstraint {
                max_skew: c.max_skew,
                topology_key: c.topology_key,
                when_unsatisfiable: match c.when_unsatisfiable {
                    wit::WhenUnsatisfiable::DoNotSchedule => model::WhenUnsatisfiable::DoNotSchedule,
                    wit::WhenUnsatisfiable::ScheduleAnyway => model::WhenUnsatisfiable::ScheduleAnyway,
                },
                selector: c.selector.map(selector),
                min_domains: c.min_domains,
                honor_node_affinity: c.honor_node_affinity,
                honor_node_taints: c.honor_node_taints,
            })
            .collect(),
    }
}
