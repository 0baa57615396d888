//! Reading a request: which resource a path names, the query options, the
//! body (JSON or YAML, at most 3 MiB) and what representation the client accepts.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderMap, Method};
use serde_json::Value;
use skiff_apimachinery::query::percent_decode as decode;

use super::error::{ApiError, ApiResult};
use crate::resources::{FieldValidation, Registry, ResourceType};

/// Kubernetes' limit on a request body.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// What a resource path names.
pub struct Target {
    pub rt: Arc<ResourceType>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Parses `/api/v1/...` and `/apis/GROUP/VERSION/...` resource paths.
/// `Ok(None)` means the path is not a resource path at all.
pub fn parse_path(registry: &Registry, path: &str) -> ApiResult<Option<(Target, bool)>> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => ("", *version, rest),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, *version, rest),
        _ => return Ok(None),
    };
    // The deprecated /watch/ prefix still works with older clients.
    let (legacy_watch, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        _ => (false, rest),
    };
    let known = |plural: &str| registry.lookup(group, version, plural);
    let (namespace, plural, name, subresource) = match rest {
        ["namespaces", ns, plural, tail @ ..] if known(plural).is_some_and(|rt| rt.namespaced) => {
            (Some(ns.to_string()), *plural, tail.first().copied(), tail.get(1).copied())
        }
        [plural, tail @ ..] => (None, *plural, tail.first().copied(), tail.get(1).copied()),
        [] => return Ok(None),
    };
    // Nothing may follow name/subresource.
    let used = match rest {
        ["namespaces", _, plural, ..] if known(plural).is_some_and(|rt| rt.namespaced) => 2,
        _ => 0,
    } + 1
        + usize::from(name.is_some())
        + usize::from(subresource.is_some());
    if rest.len() > used {
        return Err(ApiError::path_not_found());
    }
    let rt = match known(plural) {
        Some(rt) => rt.clone(),
        None => return Err(ApiError::path_not_found()),
    };
    if rt.namespaced && namespace.is_none() && name.is_some() {
        // A namespaced object must be addressed inside its namespace.
        return Err(ApiError::path_not_found());
    }
    Ok(Some((
        Target { rt, namespace, name: name.map(str::to_string), subresource: subresource.map(str::to_string) },
        legacy_watch,
    )))
}

/// Query parameters, decoded.
pub struct Query(pub HashMap<String, String>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let mut map = HashMap::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(decode(k), decode(v));
        }
        Query(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|s| !s.is_empty())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.0.get(key).map(String::as_str), Some("true") | Some("1"))
    }

    pub fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("invalid value for query parameter {key}: {v:?} is not an integer"))
            }),
        }
    }

    pub fn dry_run(&self) -> ApiResult<bool> {
        match self.get("dryRun") {
            None => Ok(false),
            Some("All") => Ok(true),
            Some(other) => {
                Err(ApiError::bad_request(format!("unsupported dryRun value {other:?}: only \"All\" is supported")))
            }
        }
    }

    pub fn field_validation(&self) -> ApiResult<FieldValidation> {
        FieldValidation::parse(self.get("fieldValidation"))
    }
}

/// The body's media type, without parameters.
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("application/json")
        .trim()
        .to_ascii_lowercase()
}

/// Decodes a JSON or YAML object body.
pub fn decode_object(body: &[u8], content_type: &str) -> ApiResult<Value> {
    let value: Value = match content_type {
        "application/json" | "" | "*/*" => serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}")))?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => serde_yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("couldn't get version/kind; yaml parse error: {e}")))?,
        // kubectl's typed commands (`kubectl create namespace`, ...) send protobuf.
        ct if skiff_kubeproto::is_protobuf(ct) => skiff_kubeproto::decode(body).map_err(|e| match e {
            skiff_kubeproto::DecodeError::UnknownKind { .. } => ApiError::unsupported_media_type(format!(
                "{e}; send this kind as application/json"
            )),
            other => ApiError::bad_request(format!("the protobuf body could not be decoded: {other}")),
        })?,
        other => {
            return Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format ({other}) - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
            )))
        }
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(format!(
            "the body of the request must be a JSON object, got {}",
            type_name(&value)
        )));
    }
    Ok(value)
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What representation the client asked for in `Accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Representation {
    Object,
    Table,
    /// `as=PartialObjectMetadata` (or a list of them).
    Metadata,
}

pub fn representation(headers: &HeaderMap) -> ApiResult<Representation> {
    let accept = headers.get(axum::http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("*/*");
    let mut plain = false;
    for part in accept.split(',') {
        let mut pieces = part.split(';').map(str::trim);
        let media = pieces.next().unwrap_or("");
        if !matches!(media, "application/json" | "application/yaml" | "*/*" | "application/*" | "") {
            // Protobuf and the like: we answer in JSON if the client allows it elsewhere.
            continue;
        }
        let params: HashMap<&str, &str> = pieces.filter_map(|p| p.split_once('=')).collect();
        match (params.get("as"), params.get("g")) {
            (None, _) => plain = true,
            (Some(&"Table"), Some(&"meta.k8s.io")) => return Ok(Representation::Table),
            (Some(&"PartialObjectMetadata" | &"PartialObjectMetadataList"), Some(&"meta.k8s.io")) => {
                return Ok(Representation::Metadata)
            }
            // Another `as=` this server does not produce: try the next choice.
            _ => {}
        }
    }
    if plain {
        Ok(Representation::Object)
    } else {
        Err(ApiError::not_acceptable(format!(
            "only the following media types are accepted: application/json, application/yaml, application/json;as=Table;v=v1;g=meta.k8s.io (asked for {accept})"
        )))
    }
}

/// Whether the client wants YAML back.
pub fn wants_yaml(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.trim_start().starts_with("application/yaml"))
}

pub fn is_write(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_resources() {
        let reg = &Registry::builtin();
        let (t, _) = parse_path(reg, "/api/v1/namespaces/default/pods/web/status").unwrap().unwrap();
        assert_eq!(t.rt.plural, "pods");
        assert_eq!(t.namespace.as_deref(), Some("default"));
        assert_eq!(t.name.as_deref(), Some("web"));
        assert_eq!(t.subresource.as_deref(), Some("status"));
        let (t, _) = parse_path(reg, "/api/v1/namespaces/kube-system").unwrap().unwrap();
        assert_eq!(t.rt.plural, "namespaces");
        assert_eq!(t.name.as_deref(), Some("kube-system"));
        let (t, _) = parse_path(reg, "/apis/apps/v1/deployments").unwrap().unwrap();
        assert_eq!(t.rt.kind, "Deployment");
        assert!(t.namespace.is_none());
        assert!(parse_path(reg, "/apis/apps/v1/widgets").is_err());
        assert!(parse_path(reg, "/api/v1/nodes/a/status/x").is_err(), "nothing may follow the subresource");
        assert!(parse_path(reg, "/api/v1/namespaces/default/pods/web/status/x").is_err());
        assert!(parse_path(reg, "/healthz").unwrap().is_none());
    }

    #[test]
    fn query_values_are_percent_decoded() {
        let q = Query::parse(Some("labelSelector=app%3Dweb%2Ctier+in+%28a%29&limit=5&watch=true"));
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a)"));
        assert_eq!(q.int("limit").unwrap(), Some(5));
        assert!(q.flag("watch"));
        assert!(Query::parse(Some("limit=x")).int("limit").is_err());
        assert_eq!(Query::parse(Some("a=%zz%4")).get("a"), Some("%zz%4"));
    }

    #[test]
    fn accept_header_picks_table_or_json() {
        let mut h = HeaderMap::new();
        h.insert("accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json".parse().unwrap());
        assert_eq!(representation(&h).unwrap(), Representation::Table);
        h.insert("accept", "application/json, */*".parse().unwrap());
        assert_eq!(representation(&h).unwrap(), Representation::Object);
        h.insert("accept", "application/vnd.kubernetes.protobuf".parse().unwrap());
        assert!(representation(&h).is_err());
    }
}
