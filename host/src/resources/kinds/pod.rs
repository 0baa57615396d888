//! Pod: Pending with its QoS class on create, the default service account
//! and tolerations, a spec that barely changes after creation, the field
//! labels the kubelet and kubectl select on, and graceful deletion.

use serde_json::{json, Value};

use super::reset_status;
use crate::errors::Cause;
use crate::resources::validation::{pod_spec, pod_update};
use crate::resources::{GracefulDelete, Strategy, Subresource};

pub struct Pod;

impl Strategy for Pod {
    fn prepare_for_create(&self, obj: &mut Value) {
        let qos = qos_class(&obj["spec"]);
        reset_status(obj, json!({"phase": "Pending", "qosClass": qos}));
        if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            let sa = spec.get("serviceAccountName").and_then(Value::as_str).unwrap_or("default").to_string();
            spec.insert("serviceAccountName".into(), json!(sa));
            default_tolerations(spec);
        }
    }

    fn deletes_gracefully(&self) -> bool {
        true
    }

    fn returns_deleted_object(&self) -> bool {
        true
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        pod_spec(&obj["spec"], "spec", &[], &mut errs);
        errs
    }

    fn validate_update(&self, obj: &Value, old: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        pod_update(obj, old, &mut errs);
        errs
    }

    /// binding is the API's; log, exec and attach stream from the node's agent.
    fn subresources(&self) -> &'static [Subresource] {
        &[
            Subresource { name: "binding", kind: "Binding", verbs: &["create"] },
            Subresource { name: "attach", kind: "PodAttachOptions", verbs: &["create", "get"] },
            Subresource { name: "exec", kind: "PodExecOptions", verbs: &["create", "get"] },
            Subresource { name: "log", kind: "Pod", verbs: &["get"] },
        ]
    }

    fn field_labels(&self) -> &[&str] {
        &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ]
    }

    /// A running pod is marked with deletionTimestamp (when its grace period
    /// ends, as in Kubernetes) and the grace period; its node's agent stops
    /// the containers and then removes it. A repeated delete may only shorten
    /// the grace period. Ended pods and a zero grace period go at once.
    fn graceful_delete(&self, pod: &mut Value, grace_period: Option<i64>) -> Option<GracefulDelete> {
        let terminal = matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"));
        let grace = grace_period.or_else(|| pod["spec"]["terminationGracePeriodSeconds"].as_i64()).unwrap_or(30).max(0);
        if terminal || grace == 0 {
            return None;
        }
        if crate::meta::is_deleting(pod) {
            let current = pod["metadata"]["deletionGracePeriodSeconds"].as_i64().unwrap_or(grace);
            if grace >= current {
                return Some(GracefulDelete::Unchanged);
            }
        }
        let end = chrono::Utc::now() + chrono::Duration::seconds(grace);
        let m = crate::meta::metadata_mut(pod);
        m.insert("deletionTimestamp".into(), json!(end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
        m.insert("deletionGracePeriodSeconds".into(), json!(grace));
        Some(GracefulDelete::Marked)
    }
}

/// The tolerations the DefaultTolerationSeconds admission plugin adds, so that
/// pods ride out a short node outage before eviction.
fn default_tolerations(spec: &mut serde_json::Map<String, Value>) {
    let list = spec.entry("tolerations").or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else { return };
    for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
        let present = list.iter().any(|t| t["key"] == key && (t["effect"] == "NoExecute" || t["effect"].is_null()));
        if !present {
            list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
    }
}

/// Guaranteed when every container limits cpu and memory and requests equal
/// limits; BestEffort when nothing is requested or limited; else Burstable.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> =
        ["initContainers", "containers"].iter().flat_map(|l| spec[*l].as_array().into_iter().flatten()).collect();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in containers {
        let limits = &c["resources"]["limits"];
        let requests = &c["resources"]["requests"];
        if limits.as_object().is_some_and(|m| !m.is_empty()) || requests.as_object().is_some_and(|m| !m.is_empty()) {
            any = true;
        }
        for r in ["cpu", "memory"] {
            let limit = &limits[r];
            let request = &requests[r];
            if limit.is_null() || (!request.is_null() && request != limit) {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_follows_requests_and_limits() {
        assert_eq!(qos_class(&json!({"containers": [{"name": "a"}]})), "BestEffort");
        assert_eq!(
            qos_class(&json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]})),
            "Guaranteed"
        );
        assert_eq!(qos_class(&json!({"containers": [{"resources": {"requests": {"cpu": "1"}}}]})), "Burstable");
    }

    #[test]
    fn graceful_delete_only_shortens() {
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"terminationGracePeriodSeconds": 30}, "status": {"phase": "Running"}});
        assert!(matches!(Pod.graceful_delete(&mut pod, None), Some(GracefulDelete::Marked)));
        assert_eq!(pod["metadata"]["deletionGracePeriodSeconds"], 30);
        assert!(matches!(Pod.graceful_delete(&mut pod, Some(60)), Some(GracefulDelete::Unchanged)));
        assert!(matches!(Pod.graceful_delete(&mut pod, Some(5)), Some(GracefulDelete::Marked)));
        assert_eq!(pod["metadata"]["deletionGracePeriodSeconds"], 5);
        assert!(Pod.graceful_delete(&mut pod, Some(0)).is_none());
    }
}
