//! Label and field selectors applied to objects, with the field labels
//! Kubernetes supports for each resource.

use serde_json::{Map, Value};
use skiff_apimachinery::{fields::FieldSelector, labels::Selector};

use super::error::{ApiError, ApiResult};
use crate::resources::ResourceType;

pub struct Filter {
    labels: Option<Selector>,
    fields: Option<FieldSelector>,
    group: &'static str,
    plural: &'static str,
}

impl Filter {
    pub fn new(rt: &ResourceType, label_selector: Option<&str>, field_selector: Option<&str>) -> ApiResult<Filter> {
        let labels = match label_selector.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Some(Selector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?),
            None => None,
        };
        let fields = match field_selector.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => {
                let parsed = FieldSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?;
                for r in parsed.requirements() {
                    if !supported(rt, &r.field) {
                        return Err(ApiError::bad_request(format!("field label not supported: {}", r.field)));
                    }
                }
                Some(parsed)
            }
            None => None,
        };
        Ok(Filter { labels, fields, group: rt.group, plural: rt.plural })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(sel) = &self.labels {
            let empty = Map::new();
            let labels = obj["metadata"]["labels"].as_object().unwrap_or(&empty);
            if !sel.matches(labels) {
                return false;
            }
        }
        if let Some(sel) = &self.fields {
            let get = |field: &str| field_value(self.group, self.plural, obj, field);
            if !sel.matches(&get) {
                return false;
            }
        }
        true
    }
}

fn supported_fields(group: &str, plural: &str) -> &'static [&'static str] {
    match (group, plural) {
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("", "secrets") => &["type"],
        ("", "namespaces") => &["status.phase"],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "persistentvolumeclaims") | ("", "persistentvolumes") => &["status.phase"],
        ("batch", "jobs") => &["status.successful"],
        ("apps", "replicasets") => &["status.replicas"],
        _ => &[],
    }
}

fn supported(rt: &ResourceType, field: &str) -> bool {
    matches!(field, "metadata.name" | "metadata.namespace") || supported_fields(rt.group, rt.plural).contains(&field)
}

/// The value of a field label, as Kubernetes renders it for matching
/// (absent strings and numbers read as "", booleans as "true"/"false").
fn field_value(group: &str, plural: &str, obj: &Value, field: &str) -> Option<String> {
    let path: &str = match (group, plural, field) {
        ("", "events", "source") => "source.component",
        _ => field,
    };
    let v = path.split('.').try_fold(obj, |v, part| v.get(part)).unwrap_or(&Value::Null);
    Some(match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null if field == "spec.hostNetwork" || field == "spec.unschedulable" => "false".into(),
        _ => String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;
    use serde_json::json;

    #[test]
    fn field_selectors_check_support_and_match() {
        let pods = Registry::get().lookup("", "v1", "pods").expect("pods");
        let f = Filter::new(pods, Some("app in (web)"), Some("spec.nodeName=n1,status.phase!=Failed")).expect("valid");
        let pod = json!({"metadata": {"name": "p", "labels": {"app": "web"}}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        assert!(f.matches(&pod));
        let other = json!({"metadata": {"name": "p", "labels": {"app": "web"}}, "spec": {"nodeName": "n2"}});
        assert!(!f.matches(&other));
        let err = Filter::new(pods, None, Some("spec.foo=bar")).err().expect("unsupported");
        assert_eq!(err.code, 400);
        assert!(err.message.contains("field label not supported: spec.foo"));
    }
}
