//! watch: a stream of `{"type": ..., "object": ...}` lines from a
//! resourceVersion on, with selectors (an object leaving a selector is seen as
//! DELETED, entering it as ADDED), bookmarks, initial events, `timeoutSeconds`
//! and `410 Gone` (as an ERROR event, like Kubernetes) for compacted revisions.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::error::ApiError;
use super::list::ListOptions;
use super::request::{Query, Representation};
use super::selectors::Filter;
use super::{table, Api};
use crate::resources::ResourceType;
use crate::store::{Change, EventType, StoreError};

/// How often an idle watch with bookmarks enabled gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(15);
/// A watch without `timeoutSeconds` ends after this, as Kubernetes' do, so clients re-list now and then.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

pub struct WatchOptions {
    pub list: ListOptions,
    pub timeout: Duration,
    pub bookmarks: bool,
    pub send_initial_events: Option<bool>,
}

impl WatchOptions {
    pub fn from_query(q: &Query) -> Result<WatchOptions, ApiError> {
        let timeout = match q.int("timeoutSeconds")? {
            Some(s) if s > 0 => Duration::from_secs(s as u64),
            _ => DEFAULT_TIMEOUT,
        };
        let send_initial_events = match q.get("sendInitialEvents") {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => return Err(ApiError::bad_request(format!("invalid sendInitialEvents value {other:?}"))),
        };
        Ok(WatchOptions {
            list: ListOptions::from_query(q)?,
            timeout,
            bookmarks: q.flag("allowWatchBookmarks"),
            send_initial_events,
        })
    }
}

struct Sink {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    rt: Arc<ResourceType>,
    repr: Representation,
    first: bool,
    /// Events ready at the same moment go out as one chunk: one frame and
    /// one TLS record instead of one per event.
    pending: BytesMut,
}

/// Flush a batch once it is this big even if more events are ready.
const BATCH_BYTES: usize = 256 * 1024;

impl Sink {
    /// Sends a stored change; the common case reuses its encoding as is.
    async fn send_change(&mut self, kind: EventType, change: &Change) -> bool {
        if self.repr != Representation::Object {
            return self.flush().await && self.send(kind.as_str(), &change.object).await;
        }
        self.pending.extend_from_slice(&change.line(kind));
        self.pending.len() < BATCH_BYTES || self.flush().await
    }

    async fn flush(&mut self) -> bool {
        if self.pending.is_empty() {
            return true;
        }
        let chunk = self.pending.split().freeze();
        self.tx.send(Ok(chunk)).await.is_ok()
    }

    /// Sends one event; false when the client has gone.
    async fn send(&mut self, kind: &str, object: &Value) -> bool {
        let served;
        let object = if self.rt.is_custom() && kind != "ERROR" && kind != "BOOKMARK" {
            served = self.rt.as_served(object.clone());
            &served
        } else {
            object
        };
        let object = match self.repr {
            Representation::Table if kind != "ERROR" && kind != "BOOKMARK" => {
                let t = table::table_for(&self.rt, std::slice::from_ref(object), None, None, self.first, "Metadata");
                self.first = false;
                t
            }
            Representation::Metadata if kind != "ERROR" => table::partial_metadata(object),
            _ => object.clone(),
        };
        let mut line = json!({"type": kind, "object": object}).to_string();
        line.push('\n');
        self.tx.send(Ok(Bytes::from(line))).await.is_ok()
    }
}

pub async fn serve(
    api: Arc<Api>,
    rt: Arc<ResourceType>,
    namespace: Option<String>,
    opts: WatchOptions,
    repr: Representation,
) -> Result<Response, ApiError> {
    let filter = Filter::new(&rt, opts.list.label_selector.as_deref(), opts.list.field_selector.as_deref())?;
    let start: Option<i64> = match opts.list.resource_version.as_deref() {
        None | Some("") | Some("0") => None,
        Some(rv) => Some(rv.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version {rv:?}")))?),
    };
    let (tx, rx) = mpsc::channel(256);
    let mut sink = Sink { tx, rt: rt.clone(), repr, first: true, pending: BytesMut::new() };
    let mut shutdown = api.shutdown.clone();
    tokio::spawn(async move {
        let deadline = tokio::time::sleep(opts.timeout);
        tokio::pin!(deadline);
        // With no revision (or "0"), or when asked, the current state comes first as ADDED events.
        let initial = opts.send_initial_events.unwrap_or(start.is_none());
        let mut from = match start {
            Some(rv) => rv,
            // No revision and no initial events: from now on.
            None => match api.store.revision().await {
                Ok(r) => r,
                Err(e) => {
                    sink.send("ERROR", &ApiError::from(e).status()).await;
                    return;
                }
            },
        };
        if initial {
            // The initial events are the whole current state, never one page of it.
            let mut list = opts.list.clone();
            list.resource_version = None;
            list.resource_version_match = None;
            list.limit = None;
            list.continue_token = None;
            match api.list(&rt, namespace.as_deref(), &list).await {
                Ok(result) => {
                    if start.is_none() {
                        from = result.revision;
                    }
                    for item in &result.items {
                        if !sink.send("ADDED", item).await {
                            return;
                        }
                    }
                    if opts.send_initial_events == Some(true) && opts.bookmarks {
                        let mark = bookmark(&rt, result.revision, true);
                        if !sink.send("BOOKMARK", &mark).await {
                            return;
                        }
                    }
                    from = from.max(result.revision);
                }
                Err(e) => {
                    sink.send("ERROR", &e.status()).await;
                    return;
                }
            }
        }
        let mut stream = match api.store.watch(from).await {
            Ok(s) => s,
            Err(StoreError::Gone { requested, oldest }) => {
                let e = ApiError::gone(format!("too old resource version: {requested} ({oldest})"));
                sink.send("ERROR", &e.status()).await;
                return;
            }
            Err(e) => {
                sink.send("ERROR", &ApiError::internal(e.to_string()).status()).await;
                return;
            }
        };
        let store_key = rt.store_key();
        let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = shutdown.changed() => return,
                _ = ticker.tick(), if opts.bookmarks => {
                    if !sink.send("BOOKMARK", &bookmark(&rt, stream.last(), false)).await {
                        return;
                    }
                }
                _ = sink.tx.closed() => return,
                next = stream.next() => {
                    // Take everything that is ready now, then send it as one chunk.
                    let mut next = Some(next);
                    while let Some(result) = next.take() {
                        let change = match result {
                            Ok(c) => c,
                            Err(e) => {
                                // The client resumes from its last revision.
                                tracing::debug!(error = %e, "watch ended");
                                sink.flush().await;
                                return;
                            }
                        };
                        if let Some(kind) = visible_as(&change, &store_key, rt.namespaced, namespace.as_deref(), &filter) {
                            if !sink.send_change(kind, &change).await {
                                return;
                            }
                        }
                        next = stream.try_next();
                    }
                    if !sink.flush().await {
                        return;
                    }
                }
            }
        }
    });
    let body = Body::from_stream(ReceiverStream::new(rx));
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", "no-cache, private")
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// How a change shows in this watch: an object entering the selector is
/// ADDED, one leaving it DELETED; None when the watch does not see it.
fn visible_as(
    change: &Change,
    store_key: &str,
    namespaced: bool,
    namespace: Option<&str>,
    filter: &Filter,
) -> Option<EventType> {
    if change.resource != store_key {
        return None;
    }
    if let Some(ns) = namespace {
        if namespaced && change.namespace != ns {
            return None;
        }
    }
    let now = filter.matches(&change.object);
    let before = match &change.previous {
        Some(p) => filter.matches(p),
        None => now,
    };
    match (change.event, before, now) {
        (EventType::Added, _, true) => Some(EventType::Added),
        (EventType::Modified, true, true) => Some(EventType::Modified),
        (EventType::Modified, false, true) => Some(EventType::Added),
        (EventType::Modified, true, false) => Some(EventType::Deleted),
        (EventType::Deleted, _, true) => Some(EventType::Deleted),
        _ => None,
    }
}

fn bookmark(rt: &ResourceType, revision: i64, initial_end: bool) -> Value {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": metadata})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;
    use serde_json::json;
    use std::sync::Arc;

    fn change(event: EventType, labels: Value, previous: Option<Value>) -> Change {
        let object = json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}});
        Change {
            revision: 2,
            event,
            resource: "/configmaps".into(),
            namespace: "ns".into(),
            json: Arc::from(object.to_string()),
            object: Arc::new(object),
            lines: Default::default(),
            previous: previous.map(|p| Arc::new(json!({"metadata": {"name": "a", "labels": p}}))),
        }
    }

    #[test]
    fn objects_entering_or_leaving_a_selector_are_added_or_deleted() {
        let rt = Registry::builtin().lookup("", "v1", "configmaps").expect("configmaps").clone();
        let filter = Filter::new(&rt, Some("app=web"), None).expect("selector");
        let see = |c: &Change| visible_as(c, "/configmaps", true, Some("ns"), &filter);
        let web = json!({"app": "web"});
        let db = json!({"app": "db"});
        assert_eq!(see(&change(EventType::Added, web.clone(), None)), Some(EventType::Added));
        assert_eq!(see(&change(EventType::Added, db.clone(), None)), None);
        assert_eq!(see(&change(EventType::Modified, web.clone(), Some(db.clone()))), Some(EventType::Added));
        assert_eq!(see(&change(EventType::Modified, db.clone(), Some(web.clone()))), Some(EventType::Deleted));
        assert_eq!(see(&change(EventType::Modified, web.clone(), Some(web.clone()))), Some(EventType::Modified));
        assert_eq!(see(&change(EventType::Deleted, web.clone(), None)), Some(EventType::Deleted));
        // Another namespace or resource is not seen at all.
        assert_eq!(
            visible_as(&change(EventType::Added, web.clone(), None), "/configmaps", true, Some("other"), &filter),
            None
        );
        assert_eq!(visible_as(&change(EventType::Added, web, None), "/secrets", true, None, &filter), None);
    }

    #[test]
    fn shared_event_lines_are_complete_json_lines() {
        let c = change(EventType::Modified, json!({}), None);
        let line = c.line(EventType::Deleted);
        assert!(line.ends_with(b"\n"));
        let parsed: Value = serde_json::from_slice(&line).expect("json");
        assert_eq!(parsed["type"], "DELETED");
        assert_eq!(parsed["object"]["metadata"]["name"], "a");
        // Built once, shared after.
        assert_eq!(c.line(EventType::Deleted).as_ptr(), line.as_ptr());
    }
}
