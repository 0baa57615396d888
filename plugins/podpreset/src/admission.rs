//! Which pod creations get presets, and the mutation that applies them.
//!
//! Only pod creation is touched (as in Kubernetes): not updates, not subresources, not mirror
//! pods, not pods annotated `podpreset.admission.kubernetes.io/exclude: "true"`. The presets of
//! the pod's namespace whose selectors match the pod's own labels are applied together, in name
//! order, or — when any of them conflicts with the pod or with another — none is, and the pod
//! is admitted unchanged with a warning that says why. A preset that cannot be used (bad
//! selector, undecodable object) is skipped with a warning rather than blocking pod creation.

use std::collections::BTreeMap;

use skiff_plugin_sdk::admission::{Mutation, Operation, Request};
use skiff_plugin_sdk::{Error, ErrorCode};

use crate::merge;
use crate::pod::Pod;
use crate::preset::PodPreset;

/// Pods annotated with this set to `"true"` get no presets.
pub const EXCLUDE_ANNOTATION: &str = "podpreset.admission.kubernetes.io/exclude";

/// Static pods mirrored from a kubelet are never changed.
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Where the PodPresets come from.
pub trait Presets {
    /// The presets of a namespace, each as the JSON the API serves.
    fn list(&self, namespace: &str) -> Result<Vec<String>, Error>;
}

/// Applies the matching PodPresets to a pod being created.
pub fn mutate(presets: &dyn Presets, req: &Request) -> Result<Mutation, Error> {
    let is_pod = req.gvr.group.is_empty() && req.gvr.plural == "pods";
    if !is_pod || req.sub_resource.is_some() || req.operation != Operation::Create {
        return Ok(Mutation::unchanged());
    }
    let json = req.object.as_deref().ok_or_else(|| Error::invalid("the request carries no pod"))?;
    let pod: Pod =
        serde_json::from_str(json).map_err(|e| Error::invalid(format!("request.object is not a valid Pod: {e}")))?;
    let annotations = pod.metadata.annotations.clone().unwrap_or_default();
    if annotations.contains_key(MIRROR_ANNOTATION) || annotations.get(EXCLUDE_ANNOTATION).is_some_and(|v| v == "true") {
        return Ok(Mutation::unchanged());
    }
    let namespace = req.namespace.clone().or_else(|| pod.metadata.namespace.clone()).unwrap_or_default();
    let listed = match presets.list(&namespace) {
        Ok(listed) => listed,
        // The resource is not served (yet): there are no presets to apply.
        Err(e) if e.code == ErrorCode::NotFound => Vec::new(),
        Err(e) => return Err(e.context("listing pod presets failed")),
    };
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let (matching, mut warnings) = matching(&listed, &labels);
    if matching.is_empty() {
        return Ok(with_warnings(Mutation::unchanged(), warnings));
    }
    let mutation = match merge::plan(&pod, &matching) {
        Ok(additions) => Mutation::patch(merge::patch(&pod, &additions, &matching))?,
        Err(conflicts) => {
            let names: Vec<String> = matching.iter().map(|p| format!("{:?}", p.name())).collect();
            warnings.push(format!("podpresets {} not applied: {}", names.join(", "), conflicts.join("; ")));
            Mutation::unchanged()
        }
    };
    Ok(with_warnings(mutation, warnings))
}

/// The presets that select a pod with these labels, by name, and warnings for unusable ones.
fn matching(listed: &[String], labels: &BTreeMap<String, String>) -> (Vec<PodPreset>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut presets = Vec::new();
    for json in listed {
        let preset = match serde_json::from_str::<PodPreset>(json) {
            Ok(p) => p,
            Err(e) => {
                warnings.push(format!("a podpreset was skipped: it does not decode: {e}"));
                continue;
            }
        };
        match preset.matches(labels) {
            Ok(true) => presets.push(preset),
            Ok(false) => {}
            Err(e) => warnings.push(format!("podpreset {:?} was skipped: invalid selector: {e}", preset.name())),
        }
    }
    presets.sort_by(|a, b| a.name().cmp(b.name()));
    (presets, warnings)
}

fn with_warnings(mutation: Mutation, warnings: Vec<String>) -> Mutation {
    warnings.into_iter().fold(mutation, Mutation::warn)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use skiff_plugin_sdk::admission::Change;

    use super::*;

    struct Fixed(Result<Vec<Value>, ErrorCode>);

    impl Presets for Fixed {
        fn list(&self, namespace: &str) -> Result<Vec<String>, Error> {
            assert_eq!(namespace, "team");
            match &self.0 {
                Ok(items) => Ok(items.iter().map(Value::to_string).collect()),
                Err(code) => Err(Error::new(*code, "no")),
            }
        }
    }

    fn create(pod: Value) -> Request {
        Request {
            name: "web-1".into(),
            namespace: Some("team".into()),
            ..Request::for_test(Operation::Create, "pods", &pod)
        }
    }

    fn web_pod(annotations: Value) -> Value {
        json!({"metadata": {"name": "web-1", "labels": {"role": "frontend"}, "annotations": annotations},
               "spec": {"containers": [{"name": "web", "image": "nginx"}]}})
    }

    fn preset(name: &str, selector: Value, env: Value) -> Value {
        json!({"metadata": {"name": name, "resourceVersion": "9"}, "spec": {"selector": selector, "env": env}})
    }

    fn patch_of(m: &Mutation) -> Value {
        match &m.change {
            Change::JsonPatch(p) => serde_json::from_str(p).expect("patch json"),
            other => panic!("expected a patch, got {other:?}"),
        }
    }

    #[test]
    fn matching_presets_are_applied_and_recorded() {
        let presets = Fixed(Ok(vec![
            preset("b-db", json!({"matchLabels": {"role": "frontend"}}), json!([{"name": "DB", "value": "x"}])),
            preset("a-all", json!({}), json!([{"name": "ALL", "value": "1"}])),
            preset("c-backend", json!({"matchLabels": {"role": "backend"}}), json!([{"name": "NO", "value": "1"}])),
        ]));
        let m = mutate(&presets, &create(web_pod(Value::Null))).expect("mutate");
        assert!(m.allowed && m.warnings.is_empty());
        assert_eq!(
            patch_of(&m),
            json!([
                {"op": "add", "path": "/spec/containers/0/env", "value": [{"name": "ALL", "value": "1"}, {"name": "DB", "value": "x"}]},
                {"op": "add", "path": "/metadata/annotations", "value": {
                    "podpreset.admission.kubernetes.io/podpreset-a-all": "9",
                    "podpreset.admission.kubernetes.io/podpreset-b-db": "9"
                }}
            ])
        );
    }

    #[test]
    fn conflicts_admit_the_pod_unchanged_with_a_warning() {
        let presets = Fixed(Ok(vec![
            preset("one", json!({}), json!([{"name": "MODE", "value": "a"}])),
            preset("two", json!({}), json!([{"name": "MODE", "value": "b"}])),
        ]));
        let m = mutate(&presets, &create(web_pod(Value::Null))).expect("mutate");
        assert!(m.allowed && matches!(m.change, Change::Unchanged));
        assert_eq!(
            m.warnings,
            [
                r#"podpresets "one", "two" not applied: merging env for two has a conflict on MODE: {"name":"MODE","value":"b"} does not match {"name":"MODE","value":"a"} in container "web""#
            ]
        );
    }

    #[test]
    fn excluded_mirror_and_non_create_requests_are_left_alone() {
        let presets = Fixed(Ok(vec![preset("all", json!({}), json!([{"name": "A", "value": "1"}]))]));
        let excluded = create(web_pod(json!({"podpreset.admission.kubernetes.io/exclude": "true"})));
        assert!(matches!(mutate(&presets, &excluded).expect("mutate").change, Change::Unchanged));
        let mirror = create(web_pod(json!({"kubernetes.io/config.mirror": "abc"})));
        assert!(matches!(mutate(&presets, &mirror).expect("mutate").change, Change::Unchanged));
        let mut update = create(web_pod(Value::Null));
        update.operation = Operation::Update;
        assert!(matches!(mutate(&presets, &update).expect("mutate").change, Change::Unchanged));
        let mut status = create(web_pod(Value::Null));
        status.sub_resource = Some("status".into());
        assert!(matches!(mutate(&presets, &status).expect("mutate").change, Change::Unchanged));
        // exclude: "false" does not exclude.
        let not_excluded = create(web_pod(json!({"podpreset.admission.kubernetes.io/exclude": "false"})));
        assert!(matches!(mutate(&presets, &not_excluded).expect("mutate").change, Change::JsonPatch(_)));
    }

    #[test]
    fn unusable_presets_are_skipped_with_a_warning() {
        let presets = Fixed(Ok(vec![
            preset("bad", json!({"matchExpressions": [{"key": "role", "operator": "In", "values": []}]}), json!([])),
            json!({"metadata": {"name": "broken"}, "spec": {"env": "nope"}}),
            preset("good", json!({}), json!([{"name": "A", "value": "1"}])),
        ]));
        let m = mutate(&presets, &create(web_pod(Value::Null))).expect("mutate");
        assert!(matches!(m.change, Change::JsonPatch(_)));
        assert_eq!(m.warnings.len(), 2);
        assert!(m.warnings[1].starts_with("a podpreset was skipped: it does not decode: "), "{}", m.warnings[1]);
        assert_eq!(
            m.warnings[0],
            r#"podpreset "bad" was skipped: invalid selector: In for key "role" needs at least one value"#
        );
    }

    #[test]
    fn a_missing_resource_means_no_presets_but_other_errors_fail() {
        let m = mutate(&Fixed(Err(ErrorCode::NotFound)), &create(web_pod(Value::Null))).expect("mutate");
        assert!(matches!(m.change, Change::Unchanged));
        let err = mutate(&Fixed(Err(ErrorCode::Forbidden)), &create(web_pod(Value::Null))).expect_err("forbidden");
        assert_eq!((err.code, err.message.as_str()), (ErrorCode::Forbidden, "listing pod presets failed: no"));
    }

    #[test]
    fn unreadable_pods_are_invalid_input() {
        let err = mutate(&Fixed(Ok(vec![])), &create(json!({"spec": {"containers": 3}}))).expect_err("bad pod");
        assert_eq!(err.code, ErrorCode::InvalidInput);
    }
}
