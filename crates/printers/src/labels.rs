//! Label maps and label selectors rendered as apimachinery's `labels.Set.String`,
//! `LabelSelectorAsSelector(..).String()` and `metav1.FormatLabelSelector` do.

use serde_json::{Map, Value};

use crate::value::Obj;

/// `labels.FormatLabels`: "k=v" pairs sorted as whole strings, or "<none>".
pub(crate) fn format_labels(map: Option<&Map<String, Value>>) -> String {
    let mut pairs: Vec<String> =
        map.into_iter().flatten().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect();
    // Go sorts the joined "k=v" strings, not the keys; that differs when one key prefixes another.
    pairs.sort();
    if pairs.is_empty() {
        "<none>".to_string()
    } else {
        pairs.join(",")
    }
}

/// Why a selector could not be turned into a labels.Selector.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct InvalidSelector;

/// `metav1.LabelSelectorAsSelector(sel).String()`. A missing selector (Nothing) and an
/// empty one (Everything) both render as "".
pub(crate) fn selector_string(sel: Obj<'_>) -> Result<String, InvalidSelector> {
    let Some(Value::Object(_)) = sel.at(&[]) else {
        return Ok(String::new());
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    for (key, value) in sel.map(&["matchLabels"]).into_iter().flatten() {
        if key.is_empty() {
            return Err(InvalidSelector);
        }
        reqs.push((key.clone(), format!("{key}={}", value.as_str().unwrap_or(""))));
    }
    for expr in sel.list(&["matchExpressions"]) {
        let key = expr.str(&["key"]);
        if key.is_empty() {
            return Err(InvalidSelector);
        }
        let mut values = expr.strs(&["values"]);
        let text = match expr.str(&["operator"]) {
            op @ ("In" | "NotIn") => {
                if values.is_empty() {
                    return Err(InvalidSelector);
                }
                values.sort_unstable();
                let word = if op == "In" { "in" } else { "notin" };
                format!("{key} {word} ({})", values.join(","))
            }
            "Exists" if values.is_empty() => key.to_string(),
            "DoesNotExist" if values.is_empty() => format!("!{key}"),
            _ => return Err(InvalidSelector),
        };
        reqs.push((key.to_string(), text));
    }
    // The selector orders requirements by key; keep insertion order among equal keys.
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(reqs.into_iter().map(|(_, t)| t).collect::<Vec<_>>().join(","))
}

/// `metav1.FormatLabelSelector`: "<none>" when it selects by nothing, "<error>" when invalid.
pub(crate) fn format_label_selector(sel: Obj<'_>) -> String {
    match selector_string(sel) {
        Ok(s) if s.is_empty() => "<none>".to_string(),
        Ok(s) => s,
        Err(InvalidSelector) => "<error>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_sort_as_pairs() {
        let m = json!({"app": "web", "a.b": "x", "a": "y"});
        assert_eq!(format_labels(m.as_object()), "a.b=x,a=y,app=web");
        assert_eq!(format_labels(None), "<none>");
        assert_eq!(format_labels(json!({}).as_object()), "<none>");
    }

    #[test]
    fn selector_with_expressions() {
        let sel = json!({
            "matchLabels": {"tier": "frontend", "app": "web"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                {"key": "zone", "operator": "NotIn", "values": ["b"]},
                {"key": "gpu", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist"}
            ]
        });
        assert_eq!(
            format_label_selector(Obj(&sel)),
            "app=web,env in (dev,prod),gpu,!legacy,tier=frontend,zone notin (b)"
        );
    }

    #[test]
    fn empty_and_missing_selectors() {
        assert_eq!(format_label_selector(Obj(&Value::Null)), "<none>");
        assert_eq!(format_label_selector(Obj(&json!({}))), "<none>");
        assert_eq!(selector_string(Obj(&json!({"matchLabels": {}}))), Ok(String::new()));
    }

    #[test]
    fn invalid_selectors() {
        let bad_op = json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]});
        assert_eq!(format_label_selector(Obj(&bad_op)), "<error>");
        let no_values = json!({"matchExpressions": [{"key": "a", "operator": "In"}]});
        assert_eq!(format_label_selector(Obj(&no_values)), "<error>");
        let exists_with_values = json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]});
        assert_eq!(selector_string(Obj(&exists_with_values)), Err(InvalidSelector));
    }
}
