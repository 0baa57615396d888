//! Node lifecycle, as Kubernetes' node lifecycle controller: a node whose
//! agent stops renewing its Lease in kube-node-lease is marked Unknown
//! ("Kubelet stopped posting node status."), so the scheduler's not-ready
//! taint keeps new pods off it. Nodes without a Lease (simulated ones) are
//! left alone. The agent marks its node Ready again on its next report.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::api::{Api, ListOptions};
use crate::store::Change;

pub async fn handle(_api: Arc<Api>, _change: Arc<Change>) {}

/// `grace`: how long a Lease may go unrenewed (kube-controller-manager's node-monitor-grace-period).
pub async fn resync(api: Arc<Api>, grace: std::time::Duration) {
    let (Some(leases), Some(nodes)) = (
        api.registry().lookup("coordination.k8s.io", "v1", "leases").cloned(),
        api.registry().lookup("", "v1", "nodes").cloned(),
    ) else {
        return;
    };
    let Ok(leases) = api.list_all(&leases, Some("kube-node-lease"), &ListOptions::default()).await else { return };
    let now = chrono::Utc::now();
    for lease in leases {
        let name = lease["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let renewed = lease["spec"]["renewTime"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds());
        if renewed.is_some_and(|age| age <= grace.as_secs() as i64) {
            continue;
        }
        let result = api
            .modify(
                &crate::auth::User::component("node-lifecycle-controller"),
                &nodes,
                None,
                &name,
                Some("status"),
                |node| {
                    mark_unknown(node, &now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                    Ok(())
                },
            )
            .await;
        match result {
            Ok(_) => {}
            Err(e) if e.code == 404 => {}
            Err(e) => tracing::warn!(node = %name, error = %e.message, "marking the node Unknown"),
        }
    }
}

/// Every condition the agent reported becomes Unknown, as Kubernetes words it.
fn mark_unknown(node: &mut Value, now: &str) {
    let Some(conditions) = node["status"]["conditions"].as_array_mut() else { return };
    for c in conditions {
        if c["status"] == "Unknown" {
            continue;
        }
        c["status"] = json!("Unknown");
        c["reason"] = json!("NodeStatusUnknown");
        c["message"] = json!("Kubelet stopped posting node status.");
        c["lastTransitionTime"] = json!(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_turn_unknown_once() {
        let mut node = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastTransitionTime": "t0"},
            {"type": "MemoryPressure", "status": "Unknown", "reason": "NodeStatusUnknown", "lastTransitionTime": "t1"},
        ]}});
        mark_unknown(&mut node, "t2");
        let c = &node["status"]["conditions"];
        assert_eq!(c[0]["status"], "Unknown");
        assert_eq!(c[0]["message"], "Kubelet stopped posting node status.");
        assert_eq!(c[0]["lastTransitionTime"], "t2");
        assert_eq!(c[1]["lastTransitionTime"], "t1");
    }
}
