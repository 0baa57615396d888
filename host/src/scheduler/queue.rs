//! The scheduling queue: pods waiting for a node, in priority order, with
//! kube-scheduler's three places to wait. `active` pods are tried next;
//! pods that found no node wait in `unschedulable` until a change in the
//! cluster might help (then in `backoff` until their backoff has passed);
//! pods waiting too long there are retried anyway.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::meta;

const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long a pod waits in `unschedulable` without a cluster change before it is retried.
const MAX_UNSCHEDULABLE: Duration = Duration::from_secs(60);

struct Entry {
    pod: Arc<Value>,
    /// Failed attempts so far.
    attempts: u32,
    last_attempt: Option<Instant>,
    place: Place,
    /// Order key in `active`.
    key: (Reverse<i64>, u64),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Active,
    Backoff(Instant),
    Unschedulable(Instant),
    /// Handed out, not back yet.
    InFlight,
    /// No scheduler of its `schedulerName` runs here: waits for one.
    Parked,
}

#[derive(Default)]
pub struct Queue {
    entries: HashMap<String, Entry>,
    /// (priority desc, arrival) → uid.
    active: BTreeSet<((Reverse<i64>, u64), String)>,
    arrivals: u64,
}

impl Queue {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// A pending pod was added or changed: keep its newest object; a new pod goes to `active`.
    pub fn upsert(&mut self, pod: Arc<Value>) {
        let uid = meta::uid(&pod).to_string();
        if let Some(entry) = self.entries.get_mut(&uid) {
            entry.pod = pod;
            // A changed pod may fit now (kube-scheduler retries on pod updates).
            if let Place::Unschedulable(_) = entry.place {
                entry.place = Place::Backoff(backoff_until(entry));
            }
            return;
        }
        self.arrivals += 1;
        let key = (Reverse(pod["spec"]["priority"].as_i64().unwrap_or(0)), self.arrivals);
        self.active.insert((key, uid.clone()));
        self.entries.insert(uid, Entry { pod, attempts: 0, last_attempt: None, place: Place::Active, key });
    }

    pub fn remove(&mut self, uid: &str) {
        if let Some(entry) = self.entries.remove(uid) {
            self.active.remove(&(entry.key, uid.to_string()));
        }
    }

    /// Up to `max` active pods, highest priority first, all for the same
    /// scheduler (the first pod's); they are in flight until `done` or `failed`.
    /// Pods whose scheduler `scheduler_of` does not know are parked.
    pub fn pop_batch(&mut self, max: usize, scheduler_of: impl Fn(&Value) -> Option<String>) -> Vec<Arc<Value>> {
        self.promote(Instant::now());
        let mut out = Vec::new();
        let mut profile: Option<String> = None;
        let mut taken = Vec::new();
        let mut parked = Vec::new();
        for (key, uid) in &self.active {
            let Some(entry) = self.entries.get(uid) else { continue };
            let Some(name) = scheduler_of(&entry.pod) else {
                parked.push((*key, uid.clone()));
                continue;
            };
            match &profile {
                None => profile = Some(name),
                Some(p) if *p != name => continue,
                Some(_) => {}
            }
            out.push(entry.pod.clone());
            taken.push((*key, uid.clone()));
            if out.len() >= max {
                break;
            }
        }
        for (item, place) in
            taken.into_iter().map(|i| (i, Place::InFlight)).chain(parked.into_iter().map(|i| (i, Place::Parked)))
        {
            self.active.remove(&item);
            if let Some(entry) = self.entries.get_mut(&item.1) {
                entry.place = place;
            }
        }
        out
    }

    /// The pod was bound (or is being bound): it leaves the queue.
    pub fn done(&mut self, uid: &str) {
        self.remove(uid);
    }

    /// No node fits, or binding failed: wait for a cluster change.
    pub fn failed(&mut self, uid: &str) {
        let now = Instant::now();
        if let Some(entry) = self.entries.get_mut(uid) {
            entry.attempts += 1;
            entry.last_attempt = Some(now);
            entry.place = Place::Unschedulable(now);
        }
    }

    /// The policy could not be asked (it failed): retry after the backoff.
    pub fn retry_later(&mut self, uid: &str) {
        if let Some(entry) = self.entries.get_mut(uid) {
            entry.attempts += 1;
            entry.last_attempt = Some(Instant::now());
            entry.place = Place::Backoff(backoff_until(entry));
        }
    }

    /// The schedulers changed: every waiting pod is tried again at once.
    pub fn requeue_all(&mut self) {
        let now = Instant::now();
        for entry in self.entries.values_mut() {
            if matches!(entry.place, Place::Unschedulable(_) | Place::Backoff(_) | Place::Parked) {
                entry.place = Place::Backoff(now);
            }
        }
    }

    /// Something changed that may make unschedulable pods fit: move them to backoff.
    pub fn cluster_changed(&mut self) {
        for entry in self.entries.values_mut() {
            if let Place::Unschedulable(_) = entry.place {
                entry.place = Place::Backoff(backoff_until(entry));
            }
        }
    }

    /// Moves pods whose wait is over into `active`.
    fn promote(&mut self, now: Instant) {
        for (uid, entry) in self.entries.iter_mut() {
            let ready = match entry.place {
                Place::Backoff(until) => until <= now,
                Place::Unschedulable(since) => now.duration_since(since) >= MAX_UNSCHEDULABLE,
                _ => false,
            };
            if ready {
                entry.place = Place::Active;
                self.active.insert((entry.key, uid.clone()));
            }
        }
    }

    /// When the next waiting pod becomes ready, if any waits.
    pub fn next_wake(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(|e| match e.place {
                Place::Backoff(until) => Some(until),
                Place::Unschedulable(since) => Some(since + MAX_UNSCHEDULABLE),
                _ => None,
            })
            .min()
    }

    pub fn has_active(&self) -> bool {
        !self.active.is_empty() || self.next_wake().is_some_and(|t| t <= Instant::now())
    }
}

/// 1 s doubling per failed attempt, at most 10 s, counted from the last attempt.
fn backoff_until(entry: &Entry) -> Instant {
    let shift = entry.attempts.saturating_sub(1).min(8);
    let backoff = (INITIAL_BACKOFF * (1u32 << shift)).min(MAX_BACKOFF);
    entry.last_attempt.unwrap_or_else(Instant::now) + backoff
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(uid: &str, priority: i64) -> Arc<Value> {
        Arc::new(json!({"metadata": {"uid": uid, "name": uid}, "spec": {"priority": priority}}))
    }

    fn all(_: &Value) -> Option<String> {
        Some("default-scheduler".into())
    }

    fn uids(batch: &[Arc<Value>]) -> Vec<&str> {
        batch.iter().map(|p| meta::uid(p)).collect()
    }

    #[test]
    fn higher_priority_first_then_arrival_order() {
        let mut q = Queue::default();
        q.upsert(pod("a", 0));
        q.upsert(pod("b", 10));
        q.upsert(pod("c", 0));
        assert_eq!(uids(&q.pop_batch(10, all)), ["b", "a", "c"]);
        assert!(q.pop_batch(10, all).is_empty(), "in flight, not active");
    }

    #[test]
    fn batches_hold_one_scheduler_and_unknown_schedulers_park_until_requeued() {
        let mut q = Queue::default();
        q.upsert(pod("a", 0));
        q.upsert(pod("b", 0));
        let only_a = |p: &Value| (meta::uid(p) == "a").then(|| "x".to_string());
        assert_eq!(uids(&q.pop_batch(10, only_a)), ["a"]);
        assert!(!q.has_active(), "b is parked");
        q.requeue_all();
        assert_eq!(uids(&q.pop_batch(10, all)), ["b"]);
    }

    #[test]
    fn an_unschedulable_pod_waits_for_a_cluster_change_then_its_backoff() {
        let mut q = Queue::default();
        q.upsert(pod("a", 0));
        q.pop_batch(1, all);
        q.failed("a");
        assert!(!q.has_active());
        let parked_until = q.next_wake().expect("retried at the latest after MAX_UNSCHEDULABLE");
        assert!(parked_until > Instant::now() + Duration::from_secs(30));
        q.cluster_changed();
        let backoff = q.next_wake().expect("in backoff");
        assert!(backoff <= Instant::now() + INITIAL_BACKOFF);
        q.done("a");
        assert_eq!(q.len(), 0);
    }
}
