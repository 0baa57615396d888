//! OpenAPI documents generated from the `k8s-openapi` types: v3 per group
//! version (what `kubectl explain`, client-side apply's patch computation and
//! kubectl's server-side field validation check read) and v2 as JSON.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::resources::{Registry, ResourceType};

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

pub struct Documents {
    /// `api/v1`, `apis/apps/v1`, ... → (document, hash).
    pub v3: BTreeMap<String, (Value, String)>,
    pub v2: Value,
}

/// The documents of `registry`, built once per registry (CRDs replace the
/// registry, and with it the documents).
pub fn documents(registry: &Arc<Registry>) -> Arc<Documents> {
    static CACHE: Mutex<Option<(Weak<Registry>, Arc<Documents>)>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((built_for, docs)) = cache.as_ref() {
        if built_for.upgrade().is_some_and(|r| Arc::ptr_eq(&r, registry)) {
            return docs.clone();
        }
    }
    let docs = Arc::new(build(registry));
    *cache = Some((Arc::downgrade(registry), docs.clone()));
    docs
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn build(registry: &Registry) -> Documents {
    let mut v3 = BTreeMap::new();
    for (group, versions) in registry.groups() {
        for version in versions {
            let types: Vec<&ResourceType> = registry.in_group_version(&group, &version).map(|t| &**t).collect();
            let schemas = schemas_for(&types, "#/components/schemas/", true);
            let mut paths = Map::new();
            for rt in &types {
                add_paths(&mut paths, rt, "#/components/schemas/", true);
            }
            let doc = json!({
                "openapi": "3.0.0",
                "info": {"title": "Kubernetes", "version": "v1.37.0"},
                "paths": paths,
                "components": {"schemas": schemas},
            });
            let hash = hex(&Sha256::digest(doc.to_string().as_bytes()));
            v3.insert(gv_path(&group, &version), (doc, hash));
        }
    }
    let all: Vec<&ResourceType> = registry.all().iter().map(|t| &**t).collect();
    let mut paths = Map::new();
    for rt in &all {
        add_paths(&mut paths, rt, "#/definitions/", false);
    }
    let v2 = json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.37.0"},
        "paths": paths,
        "definitions": schemas_for(&all, "#/definitions/", false),
    });
    Documents { v3, v2 }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The schemas of `types` and everything they reference, annotated with
/// group-version-kind and the strategic-merge-patch keys.
fn schemas_for(types: &[&ResourceType], prefix: &str, v3: bool) -> Value {
    let mut settings =
        if v3 { schemars::generate::SchemaSettings::openapi3() } else { schemars::generate::SchemaSettings::draft07() };
    settings.definitions_path = prefix.to_string().into();
    let mut generator = settings.into_generator();
    let mut custom = Vec::new();
    for rt in types {
        if let Some(mut schema) = rt.codec.add_schema(&mut generator) {
            // A custom resource's metadata is ObjectMeta, as Kubernetes publishes it.
            generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>();
            if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
                props.insert(
                    "metadata".into(),
                    json!({"allOf": [{"$ref": format!("{prefix}{OBJECT_META}")}],
                        "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}),
                );
            }
            custom.push((rt.codec.schema_name(), schema));
        }
    }
    let mut defs: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    defs.extend(custom);
    for rt in types {
        if let Some(Value::Object(schema)) = defs.get_mut(&rt.codec.schema_name()) {
            schema.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{"group": rt.group, "version": rt.version, "kind": rt.kind}]),
            );
        }
    }
    for ext in skiff_apimachinery::patch::openapi_extensions() {
        if let Some(prop) = defs
            .get_mut(ext.definition)
            .and_then(|d| d.get_mut("properties"))
            .and_then(|p| p.get_mut(ext.field))
            .and_then(Value::as_object_mut)
        {
            prop.insert("x-kubernetes-patch-strategy".into(), json!(ext.strategy));
            if let Some(key) = ext.merge_key {
                prop.insert("x-kubernetes-patch-merge-key".into(), json!(key));
            }
        }
    }
    Value::Object(defs)
}

fn parameter(name: &str, location: &str, description: &str, v3: bool) -> Value {
    let mut p = json!({"name": name, "in": location, "description": description});
    if location == "path" {
        p["required"] = json!(true);
    }
    if v3 {
        p["schema"] = json!({"type": "string", "uniqueItems": true});
    } else {
        p["type"] = json!("string");
        p["uniqueItems"] = json!(true);
    }
    p
}

fn add_paths(paths: &mut Map<String, Value>, rt: &ResourceType, prefix: &str, v3: bool) {
    let base = format!("/{}", gv_path(&rt.group, &rt.version));
    let collection = if rt.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", &rt.plural)
    } else {
        format!("{base}/{}", &rt.plural)
    };
    let item = format!("{collection}/{{name}}");
    let gvk = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
    let schema_ref = json!({"$ref": format!("{prefix}{}", rt.codec.schema_name())});
    let response = |schema: &Value| {
        if v3 {
            json!({"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}})
        } else {
            json!({"200": {"description": "OK", "schema": schema}})
        }
    };
    let op = |action: &str, verb: &str, params: Vec<Value>| {
        json!({
            "operationId": format!("{verb}{}", &rt.kind),
            "parameters": params,
            "responses": response(&schema_ref),
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
        })
    };
    let write_params = |v3: bool| {
        vec![
            parameter("dryRun", "query", "When present, indicates that modifications should not be persisted.", v3),
            parameter(
                "fieldManager",
                "query",
                "A name associated with the actor or entity that is making these changes.",
                v3,
            ),
            parameter(
                "fieldValidation",
                "query",
                "Ignore, Warn (default) or Strict: how the server treats unknown or duplicate fields in the object.",
                v3,
            ),
        ]
    };
    let mut path_params = vec![parameter("name", "path", &format!("name of the {}", &rt.kind), v3)];
    if rt.namespaced {
        path_params.push(parameter(
            "namespace",
            "path",
            "object name and auth scope, such as for teams and projects",
            v3,
        ));
    }
    let mut coll = json!({
        "get": op("list", "list", vec![]),
        "post": op("post", "create", write_params(v3)),
        "delete": op("deletecollection", "deletecollection", vec![]),
    });
    if rt.namespaced {
        coll["parameters"] =
            json!([parameter("namespace", "path", "object name and auth scope, such as for teams and projects", v3)]);
    }
    paths.insert(collection.clone(), coll);
    let mut patch = op("patch", "patch", write_params(v3));
    if let Some(p) = patch["parameters"].as_array_mut() {
        p.push(parameter("force", "query", "Force is going to \"force\" Apply requests.", v3))
    }
    paths.insert(
        item,
        json!({
            "get": op("get", "read", vec![]),
            "put": op("put", "replace", write_params(v3)),
            "patch": patch,
            "delete": op("delete", "delete", vec![]),
            "parameters": path_params,
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_has_kinds_with_gvk_and_patch_with_field_validation() {
        let docs = documents(&Registry::builtin());
        let (apps, hash) = docs.v3.get("apis/apps/v1").expect("apps/v1 document");
        assert!(!hash.is_empty());
        let deployment = &apps["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(deployment["x-kubernetes-group-version-kind"][0]["kind"], "Deployment");
        let replicas = &apps["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["replicas"];
        assert!(replicas["description"].as_str().is_some_and(|d| d.contains("desired pods")));
        let patch = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert!(patch["parameters"].as_array().expect("params").iter().any(|p| p["name"] == "fieldValidation"));
        let containers = &apps["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    }
}
