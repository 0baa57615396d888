//! pods/binding: how a scheduler assigns a pod to a node. Sets
//! `spec.nodeName` once and marks the pod `PodScheduled`, as the Kubernetes
//! API server's binding storage does.

use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::update::Finish;
use super::{meta, Api, WriteOptions};
use crate::admission::Attributes;
use crate::store::{Decision, StoreError};
use skiff_wasm::admission::Operation;

impl Api {
    /// Binds pod `namespace/name` to the node `binding.target.name`. A caller
    /// that holds a recent copy of the pod (the scheduler) passes it as
    /// `known` to spare a read; if the pod has changed since, it is read again.
    /// `opts.user` is who binds; admission plugins matching `pods/binding`
    /// see (and may change) the Binding before it is applied.
    pub async fn bind(
        &self,
        namespace: &str,
        name: &str,
        binding: &Value,
        known: Option<Value>,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        let rt = self.registry().lookup("", "v1", "pods").cloned().ok_or_else(ApiError::path_not_found)?;
        let attrs = Attributes {
            rt: &rt,
            operation: Operation::Create,
            namespace: Some(namespace),
            name,
            subresource: Some("binding"),
            user: &opts.user,
            dry_run: opts.dry_run,
        };
        let admitted;
        let binding = if self.admission.wants(&attrs) {
            let (mutated, _) = self.admission.mutate(&attrs, binding.clone(), None).await?;
            self.admission.validate(&attrs, Some(&mutated), None).await?;
            admitted = mutated;
            &admitted
        } else {
            binding
        };
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
        let change = |pod: &mut Value| -> ApiResult<()> {
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
        };
        // Bindings come in bursts from the scheduler: the new version is
        // computed and validated outside the store's write lock, and written
        // only if the pod did not change meanwhile (else computed again).
        let key = super::key_for(&rt, Some(namespace), name);
        let how = Finish::new(opts, Some("binding"));
        let mut known = known;
        for _ in 0..5 {
            let old = match known.take() {
                Some(pod) => pod,
                None => self.get(&rt, Some(namespace), name).await?,
            };
            let mut new = old.clone();
            change(&mut new)?;
            let (decision, _) = super::update::finish(&rt, old.clone(), new, &how, true)?;
            let Decision::Put(new) = decision else { return Ok(old) };
            if opts.dry_run {
                return Ok(new);
            }
            match self.store.replace(&key, old, new).await {
                Ok(bound) => return Ok(bound),
                Err(StoreError::Changed) => continue,
                Err(e) => return Err(ApiError::from_store(e, "", "pods", name)),
            }
        }
        Err(ApiError::modified("", "pods", name))
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
