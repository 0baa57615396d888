//! The plugin's configuration, shaped like Kubernetes' `PodSecurityConfiguration`.
//!
//! ```json
//! {"defaults": {"enforce": "baseline", "enforce-version": "latest", "warn": "restricted"},
//!  "exemptions": {"usernames": ["system:serviceaccount:kube-system:replicaset-controller"],
//!                 "namespaces": ["kube-system"], "runtimeClasses": ["kata"]}}
//! ```
//!
//! Everything is optional; the defaults are privileged:latest for every mode and no exemptions.
//! `apiVersion` and `kind` are accepted (and ignored) so Kubernetes' file can be pasted as is;
//! any other unknown field is an error, so a typo does not silently weaken the policy.

use serde::Deserialize;

use crate::level::{Level, LevelVersion, Policy, Version};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    // Accepted so Kubernetes' file can be used as is; their values do not matter.
    #[serde(default, rename = "apiVersion")]
    _api_version: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "kind")]
    _kind: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    pub exemptions: Exemptions,
}

/// The policy of namespaces that do not label a mode.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Defaults {
    enforce: Option<String>,
    enforce_version: Option<String>,
    audit: Option<String>,
    audit_version: Option<String>,
    warn: Option<String>,
    warn_version: Option<String>,
}

/// Requests that Pod Security does not look at.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Exemptions {
    /// Authenticated users whose requests are not checked.
    #[serde(default)]
    pub usernames: Vec<String>,
    /// Namespaces whose pods and workloads are not checked.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Runtime classes whose pods are not checked (e.g. a VM-isolated runtime).
    #[serde(default)]
    pub runtime_classes: Vec<String>,
}

impl Exemptions {
    pub fn user(&self, username: &str) -> bool {
        !username.is_empty() && self.usernames.iter().any(|u| u == username)
    }

    pub fn namespace(&self, namespace: &str) -> bool {
        !namespace.is_empty() && self.namespaces.iter().any(|n| n == namespace)
    }

    pub fn runtime_class(&self, class: Option<&str>) -> bool {
        class.is_some_and(|c| !c.is_empty() && self.runtime_classes.iter().any(|r| r == c))
    }
}

impl Config {
    /// Parses the configuration JSON; a message for a person when it is not acceptable.
    pub fn parse(json: &str) -> Result<Config, String> {
        let json = if json.trim().is_empty() { "{}" } else { json };
        let config: Config = serde_json::from_str(json).map_err(|e| format!("invalid pod-security config: {e}"))?;
        config.default_policy()?;
        Ok(config)
    }

    /// The policy for modes a namespace does not label.
    pub fn default_policy(&self) -> Result<Policy, String> {
        let d = &self.defaults;
        let mode = |name: &str, level: &Option<String>, version: &Option<String>| -> Result<LevelVersion, String> {
            let level = match level {
                Some(l) => Level::parse(l).map_err(|e| format!("invalid pod-security config: defaults.{name}: {e}"))?,
                None => Level::Privileged,
            };
            let version = match version {
                Some(v) => Version::parse(v)
                    .map_err(|e| format!("invalid pod-security config: defaults.{name}-version: {e}"))?,
                None => Version::Latest,
            };
            Ok(LevelVersion { level, version })
        };
        Ok(Policy {
            enforce: mode("enforce", &d.enforce, &d.enforce_version)?,
            audit: mode("audit", &d.audit, &d.audit_version)?,
            warn: mode("warn", &d.warn, &d.warn_version)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_all_privileged() {
        for json in ["", "{}", " "] {
            let config = Config::parse(json).expect("valid");
            assert_eq!(config.default_policy(), Ok(Policy::default()));
            assert_eq!(config.exemptions, Exemptions::default());
        }
    }

    #[test]
    fn kubernetes_configuration_is_accepted() {
        let config = Config::parse(
            r#"{"apiVersion": "pod-security.admission.config.k8s.io/v1", "kind": "PodSecurityConfiguration",
                "defaults": {"enforce": "baseline", "enforce-version": "v1.30", "audit": "restricted", "warn": "restricted", "warn-version": "latest"},
                "exemptions": {"usernames": ["admin"], "namespaces": ["kube-system"], "runtimeClasses": ["kata"]}}"#,
        )
        .expect("valid");
        let p = config.default_policy().expect("valid");
        assert_eq!(p.enforce.to_string(), "baseline:v1.30");
        assert_eq!(p.audit.to_string(), "restricted:latest");
        assert_eq!(p.warn.to_string(), "restricted:latest");
        assert!(config.exemptions.user("admin") && !config.exemptions.user("bob") && !config.exemptions.user(""));
        assert!(config.exemptions.namespace("kube-system") && !config.exemptions.namespace("default"));
        assert!(config.exemptions.runtime_class(Some("kata")) && !config.exemptions.runtime_class(None));
    }

    #[test]
    fn bad_configs_say_what_is_wrong() {
        let cases = [
            (
                r#"{"defaults": {"enforce": "strict"}}"#,
                "defaults.enforce: must be one of privileged, baseline, restricted",
            ),
            (r#"{"defaults": {"warn-version": "1.30"}}"#, r#"defaults.warn-version: must be "latest" or "v1.x""#),
            (r#"{"exemptions": {"namespace": ["x"]}}"#, "unknown field `namespace`"),
            (r#"{"defaults": "baseline"}"#, "invalid type"),
            ("[", "EOF"),
        ];
        for (json, want) in cases {
            let err = Config::parse(json).expect_err(json);
            assert!(err.starts_with("invalid pod-security config: ") && err.contains(want), "{json}: {err}");
        }
    }
}
