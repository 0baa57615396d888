//! Server-side printing: the `meta.k8s.io/v1` Table that `kubectl get` asks
//! for, and PartialObjectMetadata.

use serde_json::{json, Value};

use crate::resources::ResourceType;

/// A Table of `items`. `include_object` is the request's `includeObject`
/// (`None`, `Metadata` — the default — or `Object`).
pub fn table_for(
    rt: &ResourceType,
    items: &[Value],
    revision: Option<i64>,
    continue_token: Option<String>,
    with_columns: bool,
    include_object: &str,
) -> Value {
    let now = chrono::Utc::now();
    let rows: Vec<Value> = items
        .iter()
        .map(|item| {
            let cells = rt.codec.cells(item, now);
            let mut row = json!({"cells": cells});
            match include_object {
                "None" => {}
                "Object" => row["object"] = item.clone(),
                _ => row["object"] = partial_metadata(item),
            }
            row
        })
        .collect();
    let mut metadata = json!({});
    if let Some(rv) = revision {
        metadata["resourceVersion"] = json!(rv.to_string());
    }
    if let Some(c) = continue_token {
        metadata["continue"] = json!(c);
    }
    let mut table = json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "rows": rows,
    });
    if with_columns {
        let columns: Vec<Value> = rt
            .codec
            .columns()
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "type": c.type_,
                    "format": c.format,
                    "description": c.description,
                    "priority": c.priority,
                })
            })
            .collect();
        table["columnDefinitions"] = Value::Array(columns);
    }
    table
}

pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"].clone(),
    })
}

pub fn partial_metadata_list(items: &[Value], revision: i64, continue_token: Option<String>) -> Value {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if let Some(c) = continue_token {
        metadata["continue"] = json!(c);
    }
    json!({
        "kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "items": items.iter().map(partial_metadata).collect::<Vec<_>>(),
    })
}
