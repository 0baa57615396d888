//! Label and node selector matching, with Kubernetes' semantics.

use crate::model::{label, LabelSelector, Labels, Node, NodeSelectorTerm, Operator, Requirement};

/// A requirement against a set of labels (`Gt`/`Lt` compare integers; a value
/// that is not one never matches).
pub fn requirement_matches(req: &Requirement, labels: &Labels) -> bool {
    let value = label(labels, &req.key);
    match req.operator {
        Operator::In => value.is_some_and(|v| req.values.iter().any(|x| x == v)),
        Operator::NotIn => value.is_none_or(|v| !req.values.iter().any(|x| x == v)),
        Operator::Exists => value.is_some(),
        Operator::DoesNotExist => value.is_none(),
        Operator::Gt | Operator::Lt => {
            let (Some(v), Some(bound)) = (value, req.values.first()) else { return false };
            let (Ok(v), Ok(bound)) = (v.parse::<i64>(), bound.parse::<i64>()) else { return false };
            if req.operator == Operator::Gt {
                v > bound
            } else {
                v < bound
            }
        }
    }
}

pub fn selector_matches(selector: &LabelSelector, labels: &Labels) -> bool {
    selector.match_labels.iter().all(|(k, v)| label(labels, k) == Some(v.as_str()))
        && selector.match_expressions.iter().all(|r| requirement_matches(r, labels))
}

/// A node selector term: all its expressions and fields hold. A term with
/// neither matches no node, as in Kubernetes.
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    if term.match_expressions.is_empty() && term.match_fields.is_empty() {
        return false;
    }
    term.match_expressions.iter().all(|r| requirement_matches(r, &node.labels))
        && term.match_fields.iter().all(|r| {
            // Only metadata.name is a valid field (validation refuses others).
            r.key == "metadata.name" && {
                let fields = vec![("metadata.name".to_string(), node.name.clone())];
                requirement_matches(r, &fields)
            }
        })
}
