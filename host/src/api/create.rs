//! create: type-check, default, fill the fields the server owns, validate, store.

use serde_json::{json, Value};

use super::error::{ApiError, ApiResult, Cause};
use super::managed::{self, FieldManager};
use super::{key_for, meta, Api, WriteOptions};
use crate::admission::Attributes;
use crate::resources::{validation, ResourceType};
use crate::store::Decision;
use skiff_wasm::admission::Operation;

impl Api {
    /// Creates `body` as a new object of `rt` in `namespace`.
    /// Returns the stored object and any warnings for the client.
    pub async fn create(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        mut body: Value,
        opts: WriteOptions,
    ) -> ApiResult<(Value, Vec<String>)> {
        rt.strategy.check_create()?;
        check_type_meta(rt, &mut body)?;
        check_metadata_shape(rt, &body)?;
        let metadata = meta::metadata_mut(&mut body);
        match (rt.namespaced, namespace, metadata.get("namespace").and_then(Value::as_str)) {
            (true, Some(url), Some(body_ns)) if !body_ns.is_empty() && body_ns != url => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
            (true, Some(url), _) => {
                metadata.insert("namespace".into(), json!(url));
            }
            (true, None, _) => return Err(ApiError::path_not_found()),
            (false, _, _) => {
                metadata.remove("namespace");
            }
        }
        if metadata.get("resourceVersion").and_then(Value::as_str).is_some_and(|rv| !rv.is_empty()) {
            return Err(ApiError::bad_request("resourceVersion should not be set on objects to be created"));
        }
        let name = metadata.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        let generate = metadata.get("generateName").and_then(Value::as_str).unwrap_or("").to_string();
        let name = if name.is_empty() && !generate.is_empty() { meta::generate_name(&generate) } else { name };
        metadata.insert("name".into(), json!(name));

        let decoded = rt.codec.decode(&body, opts.field_validation)?;
        let mut obj = decoded.object;
        let uid = uuid::Uuid::new_v4().to_string();
        {
            let m = meta::metadata_mut(&mut obj);
            m.insert("uid".into(), json!(uid));
            m.insert("creationTimestamp".into(), json!(meta::now()));
            for f in ["deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "selfLink"] {
                m.remove(f);
            }
            if rt.has_generation() {
                m.insert("generation".into(), json!(1));
            }
        }
        // What Kubernetes' strategies do before the first write: a fresh
        // status and the fields the system derives.
        if rt.status && rt.strategy.resets_status_on_create() {
            if let Some(o) = obj.as_object_mut() {
                o.insert("status".into(), json!({}));
            }
        }
        rt.strategy.prepare_for_create(&mut obj);
        if !opts.owners_recorded {
            let manager = FieldManager { name: &opts.field_manager, subresource: None, force: false };
            managed::track(rt, None, &mut obj, &manager)?;
        }
        let mut warnings = decoded.warnings;
        let attrs = Attributes {
            rt,
            operation: Operation::Create,
            namespace,
            name: &name,
            subresource: None,
            user: &opts.user,
            dry_run: opts.dry_run,
        };
        let admitting = self.admission.wants(&attrs);
        if admitting {
            let (mutated, w) = self.admission.mutate(&attrs, obj, None).await?;
            obj = mutated;
            warnings.extend(w);
        }
        let _allocating = if rt.is("", "services") {
            let guard = self.service_addresses.lock().await;
            self.allocate_service_addresses(&mut obj).await?;
            Some(guard)
        } else {
            None
        };

        let causes = validation::validate(rt, &obj, None);
        if !causes.is_empty() {
            return Err(ApiError::invalid(&rt.group, &rt.kind, &name, causes));
        }
        if admitting {
            warnings.extend(self.admission.validate(&attrs, Some(&obj), None).await?);
        }
        if rt.namespaced {
            self.check_namespace_open(meta::namespace(&obj)).await?;
        }
        let key = key_for(rt, namespace, &name);
        let outcome = self
            .commit(rt, &key, opts.dry_run, |current| match current {
                Some(_) => Err(ApiError::already_exists(&rt.group, &rt.plural, &name)),
                None => Ok(Decision::Put(obj)),
            })
            .await?;
        Ok((outcome.into_object(), warnings))
    }

    /// New objects may only go into a namespace that exists and is not being deleted.
    async fn check_namespace_open(&self, namespace: &str) -> ApiResult<()> {
        let Some(ns_type) = self.registry().lookup("", "v1", "namespaces").cloned() else { return Ok(()) };
        match self.get(&ns_type, None, namespace).await {
            Ok(ns) if meta::is_deleting(&ns) => Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {namespace} because it is being terminated"
            ))),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Gives a Service its cluster IP (and node ports) from the service range,
    /// as Kubernetes' allocators do when the user leaves them out.
    async fn allocate_service_addresses(&self, svc: &mut Value) -> ApiResult<()> {
        let ty = svc["spec"]["type"].as_str().unwrap_or("ClusterIP").to_string();
        if ty == "ExternalName" {
            return Ok(());
        }
        let chosen_ip = svc["spec"]["clusterIP"].as_str().unwrap_or("").to_string();
        let wants_ip = chosen_ip.is_empty();
        let wants_ports = ty == "NodePort" || ty == "LoadBalancer";
        let mut used_ips = std::collections::HashSet::new();
        let mut used_ports = std::collections::HashSet::new();
        for s in self.store.list_every("/services", None).await? {
            if let Some(ip) = s["spec"]["clusterIP"].as_str() {
                used_ips.insert(ip.to_string());
            }
            for p in s["spec"]["ports"].as_array().into_iter().flatten() {
                if let Some(n) = p["nodePort"].as_i64() {
                    used_ports.insert(n);
                }
            }
        }
        let name = meta::name(svc).to_string();
        if !wants_ip && chosen_ip != "None" && used_ips.contains(&chosen_ip) {
            return Err(ApiError::invalid(
                "",
                "Service",
                &name,
                vec![Cause::invalid(
                    "spec.clusterIPs",
                    &json!([chosen_ip]),
                    "failed to allocate IP: the provided IP is already allocated",
                )],
            ));
        }
        for (i, p) in svc["spec"]["ports"].as_array().into_iter().flatten().enumerate() {
            if let Some(n) = p["nodePort"].as_i64() {
                if used_ports.contains(&n) {
                    return Err(ApiError::invalid(
                        "",
                        "Service",
                        &name,
                        vec![Cause::invalid(
                            format!("spec.ports[{i}].nodePort"),
                            &p["nodePort"],
                            "provided port is already allocated",
                        )],
                    ));
                }
            }
        }
        if wants_ip {
            // 10.43.0.0/16, k3s' default service range; .0.1 is the API server's own Service.
            let ip = (2u32..65535)
                .map(|n| format!("10.43.{}.{}", n / 256, n % 256))
                .find(|ip| !used_ips.contains(ip))
                .ok_or_else(|| ApiError::internal("the service cluster IP range is full"))?;
            svc["spec"]["clusterIP"] = json!(ip);
            svc["spec"]["clusterIPs"] = json!([ip]);
        } else if svc["spec"]["clusterIP"].as_str() == Some("None") {
            svc["spec"]["clusterIPs"] = json!(["None"]);
        }
        if svc["spec"]["ipFamilies"].is_null() {
            svc["spec"]["ipFamilies"] = json!(["IPv4"]);
        }
        if svc["spec"]["ipFamilyPolicy"].is_null() {
            svc["spec"]["ipFamilyPolicy"] = json!("SingleStack");
        }
        if wants_ports {
            let mut next = 30000i64;
            for p in svc["spec"]["ports"].as_array_mut().into_iter().flatten() {
                if p["nodePort"].is_null() {
                    while used_ports.contains(&next) {
                        next += 1;
                    }
                    if next > 32767 {
                        return Err(ApiError::internal("the node port range is full"));
                    }
                    p["nodePort"] = json!(next);
                    used_ports.insert(next);
                }
            }
        }
        Ok(())
    }
}

/// `metadata` must be an object before the server reads or fills it; what a
/// typed decode would say otherwise.
pub(super) fn check_metadata_shape(rt: &ResourceType, obj: &Value) -> ApiResult<()> {
    match obj.get("metadata") {
        None | Some(Value::Null) | Some(Value::Object(_)) => Ok(()),
        Some(other) => Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: metadata: invalid type: {}, expected ObjectMeta",
            super::request::type_name(other),
            kind = rt.kind,
            version = rt.version,
        ))),
    }
}

/// Checks (or fills in) `apiVersion` and `kind` against the endpoint.
pub(super) fn check_type_meta(rt: &ResourceType, body: &mut Value) -> ApiResult<()> {
    let expected_version = rt.api_version();
    match body.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => body["apiVersion"] = json!(expected_version),
        Some(v) if v != expected_version => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({expected_version})"
            )))
        }
        Some(_) => {}
    }
    match body.get("kind").and_then(Value::as_str) {
        None | Some("") => body["kind"] = json!(&rt.kind),
        Some(k) if k != rt.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({}) of {}",
                &rt.kind, rt.plural
            )))
        }
        Some(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_meta_must_match_the_endpoint() {
        let reg = crate::resources::Registry::builtin();
        let cm = reg.lookup("", "v1", "configmaps").expect("configmaps");
        let mut body = json!({"metadata": {"name": "a"}});
        check_type_meta(cm, &mut body).expect("filled in");
        assert_eq!(body["kind"], "ConfigMap");
        let mut wrong = json!({"apiVersion": "apps/v1", "kind": "ConfigMap"});
        assert_eq!(check_type_meta(cm, &mut wrong).unwrap_err().code, 400);
    }
}
