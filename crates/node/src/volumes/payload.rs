//! The files a configMap, secret, downwardAPI or projected volume holds, as
//! the kubelet's MakePayload/CollectData compute them.

use serde_json::Value;

use super::atomic_writer::{FileProjection, Payload};
use super::SetUpFailure;
use crate::config::{self, array, is_optional, str_or, Sources};

/// The default file mode of all four kinds (the API's 0644).
pub const DEFAULT_MODE: u32 = 0o644;

pub fn mode_of(v: &Value, default: u32) -> u32 {
    v.as_u64().and_then(|m| u32::try_from(m).ok()).unwrap_or(default)
}

/// `key → bytes` of a configmap: `data` and `binaryData`.
fn config_map_entries(cm: &Value) -> Result<Vec<(String, Vec<u8>)>, SetUpFailure> {
    let mut out = Vec::new();
    if let Some(data) = cm["data"].as_object() {
        out.extend(data.iter().map(|(k, v)| (k.clone(), str_or(v, "").as_bytes().to_vec())));
    }
    if let Some(binary) = cm["binaryData"].as_object() {
        let name = str_or(&cm["metadata"]["name"], "");
        for (k, v) in binary {
            out.push((k.clone(), config::decode_base64(str_or(v, ""), "configmap", name, k)?));
        }
    }
    Ok(out)
}

fn secret_entries(secret: &Value) -> Result<Vec<(String, Vec<u8>)>, SetUpFailure> {
    let name = str_or(&secret["metadata"]["name"], "");
    let Some(data) = secret["data"].as_object() else { return Ok(Vec::new()) };
    data.iter().map(|(k, v)| Ok((k.clone(), config::decode_base64(str_or(v, ""), "secret", name, k)?))).collect()
}

/// Every key under its own name, or only the listed `items` under their
/// paths; a listed key that is missing fails unless the source is optional.
fn key_payload(
    entries: Vec<(String, Vec<u8>)>,
    items: &Value,
    default_mode: u32,
    optional: bool,
    missing_key: impl Fn(String) -> SetUpFailure,
) -> Result<Payload, SetUpFailure> {
    let mut payload = Payload::new();
    let items: Vec<&Value> = array(items).collect();
    if items.is_empty() {
        for (key, data) in entries {
            payload.insert(key, FileProjection { data, mode: default_mode });
        }
        return Ok(payload);
    }
    for item in items {
        let key = str_or(&item["key"], "");
        let Some((_, data)) = entries.iter().find(|(k, _)| k == key) else {
            if optional {
                continue;
            }
            return Err(missing_key(key.to_string()));
        };
        let path = str_or(&item["path"], key);
        payload.insert(
            path.to_string(),
            FileProjection { data: data.clone(), mode: mode_of(&item["mode"], default_mode) },
        );
    }
    Ok(payload)
}

/// A configMap source: `source` holds `name`, `items`, `optional` (and, for
/// a volume, `defaultMode`).
pub fn config_map(source: &Value, sources: &Sources, default_mode: u32) -> Result<Payload, SetUpFailure> {
    let name = str_or(&source["name"], "");
    let optional = is_optional(source);
    let Some(cm) = sources.config_maps.get(name) else {
        if optional {
            return Ok(Payload::new());
        }
        return Err(SetUpFailure::ConfigMapNotFound(name.to_string()));
    };
    key_payload(config_map_entries(cm)?, &source["items"], default_mode, optional, SetUpFailure::ConfigMapKey)
}

pub fn secret(source: &Value, name: &str, sources: &Sources, default_mode: u32) -> Result<Payload, SetUpFailure> {
    let optional = is_optional(source);
    let Some(secret) = sources.secrets.get(name) else {
        if optional {
            return Ok(Payload::new());
        }
        return Err(SetUpFailure::SecretNotFound(name.to_string()));
    };
    key_payload(secret_entries(secret)?, &source["items"], default_mode, optional, SetUpFailure::SecretKey)
}

/// downwardAPI items: metadata fields and container resources.
pub fn downward_api(items: &Value, pod: &Value, sources: &Sources, default_mode: u32) -> Result<Payload, SetUpFailure> {
    let mut payload = Payload::new();
    let mut errors = Vec::new();
    for item in array(items) {
        let path = str_or(&item["path"], "");
        let mode = mode_of(&item["mode"], default_mode);
        let value = if item["fieldRef"].is_object() {
            let field = str_or(&item["fieldRef"]["fieldPath"], "");
            // Volumes only see metadata: the rest changes under a running pod.
            if field.starts_with("metadata.") {
                config::pod_field(pod, field, sources)
            } else {
                Err(config::ConfigError::UnsupportedFieldPath(field.to_string()))
            }
        } else if item["resourceFieldRef"].is_object() {
            config::resource_field(pod, &Value::Null, &item["resourceFieldRef"], sources)
        } else {
            Ok(String::new())
        };
        match value {
            Ok(v) => {
                payload.insert(path.to_string(), FileProjection { data: v.into_bytes(), mode });
            }
            Err(e) => errors.push(SetUpFailure::Field(e)),
        }
    }
    aggregate(errors).map(|()| payload)
}

/// A projected volume's sources merged into one payload, later sources
/// overwriting earlier paths.
pub fn projected(
    volume: &Value,
    pod: &Value,
    sources: &Sources,
    warnings: &mut Vec<String>,
) -> Result<Payload, SetUpFailure> {
    let default_mode = mode_of(&volume["defaultMode"], DEFAULT_MODE);
    let mut payload = Payload::new();
    let mut errors = Vec::new();
    for source in array(&volume["sources"]) {
        let part = if source["configMap"].is_object() {
            config_map(&source["configMap"], sources, default_mode)
        } else if source["secret"].is_object() {
            let s = &source["secret"];
            secret(s, str_or(&s["name"], ""), sources, default_mode)
        } else if source["downwardAPI"].is_object() {
            downward_api(&source["downwardAPI"]["items"], pod, sources, default_mode)
        } else if source["serviceAccountToken"].is_object() {
            let path = str_or(&source["serviceAccountToken"]["path"], "token");
            match &sources.service_account_token {
                Some(token) => {
                    let mut p = Payload::new();
                    p.insert(path.to_string(), FileProjection { data: token.as_bytes().to_vec(), mode: default_mode });
                    Ok(p)
                }
                None => {
                    warnings.push(format!("serviceAccountToken projection {path:?} skipped: no token is available"));
                    Ok(Payload::new())
                }
            }
        } else {
            let kind = source.as_object().and_then(|o| o.keys().next().cloned()).unwrap_or_default();
            warnings.push(format!("projected source {kind:?} is not supported; skipped"));
            Ok(Payload::new())
        };
        match part {
            Ok(p) => payload.extend(p),
            Err(e) => errors.push(e),
        }
    }
    aggregate(errors).map(|()| payload)
}

/// One error as itself, several as Go's aggregate `[a, b]`.
fn aggregate(mut errors: Vec<SetUpFailure>) -> Result<(), SetUpFailure> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(SetUpFailure::Several(errors)),
    }
}
