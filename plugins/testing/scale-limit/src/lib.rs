//! `scale-limit`: a test admission plugin for the subresources Kubernetes admits like any
//! other write, so the end-to-end tests can check that the host calls plugins on them.
//!
//! Config: `{"maxReplicas": N, "denyBindingsTo": "NODE"}` (`denyBindingsTo` optional).
//!
//! - As a **validating** plugin on `deployments` and `deployments/scale` (CREATE, UPDATE) it
//!   denies an object whose `spec.replicas` is above N. On the scale subresource the object
//!   is an `autoscaling/v1` `Scale`, on the deployment itself a `Deployment`; both keep the
//!   count at `spec.replicas`.
//! - As a **mutating** plugin on `pods/binding` (CREATE) it adds the annotation
//!   `skiff.dev/bound-by-test: "yes"` to the `Binding`; the API server copies a binding's
//!   annotations onto the pod it binds, as Kubernetes does.
//! - As a **validating** plugin on `pods/binding` (CREATE) it denies bindings to the node
//!   named by `denyBindingsTo`, if given.
//!
//! Any other request is let through unchanged, so one module serves both registrations.

use serde::Deserialize;
use serde_json::Value;
use skiff_plugin_sdk::admission::{Guest, Mutation, Operation, Request, Verdict};
use skiff_plugin_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use skiff_plugin_sdk::{Error, Patch, Pointer};

/// The annotation the mutating side puts on bindings.
pub const BOUND_BY_TEST: &str = "skiff.dev/bound-by-test";

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Config {
    max_replicas: i64,
    #[serde(default)]
    deny_bindings_to: Option<String>,
}

impl Config {
    fn parse(json: &str) -> Result<Config, Error> {
        let config: Config = skiff_plugin_sdk::parse_config(json)?;
        if config.max_replicas < 0 {
            return Err(Error::invalid(format!("maxReplicas: must be 0 or more, not {}", config.max_replicas)));
        }
        Ok(config)
    }
}

struct ScaleLimit;

impl Guest for ScaleLimit {
    fn init(config: String) -> Result<(), Error> {
        Config::parse(&config).map(|_| ())
    }

    fn validate(request: Request) -> Result<Verdict, Error> {
        validate(&Config::parse(&skiff_plugin_sdk::config_json())?, &request)
    }

    fn mutate(request: Request) -> Result<Mutation, Error> {
        mutate(&request)
    }
}

skiff_plugin_sdk::export_admission!(ScaleLimit);

fn is_write(request: &Request) -> bool {
    matches!(request.operation, Operation::Create | Operation::Update)
}

fn is_binding(request: &Request) -> bool {
    request.gvr.group.is_empty()
        && request.gvr.plural == "pods"
        && request.sub_resource.as_deref() == Some("binding")
        && request.operation == Operation::Create
}

fn validate(config: &Config, request: &Request) -> Result<Verdict, Error> {
    if is_binding(request) {
        return validate_binding(config, request);
    }
    let deployment = request.gvr.group == "apps" && request.gvr.plural == "deployments";
    let scale_or_main = matches!(request.sub_resource.as_deref(), None | Some("") | Some("scale"));
    if !(deployment && scale_or_main && is_write(request)) {
        return Ok(Verdict::allow());
    }
    let object: Value = request.object()?;
    let Some(replicas) = object.pointer("/spec/replicas").and_then(Value::as_i64) else {
        // No count given: the server defaults it to 1, which no sensible limit refuses.
        return Ok(Verdict::allow());
    };
    if replicas > config.max_replicas {
        let what = match request.sub_resource.as_deref() {
            Some("scale") => "deployments/scale",
            _ => "deployments",
        };
        return Ok(Verdict::deny(format!(
            "{what} {}: spec.replicas {replicas} is above the limit of {}",
            request.object_ref(),
            config.max_replicas
        )));
    }
    Ok(Verdict::allow())
}

fn validate_binding(config: &Config, request: &Request) -> Result<Verdict, Error> {
    let Some(denied) = config.deny_bindings_to.as_deref() else { return Ok(Verdict::allow()) };
    let object: Value = request.object()?;
    let node = object.pointer("/target/name").and_then(Value::as_str).unwrap_or_default();
    if node == denied {
        return Ok(Verdict::deny(format!(
            "pods/binding {}: binding to node {node} is not allowed",
            request.object_ref()
        )));
    }
    Ok(Verdict::allow())
}

fn mutate(request: &Request) -> Result<Mutation, Error> {
    if !is_binding(request) {
        return Ok(Mutation::unchanged());
    }
    let object: Value = request.object()?;
    let patch = match object.get("metadata") {
        Some(metadata) => {
            let meta: ObjectMeta = serde_json::from_value(metadata.clone()).unwrap_or_default();
            Patch::new().set_annotation(&meta, BOUND_BY_TEST, "yes")
        }
        None => {
            Patch::new().add(Pointer::new(["metadata"]), serde_json::json!({"annotations": {BOUND_BY_TEST: "yes"}}))
        }
    };
    Mutation::patch(patch)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use skiff_plugin_sdk::admission::Change;

    use super::*;

    fn config(max: i64) -> Config {
        Config::parse(&format!(r#"{{"maxReplicas": {max}}}"#)).unwrap()
    }

    fn scale(replicas: i64) -> Request {
        let object = json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {"name": "web", "namespace": "ns"}, "spec": {"replicas": replicas}});
        Request {
            gvr: skiff_plugin_sdk::GroupVersionResource {
                group: "apps".into(),
                version: "v1".into(),
                plural: "deployments".into(),
            },
            sub_resource: Some("scale".into()),
            ..Request::for_test(Operation::Update, "deployments", &object)
        }
    }

    fn deployment(op: Operation, replicas: i64) -> Request {
        let object = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns"}, "spec": {"replicas": replicas}});
        Request::for_test(op, "deployments", &object)
    }

    fn binding(object: Value) -> Request {
        Request { sub_resource: Some("binding".into()), ..Request::for_test(Operation::Create, "pods", &object) }
    }

    fn patched(request: &Request) -> Value {
        let m = mutate(request).unwrap();
        assert!(m.allowed);
        let Change::JsonPatch(p) = m.change else { panic!("not a patch: {:?}", m.change) };
        let ops: json_patch::Patch = serde_json::from_str(&p).unwrap();
        let mut doc: Value = serde_json::from_str(request.object.as_deref().unwrap()).unwrap();
        json_patch::patch(&mut doc, &ops).unwrap();
        doc
    }

    #[test]
    fn config_needs_max_replicas() {
        assert_eq!(config(3), Config { max_replicas: 3, deny_bindings_to: None });
        let c = Config::parse(r#"{"maxReplicas": 1, "denyBindingsTo": "n1"}"#).unwrap();
        assert_eq!(c.deny_bindings_to.as_deref(), Some("n1"));
        assert!(Config::parse("{}").is_err());
        assert!(Config::parse(r#"{"maxReplicas": -1}"#).is_err());
        assert!(Config::parse(r#"{"maxReplicas": 1, "other": 2}"#).is_err());
    }

    #[test]
    fn scale_above_the_limit_is_denied() {
        assert!(validate(&config(3), &scale(3)).unwrap().allowed);
        let v = validate(&config(3), &scale(4)).unwrap();
        assert!(!v.allowed);
        assert_eq!(v.message.as_deref(), Some("deployments/scale ns/web: spec.replicas 4 is above the limit of 3"));
    }

    #[test]
    fn deployments_themselves_are_limited_too() {
        assert!(validate(&config(2), &deployment(Operation::Create, 2)).unwrap().allowed);
        let v = validate(&config(2), &deployment(Operation::Update, 5)).unwrap();
        assert_eq!(v.message.as_deref(), Some("deployments ns/web: spec.replicas 5 is above the limit of 2"));
        assert!(validate(&config(2), &deployment(Operation::Delete, 5)).unwrap().allowed);
    }

    #[test]
    fn other_resources_pass() {
        let mut status = scale(10);
        status.sub_resource = Some("status".into());
        assert!(validate(&config(1), &status).unwrap().allowed);
        let rs =
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r"}, "spec": {"replicas": 9}});
        assert!(validate(&config(1), &Request::for_test(Operation::Create, "replicasets", &rs)).unwrap().allowed);
    }

    #[test]
    fn bindings_get_the_annotation() {
        let bare = binding(json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
            "target": {"kind": "Node", "name": "n1"}}));
        assert_eq!(patched(&bare)["metadata"]["annotations"], json!({BOUND_BY_TEST: "yes"}));
        let annotated = binding(json!({"apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": "p", "annotations": {"a": "b"}}, "target": {"kind": "Node", "name": "n1"}}));
        assert_eq!(patched(&annotated)["metadata"]["annotations"], json!({"a": "b", BOUND_BY_TEST: "yes"}));
    }

    #[test]
    fn bindings_to_the_named_node_are_denied() {
        let to = |node: &str| {
            binding(json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p", "namespace": "ns"},
                "target": {"kind": "Node", "name": node}}))
        };
        let c = Config::parse(r#"{"maxReplicas": 1, "denyBindingsTo": "n1"}"#).unwrap();
        let v = validate(&c, &to("n1")).unwrap();
        assert_eq!(v.message.as_deref(), Some("pods/binding ns/p: binding to node n1 is not allowed"));
        assert!(validate(&c, &to("n2")).unwrap().allowed);
        assert!(validate(&config(1), &to("n1")).unwrap().allowed);
    }

    #[test]
    fn other_mutations_leave_the_object_alone() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}});
        assert!(matches!(
            mutate(&Request::for_test(Operation::Create, "pods", &pod)).unwrap().change,
            Change::Unchanged
        ));
        assert!(matches!(mutate(&scale(9)).unwrap().change, Change::Unchanged));
    }
}
