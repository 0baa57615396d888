//! Custom resources: the kinds an established CustomResourceDefinition adds.
//! Each served version becomes one [`ResourceType`] whose codec is the
//! version's structural schema (prune, default, print, merge) and whose
//! strategy validates against it and knows its subresources.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use skiff_apimachinery::apply::ListType;
use skiff_apimachinery::schema::{SchemaListType, Structural};

use super::codec::{Column, Decoded, FieldValidation};
use super::strategy::{ScalePaths, SelectorForm};
use super::{Codec, ResourceType, Strategy};
use crate::errors::{ApiError, Cause};

/// The kinds `crd` adds: one per served version. A CRD whose schema does not
/// parse adds none (its validation would have refused it; this guards data
/// written by another version of skiff). A terminating CRD's kinds still
/// serve reads, updates and deletes (finalizers must be removable) but
/// refuse creates.
pub fn types_for(crd: &Value, terminating: bool) -> Vec<Arc<ResourceType>> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let group = spec["group"].as_str().unwrap_or("").to_string();
    let kind = names["kind"].as_str().unwrap_or("").to_string();
    let plural = names["plural"].as_str().unwrap_or("").to_string();
    if group.is_empty() || kind.is_empty() || plural.is_empty() {
        return Vec::new();
    }
    let strings = |v: &Value| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
    };
    let mut out = Vec::new();
    for v in spec["versions"].as_array().into_iter().flatten() {
        if v["served"].as_bool() != Some(true) {
            continue;
        }
        let version = v["name"].as_str().unwrap_or("").to_string();
        let storage = v["storage"].as_bool() == Some(true);
        // Without transition rules an update validates exactly as a create.
        let transition_rules = v["schema"]["openAPIV3Schema"].to_string().contains("oldSelf");
        let Ok(schema) = Structural::from_json(&v["schema"]["openAPIV3Schema"], "") else { continue };
        let scale = v["subresources"]["scale"].as_object().map(|s| ScalePaths {
            spec_replicas: s.get("specReplicasPath").and_then(Value::as_str).unwrap_or(".spec.replicas").into(),
            status_replicas: s.get("statusReplicasPath").and_then(Value::as_str).unwrap_or(".status.replicas").into(),
            selector: s.get("labelSelectorPath").and_then(Value::as_str).map(|p| (p.to_string(), SelectorForm::Text)),
            default_replicas: 0,
        });
        let columns: Vec<PrinterColumn> = v["additionalPrinterColumns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| PrinterColumn {
                column: Column {
                    name: c["name"].as_str().unwrap_or("").into(),
                    type_: c["type"].as_str().unwrap_or("string").into(),
                    format: c["format"].as_str().unwrap_or("").into(),
                    description: c["description"].as_str().unwrap_or("").into(),
                    priority: c["priority"].as_i64().unwrap_or(0) as i32,
                },
                json_path: c["jsonPath"].as_str().unwrap_or("").into(),
            })
            .collect();
        let schema = Arc::new(schema);
        out.push(Arc::new(ResourceType {
            group: group.clone(),
            version: version.clone(),
            plural: plural.clone(),
            singular: names["singular"].as_str().map(str::to_string).unwrap_or_else(|| kind.to_ascii_lowercase()),
            kind: kind.clone(),
            list_kind: names["listKind"].as_str().map(str::to_string).unwrap_or_else(|| format!("{kind}List")),
            namespaced: spec["scope"].as_str() != Some("Cluster"),
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            status: v["subresources"]["status"].is_object(),
            generation: true,
            custom: true,
            storage,
            codec: Box::new(SchemaCodec {
                schema: schema.clone(),
                definition: definition_name(&group, &version, &kind),
                gvk: json!([{"group": group, "version": version, "kind": kind}]),
                columns,
            }),
            strategy: Box::new(CustomStrategy { schema, scale, terminating, transition_rules }),
        }));
    }
    out
}

/// `com.example.v1.Widget`: Kubernetes' definition names, group reversed.
fn definition_name(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

struct PrinterColumn {
    column: Column,
    json_path: String,
}

struct SchemaCodec {
    schema: Arc<Structural>,
    definition: String,
    gvk: Value,
    columns: Vec<PrinterColumn>,
}

impl Codec for SchemaCodec {
    fn decode(&self, object: &Value, validation: FieldValidation) -> Result<Decoded, ApiError> {
        if !object.is_object() {
            return Err(ApiError::bad_request("the object must be a JSON object"));
        }
        let mut obj = object.clone();
        if !obj["metadata"].is_object() && !obj["metadata"].is_null() {
            return Err(ApiError::bad_request("metadata: must be an object"));
        }
        // ObjectMeta is the API's; the schema speaks of the rest.
        let metadata = obj.as_object_mut().and_then(|o| o.remove("metadata"));
        let pruned = self.schema.prune(&mut obj);
        let mut warnings = Vec::new();
        if !pruned.is_empty() {
            match validation {
                FieldValidation::Strict => {
                    let list: Vec<String> = pruned.iter().map(|p| format!("unknown field \"{p}\"")).collect();
                    return Err(ApiError::bad_request(format!("strict decoding error: {}", list.join(", "))));
                }
                FieldValidation::Warn => warnings.extend(pruned.iter().map(|p| format!("unknown field \"{p}\""))),
                FieldValidation::Ignore => {}
            }
        }
        self.schema.apply_defaults(&mut obj);
        if let (Some(o), Some(m)) = (obj.as_object_mut(), metadata) {
            o.insert("metadata".into(), m);
        }
        Ok(Decoded { object: obj, warnings })
    }

    fn schema_name(&self) -> String {
        self.definition.clone()
    }

    fn add_schema(&self, _generator: &mut schemars::SchemaGenerator) -> Option<Value> {
        let mut schema = self.schema.to_openapi();
        if let Some(o) = schema.as_object_mut() {
            o.insert("x-kubernetes-group-version-kind".into(), self.gvk.clone());
        }
        Some(schema)
    }

    fn columns(&self) -> Vec<Column> {
        let mut out = vec![Column {
            name: "Name".into(),
            type_: "string".into(),
            format: "name".into(),
            description: "Name must be unique within a namespace.".into(),
            priority: 0,
        }];
        if self.columns.is_empty() {
            out.push(age_column());
        }
        out.extend(self.columns.iter().map(|c| c.column.clone()));
        out
    }

    fn cells(&self, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
        let mut cells = vec![obj["metadata"]["name"].clone()];
        if self.columns.is_empty() {
            cells.push(cell("date", obj["metadata"]["creationTimestamp"].clone(), now));
        }
        for c in &self.columns {
            let value = Structural::json_path(obj, &c.json_path).unwrap_or(Value::Null);
            cells.push(cell(&c.column.type_, value, now));
        }
        cells
    }

    fn list_type(&self, path: &[&str]) -> ListType {
        match self.schema.list_type(path) {
            SchemaListType::Atomic => ListType::Atomic,
            SchemaListType::Set => ListType::Set,
            SchemaListType::Map(keys) => ListType::Map(keys),
        }
    }

    fn map_is_atomic(&self, path: &[&str]) -> bool {
        self.schema.map_is_atomic(path)
    }
}

fn age_column() -> Column {
    Column {
        name: "Age".into(),
        type_: "date".into(),
        format: "".into(),
        description: "CreationTimestamp is a timestamp representing the server time when this object was created."
            .into(),
        priority: 0,
    }
}

/// A printer column's cell: missing values as `<none>`; dates as the time since, as Kubernetes prints them; values
/// of another type as text.
fn cell(type_: &str, value: Value, now: DateTime<Utc>) -> Value {
    match (type_, &value) {
        (_, Value::Null) => Value::String("<none>".into()),
        ("date", Value::String(s)) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Value::String(skiff_printers::human_duration(now - t.with_timezone(&Utc))),
            Err(_) => value,
        },
        ("integer", Value::Number(n)) if n.is_i64() || n.is_u64() => value,
        ("number", Value::Number(_)) | ("boolean", Value::Bool(_)) => value,
        ("string", Value::String(_)) => value,
        (_, Value::String(s)) => Value::String(s.clone()),
        (_, other) => Value::String(other.to_string()),
    }
}

struct CustomStrategy {
    schema: Arc<Structural>,
    scale: Option<ScalePaths>,
    terminating: bool,
    transition_rules: bool,
}

impl Strategy for CustomStrategy {
    fn check_create(&self) -> Result<(), ApiError> {
        if self.terminating {
            Err(ApiError::method_not_allowed("create not allowed while custom resource definition is terminating"))
        } else {
            Ok(())
        }
    }

    /// With a status subresource, a new object starts without one.
    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(o) = obj.as_object_mut() {
            if o.get("status") == Some(&json!({})) {
                o.remove("status");
            }
        }
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        self.schema.validate(&without_metadata(obj)).into_iter().map(Cause::from).collect()
    }

    /// Only what the update adds (transition rules): `validate` has
    /// reported the rest already.
    fn validate_update(&self, obj: &Value, old: &Value) -> Vec<Cause> {
        if !self.transition_rules {
            return Vec::new();
        }
        let new = without_metadata(obj);
        let plain = self.schema.validate(&new);
        self.schema
            .validate_update(&new, &without_metadata(old))
            .into_iter()
            .filter(|e| !plain.contains(e))
            .map(Cause::from)
            .collect()
    }

    fn scale(&self) -> Option<ScalePaths> {
        self.scale.clone()
    }
}

/// The object as the schema validates it: metadata is the API's to check
/// (the schema may only constrain the name, which Kubernetes checks apart).
fn without_metadata(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
    }
    o
}
