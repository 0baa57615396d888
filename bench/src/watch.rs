//! The watchers: many concurrent `?watch=true` streams on one of the
//! benchmark's collections (its ConfigMaps, or its custom objects), each on
//! its own connection, counting the ADDED and MODIFIED events for benchmark
//! objects and how long after the write was sent each one arrived (the send
//! time rides in the object's `data`, or `spec` for custom objects). A stream
//! the server ends early is reopened from the last resourceVersion seen.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use http::Method;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Deserialize;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::conn::{error_message, Conn, Endpoint};
use crate::kube::{clock_us, Collection};
use crate::load::Histogram;

/// How often one watcher may reopen its stream before it gives up.
const MAX_REOPENS: u32 = 5;

/// Live totals across all watchers, for waiting until they caught up.
#[derive(Default)]
struct Progress {
    added: AtomicU64,
    modified: AtomicU64,
    /// `clock_us` of the latest benchmark event any watcher received.
    last_event_us: AtomicU64,
}

/// What one watcher saw.
#[derive(Default, Debug)]
pub struct WatcherStats {
    pub added: u64,
    pub modified: u64,
    pub other: u64,
    pub reopens: u32,
    pub errors: u64,
    pub first_error: Option<String>,
    /// From the create being sent to its ADDED event arriving.
    pub added_latency: Histogram,
    /// From the update being sent to its MODIFIED event arriving.
    pub modified_latency: Histogram,
}

pub struct WatchSet {
    tasks: Vec<JoinHandle<WatcherStats>>,
    stop: watch::Sender<bool>,
    progress: Arc<Progress>,
}

/// When the watchers had caught up (or the wait gave up).
pub struct Drained {
    pub delivered: u64,
    pub complete: bool,
    pub last_event_us: u64,
}

impl WatchSet {
    /// Opens `n` watches on `collection` from `resource_version` and returns
    /// once every one has its response headers, i.e. is registered with the server.
    pub async fn open(
        endpoint: &Endpoint,
        collection: &Collection,
        n: usize,
        resource_version: &str,
    ) -> anyhow::Result<WatchSet> {
        let (stop, stop_rx) = watch::channel(false);
        let progress = Arc::new(Progress::default());
        let mut tasks = Vec::with_capacity(n);
        let mut ready = Vec::with_capacity(n);
        for _ in 0..n {
            let (tx, rx) = oneshot::channel();
            let w = Watcher {
                endpoint: endpoint.clone(),
                collection: collection.clone(),
                resource_version: resource_version.to_string(),
                progress: progress.clone(),
                stop: stop_rx.clone(),
                stats: WatcherStats::default(),
            };
            tasks.push(tokio::spawn(w.run(tx)));
            ready.push(rx);
        }
        let set = WatchSet { tasks, stop, progress };
        for (i, rx) in ready.into_iter().enumerate() {
            match rx.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => bail!("opening watch {i}: {e}"),
                Err(_) => bail!("watch {i} ended before it opened"),
            }
        }
        Ok(set)
    }

    /// Waits until the watchers together hold `expected` ADDED (or MODIFIED)
    /// events, or `timeout` passes.
    pub async fn drain(&self, modified: bool, expected: u64, timeout: Duration) -> Drained {
        let counter = if modified { &self.progress.modified } else { &self.progress.added };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let delivered = counter.load(Ordering::Relaxed);
            if delivered >= expected || tokio::time::Instant::now() >= deadline {
                return Drained {
                    delivered,
                    complete: delivered >= expected,
                    last_event_us: self.progress.last_event_us.load(Ordering::Relaxed),
                };
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Closes every watch and returns what each saw.
    pub async fn finish(self) -> Vec<WatcherStats> {
        let _ = self.stop.send(true);
        let mut all = Vec::with_capacity(self.tasks.len());
        for t in self.tasks {
            match t.await {
                Ok(stats) => all.push(stats),
                Err(e) => all.push(WatcherStats {
                    errors: 1,
                    first_error: Some(format!("watch task failed: {e}")),
                    ..Default::default()
                }),
            }
        }
        all
    }
}

struct Watcher {
    endpoint: Endpoint,
    collection: Collection,
    resource_version: String,
    progress: Arc<Progress>,
    stop: watch::Receiver<bool>,
    stats: WatcherStats,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    object: Option<EventObject>,
}

#[derive(Deserialize)]
struct EventObject {
    metadata: Option<Metadata>,
    data: Option<Data>,
    /// Custom objects carry the send time in their spec.
    spec: Option<Data>,
    /// Set on the Status of an ERROR event.
    message: Option<String>,
}

#[derive(Deserialize)]
struct Metadata {
    name: Option<String>,
    #[serde(rename = "resourceVersion")]
    resource_version: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "sentMicros")]
    sent_micros: Option<String>,
}

impl Watcher {
    async fn open(&self) -> anyhow::Result<(Conn, Incoming)> {
        let mut conn = self.endpoint.connect().await?;
        let path = format!("{}?watch=true&resourceVersion={}", self.collection.path, self.resource_version);
        let resp = conn.send(Method::GET, &path, None).await.context("sending the watch request")?;
        if !resp.status().is_success() {
            let status = resp.status();
            let body = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            bail!("HTTP {}: {}", status.as_u16(), error_message(&body));
        }
        Ok((conn, resp.into_body()))
    }

    async fn run(mut self, ready: oneshot::Sender<anyhow::Result<()>>) -> WatcherStats {
        let (mut conn, mut body) = match self.open().await {
            Ok(opened) => {
                let _ = ready.send(Ok(()));
                opened
            }
            Err(e) => {
                let _ = ready.send(Err(e));
                return self.stats;
            }
        };
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let frame = tokio::select! {
                _ = self.stop.changed() => break,
                frame = body.frame() => frame,
            };
            match frame {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        buf.extend_from_slice(&data);
                        if !self.consume(&mut buf) {
                            break;
                        }
                    }
                }
                ended => {
                    if *self.stop.borrow() {
                        break;
                    }
                    if let Some(Err(e)) = ended {
                        self.error(format!("watch stream broke: {e}"));
                    }
                    if self.stats.reopens >= MAX_REOPENS {
                        self.error(format!("gave up after {MAX_REOPENS} reopens"));
                        break;
                    }
                    self.stats.reopens += 1;
                    buf.clear();
                    match self.open().await {
                        Ok((c, b)) => (conn, body) = (c, b),
                        Err(e) => {
                            self.error(format!("reopening the watch: {e:#}"));
                            break;
                        }
                    }
                }
            }
        }
        drop(conn);
        self.stats
    }

    /// Handles the complete lines in `buf`, keeping a partial last one.
    /// False after an ERROR event, which ends this watcher.
    fn consume(&mut self, buf: &mut Vec<u8>) -> bool {
        let mut start = 0;
        let mut keep_going = true;
        while let Some(off) = buf[start..].iter().position(|&b| b == b'\n') {
            let line = &buf[start..start + off];
            start += off + 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let now = clock_us();
            match serde_json::from_slice::<Event>(line) {
                Ok(ev) => keep_going &= self.event(ev, now),
                Err(e) => self.error(format!("unparsable watch event: {e}")),
            }
        }
        buf.drain(..start);
        keep_going
    }

    fn event(&mut self, ev: Event, now: u64) -> bool {
        let obj = ev.object.unwrap_or(EventObject { metadata: None, data: None, spec: None, message: None });
        if ev.kind == "ERROR" {
            self.error(format!("ERROR event: {}", obj.message.unwrap_or_default()));
            return false;
        }
        let (name, rv) = match obj.metadata {
            Some(m) => (m.name.unwrap_or_default(), m.resource_version),
            None => (String::new(), None),
        };
        if let Some(rv) = rv {
            self.resource_version = rv;
        }
        let ours = name.starts_with(self.collection.prefix);
        let sent = obj.data.or(obj.spec).and_then(|d| d.sent_micros).and_then(|s| s.parse::<u64>().ok());
        let latency = sent.map(|s| now.saturating_sub(s));
        match (ev.kind.as_str(), ours) {
            ("ADDED", true) => {
                self.stats.added += 1;
                if let Some(l) = latency {
                    self.stats.added_latency.record_us(l);
                }
                self.progress.added.fetch_add(1, Ordering::Relaxed);
            }
            ("MODIFIED", true) => {
                self.stats.modified += 1;
                if let Some(l) = latency {
                    self.stats.modified_latency.record_us(l);
                }
                self.progress.modified.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                self.stats.other += 1;
                return true;
            }
        }
        self.progress.last_event_us.fetch_max(now, Ordering::Relaxed);
        true
    }

    fn error(&mut self, msg: String) {
        self.stats.errors += 1;
        self.stats.first_error.get_or_insert(msg);
    }
}
