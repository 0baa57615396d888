//! What the scheduler knows of the cluster: nodes, the pods bound (or
//! assumed bound) to them, and namespace labels. Node views are built from
//! it; every change to a node's view bumps a version so each policy
//! instance is sent only the nodes that changed since it last synced.

use std::collections::HashMap;

use serde_json::Value;
use skiff_wasm::scheduling::model::{HostPort, Node, PodSummary, Resources};

use super::views::{self, Namespaces};
use crate::meta;

struct NodeEntry {
    /// The node's own part of its view (no pods).
    base: Node,
    /// Version of the last change to this node's view.
    changed: u64,
}

struct BoundPod {
    node: String,
    requests: Resources,
    ports: Vec<HostPort>,
    summary: PodSummary,
    /// Placed by this scheduler, binding not yet seen through the watch.
    assumed: bool,
}

#[derive(Default)]
pub struct Cache {
    nodes: HashMap<String, NodeEntry>,
    /// Node names by index; indexes of removed nodes are reused.
    slots: Vec<Option<String>>,
    free: Vec<u32>,
    /// Removed indexes with the version of their removal.
    removed: Vec<(u64, u32)>,
    /// Removals up to this version are no longer on record.
    removed_floor: u64,
    pods: HashMap<String, BoundPod>,
    /// Pod uids by node name (nodes may be unknown yet).
    by_node: HashMap<String, Vec<String>>,
    pub namespaces: Namespaces,
    version: u64,
}

/// What a policy instance must be sent to catch up.
pub struct Delta {
    pub changed: Vec<Node>,
    pub removed: Vec<u32>,
}

impl Cache {
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn node_name(&self, index: u32) -> Option<&str> {
        self.slots.get(index as usize).and_then(|s| s.as_deref())
    }

    fn bump(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    fn touch(&mut self, node: &str) {
        let v = self.bump();
        if let Some(entry) = self.nodes.get_mut(node) {
            entry.changed = v;
        }
    }

    pub fn upsert_node(&mut self, obj: &Value) {
        let name = meta::name(obj).to_string();
        let index = match self.nodes.get(&name) {
            Some(e) => e.base.index,
            None => match self.free.pop() {
                Some(i) => {
                    self.slots[i as usize] = Some(name.clone());
                    i
                }
                None => {
                    self.slots.push(Some(name.clone()));
                    (self.slots.len() - 1) as u32
                }
            },
        };
        let base = views::node(obj, index);
        if self.nodes.get(&name).is_some_and(|e| e.base == base) {
            return;
        }
        let changed = self.bump();
        self.nodes.insert(name, NodeEntry { base, changed });
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(entry) = self.nodes.remove(name) else { return };
        let index = entry.base.index;
        self.slots[index as usize] = None;
        self.free.push(index);
        let v = self.bump();
        self.removed.push((v, index));
        if self.removed.len() > 10_000 {
            // An instance that has not synced since then gets every node again instead.
            self.removed_floor = self.removed[4_999].0;
            self.removed.drain(..5_000);
        }
    }

    /// Records a pod seen bound to `node` through the watch (it may have been assumed).
    pub fn bind_pod(&mut self, obj: &Value, node: &str) {
        let uid = meta::uid(obj).to_string();
        if let Some(existing) = self.pods.get_mut(&uid) {
            if existing.node == node {
                // Our own binding came back: the views already count it.
                existing.assumed = false;
                return;
            }
        }
        let pod = views::pod(obj, &self.namespaces);
        self.add(uid, node, pod.requests.clone(), pod.host_ports.clone(), pod.summary(), false);
    }

    /// Counts a pod a policy placed, before its binding is stored. (The
    /// instance that placed it counts it already; its runner then marks
    /// itself synced past this change.)
    pub fn assume(&mut self, pod: &skiff_wasm::scheduling::model::Pod, node: &str) {
        self.add(pod.uid.clone(), node, pod.requests.clone(), pod.host_ports.clone(), pod.summary(), true);
    }

    fn add(
        &mut self,
        uid: String,
        node: &str,
        requests: Resources,
        ports: Vec<HostPort>,
        summary: PodSummary,
        assumed: bool,
    ) {
        self.forget(&uid);
        self.by_node.entry(node.to_string()).or_default().push(uid.clone());
        self.pods.insert(uid, BoundPod { node: node.to_string(), requests, ports, summary, assumed });
        self.touch(node);
    }

    /// Drops a pod (deleted, finished, or its binding failed).
    pub fn forget(&mut self, uid: &str) {
        let Some(pod) = self.pods.remove(uid) else { return };
        if let Some(list) = self.by_node.get_mut(&pod.node) {
            list.retain(|u| u != uid);
            if list.is_empty() {
                self.by_node.remove(&pod.node);
            }
        }
        self.touch(&pod.node);
    }

    pub fn is_assumed(&self, uid: &str) -> bool {
        self.pods.get(uid).is_some_and(|p| p.assumed)
    }

    pub fn knows_pod(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    /// The full view of a node: its own part plus its pods.
    fn view(&self, entry: &NodeEntry) -> Node {
        let mut node = entry.base.clone();
        for uid in self.by_node.get(&node.name).into_iter().flatten() {
            if let Some(pod) = self.pods.get(uid) {
                node.requested.add_pod(&pod.requests);
                node.used_ports.extend(pod.ports.iter().cloned());
                node.pods.push(pod.summary.clone());
            }
        }
        node
    }

    pub fn all_nodes(&self) -> Vec<Node> {
        let mut nodes: Vec<Node> = self.nodes.values().map(|e| self.view(e)).collect();
        nodes.sort_by_key(|n| n.index);
        nodes
    }

    /// The nodes changed or removed after version `since`.
    pub fn delta(&self, since: u64) -> Delta {
        let changed = self.nodes.values().filter(|e| e.changed > since).map(|e| self.view(e)).collect();
        let removed = self.removed.iter().filter(|(v, _)| *v > since).map(|(_, i)| *i).collect();
        Delta { changed, removed }
    }

    /// Whether removals after `since` are still on record (else a full resync is needed).
    pub fn can_delta(&self, since: u64) -> bool {
        since >= self.removed_floor
    }
}
