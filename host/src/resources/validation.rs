//! Validation with Kubernetes' field paths and messages: names, labels,
//! required fields, and the fields that may not change after creation.

use serde_json::{Map, Value};
use skiff_apimachinery::{labels, names, quantity};

use super::strategy::NameRule;
use super::ResourceType;
use crate::errors::Cause;

/// Everything wrong with `obj` (after defaulting); `old` is the stored object on update.
pub fn validate(rt: &ResourceType, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = Vec::new();
    metadata(rt, obj, &mut errs);
    errs.extend(rt.strategy.validate(obj));
    if let Some(old) = old {
        errs.extend(rt.strategy.validate_update(obj, old));
    }
    errs
}

fn metadata(rt: &ResourceType, obj: &Value, errs: &mut Vec<Cause>) {
    let meta = &obj["metadata"];
    let name = meta["name"].as_str().unwrap_or("");
    if name.is_empty() {
        errs.push(Cause {
            reason: "FieldValueRequired",
            field: "metadata.name".into(),
            message: "Required value: name or generateName is required".into(),
        });
    } else {
        let problems = match rt.strategy.name_rule() {
            NameRule::Label => names::is_dns1123_label(name),
            NameRule::PathSegment => path_segment_name(name),
            NameRule::Subdomain => names::is_dns1123_subdomain(name),
        };
        for p in problems {
            errs.push(Cause::invalid("metadata.name", &meta["name"], p));
        }
    }
    if rt.namespaced {
        let ns = meta["namespace"].as_str().unwrap_or("");
        if ns.is_empty() {
            errs.push(Cause::required("metadata.namespace"));
        }
    }
    if let Some(labels) = meta["labels"].as_object() {
        for (k, v) in labels {
            for p in names::is_qualified_name(k) {
                errs.push(Cause::invalid("metadata.labels", &Value::String(k.clone()), p));
            }
            match v.as_str() {
                Some(v) => {
                    for p in names::is_valid_label_value(v) {
                        errs.push(Cause::invalid("metadata.labels".to_string(), &Value::String(v.to_string()), p));
                    }
                }
                None => errs.push(Cause::invalid("metadata.labels", v, "label values must be strings")),
            }
        }
    }
    if let Some(annotations) = meta["annotations"].as_object() {
        let mut total = 0usize;
        for (k, v) in annotations {
            for p in names::is_qualified_name(&k.to_ascii_lowercase()) {
                errs.push(Cause::invalid("metadata.annotations", &Value::String(k.clone()), p));
            }
            total += k.len() + v.as_str().map_or(0, str::len);
        }
        if total > 256 * 1024 {
            errs.push(Cause::too_long("metadata.annotations", 256 * 1024));
        }
    }
    for (i, owner) in meta["ownerReferences"].as_array().into_iter().flatten().enumerate() {
        for f in ["apiVersion", "kind", "name", "uid"] {
            if owner[f].as_str().unwrap_or("").is_empty() {
                errs.push(Cause::required(format!("metadata.ownerReferences[{i}].{f}")));
            }
        }
    }
}

fn path_segment_name(name: &str) -> Vec<String> {
    if name == "." || name == ".." {
        return vec![format!("may not be '{name}'")];
    }
    if name.contains('/') || name.contains('%') {
        return vec!["may not contain '/' or '%'".to_string()];
    }
    Vec::new()
}

pub(crate) fn data_keys(obj: &Value, fields: &[&str], errs: &mut Vec<Cause>) {
    for field in fields {
        for key in obj[*field].as_object().map(Map::keys).into_iter().flatten() {
            let valid = !key.is_empty()
                && key.len() <= 253
                && key != "."
                && key != ".."
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
            if !valid {
                errs.push(Cause::invalid(
                    format!("{field}[{key}]"),
                    &Value::String(key.clone()),
                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                ));
            }
        }
    }
}

/// `extra_volumes`: names mounts may use besides `volumes` (a StatefulSet's claim templates).
pub(crate) fn pod_spec(spec: &Value, at: &str, extra_volumes: &[&str], errs: &mut Vec<Cause>) {
    let containers = spec["containers"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if containers.is_empty() {
        errs.push(Cause::required(format!("{at}.containers")));
    }
    let mut seen = std::collections::HashSet::new();
    for (list, items) in
        [("initContainers", spec["initContainers"].as_array()), ("containers", Some(&containers.to_vec()))]
    {
        for (i, c) in items.into_iter().flatten().enumerate() {
            let path = format!("{at}.{list}[{i}]");
            match c["name"].as_str() {
                None | Some("") => errs.push(Cause::required(format!("{path}.name"))),
                Some(name) => {
                    for p in names::is_dns1123_label(name) {
                        errs.push(Cause::invalid(format!("{path}.name"), &c["name"], p));
                    }
                    if !seen.insert(name.to_string()) {
                        errs.push(Cause::duplicate(format!("{path}.name"), &c["name"]));
                    }
                }
            }
            if c["image"].as_str().unwrap_or("").trim().is_empty() {
                errs.push(Cause::required(format!("{path}.image")));
            }
            for (j, port) in c["ports"].as_array().into_iter().flatten().enumerate() {
                port_number(&port["containerPort"], &format!("{path}.ports[{j}].containerPort"), true, errs);
                protocol(&port["protocol"], &format!("{path}.ports[{j}].protocol"), errs);
            }
            for kind in ["limits", "requests"] {
                for (res, q) in c["resources"][kind].as_object().into_iter().flatten() {
                    let text = match q {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    if let Err(e) = quantity::Quantity::parse(&text) {
                        errs.push(Cause::invalid(format!("{path}.resources.{kind}[{res}]"), q, e.to_string()));
                    }
                }
            }
            let policy = &c["imagePullPolicy"];
            if !policy.is_null() {
                let ok = ["Always", "IfNotPresent", "Never"];
                if !policy.as_str().is_some_and(|p| ok.contains(&p)) {
                    errs.push(Cause::unsupported(format!("{path}.imagePullPolicy"), policy, &ok));
                }
            }
        }
    }
    let restart = &spec["restartPolicy"];
    let ok = ["Always", "OnFailure", "Never"];
    if !restart.is_null() && !restart.as_str().is_some_and(|p| ok.contains(&p)) {
        errs.push(Cause::unsupported(format!("{at}.restartPolicy"), restart, &ok));
    }
    let mut volumes: std::collections::HashSet<String> = extra_volumes.iter().map(|v| v.to_string()).collect();
    for (i, v) in spec["volumes"].as_array().into_iter().flatten().enumerate() {
        match v["name"].as_str() {
            None | Some("") => errs.push(Cause::required(format!("{at}.volumes[{i}].name"))),
            Some(name) => {
                if !volumes.insert(name.to_string()) {
                    errs.push(Cause::duplicate(format!("{at}.volumes[{i}].name"), &v["name"]));
                }
            }
        }
    }
    for (list, items) in
        [("initContainers", spec["initContainers"].as_array()), ("containers", spec["containers"].as_array())]
    {
        for (i, c) in items.into_iter().flatten().enumerate() {
            for (j, m) in c["volumeMounts"].as_array().into_iter().flatten().enumerate() {
                let name = m["name"].as_str().unwrap_or("");
                if !volumes.contains(name) {
                    errs.push(Cause {
                        reason: "FieldValueNotFound",
                        field: format!("{at}.{list}[{i}].volumeMounts[{j}].name"),
                        message: format!("Not found: \"{name}\""),
                    });
                }
                if m["mountPath"].as_str().unwrap_or("").is_empty() {
                    errs.push(Cause::required(format!("{at}.{list}[{i}].volumeMounts[{j}].mountPath")));
                }
            }
        }
    }
}

pub(crate) fn port_number(v: &Value, at: &str, required: bool, errs: &mut Vec<Cause>) {
    match v.as_i64() {
        None if required && v.is_null() => errs.push(Cause::required(at)),
        Some(p) if !(1..=65535).contains(&p) => {
            errs.push(Cause::invalid(at, v, "must be between 1 and 65535, inclusive"))
        }
        _ => {}
    }
}

pub(crate) fn protocol(v: &Value, at: &str, errs: &mut Vec<Cause>) {
    let ok = ["TCP", "UDP", "SCTP"];
    if !v.is_null() && !v.as_str().is_some_and(|p| ok.contains(&p)) {
        errs.push(Cause::unsupported(at, v, &ok));
    }
}

pub(crate) fn service(spec: &Value, errs: &mut Vec<Cause>) {
    let ty = spec["type"].as_str().unwrap_or("ClusterIP");
    let ok = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
    if !ok.contains(&ty) {
        errs.push(Cause::unsupported("spec.type", &spec["type"], &ok));
    }
    let ports = spec["ports"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let headless = spec["clusterIP"].as_str() == Some("None");
    if ports.is_empty() && ty != "ExternalName" && !headless {
        errs.push(Cause::required("spec.ports"));
    }
    let mut names = std::collections::HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        port_number(&p["port"], &format!("spec.ports[{i}].port"), true, errs);
        protocol(&p["protocol"], &format!("spec.ports[{i}].protocol"), errs);
        if ports.len() > 1 && p["name"].as_str().unwrap_or("").is_empty() {
            errs.push(Cause::required(format!("spec.ports[{i}].name")));
        }
        if let Some(name) = p["name"].as_str() {
            if !name.is_empty() && !names.insert(name) {
                errs.push(Cause::duplicate(format!("spec.ports[{i}].name"), &p["name"]));
            }
        }
        if let Some(np) = p.get("nodePort").filter(|v| !v.is_null()) {
            port_number(np, &format!("spec.ports[{i}].nodePort"), false, errs);
        }
    }
    if ty == "ExternalName" && spec["externalName"].as_str().unwrap_or("").is_empty() {
        errs.push(Cause::required("spec.externalName"));
    }
}

pub(crate) fn selector(spec: &Value, template_labels: &Value, at: &str, errs: &mut Vec<Cause>) {
    let sel = &spec["selector"];
    if sel.is_null() {
        errs.push(Cause::required(format!("{at}.selector")));
        return;
    }
    let parsed = match labels::Selector::from_label_selector(sel) {
        Ok(s) => s,
        Err(e) => {
            errs.push(Cause::invalid(format!("{at}.selector"), sel, e.to_string()));
            return;
        }
    };
    if parsed.is_empty() {
        errs.push(Cause::invalid(format!("{at}.selector"), sel, "empty selector is invalid for deployment"));
        return;
    }
    let empty = Map::new();
    let labels = template_labels.as_object().unwrap_or(&empty);
    if !parsed.matches(labels) {
        errs.push(Cause::invalid(
            format!("{at}.template.metadata.labels"),
            template_labels,
            "`selector` does not match template `labels`",
        ));
    }
}

pub(crate) fn replicas(spec: &Value, at: &str, errs: &mut Vec<Cause>) {
    if let Some(r) = spec["replicas"].as_i64() {
        if r < 0 {
            errs.push(Cause::invalid(
                format!("{at}.replicas"),
                &spec["replicas"],
                "must be greater than or equal to 0",
            ));
        }
    }
}

/// The checks every pod-template workload (Deployment, ReplicaSet, StatefulSet, DaemonSet) shares.
pub(crate) fn workload(spec: &Value, errs: &mut Vec<Cause>) {
    replicas(spec, "spec", errs);
    selector(spec, &spec["template"]["metadata"]["labels"], "spec", errs);
    let claims: Vec<&str> = spec["volumeClaimTemplates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["metadata"]["name"].as_str())
        .collect();
    pod_spec(&spec["template"]["spec"], "spec.template.spec", &claims, errs);
    let restart = spec["template"]["spec"]["restartPolicy"].as_str().unwrap_or("Always");
    if restart != "Always" {
        errs.push(Cause::unsupported("spec.template.spec.restartPolicy", &Value::String(restart.into()), &["Always"]));
    }
}

pub(crate) fn job_spec(spec: &Value, at: &str, errs: &mut Vec<Cause>) {
    pod_spec(&spec["template"]["spec"], &format!("{at}.template.spec"), &[], errs);
    let restart = &spec["template"]["spec"]["restartPolicy"];
    if !restart.as_str().is_some_and(|r| r == "OnFailure" || r == "Never") {
        errs.push(Cause::unsupported(format!("{at}.template.spec.restartPolicy"), restart, &["OnFailure", "Never"]));
    }
    for f in ["parallelism", "completions", "backoffLimit", "activeDeadlineSeconds"] {
        if spec[f].as_i64().is_some_and(|v| v < 0) {
            errs.push(Cause::invalid(format!("{at}.{f}"), &spec[f], "must be greater than or equal to 0"));
        }
    }
}

pub(crate) fn cronjob(spec: &Value, errs: &mut Vec<Cause>) {
    match spec["schedule"].as_str() {
        None | Some("") => errs.push(Cause::required("spec.schedule")),
        Some(s) => {
            if let Err(e) = cron_fields(s) {
                errs.push(Cause::invalid("spec.schedule", &spec["schedule"], e));
            }
        }
    }
    job_spec(&spec["jobTemplate"]["spec"], "spec.jobTemplate.spec", errs);
}

/// Checks the shape of a cron schedule: five fields or a @descriptor.
pub fn cron_fields(s: &str) -> Result<(), String> {
    let s = s.trim();
    let s = s
        .strip_prefix("TZ=")
        .or_else(|| s.strip_prefix("CRON_TZ="))
        .map_or(s, |rest| rest.split_once(' ').map_or("", |(_, sched)| sched));
    if s.starts_with('@') {
        return match s {
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight" | "@hourly" => Ok(()),
            other if other.starts_with("@every ") => Ok(()),
            other => Err(format!("unrecognized descriptor: {other}")),
        };
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("expected exactly 5 fields, found {}: {s}", fields.len()));
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '*' | '/' | ',' | '-' | '?');
    for f in fields {
        if !f.chars().all(ok) {
            return Err(format!("failed to parse field: {f}"));
        }
    }
    Ok(())
}

pub(crate) fn pvc(spec: &Value, at: &str, errs: &mut Vec<Cause>) {
    access_modes(&spec["accessModes"], &format!("{at}.accessModes"), errs);
    let storage = &spec["resources"]["requests"]["storage"];
    if storage.is_null() && spec["dataSource"].is_null() {
        errs.push(Cause::required(format!("{at}.resources[storage]")));
    }
}

pub(crate) fn access_modes(v: &Value, at: &str, errs: &mut Vec<Cause>) {
    let ok = ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"];
    match v.as_array() {
        None => errs.push(Cause::required(at)),
        Some(modes) if modes.is_empty() => errs.push(Cause::required(at)),
        Some(modes) => {
            for m in modes {
                if !m.as_str().is_some_and(|m| ok.contains(&m)) {
                    errs.push(Cause::unsupported(at, m, &ok));
                }
            }
        }
    }
}

pub(crate) fn pv(spec: &Value, errs: &mut Vec<Cause>) {
    access_modes(&spec["accessModes"], "spec.accessModes", errs);
    if spec["capacity"]["storage"].is_null() {
        errs.push(Cause::required("spec.capacity"));
    }
    let sources = ["hostPath", "local", "nfs", "csi", "iscsi", "fc", "cephfs", "rbd"];
    if !sources.iter().any(|s| !spec[*s].is_null()) {
        errs.push(Cause::required("spec").with_message("Required value: must specify a volume type"));
    }
}

pub(crate) fn ingress(spec: &Value, errs: &mut Vec<Cause>) {
    for (i, rule) in spec["rules"].as_array().into_iter().flatten().enumerate() {
        for (j, path) in rule["http"]["paths"].as_array().into_iter().flatten().enumerate() {
            let at = format!("spec.rules[{i}].http.paths[{j}]");
            let ok = ["Exact", "Prefix", "ImplementationSpecific"];
            match &path["pathType"] {
                Value::Null => errs.push(Cause::required(format!("{at}.pathType"))),
                t if !t.as_str().is_some_and(|t| ok.contains(&t)) => {
                    errs.push(Cause::unsupported(format!("{at}.pathType"), t, &ok))
                }
                _ => {}
            }
            if path["backend"]["service"].is_null() && path["backend"]["resource"].is_null() {
                errs.push(Cause::required(format!("{at}.backend")));
            }
        }
    }
}

/// Refuses a change of any of `paths` (dotted) between `old` and `obj`.
pub(crate) fn immutable(obj: &Value, old: &Value, paths: &[&str], errs: &mut Vec<Cause>) {
    for path in paths {
        let new = pointer(obj, path);
        if new != pointer(old, path) {
            errs.push(Cause::immutable(*path, new));
        }
    }
}

/// ConfigMaps and Secrets marked `immutable` keep their data.
pub(crate) fn immutable_data(obj: &Value, old: &Value, errs: &mut Vec<Cause>) {
    if old["immutable"].as_bool() == Some(true) {
        for p in ["data", "binaryData", "immutable"] {
            if pointer(obj, p) != pointer(old, p) {
                errs.push(Cause::forbidden(p, "field is immutable when `immutable` is set"));
            }
        }
    }
}

/// A pod's spec may change only in images, activeDeadlineSeconds, tolerations
/// (additions) and a few more; everything else is fixed at creation.
pub(crate) fn pod_update(obj: &Value, old: &Value, errs: &mut Vec<Cause>) {
    let mut a = obj["spec"].clone();
    let mut b = old["spec"].clone();
    for spec in [&mut a, &mut b] {
        for list in ["containers", "initContainers"] {
            for c in spec[list].as_array_mut().into_iter().flatten() {
                if let Some(c) = c.as_object_mut() {
                    c.remove("image");
                    c.remove("resources");
                }
            }
        }
        if let Some(s) = spec.as_object_mut() {
            for f in ["activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds", "schedulingGates"] {
                s.remove(f);
            }
            // nodeName may be set once, by binding.
            if s.get("nodeName").is_some_and(|n| !n.is_null()) {
                s.remove("nodeName");
            }
        }
    }
    if old["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty())
        && obj["spec"]["nodeName"] != old["spec"]["nodeName"]
    {
        errs.push(Cause::immutable("spec.nodeName", &obj["spec"]["nodeName"]));
    }
    if a != b {
        errs.push(Cause::forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        ));
    }
}

/// `a.b.c` into the object; missing parts read as null.
fn pointer<'a>(obj: &'a Value, dotted: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    dotted.split('.').try_fold(obj, |v, part| v.get(part)).unwrap_or(&NULL)
}

impl Cause {
    fn with_message(mut self, message: &str) -> Self {
        self.message = message.to_string();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;
    use serde_json::json;

    fn rt(group: &str, plural: &str) -> std::sync::Arc<ResourceType> {
        Registry::builtin().lookup(group, "v1", plural).expect("registered").clone()
    }

    fn fields(causes: &[Cause]) -> Vec<String> {
        causes.iter().map(|c| c.field.clone()).collect()
    }

    fn deployment(selector: serde_json::Value, labels: serde_json::Value) -> serde_json::Value {
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {
            "selector": selector, "strategy": {"type": "RollingUpdate"},
            "template": {"metadata": {"labels": labels}, "spec": {"restartPolicy": "Always",
                "containers": [{"name": "web", "image": "nginx"}]}}}})
    }

    #[test]
    fn names_follow_rfc_1123_with_kubernetes_wording() {
        let cm = json!({"metadata": {"name": "Foo_Bar", "namespace": "default"}});
        let causes = validate(&rt("", "configmaps"), &cm, None);
        assert_eq!(fields(&causes), ["metadata.name"]);
        assert!(causes[0]
            .render()
            .starts_with("metadata.name: Invalid value: \"Foo_Bar\": a lowercase RFC 1123 subdomain"));
        let missing = json!({"metadata": {"namespace": "default"}});
        assert_eq!(
            validate(&rt("", "configmaps"), &missing, None)[0].render(),
            "metadata.name: Required value: name or generateName is required"
        );
    }

    #[test]
    fn pods_need_containers_with_images_and_known_volumes() {
        let pod = json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": [
            {"name": "a", "volumeMounts": [{"name": "data", "mountPath": "/d"}]},
            {"name": "a", "image": "x", "ports": [{"containerPort": 70000}]}]}});
        let got = fields(&validate(&rt("", "pods"), &pod, None));
        assert!(got.contains(&"spec.containers[0].image".to_string()), "{got:?}");
        assert!(got.contains(&"spec.containers[1].name".to_string()), "duplicate name: {got:?}");
        assert!(got.contains(&"spec.containers[1].ports[0].containerPort".to_string()), "{got:?}");
        assert!(got.contains(&"spec.containers[0].volumeMounts[0].name".to_string()), "{got:?}");
    }

    #[test]
    fn workload_selector_must_match_template_and_is_immutable() {
        let d = &rt("apps", "deployments");
        let ok = deployment(json!({"matchLabels": {"app": "web"}}), json!({"app": "web"}));
        assert!(validate(d, &ok, None).is_empty(), "{:?}", fields(&validate(d, &ok, None)));
        let mismatch = deployment(json!({"matchLabels": {"app": "web"}}), json!({"app": "db"}));
        assert_eq!(fields(&validate(d, &mismatch, None)), ["spec.template.metadata.labels"]);
        let changed = deployment(json!({"matchLabels": {"app": "web", "v": "2"}}), json!({"app": "web", "v": "2"}));
        let causes = validate(d, &changed, Some(&ok));
        assert_eq!(fields(&causes), ["spec.selector"]);
        assert!(causes[0].message.ends_with("field is immutable"));
    }

    #[test]
    fn statefulset_mounts_may_use_claim_templates() {
        let sts = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}}, "serviceName": "web",
            "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                {"name": "web", "image": "nginx", "volumeMounts": [{"name": "www", "mountPath": "/usr/share/nginx/html"}]}]}}}});
        assert!(validate(&rt("apps", "statefulsets"), &sts, None).is_empty());
    }

    #[test]
    fn services_need_ports_unless_headless_and_jobs_need_a_restart_policy() {
        let svc = json!({"metadata": {"name": "s", "namespace": "default"}, "spec": {"type": "ClusterIP"}});
        assert_eq!(fields(&validate(&rt("", "services"), &svc, None)), ["spec.ports"]);
        let headless = json!({"metadata": {"name": "s", "namespace": "default"}, "spec": {"clusterIP": "None"}});
        assert!(validate(&rt("", "services"), &headless, None).is_empty());
        let job = json!({"metadata": {"name": "j", "namespace": "default"}, "spec": {"template": {"spec": {
            "restartPolicy": "Always", "containers": [{"name": "pi", "image": "perl"}]}}}});
        assert_eq!(fields(&validate(&rt("batch", "jobs"), &job, None)), ["spec.template.spec.restartPolicy"]);
    }

    #[test]
    fn cron_schedules_are_checked() {
        assert!(cron_fields("*/1 * * * *").is_ok());
        assert!(cron_fields("@hourly").is_ok());
        assert!(cron_fields("TZ=UTC 0 3 * * 1-5").is_ok());
        assert!(cron_fields("* * *").is_err());
        assert!(cron_fields("@sometimes").is_err());
    }
}
