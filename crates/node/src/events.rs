//! Events about pods, as the kubelet records them (source `kubelet`, the
//! container in `fieldPath`); a repeat of the same event raises its count.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::client::Client;

/// (namespace, pod uid, fieldPath, reason, message): one event, counted when it repeats.
type EventKey = (String, String, String, String, String);

pub struct Recorder {
    client: Client,
    node: String,
    /// An event once recorded → (its name, count).
    seen: Mutex<HashMap<EventKey, (String, u64)>>,
}

pub enum Kind {
    Normal,
    Warning,
}

impl Recorder {
    pub fn new(client: Client, node: String) -> Recorder {
        Recorder { client, node, seen: Mutex::new(HashMap::new()) }
    }

    /// Records an event about `pod` (and its container `container`, if any); never fails the caller.
    pub async fn pod(&self, pod: &Value, container: Option<&str>, kind: Kind, reason: &str, message: &str) {
        let m = &pod["metadata"];
        let ns = m["namespace"].as_str().unwrap_or("default").to_string();
        let uid = m["uid"].as_str().unwrap_or_default().to_string();
        let field_path = container
            .map(|c| {
                let init = pod["spec"]["initContainers"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|x| x["name"].as_str() == Some(c)));
                if init {
                    format!("spec.initContainers{{{c}}}")
                } else {
                    format!("spec.containers{{{c}}}")
                }
            })
            .unwrap_or_default();
        let now = chrono::Utc::now();
        let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let key = (ns.clone(), uid.clone(), field_path.clone(), reason.to_string(), message.to_string());
        let repeat = self.seen.lock().ok().and_then(|mut s| {
            s.get_mut(&key).map(|(name, count)| {
                *count += 1;
                (name.clone(), *count)
            })
        });
        if let Some((name, count)) = repeat {
            let path = format!("/api/v1/namespaces/{ns}/events/{name}");
            let patch = json!({"count": count, "lastTimestamp": stamp});
            if self.client.merge_patch(&path, &patch).await.is_ok() {
                return;
            }
        }
        let name = format!("{}.{:x}", m["name"].as_str().unwrap_or("pod"), now.timestamp_nanos_opt().unwrap_or(0));
        let mut involved = json!({
            "apiVersion": "v1", "kind": "Pod", "namespace": ns, "name": m["name"], "uid": uid,
            "resourceVersion": m["resourceVersion"],
        });
        if !field_path.is_empty() {
            involved["fieldPath"] = json!(field_path);
        }
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": match kind { Kind::Normal => "Normal", Kind::Warning => "Warning" },
            "source": {"component": "kubelet", "host": self.node},
            "reportingComponent": "kubelet",
            "reportingInstance": self.node,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        });
        match self.client.create(&format!("/api/v1/namespaces/{ns}/events"), &event).await {
            Ok(_) => {
                if let Ok(mut s) = self.seen.lock() {
                    if s.len() > 10_000 {
                        s.clear();
                    }
                    s.insert(key, (name, 1));
                }
            }
            Err(e) => tracing::debug!(error = %e, reason, "recording an event"),
        }
    }

    /// Forgets the pod's events (it is gone).
    pub fn forget(&self, uid: &str) {
        if let Ok(mut s) = self.seen.lock() {
            s.retain(|k, _| k.1 != uid);
        }
    }
}
