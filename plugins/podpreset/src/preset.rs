//! The PodPreset object (`settings.k8s.io/v1alpha1`, as Kubernetes served it up to 1.19) and
//! which pods its label selector picks.

use std::collections::BTreeMap;

use serde::Deserialize;
use skiff_plugin_sdk::k8s_openapi::api::core::v1::{EnvFromSource, EnvVar, VolumeMount};
use skiff_plugin_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::pod::Volume;

/// Where skiff serves PodPresets.
pub const GROUP: &str = "settings.k8s.io";
pub const VERSION: &str = "v1alpha1";
pub const PLURAL: &str = "podpresets";

/// A PodPreset: what to inject into the pods its selector matches.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PodPreset {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodPresetSpec,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodPresetSpec {
    /// Pods whose labels match; an empty (or absent) selector matches every pod.
    #[serde(default)]
    pub selector: LabelSelector,
    #[serde(default)]
    pub env: Vec<EnvVar>,
    #[serde(default)]
    pub env_from: Vec<EnvFromSource>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub volume_mounts: Vec<VolumeMount>,
}

impl PodPreset {
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    /// Whether the preset applies to a pod with these labels; an error names a selector that
    /// cannot be evaluated (the API would have refused it).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> Result<bool, String> {
        selector_matches(&self.spec.selector, labels)
    }
}

/// Kubernetes' label selector semantics: every `matchLabels` pair and every expression must
/// hold; nothing to hold means everything matches.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> Result<bool, String> {
    let exact = selector.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    let mut all = exact;
    for expr in selector.match_expressions.iter().flatten() {
        let values = expr.values.as_deref().unwrap_or_default();
        let value = labels.get(&expr.key);
        let holds = match expr.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(format!("{} for key {:?} needs at least one value", expr.operator, expr.key))
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err(format!("{} for key {:?} takes no values", expr.operator, expr.key))
            }
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => return Err(format!("{other:?} is not a valid label selector operator")),
        };
        // Keep going after a miss so a malformed expression is still reported.
        all &= holds;
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn selector(value: serde_json::Value) -> LabelSelector {
        serde_json::from_value(value).expect("selector")
    }

    #[test]
    fn selector_table() {
        let pod = labels(&[("app", "web"), ("tier", "front")]);
        let cases = [
            (json!({}), Ok(true)),
            (json!({"matchLabels": {"app": "web"}}), Ok(true)),
            (json!({"matchLabels": {"app": "web", "tier": "back"}}), Ok(false)),
            (json!({"matchLabels": {"role": "db"}}), Ok(false)),
            (json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "edge"]}]}), Ok(true)),
            (json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["back"]}]}), Ok(false)),
            (json!({"matchExpressions": [{"key": "role", "operator": "In", "values": ["db"]}]}), Ok(false)),
            (json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["back"]}]}), Ok(true)),
            (json!({"matchExpressions": [{"key": "role", "operator": "NotIn", "values": ["db"]}]}), Ok(true)),
            (json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}), Ok(false)),
            (json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}), Ok(true)),
            (json!({"matchExpressions": [{"key": "role", "operator": "Exists"}]}), Ok(false)),
            (json!({"matchExpressions": [{"key": "role", "operator": "DoesNotExist"}]}), Ok(true)),
            (json!({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}), Ok(false)),
            (
                json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}, {"key": "x", "operator": "DoesNotExist"}]}),
                Ok(true),
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": []}]}),
                Err(r#"In for key "tier" needs at least one value"#.to_owned()),
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["x"]}]}),
                Err(r#"Exists for key "tier" takes no values"#.to_owned()),
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "Like", "values": ["x"]}]}),
                Err(r#""Like" is not a valid label selector operator"#.to_owned()),
            ),
        ];
        for (sel, want) in cases {
            assert_eq!(selector_matches(&selector(sel.clone()), &pod), want, "{sel}");
        }
        // A pod without labels matches only selectors that ask for nothing to be present.
        assert_eq!(selector_matches(&selector(json!({})), &BTreeMap::new()), Ok(true));
        assert_eq!(selector_matches(&selector(json!({"matchLabels": {"app": "web"}})), &BTreeMap::new()), Ok(false));
    }

    #[test]
    fn presets_decode_with_everything_optional() {
        let p: PodPreset = serde_json::from_value(json!({
            "apiVersion": "settings.k8s.io/v1alpha1", "kind": "PodPreset",
            "metadata": {"name": "allow-database", "resourceVersion": "7"},
            "spec": {"selector": {"matchLabels": {"role": "frontend"}},
                     "env": [{"name": "DB_PORT", "value": "6379"}],
                     "envFrom": [{"configMapRef": {"name": "etcd-env-config"}}],
                     "volumeMounts": [{"mountPath": "/cache", "name": "cache-volume"}],
                     "volumes": [{"name": "cache-volume", "emptyDir": {}}]}
        }))
        .expect("preset");
        assert_eq!(p.name(), "allow-database");
        assert_eq!(
            (p.spec.env.len(), p.spec.env_from.len(), p.spec.volumes.len(), p.spec.volume_mounts.len()),
            (1, 1, 1, 1)
        );
        let empty: PodPreset = serde_json::from_value(json!({"metadata": {"name": "e"}})).expect("preset");
        assert_eq!(empty.matches(&BTreeMap::new()), Ok(true));
    }
}
