//! Scheduling policies: a loaded version of a component of world
//! `scheduler-policy`, and the long-lived instances the scheduler calls.
//!
//! Unlike admission, an instance outlives a call: it holds the nodes the host
//! sent it, so a pod's decision does not pay for sending them again. Each
//! call still has a deadline and the instance a memory cap; after a trap, a
//! timeout or running out of memory the instance is unusable and the host
//! starts a new one (`init`, then `set-nodes`).

use std::sync::Arc;

use skiff_scheduling::model;
use wasmtime::Store;

use crate::bindings::scheduler as wit;
use crate::bindings::scheduler_world::{SchedulerPolicy, SchedulerPolicyPre};
use crate::engine::PluginEngine;
use crate::error::PluginError;
use crate::sandbox::{self, Cluster, HostState, Limits};

/// One loaded version: compiled, linked and pre-instantiated, its `init` passed once.
pub struct SchedulerPlugin {
    name: Arc<str>,
    digest: String,
    config: Arc<str>,
    limits: Limits,
    engine: PluginEngine,
    pre: SchedulerPolicyPre<HostState>,
    cluster: Arc<dyn Cluster>,
}

/// A live instance of a version, with the nodes it was sent.
pub struct SchedulerInstance {
    store: Store<HostState>,
    bindings: SchedulerPolicy,
    limits: Limits,
    broken: bool,
}

impl SchedulerPlugin {
    /// Compiles (or takes from the cache) and links `module`, and checks that
    /// an instance passes `init(config)`.
    pub async fn load(
        engine: &PluginEngine,
        name: &str,
        module: Arc<[u8]>,
        config: String,
        limits: Limits,
        cluster: Arc<dyn Cluster>,
    ) -> Result<SchedulerPlugin, PluginError> {
        let (digest, pre) = engine.prepare(module, limits).await?;
        let pre = SchedulerPolicyPre::new(pre).map_err(|e| {
            PluginError::Load(format!("the module does not export the scheduler interface of skiff:plugin: {e:#}"))
        })?;
        let plugin = SchedulerPlugin {
            name: name.into(),
            digest,
            config: config.into(),
            limits,
            engine: engine.clone(),
            pre,
            cluster,
        };
        plugin.instance().await?;
        Ok(plugin)
    }

    /// `sha256:<hex>` of the module.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A new instance, `init` done, that knows no nodes yet.
    pub async fn instance(&self) -> Result<SchedulerInstance, PluginError> {
        let mut store = sandbox::new_store(&self.engine, &self.name, &self.config, self.limits, self.cluster.clone());
        let outcome = async {
            let bindings = self.pre.instantiate_async(&mut store).await?;
            let config = self.config.to_string();
            Ok(bindings.skiff_plugin_scheduler().call_init(&mut store, &config).await?.map(|()| bindings))
        }
        .await;
        let bindings = sandbox::finish(&mut store, self.limits, outcome)?;
        Ok(SchedulerInstance { store, bindings, limits: self.limits, broken: false })
    }
}

impl SchedulerInstance {
    /// False once a call trapped, timed out or ran out of memory (its state
    /// is then unknown), or when its output pipes fill up: start a new one.
    pub fn usable(&self) -> bool {
        !self.broken && !sandbox::stdio_half_full(&self.store)
    }

    pub async fn set_nodes(&mut self, nodes: &[model::Node]) -> Result<(), PluginError> {
        let nodes: Vec<wit::NodeView> = nodes.iter().map(node).collect();
        self.call(|b, s| Box::pin(async move { b.skiff_plugin_scheduler().call_set_nodes(s, &nodes).await })).await
    }

    pub async fn update_nodes(&mut self, changed: &[model::Node], removed: &[u32]) -> Result<(), PluginError> {
        let changed: Vec<wit::NodeView> = changed.iter().map(node).collect();
        let removed = removed.to_vec();
        self.call(|b, s| {
            Box::pin(async move { b.skiff_plugin_scheduler().call_update_nodes(s, &changed, &removed).await })
        })
        .await
    }

    pub async fn schedule(&mut self, pods: &[model::Pod]) -> Result<Vec<model::Placement>, PluginError> {
        let views: Vec<wit::PodView> = pods.iter().map(pod).collect();
        let placements = self
            .call(|b, s| Box::pin(async move { b.skiff_plugin_scheduler().call_schedule(s, &views).await }))
            .await?;
        if placements.len() != pods.len() {
            self.broken = true;
            return Err(PluginError::Trap(format!(
                "schedule answered {} placements for {} pods",
                placements.len(),
                pods.len()
            )));
        }
        Ok(placements
            .into_iter()
            .map(|p| model::Placement {
                node: p.node,
                rejections: p
                    .rejections
                    .into_iter()
                    .map(|r| model::Rejection { reason: r.reason, nodes: r.nodes })
                    .collect(),
            })
            .collect())
    }

    async fn call<T>(
        &mut self,
        f: impl for<'a> FnOnce(
            &'a SchedulerPolicy,
            &'a mut Store<HostState>,
        ) -> sandbox::BoxFuture<'a, wasmtime::Result<Result<T, crate::WitError>>>,
    ) -> Result<T, PluginError> {
        if self.broken {
            return Err(PluginError::Trap("the instance failed earlier and must be replaced".into()));
        }
        sandbox::rearm(&mut self.store, self.limits);
        let outcome = f(&self.bindings, &mut self.store).await;
        let trapped = outcome.is_err();
        let result = sandbox::finish(&mut self.store, self.limits, outcome);
        if trapped {
            self.broken = true;
        }
        result
    }
}

fn resources(r: &model::Resources) -> wit::Resources {
    wit::Resources {
        milli_cpu: r.milli_cpu,
        memory: r.memory,
        ephemeral_storage: r.ephemeral_storage,
        pods: r.pods,
        extended: r.extended.clone(),
    }
}

fn effect(e: model::TaintEffect) -> wit::TaintEffect {
    match e {
        model::TaintEffect::NoSchedule => wit::TaintEffect::NoSchedule,
        model::TaintEffect::PreferNoSchedule => wit::TaintEffect::PreferNoSchedule,
        model::TaintEffect::NoExecute => wit::TaintEffect::NoExecute,
    }
}

fn port(p: &model::HostPort) -> wit::HostPort {
    wit::HostPort { port: p.port, protocol: p.protocol.clone(), host_ip: p.host_ip.clone() }
}

fn requirement(r: &model::Requirement) -> wit::Requirement {
    let operator = match r.operator {
        model::Operator::In => wit::SelectorOperator::In,
        model::Operator::NotIn => wit::SelectorOperator::NotIn,
        model::Operator::Exists => wit::SelectorOperator::Exists,
        model::Operator::DoesNotExist => wit::SelectorOperator::DoesNotExist,
        model::Operator::Gt => wit::SelectorOperator::Gt,
        model::Operator::Lt => wit::SelectorOperator::Lt,
    };
    wit::Requirement { key: r.key.clone(), operator, values: r.values.clone() }
}

fn selector(s: &model::LabelSelector) -> wit::LabelSelector {
    wit::LabelSelector {
        match_labels: s.match_labels.clone(),
        match_expressions: s.match_expressions.iter().map(requirement).collect(),
    }
}

fn node_term(t: &model::NodeSelectorTerm) -> wit::NodeSelectorTerm {
    wit::NodeSelectorTerm {
        match_expressions: t.match_expressions.iter().map(requirement).collect(),
        match_fields: t.match_fields.iter().map(requirement).collect(),
    }
}

fn pod_term(t: &model::PodAffinityTerm) -> wit::PodAffinityTerm {
    wit::PodAffinityTerm {
        selector: t.selector.as_ref().map(selector),
        namespaces: t.namespaces.clone(),
        all_namespaces: t.all_namespaces,
        topology_key: t.topology_key.clone(),
    }
}

fn pod_affinity(a: &model::PodAffinity) -> wit::PodAffinity {
    wit::PodAffinity {
        required: a.required.iter().map(pod_term).collect(),
        preferred: a
            .preferred
            .iter()
            .map(|w| wit::WeightedPodAffinityTerm { weight: w.weight, term: pod_term(&w.term) })
            .collect(),
    }
}

fn node(n: &model::Node) -> wit::NodeView {
    wit::NodeView {
        index: n.index,
        name: n.name.clone(),
        labels: n.labels.clone(),
        taints: n
            .taints
            .iter()
            .map(|t| wit::Taint { key: t.key.clone(), value: t.value.clone(), effect: effect(t.effect) })
            .collect(),
        allocatable: resources(&n.allocatable),
        requested: resources(&n.requested),
        used_ports: n.used_ports.iter().map(port).collect(),
        unschedulable: n.unschedulable,
        pods: n
            .pods
            .iter()
            .map(|p| wit::PodSummary {
                namespace: p.namespace.clone(),
                labels: p.labels.clone(),
                owner_uid: p.owner_uid.clone(),
                anti_affinity: p.anti_affinity.iter().map(pod_term).collect(),
            })
            .collect(),
    }
}

fn pod(p: &model::Pod) -> wit::PodView {
    wit::PodView {
        namespace: p.namespace.clone(),
        name: p.name.clone(),
        uid: p.uid.clone(),
        labels: p.labels.clone(),
        owner_uid: p.owner_uid.clone(),
        requests: resources(&p.requests),
        host_ports: p.host_ports.iter().map(port).collect(),
        node_name: p.node_name.clone(),
        node_selector: p.node_selector.clone(),
        node_affinity: p.node_affinity.as_ref().map(|a| wit::NodeAffinity {
            required: a.required.as_ref().map(|terms| terms.iter().map(node_term).collect()),
            preferred: a
                .preferred
                .iter()
                .map(|p| wit::PreferredNodeTerm { weight: p.weight, term: node_term(&p.term) })
                .collect(),
        }),
        pod_affinity: p.pod_affinity.as_ref().map(pod_affinity),
        pod_anti_affinity: p.pod_anti_affinity.as_ref().map(pod_affinity),
        tolerations: p
            .tolerations
            .iter()
            .map(|t| wit::Toleration {
                key: t.key.clone(),
                operator: match t.operator {
                    model::TolerationOperator::Equal => wit::TolerationOperator::Equal,
                    model::TolerationOperator::Exists => wit::TolerationOperator::Exists,
                },
                value: t.value.clone(),
                effect: t.effect.map(effect),
            })
            .collect(),
        topology_spread_constraints: p
            .topology_spread_constraints
            .iter()
            .map(|c| wit::TopologySpreadConstraint {
                max_skew: c.max_skew,
                topology_key: c.topology_key.clone(),
                when_unsatisfiable: match c.when_unsatisfiable {
                    model::WhenUnsatisfiable::DoNotSchedule => wit::WhenUnsatisfiable::DoNotSchedule,
                    model::WhenUnsatisfiable::ScheduleAnyway => wit::WhenUnsatisfiable::ScheduleAnyway,
                },
                selector: c.selector.as_ref().map(selector),
                min_domains: c.min_domains,
                honor_node_affinity: c.honor_node_affinity,
                honor_node_taints: c.honor_node_taints,
            })
            .collect(),
    }
}
