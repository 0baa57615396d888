//! `allowed-registries`: pods may only use images from the registries the config lists.
//!
//! Config: `{"registries": ["reg.example.com", "127.0.0.1:5000"]}`. Only Pods being created or
//! updated are checked: every container in `initContainers`, `containers` and
//! `ephemeralContainers`, in that order. The Python and JavaScript versions of this policy beside
//! this one follow the same rules and give the same messages.

use skiff_plugin_sdk::admission::{Guest, Mutation, Operation, Request, Verdict};
use skiff_plugin_sdk::k8s_openapi::api::core::v1::Pod;
use skiff_plugin_sdk::serde_json::{self, Value};
use skiff_plugin_sdk::Error;

const CONFIG_EXAMPLE: &str = r#"{"registries": ["reg.example.com", "127.0.0.1:5000"]}"#;

struct AllowedRegistries;

impl Guest for AllowedRegistries {
    fn init(config: String) -> Result<(), Error> {
        parse_config(&config).map(drop)
    }

    fn validate(request: Request) -> Result<Verdict, Error> {
        review(&request, &parse_config(&skiff_plugin_sdk::config_json())?)
    }

    fn mutate(_request: Request) -> Result<Mutation, Error> {
        Err(Error::unsupported("allowed-registries validates only"))
    }
}

skiff_plugin_sdk::export_admission!(AllowedRegistries);

/// The configured registries; `invalid-input` saying what is wrong and showing an example.
///
/// Checked by hand rather than by serde so the messages match the other languages' versions.
fn parse_config(json: &str) -> Result<Vec<String>, Error> {
    let config: Value = serde_json::from_str(json)
        .map_err(|e| Error::invalid(format!("config is not valid JSON ({e}); expected e.g. {CONFIG_EXAMPLE}")))?;
    let Some(config) = config.as_object() else {
        return Err(Error::invalid(format!("config must be a JSON object, e.g. {CONFIG_EXAMPLE}")));
    };
    let Some(registries) = config.get("registries") else {
        return Err(Error::invalid(format!(
            "config has no \"registries\": list the allowed registries, e.g. {CONFIG_EXAMPLE}"
        )));
    };
    let registries: Option<Vec<String>> =
        registries.as_array().and_then(|list| list.iter().map(|r| r.as_str().map(str::to_owned)).collect());
    match registries {
        None => Err(Error::invalid(format!("config \"registries\" must be a list of strings, e.g. {CONFIG_EXAMPLE}"))),
        Some(list) if list.is_empty() => Err(Error::invalid(format!(
            "config \"registries\" is empty, which would deny every pod: list at least one registry, e.g. {CONFIG_EXAMPLE}"
        ))),
        Some(list) => Ok(list),
    }
}

/// The verdict on one request: only Pods being created or updated are checked.
fn review(request: &Request, registries: &[String]) -> Result<Verdict, Error> {
    if request.kind.kind != "Pod" || !matches!(request.operation, Operation::Create | Operation::Update) {
        return Ok(Verdict::allow());
    }
    let pod: Pod = request.object()?;
    Ok(check(&pod, registries))
}

/// The registry an image reference names, the way Docker reads it: the part before the first
/// `/` when it looks like a host (has `.` or `:`, or is `localhost`), else Docker Hub.
fn image_registry(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// Allowed when every container's image comes from one of `registries`; otherwise denied with
/// one sentence per offending container.
fn check(pod: &Pod, registries: &[String]) -> Verdict {
    let violations = violations(pod, registries);
    if violations.is_empty() {
        Verdict::allow()
    } else {
        Verdict::deny(format!("{} (allowed registries: {})", violations.join("; "), registries.join(", ")))
    }
}

fn violations(pod: &Pod, registries: &[String]) -> Vec<String> {
    let Some(spec) = &pod.spec else { return Vec::new() };
    // (name, image) of every container, in the order they are reported.
    let init = spec.init_containers.iter().flatten().map(|c| (&c.name, &c.image));
    let main = spec.containers.iter().map(|c| (&c.name, &c.image));
    let ephemeral = spec.ephemeral_containers.iter().flatten().map(|c| (&c.name, &c.image));
    init.chain(main)
        .chain(ephemeral)
        .filter_map(|(name, image)| {
            let image = image.as_deref().unwrap_or("");
            let registry = image_registry(image);
            (!registries.iter().any(|r| r == registry)).then(|| {
                format!(
                    "container \"{name}\" uses image \"{image}\" from registry \"{registry}\", which is not allowed"
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use skiff_plugin_sdk::admission::UserInfo;
    use skiff_plugin_sdk::{ErrorCode, GroupVersionKind, GroupVersionResource};

    use super::*;

    /// The test vectors every language's version of this policy must pass.
    const CASES: &str = include_str!("../../testdata/cases.json");

    fn request(kind: &str, operation: &str, object: Option<String>) -> Request {
        let operation = match operation {
            "create" => Operation::Create,
            "update" => Operation::Update,
            "delete" => Operation::Delete,
            "connect" => Operation::Connect,
            other => panic!("unknown operation {other}"),
        };
        let base = Request::for_test(operation, "pods", &serde_json::json!({"apiVersion": "v1", "kind": kind}));
        Request { name: "p".into(), namespace: Some("default".into()), object, ..base }
    }

    #[test]
    fn shared_test_vectors() {
        let cases: Value = serde_json::from_str(CASES).unwrap();
        let registries = parse_config(&cases["config"].to_string()).unwrap();
        for pair in cases["images"].as_array().unwrap() {
            assert_eq!(image_registry(pair[0].as_str().unwrap()), pair[1].as_str().unwrap(), "{pair}");
        }
        for case in cases["init"].as_array().unwrap() {
            let result = parse_config(case["config"].as_str().unwrap());
            assert_eq!(result.is_ok(), case["ok"].as_bool().unwrap(), "init {case}");
            if let Err(e) = result {
                assert_eq!(e.code, ErrorCode::InvalidInput);
            }
        }
        for case in cases["validate"].as_array().unwrap() {
            let name = &case["name"];
            let object = match (case.get("object"), case.get("objectText")) {
                (Some(value), _) => Some(value.to_string()),
                (None, Some(text)) => Some(text.as_str().unwrap().to_owned()),
                (None, None) => None,
            };
            let req = request(case["kind"].as_str().unwrap(), case["operation"].as_str().unwrap(), object);
            match (review(&req, &registries), case.get("error")) {
                (Err(e), Some(code)) => assert_eq!(e.code.as_str(), code, "{name}"),
                (Ok(v), None) => {
                    assert_eq!(v.allowed, case["allowed"].as_bool().unwrap(), "{name}");
                    assert_eq!(v.message.as_deref(), case["message"].as_str(), "{name}");
                    assert!(v.warnings.is_empty(), "{name}");
                }
                (result, _) => panic!("{name}: {result:?}"),
            }
        }
    }

    fn registries() -> Vec<String> {
        vec!["reg.example.com".into(), "127.0.0.1:5000".into()]
    }

    fn pod(spec: Value) -> Pod {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
    }

    #[test]
    fn registry_the_docker_way() {
        let cases = [
            ("nginx", "docker.io"),
            ("nginx:1.25", "docker.io"),
            ("nginx@sha256:0123", "docker.io"),
            ("library/nginx", "docker.io"),
            ("someone/app:1", "docker.io"),
            ("docker.io/library/nginx", "docker.io"),
            ("reg.example.com/team/app:2", "reg.example.com"),
            ("127.0.0.1:5000/app", "127.0.0.1:5000"),
            ("localhost/app", "localhost"),
            ("localhost:5000/app", "localhost:5000"),
            ("registry:5000/app", "registry:5000"),
            ("", "docker.io"),
        ];
        for (image, registry) in cases {
            assert_eq!(image_registry(image), registry, "{image}");
        }
    }

    #[test]
    fn the_message_names_each_container_in_order() {
        let p = pod(serde_json::json!({
            "initContainers": [{"name": "setup", "image": "busybox"}],
            "containers": [
                {"name": "web", "image": "nginx:1.25"},
                {"name": "ok", "image": "reg.example.com/app:1"},
                {"name": "local", "image": "127.0.0.1:5000/x"},
            ],
            "ephemeralContainers": [{"name": "debug", "image": "localhost/tools"}],
        }));
        let v = check(&p, &registries());
        assert!(!v.allowed);
        assert_eq!(
            v.message.as_deref(),
            Some(concat!(
                r#"container "setup" uses image "busybox" from registry "docker.io", which is not allowed; "#,
                r#"container "web" uses image "nginx:1.25" from registry "docker.io", which is not allowed; "#,
                r#"container "debug" uses image "localhost/tools" from registry "localhost", which is not allowed"#,
                " (allowed registries: reg.example.com, 127.0.0.1:5000)"
            ))
        );
    }

    #[test]
    fn the_example_from_the_spec() {
        let v = check(&pod(serde_json::json!({"containers": [{"name": "web", "image": "nginx:1.25"}]})), &registries());
        assert_eq!(
            v.message.as_deref(),
            Some(
                r#"container "web" uses image "nginx:1.25" from registry "docker.io", which is not allowed (allowed registries: reg.example.com, 127.0.0.1:5000)"#
            )
        );
    }

    #[test]
    fn allowed_pods_have_no_warnings() {
        let p = pod(serde_json::json!({"containers": [{"name": "web", "image": "reg.example.com/web"}]}));
        let v = check(&p, &registries());
        assert!(v.allowed && v.message.is_none() && v.warnings.is_empty());
    }

    #[test]
    fn config_must_be_a_non_empty_list_of_strings() {
        assert_eq!(parse_config(r#"{"registries": ["a", "b:1"]}"#).unwrap(), ["a", "b:1"]);
        for (bad, says) in [
            ("nope", "config is not valid JSON"),
            ("[]", "config must be a JSON object"),
            ("{}", "config has no \"registries\""),
            (r#"{"registries": "a"}"#, "must be a list of strings"),
            (r#"{"registries": ["a", 1]}"#, "must be a list of strings"),
            (r#"{"registries": []}"#, "is empty"),
        ] {
            let err = parse_config(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidInput, "{bad}");
            assert!(err.message.contains(says), "{bad}: {}", err.message);
        }
    }
}
