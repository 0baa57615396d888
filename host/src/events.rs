//! Events: what components report about objects (`kubectl describe` and
//! `kubectl get events` show them). Repeats of one event (same object,
//! reason and message) are counted on the first one, as Kubernetes'
//! event correlator does, rather than stored again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::api::{meta, Api, WriteOptions};

/// How many distinct recent events are remembered for counting repeats.
const REMEMBERED: usize = 4096;

/// An event's identity for counting repeats: (object uid, reason, message).
type Repeat = (String, String, String);

pub struct Recorder {
    api: Arc<Api>,
    /// Recent events → their namespace and name.
    recent: Mutex<HashMap<Repeat, (String, String)>>,
}

pub enum EventType {
    Normal,
    Warning,
}

impl Recorder {
    pub fn new(api: Arc<Api>) -> Recorder {
        Recorder { api, recent: Mutex::new(HashMap::new()) }
    }

    /// Records an event about `object` (of `kind`, `apiVersion` v1 or its
    /// own), reported by `component`. Failing to record is logged, never fatal.
    pub async fn record(
        &self,
        object: &Value,
        kind: &str,
        component: &str,
        type_: EventType,
        reason: &str,
        message: &str,
    ) {
        let Some(rt) = self.api.registry().lookup("", "v1", "events").cloned() else { return };
        let uid = meta::uid(object).to_string();
        let key = (uid.clone(), reason.to_string(), message.to_string());
        let known = self.recent.lock().ok().and_then(|r| r.get(&key).cloned());
        let now = meta::now();
        if let Some((namespace, name)) = known {
            let counted = self
                .api
                .modify(&crate::auth::User::component("events"), &rt, Some(&namespace), &name, None, |event| {
                    event["count"] = json!(event["count"].as_i64().unwrap_or(1) + 1);
                    event["lastTimestamp"] = json!(now);
                    Ok(())
                })
                .await;
            if counted.is_ok() {
                return;
            }
        }
        let namespace = match meta::namespace(object) {
            "" => "default".to_string(),
            ns => ns.to_string(),
        };
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let name = format!("{}.{:x}", meta::name(object), nanos);
        let api_version = object["apiVersion"].as_str().unwrap_or("v1");
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {
                "kind": kind,
                "namespace": meta::namespace(object),
                "name": meta::name(object),
                "uid": uid,
                "apiVersion": api_version,
                "resourceVersion": meta::resource_version(object),
            },
            "reason": reason,
            "message": message,
            "source": {"component": component},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": match type_ { EventType::Normal => "Normal", EventType::Warning => "Warning" },
            "reportingComponent": component,
            "reportingInstance": "",
        });
        match self
            .api
            .create(&rt, Some(&namespace), event, WriteOptions::internal(crate::auth::User::component("events")))
            .await
        {
            Ok(_) => {
                if let Ok(mut recent) = self.recent.lock() {
                    if recent.len() >= REMEMBERED {
                        recent.clear();
                    }
                    recent.insert(key, (namespace, name));
                }
            }
            Err(e) => tracing::warn!(reason, error = %e.message, "cannot record an event"),
        }
    }
}
