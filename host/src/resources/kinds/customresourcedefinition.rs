//! CustomResourceDefinition (apiextensions.k8s.io/v1): a spec Kubernetes
//! would accept (names, scope, versions with one storage version, structural
//! schemas, subresources, printer columns); status belongs to the CRD
//! controller (`crate::controllers::crd`), which names what was accepted.

use serde_json::{json, Value};
use skiff_apimachinery::names;
use skiff_apimachinery::schema::Structural;

use crate::errors::Cause;
use crate::resources::validation::immutable;
use crate::resources::Strategy;

pub struct CustomResourceDefinition;

/// Held until the CRD's objects are gone (the CRD controller removes it).
const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

impl Strategy for CustomResourceDefinition {
    fn prepare_for_create(&self, obj: &mut Value) {
        crate::meta::add_finalizer(obj, CLEANUP_FINALIZER);
        if obj.is_object() {
            obj["status"] =
                json!({"acceptedNames": {"plural": "", "kind": ""}, "conditions": [], "storedVersions": []});
        }
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_crd(obj)
    }

    fn validate_update(&self, obj: &Value, old: &Value) -> Vec<Cause> {
        let mut errs = Vec::new();
        immutable(obj, old, &["spec.scope", "spec.group"], &mut errs);
        // A version that holds stored objects must stay until they are migrated.
        let versions: Vec<&str> =
            obj["spec"]["versions"].as_array().into_iter().flatten().filter_map(|v| v["name"].as_str()).collect();
        for stored in old["status"]["storedVersions"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !versions.contains(&stored) {
                errs.push(Cause::invalid(
                    "status.storedVersions",
                    &old["status"]["storedVersions"],
                    format!("must appear in spec.versions: {stored}"),
                ));
            }
        }
        errs
    }
}

/// Everything Kubernetes' CRD validation would refuse that skiff can check.
pub fn validate_crd(obj: &Value) -> Vec<Cause> {
    let mut errs = Vec::new();
    let spec = &obj["spec"];
    let group = spec["group"].as_str().unwrap_or("");
    let names_ = &spec["names"];
    let plural = names_["plural"].as_str().unwrap_or("");
    if group.is_empty() {
        errs.push(Cause::required("spec.group"));
    } else {
        for p in names::is_dns1123_subdomain(group) {
            errs.push(Cause::invalid("spec.group", &spec["group"], p));
        }
        if group.split('.').count() < 2 {
            errs.push(Cause::invalid("spec.group", &spec["group"], "should be a domain with at least one dot"));
        }
        let protected = ["k8s.io", "kubernetes.io"].iter().any(|d| group == *d || group.ends_with(&format!(".{d}")));
        if protected && obj["metadata"]["annotations"]["api-approved.kubernetes.io"].as_str().unwrap_or("").is_empty() {
            errs.push(Cause::required("metadata.annotations[api-approved.kubernetes.io]").with_detail(
                "protected groups must have approval annotation \"api-approved.kubernetes.io\", see https://github.com/kubernetes/enhancements/pull/1111",
            ));
        }
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        errs.push(Cause::invalid(
            "metadata.name",
            &obj["metadata"]["name"],
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    match spec["scope"].as_str() {
        Some("Namespaced" | "Cluster") => {}
        None => errs.push(Cause::required("spec.scope")),
        Some(_) => errs.push(Cause::unsupported("spec.scope", &spec["scope"], &["Cluster", "Namespaced"])),
    }
    for field in ["plural", "singular", "kind", "listKind"] {
        let v = &names_[field];
        let Some(text) = v.as_str().filter(|s| !s.is_empty()) else {
            if matches!(field, "plural" | "kind") {
                errs.push(Cause::required(format!("spec.names.{field}")));
            }
            continue;
        };
        let problems =
            if matches!(field, "kind" | "listKind") { kind_problems(text) } else { names::is_dns1123_label(text) };
        for p in problems {
            errs.push(Cause::invalid(format!("spec.names.{field}"), v, p));
        }
    }
    for (field, list) in [("shortNames", &names_["shortNames"]), ("categories", &names_["categories"])] {
        for (i, v) in list.as_array().into_iter().flatten().enumerate() {
            for p in names::is_dns1123_label(v.as_str().unwrap_or("")) {
                errs.push(Cause::invalid(format!("spec.names.{field}[{i}]"), v, p));
            }
        }
    }
    let versions = spec["versions"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if versions.is_empty() {
        errs.push(
            Cause::required("spec.versions").with_detail("must have exactly one version marked as storage version"),
        );
    }
    let storage = versions.iter().filter(|v| v["storage"].as_bool() == Some(true)).count();
    if !versions.is_empty() && storage != 1 {
        errs.push(Cause::invalid(
            "spec.versions",
            &Value::from(storage),
            "must have exactly one version marked as storage version",
        ));
    }
    if !versions.is_empty() && !versions.iter().any(|v| v["served"].as_bool() == Some(true)) {
        errs.push(Cause::invalid(
            "spec.versions",
            &spec["versions"],
            "must have at least one version marked as served",
        ));
    }
    let mut seen = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        let at = format!("spec.versions[{i}]");
        let vname = v["name"].as_str().unwrap_or("");
        if vname.is_empty() {
            errs.push(Cause::required(format!("{at}.name")));
        } else {
            for p in names::is_dns1123_label(vname) {
                errs.push(Cause::invalid(format!("{at}.name"), &v["name"], p));
            }
            if seen.contains(&vname) {
                errs.push(Cause::duplicate(format!("{at}.name"), &v["name"]));
            }
            seen.push(vname);
        }
        match v["schema"].get("openAPIV3Schema") {
            None => errs.push(Cause::required(format!("{at}.schema.openAPIV3Schema"))),
            Some(schema) => {
                if let Err(problems) = Structural::from_json(schema, &format!("{at}.schema.openAPIV3Schema")) {
                    errs.extend(problems.into_iter().map(Cause::from));
                }
            }
        }
        let scale = &v["subresources"]["scale"];
        if scale.is_object() {
            for (field, required, prefixes) in [
                ("specReplicasPath", true, &[".spec."][..]),
                ("statusReplicasPath", true, &[".status."][..]),
                ("labelSelectorPath", false, &[".spec.", ".status."][..]),
            ] {
                match scale[field].as_str() {
                    None if required => errs.push(Cause::required(format!("{at}.subresources.scale.{field}"))),
                    None => {}
                    Some(p)
                        if !prefixes.iter().any(|pre| p.len() > pre.len() && p.starts_with(pre))
                            || p.contains('[')
                            || p.split('.').skip(1).any(str::is_empty) =>
                    {
                        errs.push(Cause::invalid(
                            format!("{at}.subresources.scale.{field}"),
                            &scale[field],
                            format!("should be a json path under {}", prefixes.join(" or ")),
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        for (j, c) in v["additionalPrinterColumns"].as_array().into_iter().flatten().enumerate() {
            let cat = format!("{at}.additionalPrinterColumns[{j}]");
            if c["name"].as_str().unwrap_or("").is_empty() {
                errs.push(Cause::required(format!("{cat}.name")));
            }
            if c["jsonPath"].as_str().unwrap_or("").is_empty() {
                errs.push(Cause::required(format!("{cat}.jsonPath")));
            }
            let types = ["integer", "number", "string", "boolean", "date"];
            if !c["type"].as_str().is_some_and(|t| types.contains(&t)) {
                errs.push(Cause::unsupported(format!("{cat}.type"), &c["type"], &types));
            }
        }
    }
    if let Some(strategy) = spec["conversion"]["strategy"].as_str() {
        if strategy != "None" {
            errs.push(
                Cause::unsupported("spec.conversion.strategy", &spec["conversion"]["strategy"], &["None"])
                    .with_detail("skiff serves conversion webhooks not yet; versions must share one schema shape"),
            );
        }
    }
    errs
}

/// A Kind is a DNS-1035-ish identifier that may use upper case.
fn kind_problems(kind: &str) -> Vec<String> {
    let lower = kind.to_ascii_lowercase();
    if names::is_dns1035_label(&lower).is_empty() && !kind.contains('-') {
        Vec::new()
    } else {
        vec!["may have mixed case, but should otherwise match: [a-z]([-a-z0-9]*[a-z0-9])?".into()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({"metadata": {"name": "widgets.example.com"}, "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object"}}}}}]}})
    }

    #[test]
    fn a_sound_crd_passes_and_broken_ones_name_the_field() {
        assert!(validate_crd(&crd()).is_empty(), "{:?}", validate_crd(&crd()));
        let mut bad = crd();
        bad["metadata"]["name"] = json!("widget.example.com");
        bad["spec"]["versions"][0]["storage"] = json!(false);
        bad["spec"]["scope"] = json!("Global");
        let fields: Vec<String> = validate_crd(&bad).into_iter().map(|c| c.field).collect();
        assert_eq!(fields, ["metadata.name", "spec.scope", "spec.versions"]);
    }
}
