//! Pod Security Admission's decisions, request by request, as Kubernetes' PodSecurity plugin
//! makes them:
//!
//! - **pods** (create, and updates that change what the checks read or an image): the enforce
//!   level denies (`violates PodSecurity "baseline:latest": …`), the audit level is logged, the
//!   warn level answers with a warning (`would violate PodSecurity …`);
//! - **workload resources** with a pod template (Deployment, ReplicaSet, StatefulSet, DaemonSet,
//!   Job, CronJob, ReplicationController, PodTemplate): audit and warn only — their pods are
//!   enforced when created. A namespace that sets only `enforce` warns at that level too;
//! - **namespaces**: Pod Security labels must be valid, and raising the enforce level warns about
//!   the existing pods that would not be admitted under it.
//!
//! Cluster lookups go through the [`Cluster`] trait so all of this runs in native tests.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::Deserialize as _;
use serde_json::Value;
use skiff_plugin_sdk::admission::{Operation, Request, Verdict};
use skiff_plugin_sdk::k8s_openapi::api::core::v1::Namespace;
use skiff_plugin_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use skiff_plugin_sdk::Error;

use crate::checks::{self, Violation};
use crate::config::Config;
use crate::level::{policy_from_labels, LabelError, Level, LevelVersion, Mode, Policy};
use crate::pod::{Pod, PodSpec};

/// What Pod Security needs to read from the cluster.
pub trait Cluster {
    /// A namespace by name; `None` when it does not exist.
    fn namespace(&self, name: &str) -> Result<Option<Namespace>, Error>;
    /// The pods of a namespace.
    fn pods(&self, namespace: &str) -> Result<Vec<Pod>, Error>;
}

/// The answer to a request, and what to write to the log alongside it.
#[derive(Debug)]
pub struct Outcome {
    pub verdict: Verdict,
    /// The audit mode's finding (`would violate PodSecurity …`), for the log.
    pub audit: Option<String>,
    /// Problems that did not change the answer (bad namespace labels, undecodable workloads).
    pub errors: Vec<String>,
}

impl Outcome {
    fn allow() -> Self {
        Outcome { verdict: Verdict::allow(), audit: None, errors: Vec::new() }
    }

    fn error(message: String) -> Self {
        Outcome { errors: vec![message], ..Self::allow() }
    }
}

/// Pod subresources that cannot change what the checks read (any other one, such as
/// `ephemeralcontainers`, is checked like the pod itself).
const IGNORED_POD_SUBRESOURCES: &[&str] =
    &["exec", "attach", "binding", "eviction", "log", "portforward", "proxy", "status"];

/// At most this many existing pods are checked when a namespace's enforce level rises.
const MAX_PODS_TO_CHECK: usize = 3000;

/// Decides a request. Errors are for requests that cannot be read (or a cluster that cannot be
/// asked); the host's failure policy handles them.
pub fn review(config: &Config, cluster: &dyn Cluster, req: &Request) -> Result<Outcome, Error> {
    if !matches!(req.operation, Operation::Create | Operation::Update) {
        return Ok(Outcome::allow());
    }
    let defaults = config.default_policy().map_err(Error::invalid)?;
    let psa = PodSecurity { config, defaults, cluster };
    match (req.gvr.group.as_str(), req.gvr.plural.as_str()) {
        ("", "namespaces") => psa.namespace(req),
        ("", "pods") => psa.pod(req),
        (group, plural) => match template_path(group, plural) {
            Some(path) => Ok(psa.workload(req, path)),
            None => Ok(Outcome::allow()),
        },
    }
}

/// Where a workload resource keeps its pod template.
fn template_path(group: &str, plural: &str) -> Option<&'static [&'static str]> {
    match (group, plural) {
        ("", "podtemplates") => Some(&["template"]),
        ("", "replicationcontrollers")
        | ("apps", "replicasets" | "deployments" | "statefulsets" | "daemonsets")
        | ("batch", "jobs") => Some(&["spec", "template"]),
        ("batch", "cronjobs") => Some(&["spec", "jobTemplate", "spec", "template"]),
        _ => None,
    }
}

struct PodSecurity<'a> {
    config: &'a Config,
    defaults: Policy,
    cluster: &'a dyn Cluster,
}

impl PodSecurity<'_> {
    fn pod(&self, req: &Request) -> Result<Outcome, Error> {
        if req.sub_resource.as_deref().is_some_and(|s| IGNORED_POD_SUBRESOURCES.contains(&s)) {
            return Ok(Outcome::allow());
        }
        let namespace = req.namespace.as_deref().unwrap_or_default();
        if self.config.exemptions.namespace(namespace) || self.config.exemptions.user(&req.user_info.username) {
            return Ok(Outcome::allow());
        }
        let (policy, label_errors) = self.namespace_policy(namespace)?;
        if label_errors.is_empty() && policy.fully_privileged() {
            return Ok(Outcome::allow());
        }
        let raw: Value = decode(req.object.as_deref(), "object")?;
        if req.operation == Operation::Update {
            let old: Value = decode(req.old_object.as_deref(), "oldObject")?;
            if !significant_update(&raw, &old) {
                return Ok(Outcome::allow());
            }
        }
        let pod: Pod =
            serde_json::from_value(raw).map_err(|e| Error::invalid(format!("request.object does not decode: {e}")))?;
        let spec = pod.spec.unwrap_or_default();
        Ok(self.evaluate(&policy, label_errors, &pod.metadata, &spec, true))
    }

    fn workload(&self, req: &Request, template_path: &[&str]) -> Outcome {
        // Workloads are never denied here, so every problem below only allows and logs.
        if req.sub_resource.is_some() {
            return Outcome::allow();
        }
        let namespace = req.namespace.as_deref().unwrap_or_default();
        if self.config.exemptions.namespace(namespace) || self.config.exemptions.user(&req.user_info.username) {
            return Outcome::allow();
        }
        let (policy, label_errors) = match self.namespace_policy(namespace) {
            Ok(found) => found,
            Err(e) => return Outcome::error(format!("failed to look up namespace {namespace:?}: {}", e.message)),
        };
        if label_errors.is_empty() && policy.warn.level == Level::Privileged && policy.audit.level == Level::Privileged
        {
            return Outcome::allow();
        }
        let template = match pod_template(req.object.as_deref(), template_path) {
            Ok(Some(template)) => template,
            Ok(None) => return Outcome::allow(),
            Err(e) => return Outcome::error(format!("failed to read the pod template: {e}")),
        };
        let spec = template.spec.unwrap_or_default();
        self.evaluate(&policy, label_errors, &template.metadata, &spec, false)
    }

    fn namespace(&self, req: &Request) -> Result<Outcome, Error> {
        if req.sub_resource.is_some() {
            return Ok(Outcome::allow());
        }
        let ns: Namespace = decode(req.object.as_deref(), "object")?;
        let name = ns.metadata.name.clone().unwrap_or_else(|| req.name.clone());
        let labels = ns.metadata.labels.clone().unwrap_or_default();
        let (policy, errors) = policy_from_labels(&labels, &self.defaults);
        let exempt = self.config.exemptions.namespace(&name);
        if req.operation == Operation::Create {
            if !errors.is_empty() {
                return Ok(invalid_namespace(&name, &errors));
            }
            let mut outcome = Outcome::allow();
            if exempt {
                outcome.verdict.warnings.extend(self.exempt_warning(&name, &policy, &labels));
            }
            return Ok(outcome);
        }
        let old: Namespace = decode(req.old_object.as_deref(), "oldObject")?;
        let (old_policy, old_errors) = policy_from_labels(&old.metadata.labels.unwrap_or_default(), &self.defaults);
        // Labels that were already wrong, and stayed wrong the same way, do not block the update.
        if !errors.is_empty() && (old_errors.is_empty() || errors != old_errors) {
            return Ok(invalid_namespace(&name, &errors));
        }
        let (new, old) = (policy.enforce, old_policy.enforce);
        let tightened =
            new != old && new.level != Level::Privileged && !(new.version == old.version && new.level <= old.level);
        if !tightened {
            return Ok(Outcome::allow());
        }
        let mut outcome = Outcome::allow();
        if exempt {
            outcome.verdict.warnings.extend(self.exempt_warning(&name, &policy, &labels));
        } else {
            outcome.verdict.warnings = self.existing_pod_warnings(&name, new);
        }
        Ok(outcome)
    }

    /// The policy of a namespace, from its labels; the defaults when it does not exist.
    fn namespace_policy(&self, name: &str) -> Result<(Policy, Vec<LabelError>), Error> {
        let labels = self
            .cluster
            .namespace(name)
            .map_err(|e| e.context(format!("failed to look up namespace {name:?}")))?
            .and_then(|ns| ns.metadata.labels)
            .unwrap_or_default();
        Ok(policy_from_labels(&labels, &self.defaults))
    }

    /// Runs the policy's modes on a pod or template: enforce (for pods only), audit and warn.
    fn evaluate(
        &self,
        policy: &Policy,
        label_errors: Vec<LabelError>,
        meta: &ObjectMeta,
        spec: &PodSpec,
        enforce: bool,
    ) -> Outcome {
        let mut outcome = Outcome::allow();
        if self.config.exemptions.runtime_class(spec.runtime_class_name.as_deref()) {
            return outcome;
        }
        if !label_errors.is_empty() {
            let errors: Vec<String> = label_errors.iter().map(ToString::to_string).collect();
            outcome.errors.push(format!("failed to parse policy: {}", errors.join(", ")));
        }
        // Modes often share a level: evaluate each level once.
        let mut results: BTreeMap<Level, Vec<Violation>> = BTreeMap::new();
        let mut violations = |lv: LevelVersion| -> Vec<Violation> {
            results.entry(lv.level).or_insert_with(|| checks::evaluate(lv.level, meta, spec)).clone()
        };
        if enforce {
            let found = violations(policy.enforce);
            if !found.is_empty() {
                outcome.verdict =
                    Verdict::deny(format!("violates PodSecurity \"{}\": {}", policy.enforce, checks::describe(&found)));
            }
        }
        let found = violations(policy.audit);
        if !found.is_empty() {
            outcome.audit =
                Some(format!("would violate PodSecurity \"{}\": {}", policy.audit, checks::describe(&found)));
        }
        // A request that is denied gets the reason, not warnings on top of it.
        if outcome.verdict.allowed {
            let found = violations(policy.warn);
            if !found.is_empty() {
                outcome.verdict.warnings.push(format!(
                    "would violate PodSecurity \"{}\": {}",
                    policy.warn,
                    checks::describe(&found)
                ));
            }
        }
        outcome
    }

    /// Warnings for a namespace whose enforce level rises: which existing pods it would refuse,
    /// grouped by their violations, one pod per controller first.
    fn existing_pod_warnings(&self, namespace: &str, enforce: LevelVersion) -> Vec<String> {
        let pods = match self.cluster.pods(namespace) {
            Ok(pods) => pods,
            Err(_) => return vec!["failed to list pods while checking new PodSecurity enforce level".to_owned()],
        };
        let pods = self.prioritize(pods);
        let total = pods.len();
        let checked = total.min(MAX_PODS_TO_CHECK);
        // reasons -> (first pod name by sort order, number of pods), in order of first sight.
        let mut groups: Vec<(String, String, usize)> = Vec::new();
        for pod in pods.iter().take(checked) {
            let spec = pod.spec.clone().unwrap_or_default();
            let found = checks::evaluate(enforce.level, &pod.metadata, &spec);
            if found.is_empty() {
                continue;
            }
            let reasons = checks::reasons(&found);
            let name = pod.metadata.name.clone().unwrap_or_default();
            match groups.iter_mut().find(|(r, _, _)| *r == reasons) {
                Some((_, first, count)) => {
                    if name < *first {
                        *first = name;
                    }
                    *count += 1;
                }
                None => groups.push((reasons, name, 1)),
            }
        }
        let mut warnings = Vec::new();
        if checked < total {
            warnings.push(format!(
                "new PodSecurity enforce level only checked against the first {checked} of {total} existing pods"
            ));
        }
        if !groups.is_empty() {
            warnings.push(format!(
                "existing pods in namespace {namespace:?} violate the new PodSecurity enforce level \"{enforce}\""
            ));
        }
        let mut per_pod: Vec<String> = groups
            .into_iter()
            .map(|(reasons, first, count)| match count {
                1 => format!("{first}: {reasons}"),
                2 => format!("{first} (and 1 other pod): {reasons}"),
                n => format!("{first} (and {} other pods): {reasons}", n - 1),
            })
            .collect();
        per_pod.sort();
        warnings.extend(per_pod);
        warnings
    }

    /// Drops pods of exempt runtime classes and puts one pod per controller first, so a cut-off
    /// list still samples every workload.
    fn prioritize(&self, pods: Vec<Pod>) -> Vec<Pod> {
        let mut seen_controllers = BTreeSet::new();
        let (mut first, mut rest) = (Vec::new(), Vec::new());
        for pod in pods {
            let spec = pod.spec.as_ref();
            if self.config.exemptions.runtime_class(spec.and_then(|s| s.runtime_class_name.as_deref())) {
                continue;
            }
            let controller = pod
                .metadata
                .owner_references
                .iter()
                .flatten()
                .find(|r| r.controller == Some(true))
                .map(|r| r.uid.clone());
            let repeat = controller.is_some_and(|uid| !seen_controllers.insert(uid));
            if repeat {
                rest.push(pod);
            } else {
                first.push(pod);
            }
        }
        first.extend(rest);
        first
    }

    /// Kubernetes' warning for labels on an exempt namespace, when they ask for anything.
    fn exempt_warning(&self, name: &str, policy: &Policy, labels: &BTreeMap<String, String>) -> Option<String> {
        if policy.fully_privileged() || policy.equivalent(&self.defaults) {
            return None;
        }
        let modes = [(Mode::Enforce, policy.enforce), (Mode::Audit, policy.audit), (Mode::Warn, policy.warn)];
        let set: Vec<String> = modes
            .into_iter()
            .filter(|(mode, lv)| {
                lv.level != Level::Privileged
                    && (labels.contains_key(&mode.level_label()) || labels.contains_key(&mode.version_label()))
            })
            .map(|(mode, lv)| format!("{}={lv}", mode.as_str()))
            .collect();
        Some(format!(
            "namespace {name:?} is exempt from Pod Security, and the policy ({}) will be ignored",
            set.join(", ")
        ))
    }
}

/// Kubernetes' 422 for bad Pod Security labels: `Namespace "x" is invalid: …`.
fn invalid_namespace(name: &str, errors: &[LabelError]) -> Outcome {
    let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let listed = if errors.len() == 1 { errors.join("") } else { format!("[{}]", errors.join(", ")) };
    let verdict = Verdict::deny(format!("Namespace {name:?} is invalid: {listed}")).with_code(422);
    Outcome { verdict, ..Outcome::allow() }
}

/// An update is checked when it changes the spec — apart from the fields changed for scheduling
/// and resizing — or the seccomp and AppArmor annotations. Images are part of the spec, so an
/// image change is checked, as in Kubernetes; label and other metadata updates are not.
fn significant_update(pod: &Value, old: &Value) -> bool {
    const UNCHECKED_SPEC_FIELDS: &[&str] =
        &["nodeName", "tolerations", "schedulingGates", "activeDeadlineSeconds", "terminationGracePeriodSeconds"];
    fn comparable(pod: &Value) -> Value {
        let mut spec = pod.get("spec").cloned().unwrap_or(Value::Null);
        if let Some(spec) = spec.as_object_mut() {
            for field in UNCHECKED_SPEC_FIELDS {
                spec.remove(*field);
            }
            for list in ["containers", "initContainers"] {
                for c in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
                    if let Some(c) = c.as_object_mut() {
                        c.remove("resources");
                    }
                }
            }
        }
        spec
    }
    fn security_annotations(pod: &Value) -> Vec<(&String, &Value)> {
        let annotations = pod.pointer("/metadata/annotations").and_then(Value::as_object);
        annotations
            .into_iter()
            .flatten()
            .filter(|(k, _)| {
                k.contains("seccomp.security.alpha.kubernetes.io") || k.contains("apparmor.security.beta.kubernetes.io")
            })
            .collect()
    }
    comparable(pod) != comparable(old) || security_annotations(pod) != security_annotations(old)
}

/// The pod template at `path` in a workload object; `None` when the object has none.
fn pod_template(object: Option<&str>, path: &[&str]) -> Result<Option<Pod>, String> {
    let object: Value =
        serde_json::from_str(object.ok_or("the request carries no object")?).map_err(|e| e.to_string())?;
    match path.iter().try_fold(&object, |v, key| v.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(t) => Pod::deserialize(t).map(Some).map_err(|e| e.to_string()),
    }
}

/// A request's object, decoded; a request that cannot be read is `invalid-input`.
fn decode<T: DeserializeOwned>(json: Option<&str>, what: &str) -> Result<T, Error> {
    let json = json.ok_or_else(|| Error::invalid(format!("the request carries no {what}")))?;
    serde_json::from_str(json).map_err(|e| Error::invalid(format!("request.{what} does not decode: {e}")))
}

#[cfg(test)]
mod tests;
