//! delete and deletecollection: preconditions, propagation policy (the
//! garbage collector's finalizers), finalizers and deletionTimestamp, and a
//! namespace's Terminating phase.

use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::list::ListOptions;
use super::{key_for, meta, Api, Outcome};
use crate::admission::Attributes;
use crate::auth::User;
use crate::resources::{GracefulDelete, ResourceType};
use crate::store::Decision;
use skiff_wasm::admission::Operation;

pub const FOREGROUND: &str = "foregroundDeletion";
pub const ORPHAN: &str = "orphan";

#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub propagation: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
    /// Who asks; none is the server itself.
    pub user: Option<std::sync::Arc<crate::auth::User>>,
}

impl DeleteOptions {
    /// Reads a `DeleteOptions` body (all fields optional) over query-derived defaults.
    pub fn merge_body(mut self, body: &Value) -> ApiResult<DeleteOptions> {
        if body.is_null() {
            return Ok(self);
        }
        if !body.is_object() {
            return Err(ApiError::bad_request("the body of a delete request must be a DeleteOptions object"));
        }
        if let Some(p) = body["propagationPolicy"].as_str() {
            self.propagation = Some(p.to_string());
        }
        if body["orphanDependents"].as_bool() == Some(true) {
            self.propagation = Some("Orphan".into());
        }
        if let Some(g) = body["gracePeriodSeconds"].as_i64() {
            self.grace_period_seconds = Some(g);
        }
        if let Some(uid) = body["preconditions"]["uid"].as_str() {
            self.precondition_uid = Some(uid.to_string());
        }
        if let Some(rv) = body["preconditions"]["resourceVersion"].as_str() {
            self.precondition_rv = Some(rv.to_string());
        }
        if let Some(d) = body["dryRun"].as_array() {
            self.dry_run |= d.iter().any(|v| v == "All");
        }
        Ok(self)
    }

    fn policy(&self, rt: &ResourceType) -> ApiResult<&str> {
        match self.propagation.as_deref() {
            None => Ok(rt.default_propagation()),
            Some(p @ ("Orphan" | "Background" | "Foreground")) => Ok(p),
            Some(other) => Err(ApiError::unprocessable(format!(
                "DeleteOptions.propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            ))),
        }
    }
}

impl Api {
    /// Deletes one object. `Outcome::Deleted` when it is gone, `Outcome::Written`
    /// when it now waits for finalizers (the caller answers 202 then).
    pub async fn delete(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Outcome> {
        let policy = opts.policy(rt)?.to_string();
        rt.strategy.check_delete(name)?;
        let key = key_for(rt, namespace, name);
        let user = opts.user.clone().unwrap_or_else(User::server);
        let attrs = Attributes {
            rt,
            operation: Operation::Delete,
            namespace,
            name,
            subresource: None,
            user: &user,
            dry_run: opts.dry_run,
        };
        if self.admission.wants(&attrs) {
            // Validating plugins see the object as it is; the delete itself proceeds as usual.
            if let Some(current) =
                self.store.get(&key).await.map_err(|e| ApiError::from_store(e, &rt.group, &rt.plural, name))?
            {
                self.admission.validate(&attrs, None, Some(&current)).await?;
            }
        }
        // Only a node with an agent stops a pod gracefully; simulated nodes have none.
        let graceful_node = rt.strategy.deletes_gracefully() && self.node_has_agent(&key).await;
        self.commit(rt, &key, opts.dry_run, |current| {
            let mut obj = current.ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
            if let Some(uid) = &opts.precondition_uid {
                if uid != meta::uid(&obj) {
                    return Err(ApiError::conflict(
                        &rt.group,
                        &rt.plural,
                        name,
                        &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {}", meta::uid(&obj)),
                    ));
                }
            }
            if let Some(rv) = &opts.precondition_rv {
                if rv != meta::resource_version(&obj) {
                    return Err(ApiError::conflict(
                        &rt.group,
                        &rt.plural,
                        name,
                        &format!(
                            "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                            meta::resource_version(&obj)
                        ),
                    ));
                }
            }
            if graceful_node {
                match rt.strategy.graceful_delete(&mut obj, opts.grace_period_seconds) {
                    Some(GracefulDelete::Marked) => return Ok(Decision::Put(obj)),
                    Some(GracefulDelete::Unchanged) => return Ok(Decision::Keep),
                    None => {}
                }
            }
            let already = meta::is_deleting(&obj);
            let before = obj.clone();
            if !already {
                let m = meta::metadata_mut(&mut obj);
                m.insert("deletionTimestamp".into(), json!(meta::now()));
                m.insert("deletionGracePeriodSeconds".into(), json!(opts.grace_period_seconds.unwrap_or(0).max(0)));
            }
            match rt.strategy.mark_deleted(&mut obj, already) {
                Some(Ok(())) => return Ok(Decision::Put(obj)),
                Some(Err(refused)) => return Err(refused),
                None => {}
            }
            match policy.as_str() {
                "Foreground" => meta::add_finalizer(&mut obj, FOREGROUND),
                "Orphan" => meta::add_finalizer(&mut obj, ORPHAN),
                _ => {}
            }
            if meta::finalizers(&obj).is_empty() {
                return Ok(Decision::Delete);
            }
            Ok(if obj == before { Decision::Keep } else { Decision::Put(obj) })
        })
        .await
    }

    /// Whether the object at `key` is bound to a node (`spec.nodeName`) whose
    /// agent will stop it. Simulated nodes have none, and a node that is gone
    /// stops nothing (Kubernetes' pod garbage collector removes such pods):
    /// their pods go at once.
    async fn node_has_agent(&self, key: &crate::store::Key) -> bool {
        let Ok(Some(obj)) = self.store.get(key).await else { return false };
        let Some(node) = obj["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) else { return false };
        let Some(nodes) = self.registry().lookup("", "v1", "nodes").cloned() else { return false };
        match self.store.get(&key_for(&nodes, None, node)).await {
            Ok(Some(n)) => n["metadata"]["labels"]["skiff.dev/simulated"].as_str() != Some("true"),
            _ => false,
        }
    }

    /// Deletes every object matching the list options; returns those deleted or marked.
    pub async fn delete_collection(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        list: &ListOptions,
        opts: &DeleteOptions,
    ) -> ApiResult<Vec<Value>> {
        let items = self.list_all(rt, namespace, list).await?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match self.delete(rt, Some(meta::namespace(&item)), meta::name(&item), opts).await {
                Ok(outcome) => out.push(outcome.into_object()),
                // Someone else removed it meanwhile: that is what we wanted.
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}
