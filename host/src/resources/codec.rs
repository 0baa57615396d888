//! Decoding an object through its `k8s-openapi` type: wrong types become a
//! 400 naming the field, unknown fields are reported (or rejected) per the
//! request's `fieldValidation`, and the type's defaults are applied. The
//! result is serialised back, so what is stored is always a well-formed object.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use skiff_apimachinery::apply::ListType;
use skiff_apimachinery::patch::KubernetesPatchMeta;
use skiff_apimachinery::{ListStrategy, PatchMeta};

use super::defaults::Defaults;
use crate::errors::ApiError;

/// The `fieldValidation` query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value.unwrap_or("Warn") {
            "" | "Warn" => Ok(Self::Warn),
            "Ignore" => Ok(Self::Ignore),
            "Strict" => Ok(Self::Strict),
            other => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}; supported values are Ignore, Warn, Strict"
            ))),
        }
    }
}

/// A decoded object and the warnings to send back with it.
pub struct Decoded {
    pub object: Value,
    pub warnings: Vec<String>,
}

pub trait Decodable: DeserializeOwned + Serialize + schemars::JsonSchema + Defaults + Send + Sync {}
impl<T: DeserializeOwned + Serialize + schemars::JsonSchema + Defaults + Send + Sync> Decodable for T {}

/// A table column, as `meta.k8s.io/v1` Table has them.
#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i32,
}

/// How a kind's objects are typed, described, printed and merged: the
/// `k8s-openapi` type of a built-in kind, or a custom resource's schema.
pub trait Codec: Send + Sync {
    /// Type-checks, drops (or rejects) unknown fields and applies defaults.
    fn decode(&self, object: &Value, validation: FieldValidation) -> Result<Decoded, ApiError>;
    /// The OpenAPI definition name (e.g. `io.k8s.api.apps.v1.Deployment`).
    fn schema_name(&self) -> String;
    /// Adds this type's schema (and everything it references) to `generator`;
    /// or returns it whole (a custom resource's, which references nothing).
    fn add_schema(&self, generator: &mut schemars::SchemaGenerator) -> Option<Value>;
    /// The Table columns `kubectl get` shows, and each row's cells.
    fn columns(&self) -> Vec<Column>;
    fn cells(&self, obj: &Value, now: chrono::DateTime<chrono::Utc>) -> Vec<Value>;
    /// The list semantics server-side apply follows at `path` (field names from the root).
    fn list_type(&self, path: &[&str]) -> ListType;
    fn map_is_atomic(&self, _path: &[&str]) -> bool {
        false
    }
}

pub struct Typed<T>(PhantomData<fn() -> T>);

impl<T> Typed<T> {
    pub fn new() -> Self {
        Typed(PhantomData)
    }
}

impl<T: Decodable + k8s_openapi::Resource> Codec for Typed<T> {
    fn decode(&self, object: &Value, validation: FieldValidation) -> Result<Decoded, ApiError> {
        let mut unknown: Vec<String> = Vec::new();
        let typed: Result<T, _> = {
            let mut record = |path: serde_ignored::Path| unknown.push(render_path(&path));
            let de = serde_ignored::Deserializer::new(object, &mut record);
            serde_path_to_error::deserialize(de)
        };
        let mut typed = typed.map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let at = if path.is_empty() || path == "." { String::new() } else { format!("{path}: ") };
            ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: {at}{inner}",
                kind = T::KIND,
                version = T::VERSION,
            ))
        })?;
        let mut warnings = Vec::new();
        if !unknown.is_empty() {
            match validation {
                FieldValidation::Strict => {
                    let list: Vec<String> = unknown.iter().map(|p| format!("unknown field \"{p}\"")).collect();
                    return Err(ApiError::bad_request(format!("strict decoding error: {}", list.join(", "))));
                }
                FieldValidation::Warn => warnings.extend(unknown.iter().map(|p| format!("unknown field \"{p}\""))),
                FieldValidation::Ignore => {}
            }
        }
        typed.apply_defaults();
        let object = serde_json::to_value(&typed).map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(Decoded { object, warnings })
    }

    fn schema_name(&self) -> String {
        T::schema_name().into_owned()
    }

    fn add_schema(&self, generator: &mut schemars::SchemaGenerator) -> Option<Value> {
        generator.subschema_for::<T>();
        None
    }

    fn columns(&self) -> Vec<Column> {
        skiff_printers::columns(T::GROUP, T::URL_PATH_SEGMENT)
            .iter()
            .map(|c| Column {
                name: c.name.to_string(),
                type_: c.type_.to_string(),
                format: c.format.to_string(),
                description: c.description.to_string(),
                priority: c.priority,
            })
            .collect()
    }

    fn cells(&self, obj: &Value, now: chrono::DateTime<chrono::Utc>) -> Vec<Value> {
        skiff_printers::cells(T::GROUP, T::URL_PATH_SEGMENT, obj, now)
    }

    fn list_type(&self, path: &[&str]) -> ListType {
        builtin_list_type(T::KIND, path)
    }
}

/// Server-side apply's list semantics for the built-in kinds: the lists the
/// strategic merge patch merges by a key are maps keyed on it (with the
/// second key Kubernetes' OpenAPI adds for ports), the primitive merge lists
/// are sets, everything else is atomic.
fn builtin_list_type(kind: &str, path: &[&str]) -> ListType {
    match KubernetesPatchMeta::for_kind(kind).list_strategy(path) {
        ListStrategy::Atomic => ListType::Atomic,
        ListStrategy::Merge { key: None } => ListType::Set,
        ListStrategy::Merge { key: Some(key) } => {
            let last = path.last().copied().unwrap_or("");
            let mut keys = vec![key.clone()];
            // Container and Service ports are keyed on port and protocol in Kubernetes' OpenAPI.
            if last == "ports" && (key == "containerPort" || key == "port") {
                keys.push("protocol".into());
            }
            ListType::Map(keys)
        }
    }
}

/// `spec.containers[0].foo`, the way Kubernetes names a field in messages.
fn render_path(path: &serde_ignored::Path) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", render_path(parent)),
        Path::Map { parent, key } => {
            let parent = render_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => render_path(parent),
    }
}
