//! A container's configuration as the kubelet derives it from the pod: its
//! environment (env, envFrom, the downward API), its argv (the image's
//! ENTRYPOINT/CMD merged with command/args), and the configmaps and secrets a
//! pod refers to. Also owns the two small languages this needs: `$(VAR)`
//! expansion and Kubernetes resource quantities.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use serde_json::Value;
use skiff_apimachinery::field_error::go_quote;

/// What a container's environment is built from: the objects the agent
/// fetched for the pod (by name, in the pod's namespace; a name missing here
/// is "not found") and facts about the node and the sandbox.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub config_maps: HashMap<String, Value>,
    pub secrets: HashMap<String, Value>,
    /// The node's allocatable (cpu millicores, memory bytes): what
    /// `resourceFieldRef` reports for a limit the container does not set.
    pub node_allocatable: (u64, u64),
    /// The node's allocatable ephemeral storage in bytes, for the same purpose.
    pub node_allocatable_ephemeral_storage: u64,
    pub pod_ip: Option<String>,
    pub host_ip: Option<String>,
    /// A bound token for `serviceAccountToken` projections; None skips them.
    pub service_account_token: Option<String>,
}

/// A configmap or secret a pod names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub name: String,
    /// Every reference to the object is optional: the pod runs without it.
    pub optional: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct References {
    pub config_maps: Vec<Reference>,
    pub secrets: Vec<Reference>,
}

/// An environment the kubelet would give the container, plus the keys it
/// left out (the agent records an `InvalidEnvironmentVariableNames` event).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Environment {
    /// In definition order: envFrom first, then env; a later definition of a
    /// name replaces the value in place.
    pub vars: Vec<(String, String)>,
    pub skipped: Vec<SkippedKeys>,
}

/// Keys of one envFrom source that cannot be environment variable names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedKeys {
    /// `configMap` or `secret`, as the kubelet's event words it.
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    /// Sorted, with the prefix applied.
    pub keys: Vec<String>,
}

impl SkippedKeys {
    /// The kubelet's event message for reason `InvalidEnvironmentVariableNames`.
    pub fn event_message(&self) -> String {
        format!(
            "Keys [{}] from the EnvFrom {} {}/{} were skipped since they are considered invalid environment variable names.",
            self.keys.join(", "),
            self.kind,
            self.namespace,
            self.name
        )
    }
}

/// The image's defaults for argv (from its config's Entrypoint and Cmd).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageDefaults {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
}

/// Why a container's configuration cannot be made. The messages are the
/// kubelet's: they reach `kubectl describe pod` as CreateContainerConfigError.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("configmap \"{0}\" not found")]
    ConfigMapNotFound(String),
    #[error("secret \"{0}\" not found")]
    SecretNotFound(String),
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKeyNotFound { key: String, namespace: String, name: String },
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKeyNotFound { key: String, namespace: String, name: String },
    #[error("unsupported fieldPath: {0}")]
    UnsupportedFieldPath(String),
    #[error("fieldPath \"{0}\" does not support subscript")]
    SubscriptNotSupported(String),
    #[error("unsupported container resource : {0}")]
    UnsupportedResource(String),
    #[error("container {0} not found")]
    ContainerNotFound(String),
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    InvalidQuantity(String),
    #[error("quantity {0} is too large")]
    QuantityTooLarge(String),
    #[error("divisor must not be zero: {0}")]
    ZeroDivisor(String),
    #[error("illegal base64 data in {kind} {name} key {key}")]
    InvalidBase64 { kind: &'static str, name: String, key: String },
    #[error("no command specified")]
    NoCommand,
}

/// The configmaps and secrets the pod's containers (env, envFrom), volumes
/// (configMap, secret, projected) and imagePullSecrets name, each once, so
/// the agent fetches exactly those. Pull secrets count as optional: the
/// kubelet only warns when one is missing.
pub fn referenced(pod: &Value) -> References {
    let mut config_maps: BTreeMap<String, bool> = BTreeMap::new();
    let mut secrets: BTreeMap<String, bool> = BTreeMap::new();
    // A reference is optional only when every mention of the name is.
    fn note(into: &mut BTreeMap<String, bool>, name: Option<&str>, optional: bool) {
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            let entry = into.entry(name.to_string()).or_insert(true);
            *entry &= optional;
        }
    }
    let spec = &pod["spec"];
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for container in array(&spec[list]) {
            for from in array(&container["envFrom"]) {
                let cm = &from["configMapRef"];
                note(&mut config_maps, cm["name"].as_str(), is_optional(cm));
                let s = &from["secretRef"];
                note(&mut secrets, s["name"].as_str(), is_optional(s));
            }
            for env in array(&container["env"]) {
                let cm = &env["valueFrom"]["configMapKeyRef"];
                note(&mut config_maps, cm["name"].as_str(), is_optional(cm));
                let s = &env["valueFrom"]["secretKeyRef"];
                note(&mut secrets, s["name"].as_str(), is_optional(s));
            }
        }
    }
    for volume in array(&spec["volumes"]) {
        let cm = &volume["configMap"];
        note(&mut config_maps, cm["name"].as_str(), is_optional(cm));
        let s = &volume["secret"];
        note(&mut secrets, s["secretName"].as_str(), is_optional(s));
        for source in array(&volume["projected"]["sources"]) {
            let cm = &source["configMap"];
            note(&mut config_maps, cm["name"].as_str(), is_optional(cm));
            let s = &source["secret"];
            note(&mut secrets, s["name"].as_str(), is_optional(s));
        }
    }
    for pull in array(&spec["imagePullSecrets"]) {
        note(&mut secrets, pull["name"].as_str(), true);
    }
    let list = |m: BTreeMap<String, bool>| m.into_iter().map(|(name, optional)| Reference { name, optional }).collect();
    References { config_maps: list(config_maps), secrets: list(secrets) }
}

/// The container's environment as the kubelet's makeEnvironmentVariables
/// builds it. Service links (`enableServiceLinks`) are not added here.
pub fn environment(pod: &Value, container: &Value, sources: &Sources) -> Result<Environment, ConfigError> {
    let namespace = str_or(&pod["metadata"]["namespace"], "default");
    let mut env = OrderedEnv::default();
    let mut skipped = Vec::new();

    for from in array(&container["envFrom"]) {
        let prefix = str_or(&from["prefix"], "");
        let (kind, reference, pairs) = if from["configMapRef"].is_object() {
            let r = &from["configMapRef"];
            let name = str_or(&r["name"], "");
            let Some(cm) = sources.config_maps.get(name) else {
                if is_optional(r) {
                    continue;
                }
                return Err(ConfigError::ConfigMapNotFound(name.to_string()));
            };
            ("configMap", r, config_map_strings(cm))
        } else if from["secretRef"].is_object() {
            let r = &from["secretRef"];
            let name = str_or(&r["name"], "");
            let Some(secret) = sources.secrets.get(name) else {
                if is_optional(r) {
                    continue;
                }
                return Err(ConfigError::SecretNotFound(name.to_string()));
            };
            ("secret", r, secret_strings(secret, name)?)
        } else {
            continue;
        };
        let mut invalid = Vec::new();
        for (key, value) in pairs {
            let key = format!("{prefix}{key}");
            if !is_env_var_name(&key) {
                invalid.push(key);
                continue;
            }
            env.set(key, value);
        }
        if !invalid.is_empty() {
            invalid.sort();
            skipped.push(SkippedKeys {
                kind,
                namespace: namespace.to_string(),
                name: str_or(&reference["name"], "").to_string(),
                keys: invalid,
            });
        }
    }

    for var in array(&container["env"]) {
        let Some(name) = var["name"].as_str() else { continue };
        let literal = str_or(&var["value"], "");
        let from = &var["valueFrom"];
        let value = if !literal.is_empty() {
            expand(literal, |v| env.get(v).map(str::to_string))
        } else if from.is_object() {
            if from["fieldRef"].is_object() {
                pod_field(pod, str_or(&from["fieldRef"]["fieldPath"], ""), sources)?
            } else if from["resourceFieldRef"].is_object() {
                resource_field(pod, container, &from["resourceFieldRef"], sources)?
            } else if from["configMapKeyRef"].is_object() {
                let r = &from["configMapKeyRef"];
                let cm_name = str_or(&r["name"], "");
                let key = str_or(&r["key"], "");
                let Some(cm) = sources.config_maps.get(cm_name) else {
                    if is_optional(r) {
                        continue;
                    }
                    return Err(ConfigError::ConfigMapNotFound(cm_name.to_string()));
                };
                match cm["data"][key].as_str() {
                    Some(v) => v.to_string(),
                    None if is_optional(r) => continue,
                    None => {
                        return Err(ConfigError::ConfigMapKeyNotFound {
                            key: key.to_string(),
                            namespace: namespace.to_string(),
                            name: cm_name.to_string(),
                        })
                    }
                }
            } else if from["secretKeyRef"].is_object() {
                let r = &from["secretKeyRef"];
                let secret_name = str_or(&r["name"], "");
                let key = str_or(&r["key"], "");
                let Some(secret) = sources.secrets.get(secret_name) else {
                    if is_optional(r) {
                        continue;
                    }
                    return Err(ConfigError::SecretNotFound(secret_name.to_string()));
                };
                match secret["data"][key].as_str() {
                    Some(encoded) => {
                        String::from_utf8_lossy(&decode_base64(encoded, "secret", secret_name, key)?).into_owned()
                    }
                    None if is_optional(r) => continue,
                    None => {
                        return Err(ConfigError::SecretKeyNotFound {
                            key: key.to_string(),
                            namespace: namespace.to_string(),
                            name: secret_name.to_string(),
                        })
                    }
                }
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        env.set(name.to_string(), value);
    }
    Ok(Environment { vars: env.vars, skipped })
}

/// The container's argv: `command` replaces the image's ENTRYPOINT and drops
/// its CMD, `args` alone replaces CMD; `$(VAR)` in command and args expands
/// against the container's environment (the image's own values do not).
pub fn command(container: &Value, image: &ImageDefaults, env: &[(String, String)]) -> Result<Vec<String>, ConfigError> {
    let lookup = |name: &str| env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let expand_all =
        |list: &Value| -> Vec<String> { array(list).filter_map(Value::as_str).map(|s| expand(s, lookup)).collect() };
    let mut command = expand_all(&container["command"]);
    let mut args = expand_all(&container["args"]);
    if command.is_empty() {
        if args.is_empty() {
            args = image.cmd.clone();
        }
        // containerd treats an ENTRYPOINT of [""] as none at all.
        if !(image.entrypoint.len() == 1 && image.entrypoint[0].is_empty()) {
            command = image.entrypoint.clone();
        }
    }
    command.extend(args);
    if command.is_empty() {
        return Err(ConfigError::NoCommand);
    }
    Ok(command)
}

/// `$(VAR)` expansion as Kubernetes does it: `$$` is a literal `$`, an
/// unknown or unterminated reference stays as written.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match rest.as_bytes()[0] {
                b'$' => {
                    out.push('$');
                    1
                }
                b'(' => match rest[1..].find(')') {
                    Some(end) => {
                        let name = &rest[1..1 + end];
                        match lookup(name) {
                            Some(value) => out.push_str(&value),
                            None => {
                                out.push_str("$(");
                                out.push_str(name);
                                out.push(')');
                            }
                        }
                        end + 2
                    }
                    None => {
                        out.push_str("$(");
                        1
                    }
                },
                _ => {
                    let c = rest.chars().next().unwrap_or('$');
                    out.push('$');
                    out.push(c);
                    c.len_utf8()
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.push_str(&input[checkpoint.min(input.len())..]);
    out
}

/// A pod field as `fieldRef` reads it (env and downwardAPI volumes).
pub fn pod_field(pod: &Value, path: &str, sources: &Sources) -> Result<String, ConfigError> {
    let meta = &pod["metadata"];
    if let Some((field, key)) = split_subscript(path) {
        return match field {
            "metadata.labels" | "metadata.annotations" => {
                let map = if field == "metadata.labels" { &meta["labels"] } else { &meta["annotations"] };
                Ok(str_or(&map[key], "").to_string())
            }
            _ => Err(ConfigError::SubscriptNotSupported(path.to_string())),
        };
    }
    let pod_ip = sources.pod_ip.clone().unwrap_or_default();
    Ok(match path {
        "metadata.name" => str_or(&meta["name"], "").to_string(),
        "metadata.namespace" => str_or(&meta["namespace"], "default").to_string(),
        "metadata.uid" => str_or(&meta["uid"], "").to_string(),
        "metadata.labels" => format_map(&meta["labels"]),
        "metadata.annotations" => format_map(&meta["annotations"]),
        "spec.nodeName" => str_or(&pod["spec"]["nodeName"], "").to_string(),
        "spec.serviceAccountName" => str_or(&pod["spec"]["serviceAccountName"], "").to_string(),
        "spec.terminationGracePeriodSeconds" => {
            pod["spec"]["terminationGracePeriodSeconds"].as_i64().unwrap_or(30).to_string()
        }
        "status.podIP" | "status.podIPs" => pod_ip,
        "status.hostIP" | "status.hostIPs" => sources.host_ip.clone().unwrap_or_default(),
        _ => return Err(ConfigError::UnsupportedFieldPath(path.to_string())),
    })
}

/// A container resource as `resourceFieldRef` reads it: limits the container
/// does not set are the node's allocatable, and the value is rounded up to
/// whole divisor units.
pub fn resource_field(
    pod: &Value,
    container: &Value,
    selector: &Value,
    sources: &Sources,
) -> Result<String, ConfigError> {
    let wanted = str_or(&selector["containerName"], "");
    let container = if wanted.is_empty() {
        container
    } else {
        let spec = &pod["spec"];
        array(&spec["containers"])
            .chain(array(&spec["initContainers"]))
            .find(|c| c["name"].as_str() == Some(wanted))
            .ok_or_else(|| ConfigError::ContainerNotFound(wanted.to_string()))?
    };
    let resource = str_or(&selector["resource"], "");
    let divisor = match &selector["divisor"] {
        Value::Null => NANOS_PER_UNIT,
        d => match parse_quantity(&quantity_text(d))? {
            0 => NANOS_PER_UNIT,
            n => n,
        },
    };
    let resources = &container["resources"];
    let (allocatable_cpu, allocatable_memory) = sources.node_allocatable;
    let quantity = |section: &str, name: &str| -> Result<Option<i128>, ConfigError> {
        match &resources[section][name] {
            Value::Null => Ok(None),
            q => parse_quantity(&quantity_text(q)).map(Some),
        }
    };
    // The API defaults an unset request to the limit; do the same here in
    // case the object was stored without defaulting.
    let request = |name: &str| -> Result<i128, ConfigError> {
        Ok(quantity("requests", name)?.or(quantity("limits", name)?).unwrap_or(0))
    };
    let (value, is_cpu) = match resource {
        "limits.cpu" => (quantity("limits", "cpu")?.unwrap_or(allocatable_cpu as i128 * 1_000_000), true),
        "limits.memory" => {
            (quantity("limits", "memory")?.unwrap_or(allocatable_memory as i128 * NANOS_PER_UNIT), false)
        }
        "limits.ephemeral-storage" => (
            quantity("limits", "ephemeral-storage")?
                .unwrap_or(sources.node_allocatable_ephemeral_storage as i128 * NANOS_PER_UNIT),
            false,
        ),
        "requests.cpu" => (request("cpu")?, true),
        "requests.memory" => (request("memory")?, false),
        "requests.ephemeral-storage" => (request("ephemeral-storage")?, false),
        _ => return Err(ConfigError::UnsupportedResource(resource.to_string())),
    };
    // cpu compares milli-values, the rest whole units, as the kubelet does.
    let unit = if is_cpu { 1_000_000 } else { NANOS_PER_UNIT };
    let divisor_units = ceil_div(divisor, unit);
    if divisor_units == 0 {
        return Err(ConfigError::ZeroDivisor(resource.to_string()));
    }
    Ok(ceil_div(ceil_div(value, unit), divisor_units).to_string())
}

/// Nano-units in one unit: quantities are kept as integer nano-units.
pub const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// A Kubernetes quantity (`100m`, `1Gi`, `1e3`, `0.5`) in nano-units, rounded
/// up when finer than that.
pub fn parse_quantity(text: &str) -> Result<i128, ConfigError> {
    let invalid = || ConfigError::InvalidQuantity(text.to_string());
    let s = text.trim();
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let number_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(invalid());
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = format!("{whole}{fraction}");
    if digits.trim_start_matches('0').len() > 30 {
        return Err(ConfigError::QuantityTooLarge(text.to_string()));
    }
    let mantissa: i128 = digits.parse().map_err(|_| invalid())?;
    let (binary_shift, decimal_exp): (u32, i32) = match suffix {
        "" => (0, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        _ if suffix.starts_with(['e', 'E']) => {
            let exp: i32 = suffix[1..].parse().map_err(|_| invalid())?;
            (0, exp)
        }
        _ => return Err(invalid()),
    };
    let too_large = || ConfigError::QuantityTooLarge(text.to_string());
    let shifted = mantissa.checked_mul(1i128 << binary_shift).ok_or_else(too_large)?;
    let exp = 9 + decimal_exp - fraction.len() as i32;
    let nanos = if exp >= 0 {
        let scale = 10i128.checked_pow(exp as u32).ok_or_else(too_large)?;
        shifted.checked_mul(scale).ok_or_else(too_large)?
    } else {
        match 10i128.checked_pow((-exp) as u32) {
            Some(scale) => ceil_div(shifted, scale),
            None => i128::from(shifted > 0),
        }
    };
    Ok(if negative { -nanos } else { nanos })
}

/// Whether the kubelet accepts `name` as an environment variable name: with
/// relaxed validation (the default since 1.34), any printable ASCII but `=`.
pub fn is_env_var_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'=')
}

fn ceil_div(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b != 0 && (a > 0) == (b > 0) {
        q + 1
    } else {
        q
    }
}

fn quantity_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `metadata.labels` and `metadata.annotations` as a whole: sorted
/// `key="value"` lines with Go's quoting.
fn format_map(map: &Value) -> String {
    let Some(map) = map.as_object() else { return String::new() };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    keys.iter().map(|k| format!("{k}={}", go_quote(str_or(&map[k.as_str()], "")))).collect::<Vec<_>>().join("\n")
}

fn split_subscript(path: &str) -> Option<(&str, &str)> {
    let inner = path.strip_suffix("']")?;
    let (field, key) = inner.split_once("['")?;
    (!field.is_empty()).then_some((field, key))
}

/// A configmap's `data` as strings (env never reads `binaryData`).
fn config_map_strings(cm: &Value) -> Vec<(String, String)> {
    cm["data"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), str_or(v, "").to_string())).collect())
        .unwrap_or_default()
}

fn secret_strings(secret: &Value, name: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let Some(data) = secret["data"].as_object() else { return Ok(Vec::new()) };
    data.iter()
        .map(|(k, v)| {
            let bytes = decode_base64(str_or(v, ""), "secret", name, k)?;
            Ok((k.clone(), String::from_utf8_lossy(&bytes).into_owned()))
        })
        .collect()
}

pub(crate) fn decode_base64(text: &str, kind: &'static str, name: &str, key: &str) -> Result<Vec<u8>, ConfigError> {
    base64::engine::general_purpose::STANDARD.decode(text.trim()).map_err(|_| ConfigError::InvalidBase64 {
        kind,
        name: name.to_string(),
        key: key.to_string(),
    })
}

pub(crate) fn array(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().map(|a| a.iter()).into_iter().flatten()
}

pub(crate) fn str_or<'a>(v: &'a Value, default: &'a str) -> &'a str {
    v.as_str().unwrap_or(default)
}

pub(crate) fn is_optional(reference: &Value) -> bool {
    reference["optional"].as_bool().unwrap_or(false)
}

/// Insertion-ordered variables; a redefinition keeps the first position.
#[derive(Default)]
struct OrderedEnv {
    vars: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl OrderedEnv {
    fn set(&mut self, name: String, value: String) {
        match self.index.get(&name) {
            Some(&i) => self.vars[i].1 = value,
            None => {
                self.index.insert(name.clone(), self.vars.len());
                self.vars.push((name, value));
            }
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.index.get(name).map(|&i| self.vars[i].1.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn sources() -> Sources {
        let mut s = Sources {
            node_allocatable: (4000, 8 << 30),
            node_allocatable_ephemeral_storage: 100 << 30,
            pod_ip: Some("10.42.0.7".into()),
            host_ip: Some("192.168.1.10".into()),
            ..Sources::default()
        };
        s.config_maps.insert(
            "cfg".into(),
            json!({"data": {"MODE": "prod", "LEVEL": "3", "1st": "x"}, "binaryData": {"bin": b64("b")}}),
        );
        s.secrets.insert("s".into(), json!({"data": {"PASSWORD": b64("hunter2"), "TOKEN": b64("t")}}));
        s
    }

    fn pod(container: Value) -> Value {
        json!({
            "metadata": {"name": "web-0", "namespace": "shop", "uid": "u-1",
                         "labels": {"app": "web", "tier": "front\"end"}, "annotations": {"a": "b"}},
            "spec": {"nodeName": "n1", "serviceAccountName": "sa", "containers": [container]}
        })
    }

    fn env_of(container: Value) -> Result<Environment, ConfigError> {
        let p = pod(container.clone());
        environment(&p, &container, &sources())
    }

    fn var<'a>(env: &'a Environment, name: &str) -> Option<&'a str> {
        env.vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn expansion_follows_kubernetes_rules() {
        let lookup = |n: &str| match n {
            "A" => Some("a".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let cases = [
            ("$(A)", "a"),
            ("x$(A)y$(A)", "xaya"),
            ("$$(A)", "$(A)"),
            ("$$$(A)", "$a"),
            ("$(B)", "$(B)"),
            ("$(EMPTY)-", "-"),
            ("$(A", "$(A"),
            ("$A", "$A"),
            ("a$", "a$"),
            ("$", "$"),
            ("$é$(A)", "$éa"),
            ("", ""),
            ("$()", "$()"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, lookup), want, "input {input:?}");
        }
    }

    #[test]
    fn quantities_parse_to_nanos() {
        let cases: [(&str, i128); 12] = [
            ("100m", 100_000_000),
            ("1", NANOS_PER_UNIT),
            ("0.5", 500_000_000),
            ("1Gi", (1i128 << 30) * NANOS_PER_UNIT),
            ("1e3", 1000 * NANOS_PER_UNIT),
            ("1E3", 1000 * NANOS_PER_UNIT),
            ("2k", 2000 * NANOS_PER_UNIT),
            ("1M", 1_000_000 * NANOS_PER_UNIT),
            ("5n", 5),
            ("1.5Ki", 1536 * NANOS_PER_UNIT),
            ("0.0000000001", 1),
            ("-1m", -1_000_000),
        ];
        for (text, want) in cases {
            assert_eq!(parse_quantity(text), Ok(want), "{text}");
        }
        for bad in ["", "m", "1.2.3", "1Qi", "abc", "1e", "1 Gi"] {
            assert!(matches!(parse_quantity(bad), Err(ConfigError::InvalidQuantity(_))), "{bad}");
        }
    }

    #[test]
    fn env_from_then_env_with_expansion() -> anyhow::Result<()> {
        let env = env_of(json!({
            "name": "app",
            "envFrom": [{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "s"}, "prefix": "S_"}],
            "env": [
                {"name": "URL", "value": "http://$(MODE):$(PORT)/$$(MODE)"},
                {"name": "PORT", "value": "80"},
                {"name": "URL2", "value": "$(PORT)"},
                {"name": "MODE", "value": "dev"},
                {"name": "EMPTY", "value": ""}
            ]
        }))?;
        assert_eq!(var(&env, "LEVEL"), Some("3"));
        assert_eq!(var(&env, "S_PASSWORD"), Some("hunter2"));
        assert_eq!(var(&env, "URL"), Some("http://prod:$(PORT)/$(MODE)"));
        assert_eq!(var(&env, "URL2"), Some("80"));
        assert_eq!(var(&env, "MODE"), Some("dev"));
        assert_eq!(var(&env, "EMPTY"), Some(""));
        // binaryData never reaches the environment.
        assert_eq!(var(&env, "bin"), None);
        // Relaxed validation accepts a leading digit.
        assert_eq!(var(&env, "1st"), Some("x"));
        assert!(env.skipped.is_empty());
        // Redefinition keeps the envFrom position.
        let names: Vec<&str> = env.vars.iter().map(|(k, _)| k.as_str()).collect();
        assert!(names.iter().position(|n| *n == "MODE") < names.iter().position(|n| *n == "S_PASSWORD"));
        Ok(())
    }

    #[test]
    fn invalid_names_from_env_from_are_skipped_and_reported() -> anyhow::Result<()> {
        let mut s = sources();
        s.config_maps.insert("odd".into(), json!({"data": {"A=B": "1", "OK": "2", "": "3"}}));
        let c = json!({"name": "app", "envFrom": [{"configMapRef": {"name": "odd"}}]});
        let env = environment(&pod(c.clone()), &c, &s)?;
        assert_eq!(env.vars, vec![("OK".to_string(), "2".to_string())]);
        assert_eq!(env.skipped.len(), 1);
        assert_eq!(
            env.skipped[0].event_message(),
            "Keys [, A=B] from the EnvFrom configMap shop/odd were skipped since they are considered invalid environment variable names."
        );
        Ok(())
    }

    #[test]
    fn missing_objects_and_keys_use_kubelet_messages() {
        let cases = [
            (json!({"envFrom": [{"configMapRef": {"name": "nope"}}]}), "configmap \"nope\" not found"),
            (json!({"envFrom": [{"secretRef": {"name": "nope"}}]}), "secret \"nope\" not found"),
            (
                json!({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]}),
                "couldn't find key k in ConfigMap shop/cfg",
            ),
            (
                json!({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "bin"}}}]}),
                "couldn't find key bin in ConfigMap shop/cfg",
            ),
            (
                json!({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}),
                "couldn't find key k in Secret shop/s",
            ),
            (
                json!({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k"}}}]}),
                "secret \"gone\" not found",
            ),
            (
                json!({"env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}]}),
                "unsupported fieldPath: spec.bogus",
            ),
            (
                json!({"env": [{"name": "X", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}}]}),
                "unsupported container resource : limits.gpu",
            ),
        ];
        for (container, want) in cases {
            match env_of(container.clone()) {
                Err(e) => assert_eq!(e.to_string(), want),
                Ok(env) => panic!("{container}: expected {want}, got {env:?}"),
            }
        }
    }

    #[test]
    fn optional_references_leave_the_variable_unset() -> anyhow::Result<()> {
        let env = env_of(json!({
            "envFrom": [{"configMapRef": {"name": "nope", "optional": true}}],
            "env": [
                {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k", "optional": true}}},
                {"name": "B", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": true}}},
                {"name": "C", "valueFrom": {"secretKeyRef": {"name": "s", "key": "TOKEN", "optional": true}}}
            ]
        }))?;
        assert_eq!(env.vars, vec![("C".to_string(), "t".to_string())]);
        Ok(())
    }

    #[test]
    fn field_refs() -> anyhow::Result<()> {
        let fields = [
            ("metadata.name", "web-0"),
            ("metadata.namespace", "shop"),
            ("metadata.uid", "u-1"),
            ("metadata.labels['app']", "web"),
            ("metadata.labels['none']", ""),
            ("metadata.annotations['a']", "b"),
            ("metadata.labels", "app=\"web\"\ntier=\"front\\\"end\""),
            ("spec.nodeName", "n1"),
            ("spec.serviceAccountName", "sa"),
            ("status.podIP", "10.42.0.7"),
            ("status.podIPs", "10.42.0.7"),
            ("status.hostIP", "192.168.1.10"),
            ("spec.terminationGracePeriodSeconds", "30"),
        ];
        let env: Vec<Value> = fields
            .iter()
            .enumerate()
            .map(|(i, (path, _))| json!({"name": format!("F{i}"), "valueFrom": {"fieldRef": {"fieldPath": path}}}))
            .collect();
        let got = env_of(json!({"name": "app", "env": env}))?;
        for (i, (path, want)) in fields.iter().enumerate() {
            assert_eq!(var(&got, &format!("F{i}")), Some(*want), "{path}");
        }
        Ok(())
    }

    #[test]
    fn resource_field_refs_round_up_and_default_to_allocatable() -> anyhow::Result<()> {
        let container = json!({
            "name": "app",
            "resources": {"limits": {"memory": "100Mi"}, "requests": {"cpu": "250m"}},
        });
        let sidecar = json!({"name": "side", "resources": {"limits": {"cpu": "1500m"}}});
        let mut p = pod(container.clone());
        if let Some(containers) = p["spec"]["containers"].as_array_mut() {
            containers.push(sidecar);
        }
        let s = sources();
        let cases = [
            (json!({"resource": "limits.cpu"}), "4"),
            (json!({"resource": "requests.cpu"}), "1"),
            (json!({"resource": "requests.cpu", "divisor": "1m"}), "250"),
            (json!({"resource": "limits.memory"}), "104857600"),
            (json!({"resource": "limits.memory", "divisor": "1Mi"}), "100"),
            (json!({"resource": "limits.memory", "divisor": "1G"}), "1"),
            (json!({"resource": "requests.memory"}), "104857600"),
            (json!({"resource": "limits.ephemeral-storage", "divisor": "1Gi"}), "100"),
            (json!({"resource": "requests.ephemeral-storage"}), "0"),
            (json!({"resource": "limits.cpu", "containerName": "side"}), "2"),
            (json!({"resource": "requests.cpu", "containerName": "side", "divisor": "1m"}), "1500"),
            (json!({"resource": "limits.cpu", "divisor": 0}), "4"),
        ];
        for (selector, want) in cases {
            assert_eq!(resource_field(&p, &container, &selector, &s)?, want, "{selector}");
        }
        let missing = resource_field(&p, &container, &json!({"resource": "limits.cpu", "containerName": "x"}), &s);
        assert_eq!(missing.map_err(|e| e.to_string()), Err("container x not found".to_string()));
        Ok(())
    }

    #[test]
    fn command_merges_with_the_image() {
        let image = ImageDefaults { entrypoint: vec!["/entry".into()], cmd: vec!["serve".into(), "-v".into()] };
        let env = vec![("PORT".to_string(), "80".to_string())];
        let cases = [
            (json!({}), Ok(vec!["/entry", "serve", "-v"])),
            (json!({"command": ["/bin/sh"]}), Ok(vec!["/bin/sh"])),
            (json!({"args": ["run", "--port=$(PORT)"]}), Ok(vec!["/entry", "run", "--port=80"])),
            (
                json!({"command": ["/app", "$(PORT)"], "args": ["$(NOPE)", "$$(PORT)"]}),
                Ok(vec!["/app", "80", "$(NOPE)", "$(PORT)"]),
            ),
        ];
        for (container, want) in cases {
            let want = want.map(|v: Vec<&str>| v.into_iter().map(String::from).collect::<Vec<_>>());
            assert_eq!(command(&container, &image, &env), want, "{container}");
        }
        let bare = ImageDefaults { entrypoint: vec![String::new()], cmd: vec![] };
        assert_eq!(command(&json!({}), &bare, &env), Err(ConfigError::NoCommand));
        assert_eq!(command(&json!({}), &bare, &env).map_err(|e| e.to_string()), Err("no command specified".into()));
        let only_cmd = ImageDefaults { entrypoint: vec![String::new()], cmd: vec!["sh".into()] };
        assert_eq!(command(&json!({}), &only_cmd, &env), Ok(vec!["sh".to_string()]));
        // The image's own values are never expanded.
        let literal = ImageDefaults { entrypoint: vec![], cmd: vec!["$(PORT)".into()] };
        assert_eq!(command(&json!({}), &literal, &env), Ok(vec!["$(PORT)".to_string()]));
    }

    #[test]
    fn references_cover_env_volumes_and_pull_secrets() {
        let p = json!({"spec": {
            "initContainers": [{"envFrom": [{"secretRef": {"name": "init-s"}}]}],
            "containers": [{
                "envFrom": [{"configMapRef": {"name": "a", "optional": true}}],
                "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "b", "key": "k", "optional": true}}},
                        {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "c", "key": "k"}}}]
            }],
            "volumes": [
                {"name": "v1", "configMap": {"name": "a"}},
                {"name": "v2", "secret": {"secretName": "d", "optional": true}},
                {"name": "v3", "projected": {"sources": [
                    {"configMap": {"name": "kube-root-ca.crt"}},
                    {"secret": {"name": "e"}},
                    {"serviceAccountToken": {"path": "token"}}
                ]}}
            ],
            "imagePullSecrets": [{"name": "regcred"}]
        }});
        let r = referenced(&p);
        let names = |v: &[Reference]| v.iter().map(|r| (r.name.clone(), r.optional)).collect::<Vec<_>>();
        assert_eq!(
            names(&r.config_maps),
            vec![("a".into(), false), ("b".into(), true), ("kube-root-ca.crt".into(), false)]
        );
        assert_eq!(
            names(&r.secrets),
            vec![
                ("c".into(), false),
                ("d".into(), true),
                ("e".into(), false),
                ("init-s".into(), false),
                ("regcred".into(), true)
            ]
        );
    }
}
