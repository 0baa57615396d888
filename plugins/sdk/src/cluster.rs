//! Typed, read-only lookups of cluster objects through the `cluster` import.
//!
//! The host makes each call as the plugin's own identity (`system:plugin:<name>`), so RBAC may
//! answer `forbidden`; each call is a trip through the API layer, so look up once per request,
//! not once per item. Scopes are checked at compile time: [`get`] takes cluster-scoped types
//! (`Namespace`, `Node`), [`get_in`] namespaced ones (`ConfigMap`, `Pod`).
//!
//! ```ignore
//! use skiff_plugin_sdk::cluster;
//! use skiff_plugin_sdk::k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
//!
//! let ns: Option<Namespace> = cluster::get("kube-system")?;
//! let cm: Option<ConfigMap> = cluster::get_in("default", "envoy-initializer")?;
//! let web: Vec<Pod> = cluster::list(Some("default"), Some("app=web"))?;
//! ```

use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope, Resource};
use serde::de::DeserializeOwned;

use crate::admission::skiff::plugin::cluster as imports;
use crate::{Error, GroupVersionResource, ObjectKey};

/// The untyped import functions, for resources without a `k8s_openapi` type.
pub use imports::{get as get_json, list_objects as list_json};

/// The group, version and plural of `T`, as the host names resources.
pub fn gvr<T: Resource>() -> GroupVersionResource {
    GroupVersionResource { group: T::GROUP.into(), version: T::VERSION.into(), plural: T::URL_PATH_SEGMENT.into() }
}

/// A cluster-scoped object by name; `None` when it does not exist.
pub fn get<T>(name: &str) -> Result<Option<T>, Error>
where
    T: Resource<Scope = ClusterResourceScope> + DeserializeOwned,
{
    fetch(None, name)
}

/// A namespaced object; `None` when it does not exist.
pub fn get_in<T>(namespace: &str, name: &str) -> Result<Option<T>, Error>
where
    T: Resource<Scope = NamespaceResourceScope> + DeserializeOwned,
{
    fetch(Some(namespace), name)
}

fn fetch<T: Resource + DeserializeOwned>(namespace: Option<&str>, name: &str) -> Result<Option<T>, Error> {
    let key = ObjectKey { gvr: gvr::<T>(), namespace: namespace.map(str::to_owned), name: name.to_owned() };
    imports::get(&key)?.map(|json| decode::<T>(&json, namespace, name)).transpose()
}

/// Objects of type `T`, in one namespace or all (`None`), optionally matching a label selector
/// in Kubernetes' syntax (`app=web,tier in (a,b)`).
pub fn list<T: Resource + DeserializeOwned>(
    namespace: Option<&str>,
    label_selector: Option<&str>,
) -> Result<Vec<T>, Error> {
    imports::list_objects(&gvr::<T>(), namespace, label_selector)?
        .iter()
        .map(|json| decode::<T>(json, namespace, "(listed)"))
        .collect()
}

/// Decodes one looked-up object. The object comes from outside the plugin, so a mismatch is
/// `invalid-input`, naming the object.
pub fn decode<T: Resource + DeserializeOwned>(json: &str, namespace: Option<&str>, name: &str) -> Result<T, Error> {
    serde_json::from_str(json).map_err(|e| {
        let at = namespace.map(|ns| format!("{ns}/{name}")).unwrap_or_else(|| name.to_owned());
        Error::invalid(format!("{} {at} from the cluster does not decode: {e}", T::KIND))
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace};

    use super::*;
    use crate::ErrorCode;

    #[test]
    fn gvr_follows_the_type() {
        let g = gvr::<Deployment>();
        assert_eq!((g.group.as_str(), g.version.as_str(), g.plural.as_str()), ("apps", "v1", "deployments"));
        let g = gvr::<Namespace>();
        assert_eq!((g.group.as_str(), g.version.as_str(), g.plural.as_str()), ("", "v1", "namespaces"));
    }

    #[test]
    fn decode_names_the_object_on_failure() {
        let cm: ConfigMap = decode(r#"{"metadata":{"name":"x"},"data":{"k":"v"}}"#, Some("default"), "x").unwrap();
        assert_eq!(cm.data.unwrap()["k"], "v");

        let err = decode::<ConfigMap>(r#"{"data":[1]}"#, Some("default"), "x").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.starts_with("ConfigMap default/x from the cluster does not decode: "), "{}", err.message);
    }
}
