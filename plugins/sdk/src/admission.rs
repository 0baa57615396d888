//! The `admission-policy` world: its generated bindings and helpers on the request, verdict and
//! mutation records.
//!
//! This is the one place the world's bindings are generated. They include the interfaces every
//! world imports (`types`, `log`, `clock`, `config`, `cluster`), which the rest of the SDK wraps;
//! a later world gets a module like this one whose `generate!` maps those shared interfaces onto
//! the ones here with `with: { "skiff:plugin/types@0.1.0": crate::admission::skiff::plugin::types, … }`.
//!
//! A plugin implements [`Guest`] and exports it with [`crate::export_admission!`].

use k8s_openapi::Resource;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Error, Patch};

wit_bindgen::generate!({
    path: "../../wit",
    world: "admission-policy",
    // The macro is used from plugin crates, so it must be public and name this module.
    pub_export_macro: true,
    export_macro_name: "export_admission",
    default_bindings_module: "skiff_plugin_sdk::admission",
});

pub use exports::skiff::plugin::admission::{Change, Guest, Mutation, Operation, Request, UserInfo, Verdict};

impl Request {
    /// The object as it would be stored, decoded into `T` (a `k8s_openapi` type or a struct of
    /// your own with the fields you need). `invalid-input` when absent (delete) or not a `T`.
    pub fn object<T: DeserializeOwned>(&self) -> Result<T, Error> {
        match &self.object {
            Some(json) => decode(json, "object"),
            None => Err(Error::invalid(format!("the {} request carries no object", self.operation.as_str()))),
        }
    }

    /// The stored object (update and delete), decoded into `T`; `None` when there is none.
    pub fn old_object<T: DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        self.old_object.as_deref().map(|json| decode(json, "oldObject")).transpose()
    }

    /// True when the request is about objects of type `T` (same group and kind; any version).
    pub fn is<T: Resource>(&self) -> bool {
        self.kind.group == T::GROUP && self.kind.kind == T::KIND
    }

    /// A request as the host would send it, for unit tests of plugin logic: `operation` on
    /// `object` (JSON with `apiVersion`, `kind` and `metadata`) of the resource `plural`; name
    /// and namespace come from the object's metadata, the user is `test`. Set other fields
    /// with struct update syntax: `Request { old_object: …, ..Request::for_test(…) }`.
    pub fn for_test(operation: Operation, plural: &str, object: &serde_json::Value) -> Request {
        let api_version = object["apiVersion"].as_str().unwrap_or("v1");
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let text = |path: &[&str]| path.iter().fold(object, |v, key| &v[*key]).as_str().map(str::to_owned);
        Request {
            uid: "test".into(),
            kind: crate::GroupVersionKind {
                group: group.into(),
                version: version.into(),
                kind: text(&["kind"]).unwrap_or_default(),
            },
            gvr: crate::GroupVersionResource { group: group.into(), version: version.into(), plural: plural.into() },
            sub_resource: None,
            name: text(&["metadata", "name"]).unwrap_or_default(),
            namespace: text(&["metadata", "namespace"]),
            operation,
            user_info: UserInfo { username: "test".into(), uid: String::new(), groups: vec![], extra: vec![] },
            object: Some(object.to_string()),
            old_object: None,
            dry_run: false,
        }
    }

    /// `namespace/name`, or `name` for cluster-scoped objects: for messages and logs.
    pub fn object_ref(&self) -> String {
        match &self.namespace {
            Some(ns) if !ns.is_empty() => format!("{ns}/{}", self.name),
            _ => self.name.clone(),
        }
    }
}

fn decode<T: DeserializeOwned>(json: &str, what: &str) -> Result<T, Error> {
    serde_json::from_str(json).map_err(|e| {
        let ty = std::any::type_name::<T>().rsplit("::").next().unwrap_or("value");
        Error::invalid(format!("request.{what} is not a valid {ty}: {e}"))
    })
}

impl Operation {
    /// The operation as Kubernetes spells it (`CREATE`, `UPDATE`, `DELETE`, `CONNECT`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

impl Verdict {
    /// Allowed, no warnings.
    pub fn allow() -> Self {
        Verdict { allowed: true, message: None, code: None, warnings: Vec::new() }
    }

    /// Denied with `message` (the client sees `admission plugin "NAME" denied the request: MESSAGE`).
    pub fn deny(message: impl Into<String>) -> Self {
        Verdict { allowed: false, message: Some(message.into()), code: None, warnings: Vec::new() }
    }

    /// Adds a warning; the client gets it as a `Warning` header, allowed or not.
    pub fn warn(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }

    /// Sets the HTTP code of a denial (the host's default is 403).
    pub fn with_code(mut self, code: u16) -> Self {
        self.code = Some(code);
        self
    }
}

impl Mutation {
    /// Allowed, the object left as it is.
    pub fn unchanged() -> Self {
        Mutation { change: Change::Unchanged, allowed: true, message: None, warnings: Vec::new() }
    }

    /// Allowed, changed by `patch`; an empty patch is [`Mutation::unchanged`].
    /// Fails (`internal`) only when a value in the patch did not serialize.
    pub fn patch(patch: Patch) -> Result<Self, Error> {
        if patch.is_empty() {
            return Ok(Self::unchanged());
        }
        Ok(Mutation { change: Change::JsonPatch(patch.to_json()?), ..Self::unchanged() })
    }

    /// Allowed, replaced by `object` as a whole. Fails (`internal`) when it does not serialize.
    ///
    /// A typed `k8s_openapi` object drops fields its schema does not know, so prefer a patch
    /// unless the plugin owns the whole object.
    pub fn object<T: Serialize>(object: &T) -> Result<Self, Error> {
        let json = serde_json::to_string(object)
            .map_err(|e| Error::internal(format!("changed object does not serialize: {e}")))?;
        Ok(Mutation { change: Change::Object(json), ..Self::unchanged() })
    }

    /// Denied with `message`: a mutating plugin may stop the request too.
    pub fn deny(message: impl Into<String>) -> Self {
        Mutation { allowed: false, message: Some(message.into()), ..Self::unchanged() }
    }

    /// Adds a warning for the client.
    pub fn warn(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{ConfigMap, Pod};
    use serde_json::json;

    use super::*;
    use crate::ErrorCode;

    fn request(object: Option<&str>, old: Option<&str>) -> Request {
        Request {
            object: object.map(str::to_owned),
            old_object: old.map(str::to_owned),
            ..Request::for_test(
                Operation::Create,
                "pods",
                &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"}}),
            )
        }
    }

    #[test]
    fn test_requests_take_kind_and_names_from_the_object() {
        let deploy =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "ns"}});
        let req = Request::for_test(Operation::Update, "deployments", &deploy);
        assert_eq!(
            (req.kind.group.as_str(), req.kind.version.as_str(), req.kind.kind.as_str()),
            ("apps", "v1", "Deployment")
        );
        assert_eq!((req.gvr.group.as_str(), req.gvr.plural.as_str()), ("apps", "deployments"));
        assert_eq!(req.object_ref(), "ns/d");
        assert_eq!(req.operation.as_str(), "UPDATE");
    }

    #[test]
    fn decodes_typed_objects() {
        let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":{"containers":[{"name":"c","image":"nginx"}]}}"#;
        let req = request(Some(pod), None);
        let decoded: Pod = req.object().unwrap();
        assert_eq!(decoded.metadata.name.as_deref(), Some("web"));
        assert_eq!(decoded.spec.unwrap().containers[0].image.as_deref(), Some("nginx"));
        assert!(req.old_object::<Pod>().unwrap().is_none());
        assert!(req.is::<Pod>());
        assert!(!req.is::<ConfigMap>());
        assert_eq!(req.object_ref(), "default/web");
    }

    #[test]
    fn bad_or_missing_objects_are_invalid_input() {
        let req = request(Some(r#"{"spec":{"containers":"nope"}}"#), Some("[1]"));
        let err = req.object::<Pod>().unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.starts_with("request.object is not a valid Pod: "), "{}", err.message);
        let err = req.old_object::<Pod>().unwrap_err();
        assert!(err.message.starts_with("request.oldObject is not a valid Pod: "), "{}", err.message);

        let mut delete = request(None, None);
        delete.operation = Operation::Delete;
        let err = delete.object::<Pod>().unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (ErrorCode::InvalidInput, "the DELETE request carries no object"));
    }

    #[test]
    fn verdicts() {
        let v = Verdict::allow();
        assert!(v.allowed && v.message.is_none() && v.warnings.is_empty());
        let v = Verdict::deny("no").warn("w1").warn("w2").with_code(422);
        assert!(!v.allowed);
        assert_eq!(v.message.as_deref(), Some("no"));
        assert_eq!(v.code, Some(422));
        assert_eq!(v.warnings, ["w1", "w2"]);
    }

    #[test]
    fn mutations() {
        assert!(matches!(Mutation::unchanged().change, Change::Unchanged));
        assert!(matches!(Mutation::patch(Patch::new()).unwrap().change, Change::Unchanged));

        let m = Mutation::patch(Patch::new().add("/metadata/labels/a", "b")).unwrap().warn("w");
        assert!(m.allowed);
        assert_eq!(m.warnings, ["w"]);
        match m.change {
            Change::JsonPatch(p) => assert_eq!(p, r#"[{"op":"add","path":"/metadata/labels/a","value":"b"}]"#),
            other => panic!("{other:?}"),
        }

        let m = Mutation::object(&json!({"kind": "Pod"})).unwrap();
        assert!(matches!(m.change, Change::Object(ref o) if o == r#"{"kind":"Pod"}"#));

        let m = Mutation::deny("stop");
        assert!(!m.allowed);
        assert_eq!(m.message.as_deref(), Some("stop"));
    }
}
