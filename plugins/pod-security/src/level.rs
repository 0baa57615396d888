//! Pod Security levels and versions, and the namespace labels that choose them.
//!
//! A namespace picks a level (and optionally a version) for each of the three modes with the
//! `pod-security.kubernetes.io/<mode>[-version]` labels; what it does not pick comes from the
//! plugin's configured defaults. The parsing follows Kubernetes' `PolicyToEvaluate`: a bad
//! enforce level fails closed (restricted), a bad audit or warn level fails open (privileged),
//! and a bad version means `latest`; each bad label is also reported as an error.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

/// The label prefix shared by every Pod Security label.
const LABEL_PREFIX: &str = "pod-security.kubernetes.io/";

/// How strict a policy is. Ordered from least to most strict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    /// Parses a level label value; the error text is Kubernetes' own.
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        match value {
            "privileged" => Ok(Level::Privileged),
            "baseline" => Ok(Level::Baseline),
            "restricted" => Ok(Level::Restricted),
            _ => Err("must be one of privileged, baseline, restricted"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy version: `latest` or a Kubernetes minor version `v1.X`.
///
/// skiff evaluates every version with the latest checks; the version is kept so messages name
/// the policy the namespace asked for, as Kubernetes' do (`"baseline:v1.30"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    Latest,
    V1(u32),
}

impl Version {
    /// Parses a version label value: `latest` or `v1.X` with no leading zeros.
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        const INVALID: &str = r#"must be "latest" or "v1.x""#;
        if value == "latest" {
            return Ok(Version::Latest);
        }
        let minor = value.strip_prefix("v1.").ok_or(INVALID)?;
        let canonical = minor == "0" || (!minor.is_empty() && !minor.starts_with('0'));
        if !canonical || !minor.bytes().all(|b| b.is_ascii_digit()) {
            return Err(INVALID);
        }
        minor.parse().map(Version::V1).map_err(|_| INVALID)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Latest => f.write_str("latest"),
            Version::V1(minor) => write!(f, "v1.{minor}"),
        }
    }
}

/// A level at a version, shown as Kubernetes shows it: `baseline:latest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LevelVersion {
    pub level: Level,
    pub version: Version,
}

impl LevelVersion {
    pub const PRIVILEGED: LevelVersion = LevelVersion { level: Level::Privileged, version: Version::Latest };

    /// Same policy: levels equal and, unless privileged (which has no checks), versions equal.
    fn equivalent(&self, other: &LevelVersion) -> bool {
        self.level == other.level && (self.level == Level::Privileged || self.version == other.version)
    }
}

impl fmt::Display for LevelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.level, self.version)
    }
}

/// The three modes: enforce denies, audit logs, warn answers with warnings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub enforce: LevelVersion,
    pub audit: LevelVersion,
    pub warn: LevelVersion,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { enforce: LevelVersion::PRIVILEGED, audit: LevelVersion::PRIVILEGED, warn: LevelVersion::PRIVILEGED }
    }
}

impl Policy {
    pub fn fully_privileged(&self) -> bool {
        [self.enforce, self.audit, self.warn].iter().all(|lv| lv.level == Level::Privileged)
    }

    pub fn equivalent(&self, other: &Policy) -> bool {
        self.enforce.equivalent(&other.enforce)
            && self.audit.equivalent(&other.audit)
            && self.warn.equivalent(&other.warn)
    }
}

/// The three modes, in the order Kubernetes reads and reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Audit,
    Warn,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Enforce, Mode::Audit, Mode::Warn];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
            Mode::Warn => "warn",
        }
    }

    /// `pod-security.kubernetes.io/<mode>`.
    pub fn level_label(self) -> String {
        format!("{LABEL_PREFIX}{}", self.as_str())
    }

    /// `pod-security.kubernetes.io/<mode>-version`.
    pub fn version_label(self) -> String {
        format!("{LABEL_PREFIX}{}-version", self.as_str())
    }

    fn of(self, policy: &mut Policy) -> &mut LevelVersion {
        match self {
            Mode::Enforce => &mut policy.enforce,
            Mode::Audit => &mut policy.audit,
            Mode::Warn => &mut policy.warn,
        }
    }
}

/// A namespace label that does not parse, printed like Kubernetes' field error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelError {
    pub label: String,
    pub value: String,
    pub reason: &'static str,
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "metadata.labels[{}]: Invalid value: {:?}: {}", self.label, self.value, self.reason)
    }
}

/// The policy a namespace's labels ask for, on top of `defaults`, and the labels that are wrong.
/// A usable policy comes back even when some labels are wrong.
pub fn policy_from_labels(labels: &BTreeMap<String, String>, defaults: &Policy) -> (Policy, Vec<LabelError>) {
    let mut policy = *defaults;
    let mut errors = Vec::new();
    for mode in Mode::ALL {
        let level_label = mode.level_label();
        if let Some(value) = labels.get(&level_label) {
            let level = Level::parse(value).unwrap_or_else(|reason| {
                errors.push(LabelError { label: level_label, value: value.clone(), reason });
                // Denying is the safe failure for enforce; audit and warn only inform.
                if mode == Mode::Enforce {
                    Level::Restricted
                } else {
                    Level::Privileged
                }
            });
            mode.of(&mut policy).level = level;
        }
        let version_label = mode.version_label();
        if let Some(value) = labels.get(&version_label) {
            mode.of(&mut policy).version = Version::parse(value).unwrap_or_else(|reason| {
                errors.push(LabelError { label: version_label, value: value.clone(), reason });
                Version::Latest
            });
        }
    }
    // Since Kubernetes 1.26 a namespace that only sets `enforce` also warns at that level, so
    // workload resources (where enforce does not apply) still tell their author early.
    if labels.contains_key(&Mode::Enforce.level_label())
        && !labels.contains_key(&Mode::Warn.level_label())
        && policy.enforce.level > policy.warn.level
    {
        policy.warn.level = policy.enforce.level;
        if !labels.contains_key(&Mode::Warn.version_label()) {
            policy.warn.version = policy.enforce.version;
        }
    }
    (policy, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (format!("{LABEL_PREFIX}{k}"), v.to_string())).collect()
    }

    fn lv(level: Level, version: Version) -> LevelVersion {
        LevelVersion { level, version }
    }

    #[test]
    fn versions_parse_like_kubernetes() {
        assert_eq!(Version::parse("latest"), Ok(Version::Latest));
        assert_eq!(Version::parse("v1.0"), Ok(Version::V1(0)));
        assert_eq!(Version::parse("v1.31"), Ok(Version::V1(31)));
        for bad in ["", "v1.", "v1.01", "v2.3", "1.30", "v1.3x", "v1.-1", "Latest", "v1.99999999999"] {
            assert_eq!(Version::parse(bad), Err(r#"must be "latest" or "v1.x""#), "{bad}");
        }
        assert_eq!(Version::V1(30).to_string(), "v1.30");
    }

    #[test]
    fn no_labels_means_the_defaults() {
        let defaults = Policy { enforce: lv(Level::Baseline, Version::V1(30)), ..Policy::default() };
        assert_eq!(policy_from_labels(&BTreeMap::new(), &defaults), (defaults, vec![]));
    }

    #[test]
    fn labels_set_levels_and_versions() {
        let (p, errs) = policy_from_labels(
            &labels(&[
                ("enforce", "baseline"),
                ("enforce-version", "v1.29"),
                ("audit", "restricted"),
                ("warn", "restricted"),
            ]),
            &Policy::default(),
        );
        assert!(errs.is_empty());
        assert_eq!(p.enforce, lv(Level::Baseline, Version::V1(29)));
        assert_eq!(p.audit, lv(Level::Restricted, Version::Latest));
        assert_eq!(p.warn, lv(Level::Restricted, Version::Latest));
        assert_eq!(p.enforce.to_string(), "baseline:v1.29");
    }

    #[test]
    fn bad_labels_fail_closed_for_enforce_and_open_for_the_others() {
        let (p, errs) = policy_from_labels(
            &labels(&[("enforce", "strict"), ("audit", "x"), ("warn", "y"), ("warn-version", "v2")]),
            &Policy::default(),
        );
        assert_eq!(p.enforce.level, Level::Restricted);
        assert_eq!(p.audit.level, Level::Privileged);
        assert_eq!(p.warn, lv(Level::Privileged, Version::Latest));
        let errs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            [
                r#"metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted"#,
                r#"metadata.labels[pod-security.kubernetes.io/audit]: Invalid value: "x": must be one of privileged, baseline, restricted"#,
                r#"metadata.labels[pod-security.kubernetes.io/warn]: Invalid value: "y": must be one of privileged, baseline, restricted"#,
                r#"metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: "v2": must be "latest" or "v1.x""#,
            ]
        );
    }

    #[test]
    fn warn_follows_a_stricter_enforce_label() {
        // Only enforce set: warn takes its level and version.
        let (p, _) =
            policy_from_labels(&labels(&[("enforce", "baseline"), ("enforce-version", "v1.30")]), &Policy::default());
        assert_eq!(p.warn, lv(Level::Baseline, Version::V1(30)));
        // An explicit warn-version is kept.
        let (p, _) =
            policy_from_labels(&labels(&[("enforce", "restricted"), ("warn-version", "v1.28")]), &Policy::default());
        assert_eq!(p.warn, lv(Level::Restricted, Version::V1(28)));
        // An explicit warn level wins, even a weaker one.
        let (p, _) =
            policy_from_labels(&labels(&[("enforce", "restricted"), ("warn", "baseline")]), &Policy::default());
        assert_eq!(p.warn.level, Level::Baseline);
        // A default enforce level (no label) does not move warn.
        let defaults = Policy { enforce: lv(Level::Baseline, Version::Latest), ..Policy::default() };
        let (p, _) = policy_from_labels(&BTreeMap::new(), &defaults);
        assert_eq!(p.warn.level, Level::Privileged);
        // A default warn stricter than enforce stays.
        let defaults = Policy { warn: lv(Level::Restricted, Version::Latest), ..Policy::default() };
        let (p, _) = policy_from_labels(&labels(&[("enforce", "baseline")]), &defaults);
        assert_eq!(p.warn.level, Level::Restricted);
    }

    #[test]
    fn equivalence_ignores_the_version_of_privileged() {
        let a = Policy { enforce: lv(Level::Privileged, Version::V1(20)), ..Policy::default() };
        assert!(a.equivalent(&Policy::default()));
        assert!(a.fully_privileged());
        let b = Policy { audit: lv(Level::Baseline, Version::V1(20)), ..Policy::default() };
        let c = Policy { audit: lv(Level::Baseline, Version::Latest), ..Policy::default() };
        assert!(!b.equivalent(&c));
        assert!(!b.fully_privileged());
    }
}
