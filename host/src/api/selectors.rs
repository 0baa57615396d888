//! Label and field selectors applied to objects, with the field labels
//! Kubernetes supports for each resource.

use serde_json::{Map, Value};
use skiff_apimachinery::{fields::FieldSelector, labels::Selector};

use super::error::{ApiError, ApiResult};
use crate::resources::ResourceType;

pub struct Filter {
    labels: Option<Selector>,
    fields: Option<FieldSelector>,
    /// Each selected field label and the path it reads.
    paths: Vec<(String, String)>,
}

impl Filter {
    pub fn new(rt: &ResourceType, label_selector: Option<&str>, field_selector: Option<&str>) -> ApiResult<Filter> {
        let labels = match label_selector.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Some(Selector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?),
            None => None,
        };
        let mut paths = Vec::new();
        let fields = match field_selector.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => {
                let parsed = FieldSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?;
                for r in parsed.requirements() {
                    let field = r.field.as_str();
                    let known = matches!(field, "metadata.name" | "metadata.namespace")
                        || rt.strategy.field_labels().contains(&field);
                    if !known {
                        return Err(ApiError::bad_request(format!("field label not supported: {field}")));
                    }
                    paths.push((field.to_string(), rt.strategy.field_label_path(field).to_string()));
                }
                Some(parsed)
            }
            None => None,
        };
        Ok(Filter { labels, fields, paths })
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
            let get = |field: &str| {
                let path = self.paths.iter().find(|(f, _)| f == field).map_or(field, |(_, p)| p.as_str());
                field_value(obj, field, path)
            };
            if !sel.matches(&get) {
                return false;
            }
        }
        true
    }
}

/// The value of a field label, as Kubernetes renders it for matching
/// (absent strings and numbers read as "", booleans as "true"/"false").
fn field_value(obj: &Value, field: &str, path: &str) -> Option<String> {
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
        let registry = Registry::builtin();
        let pods = registry.lookup("", "v1", "pods").expect("pods");
        let f = Filter::new(&pods, Some("app in (web)"), Some("spec.nodeName=n1,status.phase!=Failed")).expect("valid");
        let pod = json!({"metadata": {"name": "p", "labels": {"app": "web"}}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        assert!(f.matches(&pod));
        let other = json!({"metadata": {"name": "p", "labels": {"app": "web"}}, "spec": {"nodeName": "n2"}});
        assert!(!f.matches(&other));
        let err = Filter::new(&pods, None, Some("spec.foo=bar")).err().expect("unsupported");
        assert_eq!(err.code, 400);
        assert!(err.message.contains("field label not supported: spec.foo"));
    }
}
