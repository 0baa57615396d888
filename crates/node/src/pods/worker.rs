//! One pod's worker: brings what runs on the node in line with the pod —
//! sandbox, pod files, volumes, images, init containers in order, then the
//! containers, restarted by the pod's policy with back-off, probed, hooked —
//! and writes the pod's status whenever it changes. On deletion it stops the
//! containers gracefully (preStop, the stop signal, the grace period, then
//! SIGKILL), cleans up and removes the pod object.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use skiff_images::{Image, RegistryAuth};
use skiff_runtime::{Exited, Sandbox, Status};
use tokio::sync::mpsc;

use super::spec::{self, Parts};
use super::{
    status, Msg, Shared, LABEL_ATTEMPT, LABEL_CONTAINER, LABEL_INIT, LABEL_NAME, LABEL_NAMESPACE, LABEL_POD_UID,
};
use crate::config::{self, ImageDefaults, Sources};
use crate::events::Kind;
use crate::probes::{self, ProbeKind, ProbeResult, ProbeTarget, ProbeTracker, Verdict};
use crate::volumes::{self, Volumes};

/// How often a worker looks at its containers.
const TICK: Duration = Duration::from_millis(250);
/// How often configmaps and secrets are fetched again for volumes.
const REFRESH: Duration = Duration::from_secs(10);
const BACKOFF_START: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A container that ran this long without failing starts its back-off afresh.
const BACKOFF_RESET: Duration = Duration::from_secs(600);

/// One container of the pod and what became of it.
pub struct Track {
    pub name: String,
    pub init: bool,
    /// The current run's number: its restartCount.
    pub attempt: u32,
    /// The runtime's id of the current run.
    pub current: Option<String>,
    pub image_id: String,
    /// Why it is not running, when it is waiting: (reason, message).
    pub waiting: Option<(String, String)>,
    /// The wait before the next restart.
    pub backoff: Duration,
    pub restart_at: Option<Instant>,
    pub probes: Option<ProbeTracker>,
    /// How the previous run ended (lastState.terminated).
    pub last_terminated: Option<Value>,
    /// The current run's state as last read.
    pub status: Option<Status>,
    /// The exit was dealt with (restart decided, events recorded).
    pub handled_exit: bool,
    /// A start that failed (image, configuration) is tried again from then on.
    pub retry_at: Option<Instant>,
}

impl Track {
    fn new(name: &str, init: bool) -> Track {
        Track {
            name: name.to_string(),
            init,
            attempt: 0,
            current: None,
            image_id: String::new(),
            waiting: Some(("ContainerCreating".into(), String::new())),
            backoff: Duration::ZERO,
            restart_at: None,
            probes: None,
            last_terminated: None,
            status: None,
            handled_exit: false,
            retry_at: None,
        }
    }

    pub fn exited(&self) -> Option<&Exited> {
        match &self.status {
            Some(Status::Exited(e)) => Some(e),
            _ => None,
        }
    }

    pub fn running(&self) -> bool {
        matches!(self.status, Some(Status::Running(_)))
    }

    pub fn succeeded(&self) -> bool {
        self.exited().is_some_and(|e| e.exit_code == 0 && e.error.is_none())
    }
}

pub struct Worker {
    pub shared: Arc<Shared>,
    pub pod: Value,
    pub tracks: Vec<Track>,
    pub start_time: String,
    pub sandbox: Option<Sandbox>,
    pub pod_dir: PathBuf,
    pub log_dir: PathBuf,
    sources: Sources,
    sources_at: Option<Instant>,
    volumes: Option<Volumes>,
    image_backoff: HashMap<String, (Duration, Instant)>,
    last_status: Value,
    /// The pod ended for good (Succeeded or Failed): nothing more is started.
    pub finished: bool,
    /// When this agent first saw the pod; None once its start is counted.
    seen_at: Option<Instant>,
    /// The API says the pod no longer exists.
    gone: bool,
}

fn uid(pod: &Value) -> String {
    pod["metadata"]["uid"].as_str().unwrap_or_default().to_string()
}

fn containers(pod: &Value, field: &str) -> Vec<Value> {
    pod["spec"][field].as_array().cloned().unwrap_or_default()
}

fn seconds(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) {
        format!("{}m0s", s / 60)
    } else if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

impl Worker {
    pub fn new(shared: Arc<Shared>, pod: Value) -> Worker {
        let m = &pod["metadata"];
        let dir_name = format!(
            "{}_{}_{}",
            m["namespace"].as_str().unwrap_or_default(),
            m["name"].as_str().unwrap_or_default(),
            uid(&pod)
        );
        let pod_dir = shared.data_dir.join("pods").join(uid(&pod));
        let log_dir = shared.data_dir.join("pod-logs").join(dir_name);
        let mut tracks: Vec<Track> = containers(&pod, "initContainers")
            .iter()
            .map(|c| Track::new(c["name"].as_str().unwrap_or_default(), true))
            .collect();
        tracks.extend(
            containers(&pod, "containers").iter().map(|c| Track::new(c["name"].as_str().unwrap_or_default(), false)),
        );
        let start_time = pod["status"]["startTime"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let pod_phase = pod["status"]["phase"].as_str().unwrap_or_default().to_string();
        let mut w = Worker {
            shared,
            pod,
            tracks,
            start_time,
            sandbox: None,
            pod_dir,
            log_dir,
            sources: Sources::default(),
            sources_at: None,
            volumes: None,
            image_backoff: HashMap::new(),
            last_status: Value::Null,
            // A pod that has ended stays ended, even if its containers are gone (a node reset).
            finished: matches!(pod_phase.as_str(), "Succeeded" | "Failed"),
            seen_at: Some(Instant::now()),
            gone: false,
        };
        w.adopt();
        w
    }

    /// Finds the containers a previous agent started for this pod.
    fn adopt(&mut self) {
        let uid = uid(&self.pod);
        self.sandbox = skiff_runtime::sandbox::existing(self.shared.runtime.root(), &uid);
        let mut found: HashMap<String, Vec<(u32, String)>> = HashMap::new();
        for id in self.shared.runtime.list() {
            let Ok(spec) = self.shared.runtime.spec(&id) else { continue };
            if spec.labels.get(LABEL_POD_UID) != Some(&uid) {
                continue;
            }
            let name = spec.labels.get(LABEL_CONTAINER).cloned().unwrap_or_default();
            let attempt = spec.labels.get(LABEL_ATTEMPT).and_then(|a| a.parse().ok()).unwrap_or(0);
            found.entry(name).or_default().push((attempt, id));
        }
        let specs: HashMap<String, Value> =
            self.tracks.iter().filter_map(|t| Some((t.name.clone(), self.container(&t.name)?))).collect();
        for track in &mut self.tracks {
            let Some(runs) = found.get_mut(&track.name) else { continue };
            runs.sort();
            let Some((attempt, id)) = runs.last().cloned() else { continue };
            track.attempt = attempt;
            track.current = Some(id.clone());
            track.waiting = None;
            track.status = self.shared.runtime.status(&id).ok();
            if let Some(Status::Exited(_)) = track.status {
                // Its end may have been reported already; the restart logic decides again.
                track.handled_exit = false;
            }
            if runs.len() > 1 {
                let (_, prev) = &runs[runs.len() - 2];
                if let Ok(Status::Exited(e)) = self.shared.runtime.status(prev) {
                    track.last_terminated = Some(status::terminated(&e, prev, None));
                }
            }
            if track.running() {
                if let Some(c) = specs.get(&track.name) {
                    track.probes = Some(ProbeTracker::new(c, Instant::now()));
                }
            }
            tracing::info!(pod = %uid, container = %track.name, id = %id, "adopted a running container");
        }
        if self.tracks.iter().any(|t| t.current.is_some()) {
            // Started by an earlier agent: not a start to count.
            self.seen_at = None;
        }
    }

    fn container(&self, name: &str) -> Option<Value> {
        containers(&self.pod, "initContainers")
            .into_iter()
            .chain(containers(&self.pod, "containers"))
            .find(|c| c["name"].as_str() == Some(name))
    }

    fn restart_policy(&self) -> &str {
        self.pod["spec"]["restartPolicy"].as_str().unwrap_or("Always")
    }

    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        let mut deleted_outright = false;
        loop {
            if crate::pods::deleting(&self.pod) {
                break;
            }
            self.sync().await;
            self.report().await;
            if self.gone {
                deleted_outright = true;
                break;
            }
            match tokio::time::timeout(TICK, rx.recv()).await {
                Ok(Some(Msg::Update(pod))) => self.pod = pod,
                Ok(Some(Msg::Deleted)) | Ok(None) => {
                    deleted_outright = true;
                    break;
                }
                Err(_) => {}
            }
        }
        let grace = if deleted_outright {
            Duration::from_secs(2)
        } else {
            Duration::from_secs(self.pod["metadata"]["deletionGracePeriodSeconds"].as_u64().unwrap_or(30))
        };
        self.terminate(grace).await;
        self.clean_up().await;
        if !deleted_outright {
            self.report().await;
            self.remove_object().await;
        }
        self.shared.events.forget(&uid(&self.pod));
    }

    async fn sync(&mut self) {
        for t in &mut self.tracks {
            if let Some(id) = &t.current {
                t.status = self.shared.runtime.status(id).ok();
            }
        }
        if self.finished {
            return;
        }
        if self.sandbox.is_none() {
            if let Err(e) = self.make_sandbox().await {
                self.shared
                    .events
                    .pod(
                        &self.pod,
                        None,
                        Kind::Warning,
                        "FailedCreatePodSandBox",
                        &format!("Failed to create pod sandbox: {e}"),
                    )
                    .await;
                return;
            }
        }
        if self.sources_at.is_none_or(|at| at.elapsed() >= REFRESH) {
            self.refresh_sources().await;
            match volumes::set_up(&self.pod, &self.pod_dir, &self.sources) {
                Ok(v) => self.volumes = Some(v),
                Err(e) => {
                    self.sources_at = None;
                    if self.volumes.is_none() {
                        self.shared.events.pod(&self.pod, None, Kind::Warning, "FailedMount", &e.to_string()).await;
                        return;
                    }
                }
            }
        }
        if self.volumes.is_none() {
            return;
        }
        // Init containers one at a time, in order; the containers once all have succeeded.
        let init_count = self.tracks.iter().filter(|t| t.init).count();
        for i in 0..init_count {
            if self.tracks[i].succeeded() {
                continue;
            }
            self.step(i).await;
            return;
        }
        for i in init_count..self.tracks.len() {
            self.step(i).await;
        }
        self.finished = self.pod_finished();
        if let Some(seen) = self.seen_at {
            if self.tracks.iter().filter(|t| !t.init).all(Track::running) {
                self.shared.stats.pod_started(seen.elapsed());
                self.seen_at = None;
            }
        }
    }

    /// Every container has ended and none will be restarted.
    fn pod_finished(&self) -> bool {
        let policy = self.restart_policy();
        let apps: Vec<&Track> = self.tracks.iter().filter(|t| !t.init).collect();
        let init_failed =
            self.tracks.iter().any(|t| t.init && t.exited().is_some() && !t.succeeded()) && policy == "Never";
        init_failed
            || (!apps.is_empty()
                && apps.iter().all(|t| match t.exited() {
                    Some(_) if policy == "Never" => true,
                    Some(_) if policy == "OnFailure" => t.succeeded(),
                    _ => false,
                }))
    }

    /// Advances one container: start it, probe it, or deal with its end.
    async fn step(&mut self, i: usize) {
        let name = self.tracks[i].name.clone();
        let Some(container) = self.container(&name) else { return };
        match self.tracks[i].status.clone() {
            None if self.tracks[i].retry_at.is_none_or(|at| Instant::now() >= at) => self.start(i, &container).await,
            None => {}
            Some(Status::Creating) => {}
            Some(Status::Running(_)) => self.probe(i, &container).await,
            Some(Status::Exited(exited)) => {
                if !self.tracks[i].handled_exit {
                    self.tracks[i].handled_exit = true;
                    self.tracks[i].probes = None;
                    self.on_exit(i, &exited).await;
                }
                let t = &self.tracks[i];
                if let Some(at) = t.restart_at {
                    if Instant::now() >= at {
                        self.tracks[i].restart_at = None;
                        self.tracks[i].waiting = None;
                        self.tracks[i].attempt += 1;
                        let prev = self.tracks[i].current.take();
                        if let Some(prev) = prev {
                            self.tracks[i].last_terminated = Some(status::terminated(&exited, &prev, None));
                            self.forget_old_runs(i);
                        }
                        self.tracks[i].status = None;
                        self.start(i, &container).await;
                    }
                }
            }
        }
    }

    fn restarts(&self, exited: &Exited) -> bool {
        match self.restart_policy() {
            "Never" => false,
            "OnFailure" => exited.exit_code != 0 || exited.error.is_some(),
            _ => true,
        }
    }

    async fn on_exit(&mut self, i: usize, exited: &Exited) {
        let name = self.tracks[i].name.clone();
        let init = self.tracks[i].init;
        if !self.restarts(exited) || (init && exited.exit_code == 0 && exited.error.is_none()) {
            return;
        }
        let t = &mut self.tracks[i];
        let ran = chrono::DateTime::parse_from_rfc3339(&exited.finished_at)
            .ok()
            .zip(chrono::DateTime::parse_from_rfc3339(&exited.started_at).ok())
            .map(|(f, s)| (f - s).num_seconds().max(0) as u64)
            .unwrap_or(0);
        if Duration::from_secs(ran) >= BACKOFF_RESET {
            t.backoff = Duration::ZERO;
        }
        // As the kubelet: the first restart is immediate, then 10 s doubling to 5 min.
        let wait = t.backoff;
        t.backoff = if wait.is_zero() { BACKOFF_START } else { (wait * 2).min(BACKOFF_MAX) };
        t.restart_at = Some(Instant::now() + wait);
        if !wait.is_zero() {
            let message = format!(
                "back-off {} restarting failed container={name} pod={}",
                seconds(wait),
                spec::pod_ref(&self.pod)
            );
            t.waiting = Some(("CrashLoopBackOff".into(), message));
            let event = format!("Back-off restarting failed container {name} in pod {}", spec::pod_ref(&self.pod));
            self.shared.events.pod(&self.pod, Some(&name), Kind::Warning, "BackOff", &event).await;
        }
    }

    /// Keeps the current and the previous run of a container; removes older ones.
    fn forget_old_runs(&self, i: usize) {
        let t = &self.tracks[i];
        let uid = uid(&self.pod);
        for id in self.shared.runtime.list() {
            let Ok(spec) = self.shared.runtime.spec(&id) else { continue };
            let attempt: u32 = spec.labels.get(LABEL_ATTEMPT).and_then(|a| a.parse().ok()).unwrap_or(0);
            if spec.labels.get(LABEL_POD_UID) == Some(&uid)
                && spec.labels.get(LABEL_CONTAINER) == Some(&t.name)
                && attempt + 1 < t.attempt
            {
                let _ = self.shared.runtime.remove(&id);
            }
        }
    }

    async fn make_sandbox(&mut self) -> Result<(), String> {
        let uid = uid(&self.pod);
        let spec = &self.pod["spec"];
        let hostname = spec::hostname(&self.pod);
        let host = skiff_runtime::HostShares {
            network: spec["hostNetwork"].as_bool() == Some(true),
            ipc: spec["hostIPC"].as_bool() == Some(true),
        };
        std::fs::create_dir_all(&self.pod_dir).map_err(|e| e.to_string())?;
        super::files::write(&self.pod, &self.pod_dir, &hostname, host.network).map_err(|e| e.to_string())?;
        let runtime = self.shared.runtime.clone();
        let host_name = if host.network { String::new() } else { hostname };
        let sandbox = tokio::task::spawn_blocking(move || runtime.create_sandbox(&uid, &host_name, host))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        self.sandbox = Some(sandbox);
        Ok(())
    }

    async fn refresh_sources(&mut self) {
        let ns = self.pod["metadata"]["namespace"].as_str().unwrap_or("default").to_string();
        let refs = config::referenced(&self.pod);
        let mut sources = Sources {
            node_allocatable: self.shared.allocatable,
            node_allocatable_ephemeral_storage: self.shared.allocatable_storage,
            host_ip: Some(self.shared.host_ip.clone()),
            pod_ip: (self.pod["spec"]["hostNetwork"].as_bool() == Some(true)).then(|| self.shared.host_ip.clone()),
            ..Default::default()
        };
        for r in &refs.config_maps {
            if let Ok(Some(obj)) =
                self.shared.client.get_opt(&format!("/api/v1/namespaces/{ns}/configmaps/{}", r.name)).await
            {
                sources.config_maps.insert(r.name.clone(), obj);
            }
        }
        for r in &refs.secrets {
            if let Ok(Some(obj)) =
                self.shared.client.get_opt(&format!("/api/v1/namespaces/{ns}/secrets/{}", r.name)).await
            {
                sources.secrets.insert(r.name.clone(), obj);
            }
        }
        self.sources = sources;
        self.sources_at = Some(Instant::now());
    }

    fn pull_secrets(&self) -> Vec<RegistryAuth> {
        let mut auths = Vec::new();
        for s in self.pod["spec"]["imagePullSecrets"].as_array().into_iter().flatten() {
            let Some(secret) = s["name"].as_str().and_then(|n| self.sources.secrets.get(n)) else { continue };
            for key in [".dockerconfigjson", ".dockercfg"] {
                let Some(b64) = secret["data"][key].as_str() else { continue };
                use base64::Engine as _;
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) {
                    if let Ok(mut a) = RegistryAuth::from_docker_config_json(&bytes) {
                        auths.append(&mut a);
                    }
                }
            }
        }
        auths
    }

    /// The container's image, pulled as its imagePullPolicy says.
    async fn image(&mut self, container: &Value) -> Result<Image, (String, String)> {
        let name = container["name"].as_str().unwrap_or_default().to_string();
        let reference = container["image"].as_str().unwrap_or_default().to_string();
        let policy = container["imagePullPolicy"].as_str().unwrap_or("IfNotPresent");
        let present = self.shared.images.get(&reference);
        let events = self.shared.events.clone();
        match (policy, present) {
            ("Never", Some(image)) | ("IfNotPresent", Some(image)) => {
                let message = format!("Container image \"{reference}\" already present on machine");
                events.pod(&self.pod, Some(&name), Kind::Normal, "Pulled", &message).await;
                return Ok(image);
            }
            ("Never", None) => {
                let message = format!("Container image \"{reference}\" is not present with pull policy of Never");
                events.pod(&self.pod, Some(&name), Kind::Warning, "ErrImageNeverPull", &message).await;
                return Err(("ErrImageNeverPull".into(), message));
            }
            _ => {}
        }
        if let Some((_, until)) = self.image_backoff.get(&reference) {
            if Instant::now() < *until {
                let message = format!("Back-off pulling image \"{reference}\"");
                events.pod(&self.pod, Some(&name), Kind::Normal, "BackOff", &message).await;
                events.pod(&self.pod, Some(&name), Kind::Warning, "Failed", "Error: ImagePullBackOff").await;
                return Err(("ImagePullBackOff".into(), message));
            }
        }
        events.pod(&self.pod, Some(&name), Kind::Normal, "Pulling", &format!("Pulling image \"{reference}\"")).await;
        let began = Instant::now();
        let auths = self.pull_secrets();
        let pulled = self.shared.images.pull(&reference, &auths, &|_| {}).await.map_err(|e| e.to_string());
        match pulled {
            Ok(image) => {
                self.shared.stats.image_pulled(true);
                self.image_backoff.remove(&reference);
                let took = began.elapsed().as_secs_f64();
                let message = format!(
                    "Successfully pulled image \"{reference}\" in {took:.3}s ({took:.3}s including waiting). Image size: {} bytes.",
                    image.size
                );
                events.pod(&self.pod, Some(&name), Kind::Normal, "Pulled", &message).await;
                Ok(image)
            }
            Err(e) => {
                self.shared.stats.image_pulled(false);
                let delay = match self.image_backoff.get(&reference) {
                    Some((d, _)) => (*d * 2).min(BACKOFF_MAX),
                    None => BACKOFF_START,
                };
                self.image_backoff.insert(reference.clone(), (delay, Instant::now() + delay));
                let message = format!("Failed to pull image \"{reference}\": {e}");
                events.pod(&self.pod, Some(&name), Kind::Warning, "Failed", &message).await;
                events.pod(&self.pod, Some(&name), Kind::Warning, "Failed", "Error: ErrImagePull").await;
                Err(("ErrImagePull".into(), message))
            }
        }
    }

    async fn start(&mut self, i: usize, container: &Value) {
        let name = self.tracks[i].name.clone();
        let image = match self.image(container).await {
            Ok(image) => image,
            Err(waiting) => {
                // ErrImagePull shows for a moment, then the back-off is reported until it ends.
                let backoff_end = self.image_backoff.get(container["image"].as_str().unwrap_or_default()).map(|b| b.1);
                self.tracks[i].retry_at = Some(match waiting.0.as_str() {
                    "ImagePullBackOff" => backoff_end.unwrap_or_else(|| Instant::now() + BACKOFF_START),
                    _ => Instant::now() + Duration::from_secs(2),
                });
                self.tracks[i].waiting = Some(waiting);
                return;
            }
        };
        self.tracks[i].image_id = image.repo_digest.clone();
        let made = self.container_spec(i, container, &image);
        let spec = match made {
            Ok(spec) => spec,
            Err(message) => {
                self.sources_at = None;
                self.tracks[i].retry_at = Some(Instant::now() + Duration::from_secs(1));
                self.tracks[i].waiting = Some(("CreateContainerConfigError".into(), message.clone()));
                self.shared
                    .events
                    .pod(&self.pod, Some(&name), Kind::Warning, "Failed", &format!("Error: {message}"))
                    .await;
                return;
            }
        };
        let id = spec.id.clone();
        let runtime = self.shared.runtime.clone();
        self.tracks[i].waiting = None;
        self.tracks[i].retry_at = None;
        self.tracks[i].current = Some(id.clone());
        self.tracks[i].handled_exit = false;
        self.shared
            .events
            .pod(&self.pod, Some(&name), Kind::Normal, "Created", &format!("Created container: {name}"))
            .await;
        let started = tokio::task::spawn_blocking(move || runtime.start(&spec)).await;
        self.tracks[i].status = self.shared.runtime.status(&id).ok();
        match started {
            Ok(Ok(_)) => {
                self.shared.stats.container_started(true);
                self.shared
                    .events
                    .pod(&self.pod, Some(&name), Kind::Normal, "Started", &format!("Started container {name}"))
                    .await;
                self.tracks[i].probes = Some(ProbeTracker::new(container, Instant::now()));
                if let Some(hook) = container["lifecycle"]["postStart"].as_object() {
                    let hook = Value::Object(hook.clone());
                    if let Err(message) = self.ctx().run_hook(&id, container, &hook, Duration::from_secs(30)).await {
                        let text = format!("PostStartHook failed: {message}");
                        self.shared
                            .events
                            .pod(&self.pod, Some(&name), Kind::Warning, "FailedPostStartHook", &text)
                            .await;
                        let _ = self.shared.runtime.signal(&id, nix::sys::signal::Signal::SIGKILL);
                    }
                }
            }
            Ok(Err(e)) => {
                self.shared.stats.container_started(false);
                let text = format!("Error: failed to start container \"{name}\": {e}");
                self.shared.events.pod(&self.pod, Some(&name), Kind::Warning, "Failed", &text).await;
            }
            Err(e) => tracing::error!(error = %e, "the start task failed"),
        }
    }

    fn container_spec(
        &self,
        i: usize,
        container: &Value,
        image: &Image,
    ) -> Result<skiff_runtime::spec::ContainerSpec, String> {
        let t = &self.tracks[i];
        let environment = config::environment(&self.pod, container, &self.sources).map_err(|e| e.to_string())?;
        let args = config::command(
            container,
            &ImageDefaults { entrypoint: image.config.entrypoint.clone(), cmd: image.config.cmd.clone() },
            &environment.vars,
        )
        .map_err(|e| e.to_string())?;
        let volumes = self.volumes.as_ref().ok_or("the volumes are not set up")?;
        let mounts = volumes::mounts_with_env(container, volumes, &environment.vars).map_err(|e| e.to_string())?;
        let uid = uid(&self.pod);
        let m = &self.pod["metadata"];
        let labels = [
            (LABEL_POD_UID, uid.clone()),
            (LABEL_NAME, m["name"].as_str().unwrap_or_default().to_string()),
            (LABEL_NAMESPACE, m["namespace"].as_str().unwrap_or_default().to_string()),
            (LABEL_CONTAINER, t.name.clone()),
            (LABEL_ATTEMPT, t.attempt.to_string()),
            (LABEL_INIT, t.init.to_string()),
            (super::LABEL_STOP_SIGNAL, image.config.stop_signal.clone()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let sandbox = self.sandbox.clone().unwrap_or_default();
        spec::container_spec(Parts {
            pod: &self.pod,
            container,
            id: format!("{uid}-{}-{}", t.name, t.attempt),
            args,
            env: environment.vars,
            image_env: &image.config.env,
            image_user: &image.config.user,
            image_workdir: &image.config.working_dir,
            layers: image.layers.clone(),
            volume_mounts: mounts,
            sandbox: &sandbox,
            pod_dir: &self.pod_dir,
            log_path: self.log_dir.join(&t.name).join(format!("{}.log", t.attempt)),
            // A group per run: the OOM count of one run must not mark the next.
            cgroup: format!("{}/pod{uid}/{}-{}", self.shared.cgroup_parent, t.name, t.attempt),
            labels,
            pids_limit: self.shared.pids_limit,
        })
    }

    /// What stopping and hooking a container needs, owned, for tasks of their own.
    fn ctx(&self) -> Ctx {
        Ctx {
            shared: self.shared.clone(),
            pod: self.pod.clone(),
            netns: self.sandbox.as_ref().and_then(|sb| sb.net.clone()),
        }
    }

    async fn probe(&mut self, i: usize, container: &Value) {
        let Some(id) = self.tracks[i].current.clone() else { return };
        let now = Instant::now();
        let due = match &self.tracks[i].probes {
            Some(p) => p.due(now),
            None => return,
        };
        for kind in due {
            let Some(probe) = self.tracks[i].probes.as_ref().and_then(|p| p.probe(kind).cloned()) else { continue };
            let exec = self.ctx().exec_fn(&id);
            let ports = probes::named_ports(container);
            let netns = self.sandbox.as_ref().and_then(|s| s.net.clone());
            let target = ProbeTarget { netns: netns.as_deref(), ports: &ports, exec: &*exec };
            let result = probes::probe_once(&probe, &target).await;
            let name = self.tracks[i].name.clone();
            if let Some(message) = kind.event_message(&result) {
                self.shared.events.pod(&self.pod, Some(&name), Kind::Warning, "Unhealthy", &message).await;
            }
            let verdict = self.tracks[i].probes.as_mut().and_then(|p| p.record(kind, &result, Instant::now()));
            if let Some(Verdict::Restart { kind, .. }) = verdict {
                let what = if kind == ProbeKind::Startup { "startup" } else { "liveness" };
                let message = format!("Container {name} failed {what} probe, will be restarted");
                self.shared.events.pod(&self.pod, Some(&name), Kind::Normal, "Killing", &message).await;
                let grace = Duration::from_secs(
                    probe["terminationGracePeriodSeconds"]
                        .as_u64()
                        .or_else(|| self.pod["spec"]["terminationGracePeriodSeconds"].as_u64())
                        .unwrap_or(30),
                );
                if let Some(id) = self.tracks[i].current.clone() {
                    self.ctx().stop(id, name, container.clone(), grace).await;
                }
                return;
            }
        }
    }

    /// Stops every running container at once, each with the grace period.
    async fn terminate(&mut self, grace: Duration) {
        let mut stopping = Vec::new();
        for i in 0..self.tracks.len() {
            if self.tracks[i].running() {
                let name = self.tracks[i].name.clone();
                self.shared
                    .events
                    .pod(&self.pod, Some(&name), Kind::Normal, "Killing", &format!("Stopping container {name}"))
                    .await;
                if let (Some(c), Some(id)) = (self.container(&name), self.tracks[i].current.clone()) {
                    let ctx = self.ctx();
                    stopping.push(tokio::spawn(async move { ctx.stop(id, name, c, grace).await }));
                }
            }
        }
        for task in stopping {
            let _ = task.await;
        }
        for t in &mut self.tracks {
            if let Some(id) = &t.current {
                t.status = self.shared.runtime.status(id).ok();
            }
        }
    }

    async fn clean_up(&mut self) {
        let uid = uid(&self.pod);
        let runtime = self.shared.runtime.clone();
        let pod_dir = self.pod_dir.clone();
        let cgroup = format!("{}/pod{uid}", self.shared.cgroup_parent);
        let _ = tokio::task::spawn_blocking(move || {
            for id in runtime.list() {
                if let Ok(spec) = runtime.spec(&id) {
                    if spec.labels.get(LABEL_POD_UID) == Some(&uid) {
                        if let Err(e) = runtime.remove(&id) {
                            tracing::warn!(error = %e, id, "removing a container");
                        }
                    }
                }
            }
            let _ = skiff_runtime::cgroups::remove(&cgroup);
            if let Err(e) = Volumes::tear_down(&pod_dir) {
                tracing::warn!(error = %e, "tearing down volumes");
            }
            let _ = runtime.remove_sandbox(&uid);
            let _ = std::fs::remove_dir_all(&pod_dir);
        })
        .await;
    }

    /// Removes the pod object now that nothing of it runs.
    async fn remove_object(&self) {
        let m = &self.pod["metadata"];
        let path = super::super::client::pod_path(
            m["namespace"].as_str().unwrap_or_default(),
            m["name"].as_str().unwrap_or_default(),
        );
        let options = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "preconditions": {"uid": uid(&self.pod)}});
        if let Err(e) = self.shared.client.delete(&path, &options).await {
            if !e.is_not_found() && e.code() != Some(409) {
                tracing::warn!(error = %e, "removing the pod object");
            }
        }
        let _ = std::fs::remove_dir_all(&self.log_dir);
    }

    /// Writes the pod's status if it changed.
    async fn report(&mut self) {
        if self.finished && self.tracks.iter().all(|t| t.status.is_none()) {
            // An ended pod whose containers are gone: its last status stands.
            return;
        }
        let status = status::pod_status(self);
        if status == self.last_status {
            return;
        }
        let m = &self.pod["metadata"];
        let path = format!(
            "{}/status",
            super::super::client::pod_path(
                m["namespace"].as_str().unwrap_or_default(),
                m["name"].as_str().unwrap_or_default()
            )
        );
        match self.shared.client.merge_patch(&path, &json!({"status": status})).await {
            Ok(pod) => {
                self.last_status = status;
                if pod.is_object() {
                    self.pod = pod;
                }
            }
            Err(e) if e.is_not_found() => self.gone = true,
            Err(e) => tracing::warn!(error = %e, "writing the pod status"),
        }
    }
}

/// A pod's context for work on its containers that outlives a borrow of the worker.
#[derive(Clone)]
struct Ctx {
    shared: Arc<Shared>,
    pod: Value,
    netns: Option<PathBuf>,
}

impl Ctx {
    fn exec_fn(&self, id: &str) -> Box<probes::ExecFn> {
        let runtime = self.shared.runtime.clone();
        let id = id.to_string();
        Box::new(move |cmd: Vec<String>, timeout: Duration| {
            let runtime = runtime.clone();
            let id = id.clone();
            Box::pin(async move {
                let command = runtime.exec_command(&id, &cmd, false).map_err(|e| e.to_string())?;
                let mut command = tokio::process::Command::from(command);
                command.stdin(std::process::Stdio::null()).kill_on_drop(true);
                match tokio::time::timeout(timeout, command.output()).await {
                    Ok(Ok(out)) => {
                        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                        text.push_str(&String::from_utf8_lossy(&out.stderr));
                        Ok((out.status.code().unwrap_or(137), text))
                    }
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("command {cmd:?} timed out")),
                }
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = Result<(i32, String), String>> + Send>>
        })
    }

    /// Runs a lifecycle hook (exec, httpGet, sleep) against the container.
    async fn run_hook(&self, id: &str, container: &Value, hook: &Value, limit: Duration) -> Result<(), String> {
        if let Some(secs) = hook["sleep"]["seconds"].as_u64() {
            tokio::time::sleep(Duration::from_secs(secs).min(limit)).await;
            return Ok(());
        }
        let mut probe = hook.clone();
        probe["timeoutSeconds"] = json!(limit.as_secs().max(1));
        let exec = self.exec_fn(id);
        let ports = probes::named_ports(container);
        let netns = self.netns.clone();
        let target = ProbeTarget { netns: netns.as_deref(), ports: &ports, exec: &*exec };
        match probes::probe_once(&probe, &target).await {
            ProbeResult::Success => Ok(()),
            ProbeResult::Failure(m) | ProbeResult::Unknown(m) => Err(m),
        }
    }

    /// preStop, then the stop signal, then SIGKILL once `grace` is spent.
    async fn stop(&self, id: String, name: String, container: Value, grace: Duration) {
        let container = &container;
        if !matches!(self.shared.runtime.status(&id), Ok(Status::Running(_))) {
            return;
        }
        let deadline = Instant::now() + grace;
        if let Some(hook) = container["lifecycle"]["preStop"].as_object() {
            let hook = Value::Object(hook.clone());
            if let Err(message) = self.run_hook(&id, container, &hook, grace).await {
                let name = &name;
                let text = format!("PreStopHook failed: {message}");
                self.shared.events.pod(&self.pod, Some(name), Kind::Warning, "FailedPreStopHook", &text).await;
            }
        }
        let signal = self
            .shared
            .runtime
            .spec(&id)
            .ok()
            .and_then(|s| s.labels.get(super::LABEL_STOP_SIGNAL).cloned())
            .and_then(|s| s.parse::<nix::sys::signal::Signal>().ok())
            .unwrap_or(nix::sys::signal::Signal::SIGTERM);
        let _ = self.shared.runtime.signal(&id, signal);
        let runtime = self.shared.runtime.clone();
        let left = deadline.saturating_duration_since(Instant::now());
        let id2 = id.clone();
        let ended = tokio::task::spawn_blocking(move || runtime.wait(&id2, left)).await;
        if !matches!(ended, Ok(Ok(Some(_)))) {
            let _ = self.shared.runtime.signal(&id, nix::sys::signal::Signal::SIGKILL);
            let runtime = self.shared.runtime.clone();
            let _ = tokio::task::spawn_blocking(move || runtime.wait(&id, Duration::from_secs(10))).await;
        }
    }
}
