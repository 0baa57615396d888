//! `chaos`: an admission plugin that misbehaves on purpose, so the host's tests can check that
//! traps, endless loops, memory hogs, errors and forbidden changes are contained.
//!
//! Its config chooses what each entry point does:
//!
//! ```json
//! {"init": "ok|fail|trap|loop",
//!  "validate": "allow|deny|warn|trap|loop|hog|error",
//!  "mutate": "unchanged|add-label|replace-object|forge-name|trap|loop|hog|deny",
//!  "message": "text for deny, warn and error", "label": "k=v for add-label and replace-object"}
//! ```
//!
//! Defaults: init `ok`, validate `allow`, mutate `unchanged`, label `chaos=mutated`.

use std::hint::black_box;

use serde::Deserialize;
use serde_json::{Map, Value};
use skiff_plugin_sdk::admission::{Guest, Mutation, Request, Verdict};
use skiff_plugin_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use skiff_plugin_sdk::{Error, Patch, Pointer};

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
struct Config {
    init: InitMode,
    validate: ValidateMode,
    mutate: MutateMode,
    message: Option<String>,
    label: Option<String>,
}

#[derive(Debug, Default, Deserialize, PartialEq, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum InitMode {
    #[default]
    Ok,
    Fail,
    Trap,
    Loop,
}

#[derive(Debug, Default, Deserialize, PartialEq, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum ValidateMode {
    #[default]
    Allow,
    Deny,
    Warn,
    Trap,
    Loop,
    Hog,
    Error,
}

#[derive(Debug, Default, Deserialize, PartialEq, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum MutateMode {
    #[default]
    Unchanged,
    AddLabel,
    ReplaceObject,
    ForgeName,
    Trap,
    Loop,
    Hog,
    Deny,
}

impl Config {
    fn message(&self, default: &str) -> String {
        self.message.clone().unwrap_or_else(|| default.to_owned())
    }

    /// The label to add, split at the first `=`.
    fn label(&self) -> Result<(&str, &str), Error> {
        let label = self.label.as_deref().unwrap_or("chaos=mutated");
        label.split_once('=').ok_or_else(|| Error::invalid(format!("label {label:?} is not k=v")))
    }
}

struct Chaos;

impl Guest for Chaos {
    fn init(config: String) -> Result<(), Error> {
        let config: Config = skiff_plugin_sdk::parse_config(&config)?;
        skiff_plugin_sdk::info!("chaos init: {config:?}");
        eprintln!("chaos init on stderr: init={:?}", config.init);
        match config.init {
            InitMode::Ok => Ok(()),
            InitMode::Fail => Err(Error::invalid(config.message("chaos init fails on purpose"))),
            InitMode::Trap => trap(),
            InitMode::Loop => spin(),
        }
    }

    fn validate(_request: Request) -> Result<Verdict, Error> {
        validate(&skiff_plugin_sdk::config()?)
    }

    fn mutate(request: Request) -> Result<Mutation, Error> {
        mutate(&skiff_plugin_sdk::config()?, &request)
    }
}

skiff_plugin_sdk::export_admission!(Chaos);

fn validate(config: &Config) -> Result<Verdict, Error> {
    match config.validate {
        ValidateMode::Allow => Ok(Verdict::allow()),
        ValidateMode::Deny => Ok(Verdict::deny(config.message("denied by chaos"))),
        ValidateMode::Warn => Ok(Verdict::allow().warn(config.message("warned by chaos"))),
        ValidateMode::Error => Err(Error::internal(config.message("chaos fails on purpose"))),
        ValidateMode::Trap => trap(),
        ValidateMode::Loop => spin(),
        ValidateMode::Hog => hog(),
    }
}

fn mutate(config: &Config, request: &Request) -> Result<Mutation, Error> {
    match config.mutate {
        MutateMode::Unchanged => Ok(Mutation::unchanged()),
        MutateMode::Deny => Ok(Mutation::deny(config.message("denied by chaos"))),
        MutateMode::AddLabel => {
            let (key, value) = config.label()?;
            Mutation::patch(add_label(&request.object::<Value>()?, key, value))
        }
        MutateMode::ReplaceObject => {
            let (key, value) = config.label()?;
            let mut object = request.object::<Value>()?;
            with_label(&mut object, key, value)?;
            Mutation::object(&object)
        }
        MutateMode::ForgeName => {
            let forged = format!("{}-forged", request.name);
            // `add` sets the member whether or not it exists (generateName leaves no name yet).
            Mutation::patch(Patch::new().add("/metadata/name", forged))
        }
        MutateMode::Trap => trap(),
        MutateMode::Loop => spin(),
        MutateMode::Hog => hog(),
    }
}

/// A patch adding the label, whatever of metadata and its labels the object already has.
fn add_label(object: &Value, key: &str, value: &str) -> Patch {
    match object.get("metadata") {
        Some(metadata) => {
            // Anything in metadata that is not ObjectMeta (wrong types) reads as no labels: the
            // patch then replaces the labels member, which is what the host should see anyway.
            let meta: ObjectMeta = serde_json::from_value(metadata.clone()).unwrap_or_default();
            Patch::new().set_label(&meta, key, value)
        }
        None => Patch::new().add(Pointer::new(["metadata"]), serde_json::json!({"labels": {key: value}})),
    }
}

/// Adds the label in place, creating metadata and labels as needed.
fn with_label(object: &mut Value, key: &str, value: &str) -> Result<(), Error> {
    let not_an_object = || Error::invalid("request.object: metadata or metadata.labels is not a JSON object");
    let root = object.as_object_mut().ok_or_else(not_an_object)?;
    let metadata = root.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let labels = metadata.as_object_mut().ok_or_else(not_an_object)?.entry("labels").or_insert(Value::Null);
    if labels.is_null() {
        *labels = Value::Object(Map::new());
    }
    labels.as_object_mut().ok_or_else(not_an_object)?.insert(key.to_owned(), value.into());
    Ok(())
}

fn trap() -> ! {
    // On wasm32 a panic aborts, which is a trap for the host.
    panic!("chaos traps on purpose")
}

fn spin() -> ! {
    let mut n = 0u64;
    loop {
        // `black_box` hides the counter from the optimiser, so the loop really runs.
        n = black_box(n.wrapping_add(1));
    }
}

fn hog() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Filled with a non-zero byte so every page is written, not just reserved.
        let chunk = vec![0xA5u8; 1 << 20];
        hoard.push(black_box(chunk));
        black_box(&hoard);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use skiff_plugin_sdk::admission::{Change, Operation};
    use skiff_plugin_sdk::ErrorCode;

    use super::*;

    fn cfg(json: &str) -> Config {
        skiff_plugin_sdk::parse_config(json).unwrap()
    }

    fn request(object: Value) -> Request {
        Request {
            name: "web".into(),
            namespace: Some("default".into()),
            ..Request::for_test(Operation::Create, "pods", &object)
        }
    }

    fn patched(object: Value, config: &Config) -> Value {
        let m = mutate(config, &request(object.clone())).unwrap();
        let Change::JsonPatch(p) = m.change else { panic!("not a patch: {:?}", m.change) };
        let ops: json_patch::Patch = serde_json::from_str(&p).unwrap();
        let mut doc = object;
        json_patch::patch(&mut doc, &ops).unwrap();
        doc
    }

    #[test]
    fn config_defaults_and_names() {
        assert_eq!(cfg("{}"), Config::default());
        let c = cfg(r#"{"init":"loop","validate":"hog","mutate":"replace-object","label":"a=b"}"#);
        assert_eq!((c.init, c.validate, c.mutate), (InitMode::Loop, ValidateMode::Hog, MutateMode::ReplaceObject));
        assert_eq!(c.label().unwrap(), ("a", "b"));
        assert_eq!(Config::default().label().unwrap(), ("chaos", "mutated"));
        assert!(skiff_plugin_sdk::parse_config::<Config>(r#"{"validate":"explode"}"#).is_err());
    }

    #[test]
    fn validate_answers() {
        assert!(validate(&cfg("{}")).unwrap().allowed);
        let v = validate(&cfg(r#"{"validate":"deny"}"#)).unwrap();
        assert_eq!((v.allowed, v.message.as_deref()), (false, Some("denied by chaos")));
        let v = validate(&cfg(r#"{"validate":"warn","message":"careful"}"#)).unwrap();
        assert!(v.allowed);
        assert_eq!(v.warnings, ["careful"]);
        let e = validate(&cfg(r#"{"validate":"error","message":"boom"}"#)).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (ErrorCode::Internal, "boom"));
    }

    #[test]
    fn add_label_with_and_without_labels() {
        let c = cfg(r#"{"mutate":"add-label","label":"chaos.io/x=y"}"#);
        let with = patched(json!({"metadata": {"name": "web", "labels": {"a": "b"}}}), &c);
        assert_eq!(with["metadata"]["labels"], json!({"a": "b", "chaos.io/x": "y"}));
        let without = patched(json!({"metadata": {"name": "web"}}), &c);
        assert_eq!(without["metadata"]["labels"], json!({"chaos.io/x": "y"}));
        let bare = patched(json!({"kind": "Pod"}), &c);
        assert_eq!(bare["metadata"], json!({"labels": {"chaos.io/x": "y"}}));
    }

    #[test]
    fn replace_object_adds_the_label() {
        let m = mutate(&cfg(r#"{"mutate":"replace-object"}"#), &request(json!({"metadata": {"name": "web"}}))).unwrap();
        let Change::Object(o) = m.change else { panic!() };
        let o: Value = serde_json::from_str(&o).unwrap();
        assert_eq!(o, json!({"metadata": {"name": "web", "labels": {"chaos": "mutated"}}}));
    }

    #[test]
    fn forge_name_and_deny() {
        let c = cfg(r#"{"mutate":"forge-name"}"#);
        assert_eq!(patched(json!({"metadata": {"name": "web"}}), &c)["metadata"]["name"], "web-forged");
        let m = mutate(&cfg(r#"{"mutate":"deny","message":"no"}"#), &request(json!({}))).unwrap();
        assert_eq!((m.allowed, m.message.as_deref()), (false, Some("no")));
    }

    #[test]
    fn bad_label_or_object_is_invalid_input() {
        let e = mutate(&cfg(r#"{"mutate":"add-label","label":"nolabel"}"#), &request(json!({}))).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput);
        let e = mutate(&cfg(r#"{"mutate":"replace-object"}"#), &request(json!({"metadata": 1}))).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput);
    }
}
