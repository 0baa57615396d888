//! pods/binding: how a scheduler assigns a pod to a node. Sets
//! `spec.nodeName` once and marks the pod `PodScheduled`, as the Kubernetes
//! API server's binding storage does.

use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::{meta, Api};

impl Api {
    /// Binds pod `namespace/name` to the node `binding.target.name`.
    pub async fn bind(&self, namespace: &str, name: &str, binding: &Value) -> ApiResult<Value> {
        let rt = self.registry.lookup("", "v1", "pods").ok_or_else(ApiError::path_not_found)?;
        let binding_name = meta::name(binding);
        if !binding_name.is_empty() && binding_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the Binding ({binding_name:?}) does not match the pod's name in the URL ({name:?})"
            )));
        }
        let target = &binding["target"];
        let kind = target["kind"].as_str().unwrap_or("");
        if !kind.is_empty() && kind != "Node" {
            return Err(ApiError::invalid(
                "",
                "Binding",
                name,
                vec![super::error::Cause::invalid("target.kind", &json!(kind), "must be empty or `Node`")],
            ));
        }
        let node = target["name"].as_str().unwrap_or("");
        if node.is_empty() {
            return Err(ApiError::invalid(
                "",
                "Binding",
                name,
                vec![super::error::Cause::invalid("target.name", &json!(node), "Required value")],
            ));
        }
        let expected_uid = binding["metadata"]["uid"].as_str().filter(|u| !u.is_empty()).map(str::to_string);
        let annotations = binding["metadata"]["annotations"].as_object().cloned();
        let outcome = self
            .modify(rt, Some(namespace), name, Some("binding"), |pod| {
                let conflict = |why: String| ApiError::conflict("", "pods/binding", name, &why);
                if meta::is_deleting(pod) {
                    return Err(conflict(format!("pod {name} is being deleted, cannot be assigned to a host")));
                }
                if let Some(assigned) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
                    return Err(conflict(format!("pod {name} is already assigned to node {assigned:?}")));
                }
                if pod["spec"]["schedulingGates"].as_array().is_some_and(|g| !g.is_empty()) {
                    return Err(conflict(format!("pod {name} has non-empty .spec.schedulingGates")));
                }
                if let Some(uid) = &expected_uid {
                    if meta::uid(pod) != uid {
                        return Err(conflict(format!(
                            "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                            meta::uid(pod)
                        )));
                    }
                }
                pod["spec"]["nodeName"] = json!(node);
                if let Some(extra) = &annotations {
                    let metadata = meta::metadata_mut(pod);
                    let target = metadata.entry("annotations").or_insert_with(|| json!({}));
                    if let Some(map) = target.as_object_mut() {
                        for (k, v) in extra {
                            map.insert(k.clone(), v.clone());
                        }
                    }
                }
                set_condition(pod, "PodScheduled", "True", None, None);
                Ok(())
            })
            .await?;
        Ok(outcome.into_object())
    }
}

/// Sets a pod condition, keeping its transition time when the status does not change.
pub fn set_condition(pod: &mut Value, type_: &str, status: &str, reason: Option<&str>, message: Option<&str>) {
    if !pod["status"].is_object() {
        pod["status"] = json!({});
    }
    let conditions = &mut pod["status"]["conditions"];
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let Some(list) = conditions.as_array_mut() else { return };
    let now = meta::now();
    let mut condition = json!({"type": type_, "status": status, "lastProbeTime": null, "lastTransitionTime": now});
    if let Some(r) = reason {
        condition["reason"] = json!(r);
    }
    if let Some(m) = message {
        condition["message"] = json!(m);
    }
    match list.iter_mut().find(|c| c["type"] == type_) {
        Some(existing) => {
            if existing["status"] == status {
                condition["lastTransitionTime"] = existing["lastTransitionTime"].clone();
            }
            *existing = condition;
        }
        None => list.push(condition),
    }
}
