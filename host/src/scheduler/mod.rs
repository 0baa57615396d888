//! The scheduler: assigns pending pods to nodes. The loop lives here in the
//! host — watch, cache, queue, binding, events — and the decisions come from
//! a policy: a wasm plugin of world scheduler (the built-in default policy
//! unless replaced), one per `schedulerName` profile.
//!
//! One cycle takes a batch of queued pods of one profile, brings the
//! profile's policy instance up to date with the nodes that changed, asks it
//! to place the batch, counts every placement in the cache at once (assume),
//! and hands the bindings to background tasks, so the next batch is decided
//! while the last is being written. A failed binding forgets the assumption
//! and requeues the pod.

mod cache;
mod profiles;
mod queue;
pub mod views;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use skiff_wasm::scheduling::model::Rejection;
use tokio::sync::{mpsc, Semaphore};

use crate::api::{meta, Api, ListOptions};
use crate::events::{EventType, Recorder};
use crate::metrics::Metrics;
use crate::store::{Change, EventType as ChangeType};
use cache::Cache;
use profiles::Runner;
pub use profiles::{Profiles, Source};
use queue::Queue;

pub const DEFAULT_SCHEDULER: &str = "default-scheduler";
/// Pods decided per policy call.
const BATCH: usize = 64;
/// Bindings written at once.
const BINDERS: usize = 32;

/// Starts the scheduler (on the elected server when several share a store).
pub fn spawn(api: Arc<Api>, profiles: Arc<Profiles>, metrics: Arc<Metrics>) {
    let work = move |api: Arc<Api>| {
        let profiles = profiles.clone();
        let metrics = metrics.clone();
        async move { Scheduler::new(api, profiles, metrics).run().await }
    };
    if api.store.is_shared() {
        tokio::spawn(crate::controllers::leader::run_elected(api, "skiff-scheduler", work));
    } else {
        tokio::spawn(work(api));
    }
}

/// What binding tasks report back to the loop.
enum Bound {
    Ok,
    Failed { pod: Arc<Value>, message: String },
}

struct Scheduler {
    api: Arc<Api>,
    profiles: Arc<Profiles>,
    metrics: Arc<Metrics>,
    events: Arc<Recorder>,
    cache: Cache,
    queue: Queue,
    runners: HashMap<String, Runner>,
    binders: Arc<Semaphore>,
    bound_tx: mpsc::UnboundedSender<Bound>,
    bound_rx: mpsc::UnboundedReceiver<Bound>,
    /// The profiles' generation last acted on.
    profiles_seen: u64,
}

fn scheduler_name(pod: &Value) -> &str {
    pod["spec"]["schedulerName"].as_str().filter(|s| !s.is_empty()).unwrap_or(DEFAULT_SCHEDULER)
}

fn is_terminal(pod: &Value) -> bool {
    matches!(pod["status"]["phase"].as_str(), Some("Succeeded") | Some("Failed"))
}

/// kube-scheduler's summary of why no node fits.
pub fn unschedulable_message(nodes: usize, rejections: &[Rejection]) -> String {
    if nodes == 0 {
        return "no nodes available to schedule pods".into();
    }
    let mut parts: Vec<String> = rejections.iter().map(|r| format!("{} {}", r.nodes, r.reason)).collect();
    parts.sort();
    format!("0/{nodes} nodes are available: {}.", parts.join(", "))
}

impl Scheduler {
    fn new(api: Arc<Api>, profiles: Arc<Profiles>, metrics: Arc<Metrics>) -> Scheduler {
        let (bound_tx, bound_rx) = mpsc::unbounded_channel();
        Scheduler {
            events: Arc::new(Recorder::new(api.clone())),
            api,
            profiles,
            metrics,
            cache: Cache::default(),
            queue: Queue::default(),
            runners: HashMap::new(),
            binders: Arc::new(Semaphore::new(BINDERS)),
            bound_tx,
            bound_rx,
            profiles_seen: 0,
        }
    }

    async fn run(mut self) {
        let mut shutdown = self.api.shutdown.clone();
        loop {
            let mut stream = match self.start().await {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler cannot read the cluster; retrying");
                    tokio::select! {
                        _ = shutdown.changed() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            loop {
                while let Some(next) = stream.try_next() {
                    match next {
                        Ok(change) => self.apply(&change),
                        Err(_) => break,
                    }
                }
                while let Ok(bound) = self.bound_rx.try_recv() {
                    self.on_bound(bound);
                }
                let generation = self.profiles.generation();
                if generation != self.profiles_seen {
                    // A scheduler appeared or changed: the pods waiting for it try again.
                    self.profiles_seen = generation;
                    self.queue.requeue_all();
                }
                self.metrics.set_scheduler_pending(self.queue.len());
                if *shutdown.borrow() {
                    return;
                }
                if self.queue.has_active() {
                    self.cycle().await;
                    continue;
                }
                let wake = self.queue.next_wake().map(tokio::time::Instant::from_std);
                let sleep = async {
                    match wake {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = shutdown.changed() => return,
                    // The top of the loop acts on the new generation.
                    _ = self.profiles.changed.notified() => {}
                    Some(bound) = self.bound_rx.recv() => self.on_bound(bound),
                    _ = sleep => {}
                    next = stream.next() => match next {
                        Ok(change) => self.apply(&change),
                        Err(e) => {
                            tracing::info!(error = %e, "scheduler watch interrupted; starting over");
                            break;
                        }
                    },
                }
            }
        }
    }

    /// Reads nodes, namespaces and pods afresh and watches from there.
    async fn start(&mut self) -> Result<crate::store::WatchStream, String> {
        let revision = self.api.store.revision().await.map_err(|e| e.to_string())?;
        let stream = self.api.store.watch(revision).await.map_err(|e| e.to_string())?;
        self.cache = Cache::default();
        self.queue = Queue::default();
        self.runners.clear();
        let list = |plural: &'static str| {
            let api = self.api.clone();
            async move {
                let rt = api.registry().lookup("", "v1", plural).cloned().ok_or("no such resource")?;
                api.list_all(&rt, None, &ListOptions::default()).await.map_err(|e| e.message)
            }
        };
        for ns in list("namespaces").await? {
            self.cache.namespaces.insert(meta::name(&ns).to_string(), views::labels(&ns["metadata"]["labels"]));
        }
        for node in list("nodes").await? {
            self.cache.upsert_node(&node);
        }
        for pod in list("pods").await? {
            self.apply_pod(Arc::new(pod), false);
        }
        tracing::info!(nodes = self.cache.node_count(), pending = self.queue.len(), "scheduler started");
        Ok(stream)
    }

    fn apply(&mut self, change: &Change) {
        let deleted = change.event == ChangeType::Deleted;
        match change.resource.as_str() {
            "/pods" => self.apply_pod(change.object.clone(), deleted),
            "/nodes" => {
                if deleted {
                    self.cache.remove_node(meta::name(&change.object));
                } else {
                    self.cache.upsert_node(&change.object);
                }
                self.queue.cluster_changed();
            }
            "/namespaces" => {
                let name = meta::name(&change.object).to_string();
                if deleted {
                    self.cache.namespaces.remove(&name);
                } else {
                    self.cache.namespaces.insert(name, views::labels(&change.object["metadata"]["labels"]));
                }
            }
            _ => {}
        }
    }

    fn apply_pod(&mut self, pod: Arc<Value>, deleted: bool) {
        let uid = meta::uid(&pod).to_string();
        if deleted || is_terminal(&pod) {
            self.queue.remove(&uid);
            if self.cache.knows_pod(&uid) {
                self.cache.forget(&uid);
                // Its resources are free again.
                self.queue.cluster_changed();
            }
            return;
        }
        match pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            Some(node) => {
                self.queue.remove(&uid);
                self.cache.bind_pod(&pod, node);
            }
            None => {
                // An older copy of a pod we placed and are binding, or one going away.
                if self.cache.is_assumed(&uid) || meta::is_deleting(&pod) {
                    return;
                }
                // Scheduling gates hold a pod back until they are all removed.
                if pod["spec"]["schedulingGates"].as_array().is_some_and(|g| !g.is_empty()) {
                    self.queue.remove(&uid);
                    return;
                }
                self.queue.upsert(pod);
            }
        }
    }

    /// One scheduling cycle: a batch of pods of one profile.
    async fn cycle(&mut self) {
        let names: HashSet<String> = self.profiles.names().into_iter().collect();
        self.runners.retain(|name, _| names.contains(name));
        let batch = self.queue.pop_batch(BATCH, |pod| {
            let name = scheduler_name(pod);
            names.contains(name).then(|| name.to_string())
        });
        let Some(first) = batch.first() else { return };
        let name = scheduler_name(first).to_string();
        let Some(profile) = self.profiles.get(&name) else {
            for pod in &batch {
                self.queue.retry_later(meta::uid(pod));
            }
            return;
        };
        let runner = self.runners.entry(name.clone()).or_insert_with(|| Runner::new(profile.source.clone()));
        if !Arc::ptr_eq(&runner.source, &profile.source) {
            // A new version of the profile's policy: a new instance.
            *runner = Runner::new(profile.source.clone());
        }
        let views: Vec<_> = batch.iter().map(|p| views::pod(p, &self.cache.namespaces)).collect();
        let started = Instant::now();
        let decided = runner.schedule(&self.cache, &views).await;
        let world = "scheduler";
        match decided {
            Err(e) => {
                self.metrics.observe_plugin_call(&profile.plugin, world, e.reason(), started.elapsed());
                tracing::warn!(plugin = %profile.plugin, error = %e, "scheduler policy failed; pods retry after a backoff");
                self.metrics.observe_schedule(&name, "error", batch.len());
                let message = format!("scheduler plugin {:?} failed: {e}", profile.plugin);
                for pod in &batch {
                    self.queue.retry_later(meta::uid(pod));
                    self.report_unschedulable(pod.clone(), &name, "SchedulerError", message.clone());
                }
            }
            Ok(placements) => {
                self.metrics.observe_plugin_call(&profile.plugin, world, "ok", started.elapsed());
                let nodes = self.cache.node_count();
                let mut scheduled = 0;
                for ((pod, view), placement) in batch.iter().zip(&views).zip(placements) {
                    let target = placement.node.and_then(|i| self.cache.node_name(i)).map(str::to_string);
                    match target {
                        Some(node) => {
                            scheduled += 1;
                            self.cache.assume(view, &node);
                            self.queue.done(&view.uid);
                            self.bind(pod.clone(), node, name.clone());
                        }
                        None => {
                            self.queue.failed(&view.uid);
                            let message = unschedulable_message(nodes, &placement.rejections);
                            self.report_unschedulable(pod.clone(), &name, "Unschedulable", message);
                        }
                    }
                }
                if let Some(runner) = self.runners.get_mut(&name) {
                    runner.placed(self.cache.version());
                }
                self.metrics.observe_schedule(&name, "scheduled", scheduled);
                self.metrics.observe_schedule(&name, "unschedulable", batch.len() - scheduled);
            }
        }
    }

    /// Writes the binding in the background; the outcome comes back through `bound_rx`.
    fn bind(&self, pod: Arc<Value>, node: String, scheduler: String) {
        let (api, events, binders, tx) =
            (self.api.clone(), self.events.clone(), self.binders.clone(), self.bound_tx.clone());
        tokio::spawn(async move {
            let Ok(_permit) = binders.acquire().await else { return };
            let (namespace, name) = (meta::namespace(&pod), meta::name(&pod));
            let binding = json!({
                "apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": name, "namespace": namespace, "uid": meta::uid(&pod)},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node},
            });
            let opts = crate::api::WriteOptions::internal(crate::auth::User::component("scheduler"));
            match api.bind(namespace, name, &binding, Some(Value::clone(&pod)), &opts).await {
                Ok(_) => {
                    let message = format!("Successfully assigned {namespace}/{name} to {node}");
                    events.record(&pod, "Pod", &scheduler, EventType::Normal, "Scheduled", &message).await;
                    let _ = tx.send(Bound::Ok);
                }
                // Gone meanwhile: nothing to retry.
                Err(e) if e.code == 404 => {
                    let _ = tx.send(Bound::Ok);
                }
                Err(e) => {
                    let message = format!("Binding rejected: {}", e.message);
                    events.record(&pod, "Pod", &scheduler, EventType::Warning, "FailedScheduling", &message).await;
                    let _ = tx.send(Bound::Failed { pod, message });
                }
            }
        });
    }

    fn on_bound(&mut self, bound: Bound) {
        if let Bound::Failed { pod, message } = bound {
            let uid = meta::uid(&pod).to_string();
            tracing::info!(pod = meta::name(&pod), %message, "binding failed; the pod goes back to the queue");
            self.cache.forget(&uid);
            self.queue.upsert(pod);
            self.queue.failed(&uid);
        }
    }

    /// The FailedScheduling event and the PodScheduled=False condition, in the background.
    fn report_unschedulable(&self, pod: Arc<Value>, scheduler: &str, reason: &'static str, message: String) {
        let (api, events, scheduler) = (self.api.clone(), self.events.clone(), scheduler.to_string());
        tokio::spawn(async move {
            events.record(&pod, "Pod", &scheduler, EventType::Warning, "FailedScheduling", &message).await;
            let Some(rt) = api.registry().lookup("", "v1", "pods").cloned() else { return };
            let current = pod["status"]["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "PodScheduled"))
                .and_then(|c| c["message"].as_str());
            if current == Some(message.as_str()) {
                return;
            }
            let written = api
                .modify(
                    &crate::auth::User::component("scheduler"),
                    &rt,
                    Some(meta::namespace(&pod)),
                    meta::name(&pod),
                    Some("status"),
                    |p| {
                        if p["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty()) {
                            // Bound meanwhile: the condition would be stale.
                            return Err(crate::errors::ApiError::conflict("", "pods", meta::name(p), "already bound"));
                        }
                        crate::api::set_pod_condition(p, "PodScheduled", "False", Some(reason), Some(&message));
                        Ok(())
                    },
                )
                .await;
            if let Err(e) = written {
                tracing::debug!(error = %e.message, "PodScheduled condition not written");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unschedulable_message_reads_like_kube_schedulers() {
        let rejections = vec![
            Rejection { reason: "node(s) had untolerated taint {dedicated: gpu}".into(), nodes: 1 },
            Rejection { reason: "Insufficient cpu".into(), nodes: 2 },
        ];
        assert_eq!(
            unschedulable_message(3, &rejections),
            "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu."
        );
        assert_eq!(unschedulable_message(0, &[]), "no nodes available to schedule pods");
    }
}
