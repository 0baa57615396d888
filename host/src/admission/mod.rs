//! Admission: the plugins that see a write before it is stored. Matching
//! mutating plugins run first, in order, each on the previous one's result;
//! the API then checks the object against its schema; then validating
//! plugins run. A denial, or a failure under `failurePolicy: Fail`, refuses
//! the request; warnings travel back as `Warning` headers.
//!
//! The active plugins are one immutable [`Chain`]; installing a version
//! swaps the chain, so requests in flight finish on the versions they began with.

mod hook;

use std::sync::{Arc, RwLock};
use std::time::Instant;

use serde_json::Value;
use skiff_wasm::admission::{AdmissionPlugin, Change, Mutation, Operation, Request, UserInfo, Verdict};
use skiff_wasm::{Cluster, GroupVersionKind, GroupVersionResource, PluginError};

use crate::auth::User;
use crate::errors::{ApiError, ApiResult};
use crate::meta;
use crate::metrics::Metrics;
use crate::resources::{FieldValidation, ResourceType};
use crate::store::{Key, Store};

pub use hook::Hook;

/// One request's facts, as admission sees them.
pub struct Attributes<'a> {
    pub rt: &'a ResourceType,
    pub operation: Operation,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    pub subresource: Option<&'a str>,
    pub user: &'a User,
    pub dry_run: bool,
}

/// An active plugin version and when it is called.
pub struct Installed {
    pub name: String,
    pub hook: Hook,
    pub plugin: Arc<AdmissionPlugin>,
}

#[derive(Default)]
struct Chain {
    mutating: Vec<Arc<Installed>>,
    validating: Vec<Arc<Installed>>,
}

impl Chain {
    fn all(&self) -> impl Iterator<Item = &Arc<Installed>> {
        self.mutating.iter().chain(self.validating.iter())
    }
}

pub struct Admission {
    chain: RwLock<Arc<Chain>>,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    cluster: Arc<dyn Cluster>,
    /// Every request admission was asked about (`resource[/sub] user`): the
    /// pipeline tests check that each write passes this point.
    #[cfg(test)]
    pub seen: std::sync::Mutex<Vec<String>>,
}

/// Fields that identify an object or belong to the server; a plugin changing them is a plugin failure.
const PROTECTED: &[(&str, &str)] = &[
    ("", "apiVersion"),
    ("", "kind"),
    ("metadata", "name"),
    ("metadata", "namespace"),
    ("metadata", "uid"),
    ("metadata", "resourceVersion"),
    ("metadata", "generation"),
    ("metadata", "creationTimestamp"),
    ("metadata", "deletionTimestamp"),
];

impl Admission {
    pub fn new(store: Arc<Store>, metrics: Arc<Metrics>, cluster: Arc<dyn Cluster>) -> Admission {
        Admission {
            chain: RwLock::new(Arc::new(Chain::default())),
            store,
            metrics,
            cluster,
            #[cfg(test)]
            seen: Default::default(),
        }
    }

    pub fn cluster(&self) -> Arc<dyn Cluster> {
        self.cluster.clone()
    }

    fn current(&self) -> Arc<Chain> {
        self.chain.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Makes `installed` the active version of its plugin, or removes `name`.
    pub fn install(&self, name: &str, installed: Option<Installed>) {
        let removing = installed.is_none();
        let mut guard = self.chain.write().unwrap_or_else(|p| p.into_inner());
        let mut mutating: Vec<Arc<Installed>> = guard.mutating.iter().filter(|p| p.name != name).cloned().collect();
        let mut validating: Vec<Arc<Installed>> = guard.validating.iter().filter(|p| p.name != name).cloned().collect();
        if let Some(p) = installed {
            if p.hook.mutating {
                mutating.push(Arc::new(p));
            } else {
                validating.push(Arc::new(p));
            }
        }
        for list in [&mut mutating, &mut validating] {
            list.sort_by(|a, b| (a.hook.order, &a.name).cmp(&(b.hook.order, &b.name)));
        }
        *guard = Arc::new(Chain { mutating, validating });
        if removing {
            self.metrics.forget_plugin(name);
        }
    }

    /// The active version of `name`, if any.
    pub fn active(&self, name: &str) -> Option<Arc<Installed>> {
        self.current().all().find(|p| p.name == name).cloned()
    }

    /// Whether any plugin could be interested (selectors aside): writes without
    /// one take the direct path.
    pub fn wants(&self, attrs: &Attributes<'_>) -> bool {
        #[cfg(test)]
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).push(format!(
            "{}{} {:?} {}",
            attrs.rt.plural,
            attrs.subresource.map(|s| format!("/{s}")).unwrap_or_default(),
            attrs.operation,
            attrs.user.name
        ));
        self.current().all().any(|p| p.hook.matches_request(attrs))
    }

    /// Runs the matching mutating plugins on `object`; returns the changed
    /// object, type-checked, and the plugins' warnings.
    pub async fn mutate(
        &self,
        attrs: &Attributes<'_>,
        mut object: Value,
        old: Option<&Value>,
    ) -> ApiResult<(Value, Vec<String>)> {
        let chain = self.current();
        let mut warnings = Vec::new();
        for installed in &chain.mutating {
            if !self.matches(installed, attrs, Some(&object), old).await? {
                continue;
            }
            let request = self.request(attrs, Some(&object), old);
            let started = Instant::now();
            let answer = installed.plugin.mutate(&request, self.cluster.clone()).await;
            let outcome = answer.and_then(|m| apply_mutation(attrs, &object, m));
            match outcome {
                Ok((allowed, changed, message, w)) => {
                    self.observe(installed, "ok", started);
                    warnings.extend(w);
                    if !allowed {
                        return Err(denial(&installed.name, message, None));
                    }
                    object = changed;
                }
                Err(e) => {
                    self.observe(installed, e.reason(), started);
                    self.on_failure(installed, attrs, e)?;
                }
            }
        }
        Ok((object, warnings))
    }

    /// Runs the matching validating plugins; returns their warnings, or the first denial.
    pub async fn validate(
        &self,
        attrs: &Attributes<'_>,
        object: Option<&Value>,
        old: Option<&Value>,
    ) -> ApiResult<Vec<String>> {
        let chain = self.current();
        let mut warnings = Vec::new();
        for installed in &chain.validating {
            if !self.matches(installed, attrs, object, old).await? {
                continue;
            }
            let request = self.request(attrs, object, old);
            let started = Instant::now();
            match installed.plugin.validate(&request, self.cluster.clone()).await {
                Ok(Verdict { allowed, message, code, warnings: w }) => {
                    self.observe(installed, "ok", started);
                    warnings.extend(w);
                    if !allowed {
                        return Err(denial(&installed.name, message, code));
                    }
                }
                Err(e) => {
                    self.observe(installed, e.reason(), started);
                    self.on_failure(installed, attrs, e)?;
                }
            }
        }
        Ok(warnings)
    }

    fn observe(&self, installed: &Installed, result: &'static str, started: Instant) {
        self.metrics.observe_plugin_call(&installed.name, "admission", result, started.elapsed());
    }

    /// `failurePolicy`: Fail refuses the request, Ignore lets it pass (and logs).
    fn on_failure(&self, installed: &Installed, attrs: &Attributes<'_>, e: PluginError) -> ApiResult<()> {
        tracing::warn!(
            plugin = %installed.name,
            resource = attrs.rt.plural,
            name = attrs.name,
            error = %e,
            fail_closed = installed.hook.fail_closed,
            "admission plugin failed"
        );
        if installed.hook.fail_closed {
            Err(ApiError::internal(format!("failed calling admission plugin \"{}\": {e}", installed.name)))
        } else {
            Ok(())
        }
    }

    async fn matches(
        &self,
        installed: &Installed,
        attrs: &Attributes<'_>,
        object: Option<&Value>,
        old: Option<&Value>,
    ) -> ApiResult<bool> {
        let hook = &installed.hook;
        if !hook.matches_request(attrs) || !hook.matches_object(object, old) {
            return Ok(false);
        }
        let Some(selector) = &hook.namespace_selector else { return Ok(true) };
        // A Namespace is matched by its own labels; other cluster-scoped objects always match.
        if attrs.rt.is("", "namespaces") {
            return Ok(object.or(old).is_some_and(|o| selector.matches_object(o)));
        }
        let Some(ns) = attrs.namespace.filter(|n| !n.is_empty()) else { return Ok(true) };
        let namespace = self
            .store
            .get(&Key::new("/namespaces", "", ns))
            .await
            .map_err(|e| ApiError::internal(format!("reading namespace {ns} for admission: {e}")))?;
        Ok(namespace.is_some_and(|n| selector.matches_object(&n)))
    }

    fn request(&self, attrs: &Attributes<'_>, object: Option<&Value>, old: Option<&Value>) -> Request {
        let rt = attrs.rt;
        // A subresource with an object of its own (a Scale, a Binding) names that kind, as Kubernetes does.
        let kind = match attrs.subresource {
            Some("scale") => {
                GroupVersionKind { group: "autoscaling".into(), version: "v1".into(), kind: "Scale".into() }
            }
            Some(sub) => match rt.strategy.subresources().iter().find(|s| s.name == sub) {
                Some(s) => GroupVersionKind { group: String::new(), version: "v1".into(), kind: s.kind.into() },
                None => {
                    GroupVersionKind { group: rt.group.clone(), version: rt.version.clone(), kind: rt.kind.clone() }
                }
            },
            None => GroupVersionKind { group: rt.group.clone(), version: rt.version.clone(), kind: rt.kind.clone() },
        };
        Request {
            uid: uuid::Uuid::new_v4().to_string(),
            kind,
            gvr: GroupVersionResource {
                group: rt.group.clone(),
                version: rt.version.clone(),
                plural: rt.plural.clone(),
            },
            sub_resource: attrs.subresource.map(str::to_string),
            name: attrs.name.to_string(),
            namespace: attrs.namespace.filter(|n| !n.is_empty()).map(str::to_string),
            operation: attrs.operation,
            user_info: UserInfo {
                username: attrs.user.name.clone(),
                uid: attrs.user.uid.clone(),
                groups: attrs.user.groups.clone(),
                extra: Vec::new(),
            },
            object: object.map(Value::to_string),
            old_object: old.map(Value::to_string),
            dry_run: attrs.dry_run,
        }
    }
}

/// `admission plugin "NAME" denied the request: MESSAGE`, as Kubernetes words a webhook's denial.
fn denial(plugin: &str, message: Option<String>, code: Option<u16>) -> ApiError {
    let message = match message.filter(|m| !m.trim().is_empty()) {
        Some(m) => format!("admission plugin \"{plugin}\" denied the request: {m}"),
        None => format!("admission plugin \"{plugin}\" denied the request without explanation"),
    };
    ApiError::refused(code.unwrap_or(403), message)
}

/// Applies a plugin's change to `object`, refusing changes to protected
/// fields and results that do not type-check.
fn apply_mutation(
    attrs: &Attributes<'_>,
    object: &Value,
    mutation: Mutation,
) -> Result<(bool, Value, Option<String>, Vec<String>), PluginError> {
    let bad = |what: String| PluginError::Returned { code: skiff_wasm::ErrorCode::InvalidInput, message: what };
    let changed = match mutation.change {
        Change::Unchanged => None,
        Change::JsonPatch(text) => {
            let patch: Value =
                serde_json::from_str(&text).map_err(|e| bad(format!("the JSON patch is not JSON: {e}")))?;
            let patched = skiff_apimachinery::patch::json_patch::apply(object, &patch)
                .map_err(|e| bad(format!("the JSON patch does not apply: {e}")))?;
            Some(patched)
        }
        Change::Object(text) => {
            Some(serde_json::from_str(&text).map_err(|e| bad(format!("the returned object is not JSON: {e}")))?)
        }
    };
    let Some(changed) = changed else {
        return Ok((mutation.allowed, object.clone(), mutation.message, mutation.warnings));
    };
    for (parent, field) in PROTECTED {
        let (before, after) = if parent.is_empty() {
            (object.get(field), changed.get(field))
        } else {
            (object.get(parent).and_then(|p| p.get(field)), changed.get(parent).and_then(|p| p.get(field)))
        };
        if before != after {
            let path = if parent.is_empty() { field.to_string() } else { format!("{parent}.{field}") };
            return Err(bad(format!("a plugin may not change {path}")));
        }
    }
    let rt = attrs.rt;
    // A subresource's object (a Binding, a Scale) is not of the kind: only the kind's own is type-checked.
    let mut result = if matches!(attrs.subresource, None | Some("status")) {
        rt.codec
            .decode(&changed, FieldValidation::Ignore)
            .map_err(|e| bad(format!("the changed object is not a valid {}: {}", rt.kind, e.message)))?
            .object
    } else {
        changed
    };
    // Decoding drops what the type does not know; keep the server's bookkeeping as it was.
    if let Some(rv) = object.get("metadata").and_then(|m| m.get("resourceVersion")) {
        meta::metadata_mut(&mut result).insert("resourceVersion".into(), rv.clone());
    }
    Ok((mutation.allowed, result, mutation.message, mutation.warnings))
}
