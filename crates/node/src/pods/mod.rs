//! The pods bound to this node: a watch on them, one worker per pod, and the
//! clean-up of what is left of pods that are gone. It also serves the
//! agent's log and exec requests from what its workers know.

mod files;
pub mod spec;
mod status;
mod worker;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use skiff_images::ImageStore;
use skiff_runtime::{Runtime, Status};
use tokio::sync::mpsc;

use crate::client::{query_escape, Client, WatchEvent};
use crate::events::Recorder;
use crate::streams::{ContainerRef, LogFile, Session, SessionRequest, StreamError, Streams};

pub const LABEL_POD_UID: &str = "io.kubernetes.pod.uid";
pub const LABEL_NAME: &str = "io.kubernetes.pod.name";
pub const LABEL_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const LABEL_CONTAINER: &str = "io.kubernetes.container.name";
pub const LABEL_ATTEMPT: &str = "skiff.dev/attempt";
pub const LABEL_INIT: &str = "skiff.dev/init";
pub const LABEL_STOP_SIGNAL: &str = "skiff.dev/stop-signal";

/// What every worker shares.
pub struct Shared {
    pub client: Client,
    pub runtime: Runtime,
    pub images: Arc<ImageStore>,
    pub events: Arc<Recorder>,
    pub node: String,
    pub host_ip: String,
    pub data_dir: PathBuf,
    /// cpu millicores, memory bytes.
    pub allocatable: (u64, u64),
    pub allocatable_storage: u64,
    pub pids_limit: Option<i64>,
    /// The cgroup all pods live under.
    pub cgroup_parent: String,
    pub stats: crate::stats::Stats,
}

pub enum Msg {
    Update(Value),
    Deleted,
}

pub fn deleting(pod: &Value) -> bool {
    !pod["metadata"]["deletionTimestamp"].is_null()
}

/// The pods this agent runs, by namespace and name: uid and worker channel.
#[derive(Default)]
struct Registry {
    by_uid: HashMap<String, mpsc::UnboundedSender<Msg>>,
    names: HashMap<(String, String), Value>,
}

pub struct Manager {
    shared: Arc<Shared>,
    registry: Mutex<Registry>,
}

fn key(pod: &Value) -> (String, String) {
    let m = &pod["metadata"];
    (m["namespace"].as_str().unwrap_or_default().to_string(), m["name"].as_str().unwrap_or_default().to_string())
}

impl Manager {
    pub fn new(shared: Arc<Shared>) -> Arc<Manager> {
        Arc::new(Manager { shared, registry: Mutex::new(Registry::default()) })
    }

    /// Lists and watches the node's pods until shutdown, relisting when a watch ends.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let selector = query_escape(&format!("spec.nodeName={}", self.shared.node));
        loop {
            let list = match self.shared.client.get(&format!("/api/v1/pods?fieldSelector={selector}")).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "listing the node's pods");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = shutdown.changed() => return,
                    }
                }
            };
            let items = list["items"].as_array().cloned().unwrap_or_default();
            let uids: Vec<String> =
                items.iter().filter_map(|p| p["metadata"]["uid"].as_str().map(str::to_string)).collect();
            for pod in items {
                self.dispatch(WatchEvent { kind: "ADDED".into(), object: pod }).await;
            }
            // Pods deleted while no watch was open: their workers stop now.
            let vanished: Vec<mpsc::UnboundedSender<Msg>> = match self.registry.lock() {
                Ok(mut reg) => {
                    reg.names.retain(|_, p| p["metadata"]["uid"].as_str().is_some_and(|u| uids.iter().any(|x| x == u)));
                    let gone: Vec<String> = reg.by_uid.keys().filter(|u| !uids.contains(u)).cloned().collect();
                    gone.iter().filter_map(|u| reg.by_uid.remove(u)).collect()
                }
                Err(_) => Vec::new(),
            };
            for tx in vanished {
                let _ = tx.send(Msg::Deleted);
            }
            self.collect_orphans(&uids).await;
            let rv = list["metadata"]["resourceVersion"].as_str().unwrap_or("0").to_string();
            let path =
                format!("/api/v1/pods?watch=1&fieldSelector={selector}&resourceVersion={rv}&allowWatchBookmarks=true");
            let (tx, mut rx) = mpsc::channel(256);
            let client = self.shared.client.clone();
            let watch = tokio::spawn(async move { client.watch(&path, &tx).await });
            loop {
                tokio::select! {
                    event = rx.recv() => match event {
                        Some(e) if e.kind == "ERROR" => break,
                        Some(e) => self.dispatch(e).await,
                        None => break,
                    },
                    _ = shutdown.changed() => { watch.abort(); return; }
                }
            }
            watch.abort();
        }
    }

    async fn dispatch(&self, event: WatchEvent) {
        let pod = event.object;
        let Some(uid) = pod["metadata"]["uid"].as_str().map(str::to_string) else { return };
        if event.kind == "BOOKMARK" {
            return;
        }
        let sender = {
            let Ok(mut reg) = self.registry.lock() else { return };
            if event.kind == "DELETED" {
                reg.names.remove(&key(&pod));
                reg.by_uid.remove(&uid)
            } else {
                reg.names.insert(key(&pod), pod.clone());
                reg.by_uid.get(&uid).cloned()
            }
        };
        match (event.kind.as_str(), sender) {
            ("DELETED", Some(tx)) => {
                let _ = tx.send(Msg::Deleted);
            }
            ("DELETED", None) => {}
            (_, Some(tx)) => {
                // Unbounded: a worker busy stopping its pod must not hold up the others.
                if tx.send(Msg::Update(pod)).is_err() {
                    if let Ok(mut reg) = self.registry.lock() {
                        reg.by_uid.remove(&uid);
                    }
                }
            }
            (_, None) => {
                let (tx, rx) = mpsc::unbounded_channel();
                if let Ok(mut reg) = self.registry.lock() {
                    reg.by_uid.insert(uid.clone(), tx);
                }
                let shared = self.shared.clone();
                tokio::spawn(async move {
                    let w = worker::Worker::new(shared, pod);
                    w.run(rx).await;
                });
            }
        }
    }

    /// Removes containers and sandboxes of pods no longer bound here.
    async fn collect_orphans(&self, live: &[String]) {
        let runtime = self.shared.runtime.clone();
        let live: Vec<String> = live.to_vec();
        let parent = self.shared.cgroup_parent.clone();
        let data_dir = self.shared.data_dir.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for id in runtime.list() {
                let Ok(spec) = runtime.spec(&id) else { continue };
                if let Some(uid) = spec.labels.get(LABEL_POD_UID) {
                    if !live.contains(uid) {
                        tracing::info!(id, pod = %uid, "removing a container of a pod that is gone");
                        let _ = runtime.remove(&id);
                        let _ = skiff_runtime::cgroups::remove(&format!("{parent}/pod{uid}"));
                    }
                }
            }
            for uid in runtime.sandboxes() {
                if !live.contains(&uid) {
                    let dir = data_dir.join("pods").join(&uid);
                    let _ = crate::volumes::Volumes::tear_down(&dir);
                    let _ = runtime.remove_sandbox(&uid);
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
        })
        .await;
    }

    /// The pod and container a request names: (pod, container name).
    fn resolve(&self, target: &ContainerRef) -> Result<(Value, String), StreamError> {
        let reg = self.registry.lock().map_err(|_| StreamError::new(500, "the pod registry is unavailable"))?;
        let pod = reg.names.get(&(target.namespace.clone(), target.pod.clone())).cloned().ok_or_else(|| {
            StreamError::new(404, format!("pod {}/{} not found on this node", target.namespace, target.pod))
        })?;
        let name = if target.container.is_empty() {
            pod["spec"]["containers"][0]["name"].as_str().unwrap_or_default().to_string()
        } else {
            target.container.clone()
        };
        Ok((pod, name))
    }

    /// The runtime's runs of a container of a pod, newest first: (attempt, id).
    fn runs(&self, uid: &str, container: &str) -> Vec<(u32, String)> {
        let mut runs: Vec<(u32, String)> = self
            .shared
            .runtime
            .list()
            .into_iter()
            .filter_map(|id| {
                let spec = self.shared.runtime.spec(&id).ok()?;
                (spec.labels.get(LABEL_POD_UID).map(String::as_str) == Some(uid)
                    && spec.labels.get(LABEL_CONTAINER).map(String::as_str) == Some(container))
                .then(|| (spec.labels.get(LABEL_ATTEMPT).and_then(|a| a.parse().ok()).unwrap_or(0), id))
            })
            .collect();
        runs.sort_by(|a, b| b.cmp(a));
        runs
    }
}

impl Manager {
    /// The running run of the container a request names, for exec and attach.
    fn running(&self, target: &ContainerRef) -> Result<String, StreamError> {
        let (pod, container) = self.resolve(target)?;
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
        self.runs(uid, &container)
            .into_iter()
            .find(|(_, id)| matches!(self.shared.runtime.status(id), Ok(Status::Running(_))))
            .map(|(_, id)| id)
            .ok_or_else(|| {
                StreamError::new(400, format!("unable to upgrade connection: container not found (\"{container}\")"))
            })
    }
}

impl Streams for Manager {
    fn log(&self, target: &ContainerRef, previous: bool) -> Result<LogFile, StreamError> {
        let (pod, container) = self.resolve(target)?;
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
        let runs = self.runs(uid, &container);
        let pick = if previous { runs.get(1) } else { runs.first() };
        let Some((_, id)) = pick else {
            let message = if previous {
                format!("previous terminated container \"{container}\" in pod \"{}\" not found", target.pod)
            } else {
                format!("container \"{container}\" in pod \"{}\" is waiting to start: ContainerCreating", target.pod)
            };
            return Err(StreamError::new(400, message));
        };
        let spec = self.shared.runtime.spec(id).map_err(|e| StreamError::new(500, e.to_string()))?;
        let live = matches!(self.shared.runtime.status(id), Ok(Status::Running(_) | Status::Creating));
        Ok(LogFile { path: spec.log_path, live })
    }

    fn exec(
        &self,
        target: &ContainerRef,
        request: SessionRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Session, StreamError>> + Send + '_>> {
        let id = self.running(target);
        Box::pin(async move {
            let id = id?;
            let command = self
                .shared
                .runtime
                .exec_command(&id, &request.command, request.tty)
                .map_err(|e| StreamError::new(500, e.to_string()))?;
            crate::exec::spawn(command, &request)
        })
    }

    fn attach(
        &self,
        target: &ContainerRef,
        request: SessionRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Session, StreamError>> + Send + '_>> {
        let id = self.running(target);
        Box::pin(async move { crate::attach::session(self.shared.runtime.clone(), id?, &request) })
    }

    fn metrics(&self) -> String {
        let pods = self.registry.lock().map(|r| r.by_uid.len()).unwrap_or(0);
        let running = self
            .shared
            .runtime
            .list()
            .iter()
            .filter(|id| matches!(self.shared.runtime.status(id), Ok(Status::Running(_))))
            .count();
        self.shared.stats.render(pods, running)
    }
}
