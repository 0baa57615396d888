//! update (PUT): optimistic concurrency on resourceVersion, the status
//! subresource split, generation, finalizer-driven removal, and the
//! read-admit-write loop that patch shares.

use serde_json::{json, Value};

use super::create::check_type_meta;
use super::error::{ApiError, ApiResult};
use super::managed::{self, FieldManager};
use super::{key_for, meta, Api, Outcome, WriteOptions};
use crate::admission::Attributes;
use crate::resources::{validation, FieldValidation, ResourceType};
use crate::store::{Decision, Key};
use skiff_wasm::admission::Operation;

impl Api {
    /// Replaces the object `name` with `body` (or only its status when
    /// `subresource` is `status`).
    pub async fn update(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        mut body: Value,
        opts: WriteOptions,
    ) -> ApiResult<(Outcome, Vec<String>)> {
        check_type_meta(rt, &mut body)?;
        let body_name = meta::name(&body);
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if rt.namespaced {
            let body_ns = meta::namespace(&body);
            if !body_ns.is_empty() && Some(body_ns) != namespace {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        let requested_rv = meta::resource_version(&body).to_string();
        let key = key_for(rt, namespace, name);
        let compute = |old: Value, validate: bool| {
            if !requested_rv.is_empty() && requested_rv != meta::resource_version(&old) {
                return Err(ApiError::modified(&rt.group, &rt.plural, name));
            }
            let requested_uid = meta::uid(&body);
            if !requested_uid.is_empty() && requested_uid != meta::uid(&old) {
                return Err(ApiError::conflict(
                    &rt.group,
                    &rt.plural,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {requested_uid}, UID in object meta: {}",
                        meta::uid(&old)
                    ),
                ));
            }
            finish(rt, old, body.clone(), &Finish::new(&opts, subresource), validate)
        };
        self.write_update(rt, &key, subresource, &opts, compute, None).await
    }

    /// Reads the object, computes its next version with `compute`, and writes
    /// it. When admission plugins are interested they run between the two,
    /// outside the store's write lock; the write then lands only if the object
    /// did not change meanwhile, else it starts over (as Kubernetes' guaranteed
    /// update does). `view` is what admission sees when it is not the object
    /// itself (a Scale for `/scale`).
    pub(super) async fn write_update<F>(
        &self,
        rt: &ResourceType,
        key: &Key,
        subresource: Option<&str>,
        opts: &WriteOptions,
        compute: F,
        view: Option<&AdmissionView<'_>>,
    ) -> ApiResult<(Outcome, Vec<String>)>
    where
        F: Fn(Value, bool) -> ApiResult<(Decision, Vec<String>)>,
    {
        let name = key.name.as_str();
        let namespace = Some(key.namespace.as_str()).filter(|n| !n.is_empty());
        let attrs = Attributes {
            rt,
            operation: Operation::Update,
            namespace,
            name,
            subresource,
            user: &opts.user,
            dry_run: opts.dry_run,
        };
        if !self.admission.wants(&attrs) {
            let mut warnings = Vec::new();
            let outcome = self
                .commit(rt, key, opts.dry_run, |current| {
                    let old = current.ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
                    let (decision, w) = compute(old, true)?;
                    warnings = w;
                    Ok(decision)
                })
                .await?;
            return Ok((outcome, warnings));
        }
        for _ in 0..5 {
            let old = self
                .store
                .get(key)
                .await
                .map_err(|e| ApiError::from_store(e, &rt.group, &rt.plural, name))?
                .map(|o| rt.as_served(o))
                .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
            let (decision, mut warnings) = compute(old.clone(), false)?;
            let decision = match decision {
                Decision::Put(mut new) => {
                    match view {
                        None => {
                            let (mutated, w) = self.admission.mutate(&attrs, new, Some(&old)).await?;
                            new = mutated;
                            warnings.extend(w);
                        }
                        Some(v) => {
                            let (old_view, new_view) = ((v.view)(&old), (v.view)(&new));
                            let (mutated, w) = self.admission.mutate(&attrs, new_view.clone(), Some(&old_view)).await?;
                            warnings.extend(w);
                            if mutated != new_view {
                                (v.apply)(&mut new, &mutated)?;
                            }
                        }
                    }
                    set_generation(rt, &old, &mut new);
                    let causes = validation::validate(rt, &new, Some(&old));
                    if !causes.is_empty() {
                        return Err(ApiError::invalid(&rt.group, &rt.kind, name, causes));
                    }
                    let w = match view {
                        None => self.admission.validate(&attrs, Some(&new), Some(&old)).await?,
                        Some(v) => {
                            self.admission.validate(&attrs, Some(&(v.view)(&new)), Some(&(v.view)(&old))).await?
                        }
                    };
                    warnings.extend(w);
                    if new == old {
                        Decision::Keep
                    } else {
                        Decision::Put(new)
                    }
                }
                other => other,
            };
            let read_rv = meta::resource_version(&old).to_string();
            let mut stale = false;
            let outcome = self
                .commit(rt, key, opts.dry_run, |current| match current {
                    None => Err(ApiError::not_found(&rt.group, &rt.plural, name)),
                    Some(c) if meta::resource_version(&c) != read_rv => {
                        stale = true;
                        Err(ApiError::modified(&rt.group, &rt.plural, name))
                    }
                    Some(_) => Ok(decision),
                })
                .await;
            match outcome {
                Err(_) if stale => continue,
                other => return other.map(|o| (o, warnings)),
            }
        }
        Err(ApiError::conflict(
            &rt.group,
            &rt.plural,
            name,
            "the object kept changing while admission plugins ran; please try again",
        ))
    }
}

/// What admission sees of a subresource whose object is not the kind's own
/// (a Scale), and how a mutated view is carried back.
pub(super) struct AdmissionView<'a> {
    pub view: &'a (dyn Fn(&Value) -> Value + Sync),
    pub apply: &'a (dyn Fn(&mut Value, &Value) -> ApiResult<()> + Sync),
}

/// `generation` counts changes of the desired state (everything but metadata and status).
fn set_generation(rt: &ResourceType, old: &Value, new: &mut Value) {
    if rt.has_generation() {
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
        let next = if meta::desired_state_differs(old, new) { generation + 1 } else { generation };
        meta::metadata_mut(new).insert("generation".into(), json!(next));
    }
}

/// How a write's new version is finished: who writes (for managedFields)
/// and how unknown fields are treated.
pub(super) struct Finish<'a> {
    pub manager: FieldManager<'a>,
    pub validation: FieldValidation,
    /// A server-side apply: ownership is already recorded by the merge.
    pub applied: bool,
}

impl<'a> Finish<'a> {
    pub fn new(opts: &'a WriteOptions, subresource: Option<&'a str>) -> Finish<'a> {
        Finish {
            manager: FieldManager { name: &opts.field_manager, subresource, force: opts.force },
            validation: opts.field_validation,
            applied: false,
        }
    }
}

/// Turns a proposed new version of `old` into the decision to store: keeps
/// the server-owned metadata, applies the status split, decodes, validates,
/// bumps generation, and removes an object whose last finalizer is gone.
/// (When validate is false, the caller validates after the mutating admission plugins.)
pub(super) fn finish(
    rt: &ResourceType,
    old: Value,
    mut new: Value,
    how: &Finish<'_>,
    validate: bool,
) -> ApiResult<(Decision, Vec<String>)> {
    let subresource = how.manager.subresource;
    let name = meta::name(&old).to_string();
    super::create::check_metadata_shape(rt, &new)?;
    if subresource == Some("status") {
        // Only status may change through /status (and, after an apply, the
        // ownership the merge recorded).
        let status = new.get("status").cloned();
        let applied_owners = if how.applied { new["metadata"].get("managedFields").cloned() } else { None };
        new = old.clone();
        if let Some(owners) = applied_owners {
            meta::metadata_mut(&mut new).insert("managedFields".into(), owners);
        }
        match status {
            Some(s) => new["status"] = s,
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("status");
                }
            }
        }
    } else if subresource != Some("binding") {
        // `/finalize` may change a Namespace's spec.finalizers, which the main resource keeps.
        if subresource != Some("finalize") {
            rt.strategy.prepare_for_update(&mut new, &old);
        }
        if rt.status {
            match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(o) = new.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
        }
    }
    {
        let old_meta = &old["metadata"];
        let m = meta::metadata_mut(&mut new);
        for f in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "namespace",
            "name",
        ] {
            match old_meta.get(f) {
                Some(v) => m.insert(f.into(), v.clone()),
                None => m.remove(f),
            };
        }
        m.remove("selfLink");
    }
    // Once deletion has begun, finalizers may only be removed.
    if meta::is_deleting(&old) {
        let before = meta::finalizers(&old);
        let added: Vec<String> = meta::finalizers(&new).into_iter().filter(|f| !before.contains(f)).collect();
        if !added.is_empty() {
            return Err(ApiError::invalid(
                &rt.group,
                &rt.kind,
                &name,
                vec![crate::api::error::Cause::forbidden(
                    "metadata.finalizers",
                    format!(
                        "no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                    ),
                )],
            ));
        }
    }
    let decoded = rt.codec.decode(&new, how.validation)?;
    let mut new = decoded.object;
    if !how.applied {
        managed::track(rt, Some(&old), &mut new, &how.manager)?;
    }
    // Decoding serialises afresh; keep the stored revision for the comparison below.
    meta::metadata_mut(&mut new).insert("resourceVersion".into(), json!(meta::resource_version(&old)));
    set_generation(rt, &old, &mut new);
    if validate {
        let causes = validation::validate(rt, &new, Some(&old));
        if !causes.is_empty() {
            return Err(ApiError::invalid(&rt.group, &rt.kind, &name, causes));
        }
    }
    if meta::is_deleting(&new) && meta::finalizers(&new).is_empty() && !rt.strategy.deletion_pending(&new) {
        return Ok((Decision::Delete, decoded.warnings));
    }
    if new == old {
        return Ok((Decision::Keep, decoded.warnings));
    }
    Ok((Decision::Put(new), decoded.warnings))
}
