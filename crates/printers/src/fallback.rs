//! Tables for resources without a dedicated printer, as Kubernetes builds them.
//!
//! Built-in types without a printer (Roles, ClusterRoles, LimitRanges, CRDs ...) go
//! through the API server's default table convertor: Name plus "Created At" as an
//! RFC 3339 date. Custom resources without additionalPrinterColumns get the CRD
//! handler's default: Name plus an "Age" date column rendered as a duration.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::duration::since;
use crate::value::{parse_time, zero_time, Obj};
use crate::{column, name_column, Printer, CREATION_TIMESTAMP_DESCRIPTION};

/// API groups compiled into kube-apiserver (including the aggregator and apiextensions).
const BUILTIN_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

pub(crate) fn is_builtin_group(group: &str) -> bool {
    BUILTIN_GROUPS.contains(&group)
}

pub(crate) static BUILTIN_DEFAULT: Printer = Printer {
    columns: &[name_column(), column("Created At", "date", CREATION_TIMESTAMP_DESCRIPTION)],
    cells: created_at,
};

fn created_at(obj: Obj<'_>, _now: DateTime<Utc>) -> Vec<Value> {
    // An unset timestamp formats as Go's zero time rather than a placeholder.
    let t = obj.time(&["metadata", "creationTimestamp"]).unwrap_or_else(zero_time);
    vec![Value::from(obj.name()), Value::from(t.format("%Y-%m-%dT%H:%M:%SZ").to_string())]
}

pub(crate) static CUSTOM_RESOURCE_DEFAULT: Printer = Printer {
    columns: &[name_column(), column("Age", "date", CREATION_TIMESTAMP_DESCRIPTION)],
    cells: custom_resource_age,
};

fn custom_resource_age(obj: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    // The CRD convertor evaluates a JSONPath: no value gives a null cell (kubectl shows
    // "<none>"), a non-timestamp gives "<invalid>".
    let age = match obj.opt_str(&["metadata", "creationTimestamp"]) {
        Some(s) if DateTime::parse_from_rfc3339(s).is_ok() => Value::from(since(parse_time(s), now)),
        Some(_) => Value::from("<invalid>"),
        None => Value::Null,
    };
    vec![Value::from(obj.name()), age]
}
