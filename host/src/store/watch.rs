//! The watch hub: fans committed changes out to watchers, keeps the most
//! recent ones in memory so a watch can resume cheaply, and falls back to the
//! durable change log for older revisions (410 Gone once compacted).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use serde_json::Value;
use tokio::sync::broadcast;

use super::{Store, StoreError};

/// How many recent changes stay in memory for resuming watches.
const RING: usize = 16 * 1024;
/// How far a watcher may fall behind the writers before it is cut off.
const CHANNEL: usize = 8 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }

    pub(super) fn parse(s: &str) -> EventType {
        match s {
            "ADDED" => EventType::Added,
            "DELETED" => EventType::Deleted,
            _ => EventType::Modified,
        }
    }
}

/// One committed change.
#[derive(Clone, Debug)]
pub struct Change {
    pub revision: i64,
    pub event: EventType,
    pub resource: String,
    pub namespace: String,
    pub object: Arc<Value>,
    /// `object` serialised once, so many watchers share one encoding.
    pub json: Arc<str>,
    /// Watch-event lines (`{"type":...,"object":...}\n`) built on first use
    /// and shared by every watcher: ADDED, MODIFIED, DELETED.
    pub lines: [OnceLock<Bytes>; 3],
    /// The object before the change, when known (it is not kept in the durable log).
    pub previous: Option<Arc<Value>>,
}

impl Change {
    /// The watch-event line for this change reported as `event`.
    pub fn line(&self, event: EventType) -> Bytes {
        let slot = match event {
            EventType::Added => &self.lines[0],
            EventType::Modified => &self.lines[1],
            EventType::Deleted => &self.lines[2],
        };
        slot.get_or_init(|| Bytes::from(format!("{{\"type\":\"{}\",\"object\":{}}}\n", event.as_str(), self.json)))
            .clone()
    }
}

struct Ring {
    /// The ring holds every change with revision > `complete_after`.
    complete_after: i64,
    /// The newest revision published.
    head: i64,
    changes: VecDeque<Arc<Change>>,
    compacted: i64,
}

pub struct WatchHub {
    ring: Mutex<Ring>,
    sender: broadcast::Sender<Arc<Change>>,
}

impl WatchHub {
    pub(super) fn new(head: i64) -> Self {
        let (sender, _) = broadcast::channel(CHANNEL);
        WatchHub {
            ring: Mutex::new(Ring { complete_after: head, head, changes: VecDeque::new(), compacted: 0 }),
            sender,
        }
    }

    pub(super) fn publish(&self, change: Change) {
        let change = Arc::new(change);
        {
            let mut ring = self.ring.lock().unwrap_or_else(|poison| poison.into_inner());
            ring.head = ring.head.max(change.revision);
            ring.changes.push_back(change.clone());
            while ring.changes.len() > RING {
                if let Some(old) = ring.changes.pop_front() {
                    ring.complete_after = old.revision;
                }
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.sender.send(change);
    }

    /// Open watch streams (controllers' included).
    pub fn watchers(&self) -> usize {
        self.sender.receiver_count()
    }

    /// The newest revision published.
    pub fn head(&self) -> i64 {
        self.ring.lock().unwrap_or_else(|poison| poison.into_inner()).head
    }

    /// Skips ahead to `revision` after changes were lost to compaction; a
    /// watch from before it then gets 410 Gone instead of a silent gap.
    pub(super) fn skip_to(&self, revision: i64) {
        self.compacted(revision);
        let mut ring = self.ring.lock().unwrap_or_else(|poison| poison.into_inner());
        ring.head = ring.head.max(revision);
    }

    pub(super) fn compacted(&self, upto: i64) {
        let mut ring = self.ring.lock().unwrap_or_else(|poison| poison.into_inner());
        ring.compacted = ring.compacted.max(upto);
        while ring.changes.front().is_some_and(|c| c.revision <= upto) {
            if let Some(old) = ring.changes.pop_front() {
                ring.complete_after = old.revision;
            }
        }
        ring.complete_after = ring.complete_after.max(upto);
    }

    pub(super) async fn subscribe(store: Arc<Store>, after: i64) -> Result<WatchStream, StoreError> {
        let hub = store.hub.clone();
        // Subscribe before reading the backlog so nothing falls between the two.
        let receiver = hub.sender.subscribe();
        let (complete_after, compacted, mut backlog): (i64, i64, VecDeque<Arc<Change>>) = {
            let ring = hub.ring.lock().unwrap_or_else(|poison| poison.into_inner());
            (ring.complete_after, ring.compacted, ring.changes.iter().filter(|c| c.revision > after).cloned().collect())
        };
        if after < compacted {
            return Err(StoreError::Gone { requested: after, oldest: compacted + 1 });
        }
        if after < complete_after {
            // Older than memory: read the gap from the durable log.
            let older = store.changes_between(after, complete_after).await?;
            for change in older.into_iter().rev() {
                backlog.push_front(Arc::new(change));
            }
        }
        Ok(WatchStream { backlog, receiver, last: after })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("the watcher fell too far behind; resume from resourceVersion {0}")]
    Lagged(i64),
    #[error("the store is shutting down")]
    Closed,
}

/// A stream of changes after a revision, in revision order, without gaps.
pub struct WatchStream {
    backlog: VecDeque<Arc<Change>>,
    receiver: broadcast::Receiver<Arc<Change>>,
    last: i64,
}

impl WatchStream {
    pub async fn next(&mut self) -> Result<Arc<Change>, WatchError> {
        loop {
            let change = match self.backlog.pop_front() {
                Some(change) => change,
                None => match self.receiver.recv().await {
                    Ok(change) => change,
                    Err(broadcast::error::RecvError::Lagged(_)) => return Err(WatchError::Lagged(self.last)),
                    Err(broadcast::error::RecvError::Closed) => return Err(WatchError::Closed),
                },
            };
            if change.revision > self.last {
                self.last = change.revision;
                return Ok(change);
            }
        }
    }

    /// The next change if one is ready now, without waiting.
    pub fn try_next(&mut self) -> Option<Result<Arc<Change>, WatchError>> {
        loop {
            let change = match self.backlog.pop_front() {
                Some(change) => change,
                None => match self.receiver.try_recv() {
                    Ok(change) => change,
                    Err(broadcast::error::TryRecvError::Empty) => return None,
                    Err(broadcast::error::TryRecvError::Lagged(_)) => return Some(Err(WatchError::Lagged(self.last))),
                    Err(broadcast::error::TryRecvError::Closed) => return Some(Err(WatchError::Closed)),
                },
            };
            if change.revision > self.last {
                self.last = change.revision;
                return Some(Ok(change));
            }
        }
    }

    /// The newest revision delivered so far.
    pub fn last(&self) -> i64 {
        self.last
    }
}
