//! Behaviour pinned to Kubernetes' messages and paths: what a kubectl user
//! sees for each keyword, for non-structural schemas, and for defaulting
//! and pruning.

use serde_json::{json, Value};

use super::{json_path, SchemaListType, Structural};
use crate::field_error::FieldErrorKind;

const BASE: &str = "spec.versions[0].schema.openAPIV3Schema";

fn schema(spec_props: Value) -> Structural {
    let s = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": spec_props}}});
    match Structural::from_json(&s, BASE) {
        Ok(s) => s,
        Err(e) => panic!("schema refused: {}", crate::field_error::aggregate(&e)),
    }
}

fn errors(s: &Structural, obj: Value) -> Vec<String> {
    s.validate(&obj).iter().map(|e| e.to_string()).collect()
}

fn refused(s: Value) -> Vec<String> {
    match Structural::from_json(&s, BASE) {
        Ok(_) => panic!("schema accepted: {s}"),
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

fn one(s: &Structural, spec: Value) -> String {
    let errs = errors(s, json!({ "spec": spec }));
    assert_eq!(errs.len(), 1, "{errs:?}");
    errs[0].clone()
}

#[test]
fn types_are_enforced_with_kubernetes_messages() {
    let s = schema(json!({
        "replicas": {"type": "integer"}, "ratio": {"type": "number"}, "name": {"type": "string"},
        "on": {"type": "boolean"}, "list": {"type": "array", "items": {"type": "string"}},
        "obj": {"type": "object"}
    }));
    assert_eq!(
        one(&s, json!({"replicas": "string"})),
        "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\""
    );
    assert_eq!(
        one(&s, json!({"replicas": 1.5})),
        "spec.replicas: Invalid value: \"number\": spec.replicas in body must be of type integer: \"number\""
    );
    assert!(
        errors(&s, json!({"spec": {"replicas": 3.0, "ratio": 2}})).is_empty(),
        "integral floats are integers, ints are numbers"
    );
    assert_eq!(
        one(&s, json!({"name": 5})),
        "spec.name: Invalid value: \"integer\": spec.name in body must be of type string: \"integer\""
    );
    assert_eq!(
        one(&s, json!({"on": "yes"})),
        "spec.on: Invalid value: \"string\": spec.on in body must be of type boolean: \"string\""
    );
    assert_eq!(
        one(&s, json!({"list": {}})),
        "spec.list: Invalid value: \"object\": spec.list in body must be of type array: \"object\""
    );
    assert_eq!(
        one(&s, json!({"obj": []})),
        "spec.obj: Invalid value: \"array\": spec.obj in body must be of type object: \"array\""
    );
    assert_eq!(
        one(&s, json!({"list": ["a", 1]})),
        "spec.list[1]: Invalid value: \"integer\": spec.list[1] in body must be of type string: \"integer\""
    );
    let e = &s.validate(&json!({"spec": {"replicas": null}}))[0];
    assert_eq!(
        e.to_string(),
        "spec.replicas: Invalid value: \"null\": spec.replicas in body must be of type integer: \"null\""
    );
    assert_eq!(e.kind, FieldErrorKind::Invalid);
}

#[test]
fn nullable_allows_null() {
    let s = schema(json!({"a": {"type": "string", "nullable": true}}));
    assert!(errors(&s, json!({"spec": {"a": null}})).is_empty());
}

#[test]
fn required_enum_and_string_limits() {
    let s = Structural::from_json(
        &json!({"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object", "required": ["mode"],
        "properties": {
            "mode": {"type": "string", "enum": ["a", "b"]},
            "n": {"type": "integer", "enum": [1, 2]},
            "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
            "one": {"type": "string", "maxLength": 1}
        }}}}),
        BASE,
    )
    .unwrap();
    assert_eq!(errors(&s, json!({})), vec!["spec: Required value"]);
    assert_eq!(errors(&s, json!({"spec": {}})), vec!["spec.mode: Required value"]);
    assert_eq!(one(&s, json!({"mode": "x"})), "spec.mode: Unsupported value: \"x\": supported values: \"a\", \"b\"");
    assert_eq!(one(&s, json!({"mode": "a", "n": 3})), "spec.n: Unsupported value: 3: supported values: \"1\", \"2\"");
    assert_eq!(one(&s, json!({"mode": "a", "name": "abcdef"})), "spec.name: Too long: may not be more than 5 bytes");
    assert_eq!(one(&s, json!({"mode": "a", "one": "ab"})), "spec.one: Too long: may not be more than 1 byte");
    assert_eq!(
        one(&s, json!({"mode": "a", "name": "a"})),
        "spec.name: Invalid value: \"a\": spec.name in body should be at least 2 chars long"
    );
    assert_eq!(
        one(&s, json!({"mode": "a", "name": "ABC"})),
        "spec.name: Invalid value: \"ABC\": spec.name in body should match '^[a-z]+$'"
    );
    // Characters, not bytes.
    assert!(errors(&s, json!({"spec": {"mode": "a", "one": "é"}})).is_empty());
}

#[test]
fn numeric_bounds() {
    let s = schema(json!({
        "max": {"type": "integer", "maximum": 10},
        "xmax": {"type": "integer", "maximum": 10, "exclusiveMaximum": true},
        "min": {"type": "number", "minimum": 0.5},
        "xmin": {"type": "integer", "minimum": 0, "exclusiveMinimum": true},
        "mul": {"type": "integer", "multipleOf": 3},
        "fmul": {"type": "number", "multipleOf": 0.5}
    }));
    assert_eq!(
        one(&s, json!({"max": 11})),
        "spec.max: Invalid value: 11: spec.max in body should be less than or equal to 10"
    );
    assert!(errors(&s, json!({"spec": {"max": 10}})).is_empty());
    assert_eq!(one(&s, json!({"xmax": 10})), "spec.xmax: Invalid value: 10: spec.xmax in body should be less than 10");
    assert_eq!(
        one(&s, json!({"min": 0.25})),
        "spec.min: Invalid value: 0.25: spec.min in body should be greater than or equal to 0.5"
    );
    assert_eq!(one(&s, json!({"xmin": 0})), "spec.xmin: Invalid value: 0: spec.xmin in body should be greater than 0");
    assert_eq!(one(&s, json!({"mul": 4})), "spec.mul: Invalid value: 4: spec.mul in body should be a multiple of 3");
    assert_eq!(
        one(&s, json!({"fmul": 0.7})),
        "spec.fmul: Invalid value: 0.7: spec.fmul in body should be a multiple of 0.5"
    );
    assert!(errors(&s, json!({"spec": {"mul": 9, "fmul": 1.5}})).is_empty());
}

#[test]
fn array_and_object_sizes() {
    let s = schema(json!({
        "items": {"type": "array", "minItems": 2, "maxItems": 3, "items": {"type": "integer"}},
        "labels": {"type": "object", "minProperties": 1, "maxProperties": 2, "additionalProperties": {"type": "string"}}
    }));
    assert_eq!(
        one(&s, json!({"items": [1]})),
        "spec.items: Invalid value: 1: spec.items in body should have at least 2 items"
    );
    assert_eq!(one(&s, json!({"items": [1, 2, 3, 4]})), "spec.items: Invalid value: 4: must have at most 3 items");
    assert_eq!(
        one(&s, json!({"labels": {}})),
        "spec.labels: Invalid value: 0: spec.labels in body should have at least 1 properties"
    );
    assert_eq!(
        one(&s, json!({"labels": {"a": "1", "b": "2", "c": "3"}})),
        "spec.labels: Invalid value: 3: must have at most 2 items"
    );
    assert_eq!(
        one(&s, json!({"labels": {"a": 1}})),
        "spec.labels.a: Invalid value: \"integer\": spec.labels.a in body must be of type string: \"integer\""
    );
}

#[test]
fn formats_kubernetes_validates() {
    let s = schema(json!({
        "id": {"type": "string", "format": "uuid"},
        "ip": {"type": "string", "format": "ipv4"},
        "ip6": {"type": "string", "format": "ipv6"},
        "net": {"type": "string", "format": "cidr"},
        "when": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "host": {"type": "string", "format": "hostname"},
        "mail": {"type": "string", "format": "email"},
        "data": {"type": "string", "format": "byte"},
        "link": {"type": "string", "format": "uri"},
        "mac": {"type": "string", "format": "mac"},
        "free": {"type": "string", "format": "no-such-format"},
        "i32": {"type": "integer", "format": "int32"}
    }));
    let good = json!({"spec": {"id": "123e4567-e89b-12d3-a456-426614174000", "ip": "10.0.0.1", "ip6": "::1",
        "net": "10.0.0.0/8", "when": "2024-02-29T12:00:00Z", "day": "2024-02-29", "host": "example.com",
        "mail": "a@b.io", "data": "aGk=", "link": "https://x.io/a", "mac": "00:11:22:33:44:55", "free": "anything", "i32": 5}});
    assert!(errors(&s, good).is_empty());
    assert_eq!(
        one(&s, json!({"id": "nope"})),
        "spec.id: Invalid value: \"nope\": spec.id in body must be of type uuid: \"nope\""
    );
    assert_eq!(
        one(&s, json!({"ip": "::1"})),
        "spec.ip: Invalid value: \"::1\": spec.ip in body must be of type ipv4: \"::1\""
    );
    assert!(one(&s, json!({"ip6": "1.2.3.4"})).contains("must be of type ipv6"));
    assert!(one(&s, json!({"net": "10.0.0.0/33"})).contains("must be of type cidr"));
    assert_eq!(
        one(&s, json!({"when": "2024-13-01T00:00:00Z"})),
        "spec.when: Invalid value: \"2024-13-01T00:00:00Z\": spec.when in body must be of type date-time: \"2024-13-01T00:00:00Z\""
    );
    assert!(one(&s, json!({"day": "2023-02-29"})).contains("must be of type date"));
    assert!(one(&s, json!({"host": "-bad-"})).contains("must be of type hostname"));
    assert!(one(&s, json!({"mail": "nope"})).contains("must be of type email"));
    assert!(one(&s, json!({"data": "a"})).contains("must be of type byte"));
    assert!(one(&s, json!({"link": "relative/path"})).contains("must be of type uri"));
    assert!(one(&s, json!({"mac": "00:11"})).contains("must be of type mac"));
    assert_eq!(
        one(&s, json!({"i32": 1.5})),
        "spec.i32: Invalid value: \"double\": spec.i32 in body must be of type int32: \"double\""
    );
}

#[test]
fn any_of_one_of_all_of_not() {
    let s = schema(json!({
        "a": {"type": "object", "properties": {"x": {"type": "string"}, "y": {"type": "string"}},
              "anyOf": [{"required": ["x"]}, {"required": ["y"]}]},
        "o": {"type": "integer", "oneOf": [{"minimum": 5}, {"maximum": 10}]},
        "n": {"type": "string", "not": {"enum": ["bad"]}},
        "l": {"type": "integer", "allOf": [{"minimum": 1}, {"maximum": 3}]}
    }));
    assert_eq!(
        errors(&s, json!({"spec": {"a": {}}})),
        vec![
            "<nil>: Invalid value: \"\": \"spec.a\" must validate at least one schema (anyOf)",
            "spec.a.x: Required value"
        ]
    );
    assert!(errors(&s, json!({"spec": {"a": {"y": "1"}}})).is_empty());
    assert_eq!(
        errors(&s, json!({"spec": {"o": 7}})),
        vec!["<nil>: Invalid value: \"\": \"spec.o\" must validate one and only one schema (oneOf). Found 2 valid alternatives"]
    );
    assert_eq!(
        errors(&s, json!({"spec": {"n": "bad"}})),
        vec!["<nil>: Invalid value: \"\": \"spec.n\" must not validate the schema (not)"]
    );
    assert_eq!(
        errors(&s, json!({"spec": {"l": 5}})),
        vec![
            "spec.l: Invalid value: 5: spec.l in body should be less than or equal to 3",
            "<nil>: Invalid value: \"\": \"spec.l\" must validate all the schemas (allOf)"
        ]
    );
}

#[test]
fn int_or_string() {
    let s = schema(json!({
        "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
        "loose": {"x-kubernetes-int-or-string": true}
    }));
    assert!(errors(&s, json!({"spec": {"port": 80, "loose": "http"}})).is_empty());
    assert!(errors(&s, json!({"spec": {"port": "http"}})).is_empty());
    // x-kubernetes-int-or-string types the field as [integer, string], as
    // the apiextensions conversion does; the anyOf still reports its own.
    let errs = errors(&s, json!({"spec": {"port": true}}));
    assert_eq!(
        errs[0],
        "spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\""
    );
    assert!(errs
        .contains(&"<nil>: Invalid value: \"\": \"spec.port\" must validate at least one schema (anyOf)".to_string()));
    let errs = errors(&s, json!({"spec": {"loose": 1.5}}));
    assert_eq!(
        errs,
        ["spec.loose: Invalid value: \"number\": spec.loose in body must be of type integer,string: \"number\""]
    );
    let errs = refused(json!({"type": "object", "properties": {"p": {"x-kubernetes-int-or-string": true,
        "x-kubernetes-preserve-unknown-fields": true}}}));
    assert_eq!(
        errs,
        vec![format!("{BASE}.properties[p].x-kubernetes-preserve-unknown-fields: Invalid value: true: must be false if x-kubernetes-int-or-string is true")]
    );
}

#[test]
fn list_types_report_duplicates() {
    let s = schema(json!({
        "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port", "protocol"],
                  "items": {"type": "object", "required": ["port"], "properties": {
                      "port": {"type": "integer"}, "protocol": {"type": "string", "default": "TCP"}}}},
        "conds": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
                  "items": {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}}}
    }));
    assert_eq!(one(&s, json!({"tags": ["a", "b", "a", "a"]})), "spec.tags[2]: Duplicate value: \"a\"");
    assert_eq!(
        one(
            &s,
            json!({"ports": [{"port": 80, "protocol": "TCP"}, {"port": 80, "protocol": "UDP"}, {"port": 80, "protocol": "TCP"}]})
        ),
        "spec.ports[2]: Duplicate value: {\"port\":80,\"protocol\":\"TCP\"}"
    );
    assert_eq!(
        one(&s, json!({"conds": [{"type": "Ready"}, {"type": "Ready"}]})),
        "spec.conds[1]: Duplicate value: {\"type\":\"Ready\"}"
    );
    assert_eq!(
        errors(&s, json!({"spec": {"conds": ["x"]}})),
        vec![
            "spec.conds[0]: Invalid value: \"string\": spec.conds[0] in body must be of type object: \"string\"",
            "spec.conds[0]: Invalid value: \"x\": must be an object for an array of list-type map"
        ]
    );
    assert_eq!(s.list_type(&["spec", "tags"]), SchemaListType::Set);
    assert_eq!(s.list_type(&["spec", "ports"]), SchemaListType::Map(vec!["port".into(), "protocol".into()]));
    assert_eq!(s.list_type(&["spec", "nothing"]), SchemaListType::Atomic);
}

#[test]
fn map_type_lookup() {
    let s = schema(json!({"sel": {"type": "object", "x-kubernetes-map-type": "atomic",
        "properties": {"a": {"type": "string"}}}, "g": {"type": "object"}}));
    assert!(s.map_is_atomic(&["spec", "sel"]));
    assert!(!s.map_is_atomic(&["spec", "g"]));
}

#[test]
fn non_structural_schemas_are_refused() {
    assert_eq!(
        refused(json!({"type": "object", "properties": {"spec": {"properties": {"a": {"type": "string"}}}}})),
        vec![format!("{BASE}.properties[spec].type: Required value: must not be empty for specified object fields")]
    );
    assert_eq!(
        refused(json!({"properties": {"a": {"type": "string"}}})),
        vec![format!("{BASE}.type: Required value: must not be empty at the root")]
    );
    assert_eq!(
        refused(json!({"type": "object", "properties": {"l": {"type": "array"}}})),
        vec![format!("{BASE}.properties[l].items: Required value: must be specified")]
    );
    assert_eq!(
        refused(json!({"type": "object", "properties": {"l": {"type": "array", "items": {}}}})),
        vec![format!("{BASE}.properties[l].items.type: Required value: must not be empty for specified array items")]
    );
    assert_eq!(
        refused(json!({"type": "string"})),
        vec![format!("{BASE}.type: Invalid value: \"string\": must be object at the root")]
    );
    assert_eq!(
        refused(json!({"type": "object", "properties": {"a": {"type": "string", "anyOf": [{"type": "string"}]}}})),
        vec![format!("{BASE}.properties[a].anyOf[0].type: Forbidden: must be empty to be structural")]
    );
    assert_eq!(
        refused(json!({"type": "object", "properties": {"a": {"type": "object", "anyOf": [{"properties": {"x": {"minimum": 1}}}]}}})),
        vec![format!(
            "{BASE}.properties[a].properties[x]: Required value: because it is defined in {BASE}.properties[a].anyOf[0].properties[x]"
        )]
    );
    assert_eq!(
        refused(json!({"type": "object", "properties": {"a": {"type": "object",
            "properties": {"x": {"type": "string"}}, "additionalProperties": {"type": "string"}}}})),
        vec![format!("{BASE}.properties[a].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive")]
    );
    assert_eq!(
        refused(json!({"type": "object", "additionalProperties": {"type": "string"}})),
        vec![format!("{BASE}.additionalProperties: Forbidden: must not be used at the root")]
    );
    assert_eq!(
        refused(json!({"type": "object", "properties": {"a": {"type": "foo"}}})),
        vec![format!(
            "{BASE}.properties[a].type: Unsupported value: \"foo\": supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\""
        )]
    );
    assert_eq!(
        refused(json!({"type": "object", "properties": {"a": {"$ref": "#/x"}}}))[0],
        format!("{BASE}.properties[a].$ref: Forbidden: $ref is not supported")
    );
    assert_eq!(
        refused(json!({"type": "object", "properties": {"a": {"type": "array", "uniqueItems": true, "items": {"type": "string"}}}})),
        vec![format!(
            "{BASE}.properties[a].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
        )]
    );
    assert_eq!(
        refused(json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}})),
        vec![format!(
            "{BASE}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"
        )]
    );
    let bad_pattern = refused(json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "(("}}}));
    assert!(bad_pattern[0].starts_with(&format!(
        "{BASE}.properties[a].pattern: Invalid value: \"((\": must be a valid regular expression, but isn't: "
    )));
    assert_eq!(
        refused(json!({"type": "object", "nullable": true})),
        vec![format!("{BASE}.nullable: Forbidden: nullable cannot be true at the root")]
    );
    assert_eq!(
        refused(json!({"type": "object", "properties": {"a": {"type": "string", "x-kubernetes-preserve-unknown-fields": false}}})),
        vec![format!("{BASE}.properties[a].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined")]
    );
    // metadata.name restrictions are allowed at the root.
    assert!(Structural::from_json(
        &json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}}}}}),
        BASE
    )
    .is_ok());
}

#[test]
fn list_and_map_type_extensions_are_checked() {
    assert_eq!(
        refused(json!({"type": "object", "properties": {"a": {"type": "string", "x-kubernetes-list-type": "set"}}})),
        vec![format!("{BASE}.properties[a].type: Invalid value: \"string\": must be array if x-kubernetes-list-type is specified")]
    );
    assert_eq!(
        refused(json!({"type": "object", "properties": {"a": {"type": "array", "x-kubernetes-list-type": "bag", "items": {"type": "string"}}}})),
        vec![format!("{BASE}.properties[a].x-kubernetes-list-type: Unsupported value: \"bag\": supported values: \"atomic\", \"set\", \"map\"")]
    );
    assert_eq!(
        refused(json!({"type": "object", "properties": {"a": {"type": "array", "x-kubernetes-list-type": "map",
            "items": {"type": "object", "properties": {"k": {"type": "string"}}}}}})),
        vec![format!("{BASE}.properties[a].x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map")]
    );
    assert_eq!(
        refused(json!({"type": "object", "properties": {"a": {"type": "array", "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["k"], "items": {"type": "object", "properties": {"k": {"type": "string"}}}}}})),
        vec![format!(
            "{BASE}.properties[a].items.properties[k].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property"
        )]
    );
    assert_eq!(
        refused(json!({"type": "object", "properties": {"a": {"type": "array", "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["z"], "items": {"type": "object", "properties": {"k": {"type": "string"}}}}}})),
        vec![format!("{BASE}.properties[a].x-kubernetes-list-map-keys: Invalid value: []string{{\"z\"}}: entries must all be names of item properties")]
    );
    assert_eq!(
        refused(json!({"type": "object", "properties": {"a": {"type": "object", "x-kubernetes-map-type": "loose"}}})),
        vec![format!("{BASE}.properties[a].x-kubernetes-map-type: Unsupported value: \"loose\": supported values: \"atomic\", \"granular\"")]
    );
    assert_eq!(
        refused(json!({"type": "object", "properties": {"a": {"type": "array", "x-kubernetes-list-type": "set",
            "items": {"type": "object", "properties": {"k": {"type": "string"}}}}}})),
        vec![format!("{BASE}.properties[a].items.x-kubernetes-map-type: Invalid value: null: must be atomic as item of a list with x-kubernetes-list-type=set")]
    );
}

#[test]
fn defaults_must_validate_and_prune_cleanly() {
    assert_eq!(
        refused(json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "replicas": {"type": "integer", "maximum": 3, "default": 5}}}}})),
        vec![format!(
            "{BASE}.properties[spec].properties[replicas].default: Invalid value: 5:  in body should be less than or equal to 3"
        )]
    );
    assert_eq!(
        refused(json!({"type": "object", "properties": {"spec": {"type": "object", "default": {"x": 1},
            "properties": {"a": {"type": "string"}}}}})),
        vec![format!("{BASE}.properties[spec].default: Invalid value: {{\"x\":1}}: must not have unknown fields")]
    );
    assert_eq!(
        refused(json!({"type": "object", "properties": {"spec": {"type": "object", "default": {"a": 1},
            "properties": {"a": {"type": "string"}}}}})),
        vec![format!(
            "{BASE}.properties[spec].default.a: Invalid value: \"integer\": a in body must be of type string: \"integer\""
        )]
    );
    assert_eq!(
        refused(json!({"type": "object", "properties": {"metadata": {"type": "object", "default": {}}}})),
        vec![format!("{BASE}.properties[metadata].default: Forbidden: must not be set in top-level metadata")]
    );
}

#[test]
fn defaults_apply_deep() {
    let s = schema(json!({
        "replicas": {"type": "integer", "default": 1},
        "strategy": {"type": "object", "properties": {"type": {"type": "string", "default": "Rolling"}}},
        "withDefault": {"type": "object", "default": {}, "properties": {"x": {"type": "integer", "default": 7}}},
        "ports": {"type": "array", "items": {"type": "object", "properties": {
            "protocol": {"type": "string", "default": "TCP"}, "port": {"type": "integer"}}}},
        "env": {"type": "object", "additionalProperties": {"type": "object", "properties": {
            "level": {"type": "string", "default": "info"}}}},
        "nulled": {"type": "string", "default": "d"},
        "nullable": {"type": "string", "default": "d", "nullable": true}
    }));
    let mut obj = json!({"spec": {"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}],
        "env": {"a": {}}, "nulled": null, "nullable": null}});
    s.apply_defaults(&mut obj);
    assert_eq!(
        obj,
        json!({"spec": {"ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
            "env": {"a": {"level": "info"}}, "nulled": "d", "nullable": null,
            "replicas": 1, "withDefault": {"x": 7}}})
    );
    // Absent parents stay absent; an absent spec gets nothing.
    let mut empty = json!({});
    s.apply_defaults(&mut empty);
    assert_eq!(empty, json!({}));
}

#[test]
fn pruning_reports_paths_and_honours_preserve_unknown_fields() {
    let s = schema(json!({
        "known": {"type": "string"},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                 "properties": {"typed": {"type": "object", "properties": {"a": {"type": "string"}}}}},
        "items": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                     "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}}}
    }));
    let mut obj = json!({
        "apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n", "whatever": 1},
        "status": {"a": 1},
        "spec": {"known": "k", "unknown": 1,
            "free": {"anything": {"goes": true}, "typed": {"a": "1", "b": 2}},
            "items": [{"name": "a", "bar": 1}],
            "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "junk": 1}, "spec": {"x": "1", "y": 2}, "z": 1}}
    });
    let pruned = s.prune(&mut obj);
    assert_eq!(
        pruned,
        vec![
            "spec.free.typed.b",
            "spec.items[0].bar",
            "spec.template.metadata.junk",
            "spec.template.spec.y",
            "spec.template.z",
            "spec.unknown",
            "status"
        ]
    );
    assert_eq!(
        obj,
        json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n", "whatever": 1},
            "spec": {"known": "k", "free": {"anything": {"goes": true}, "typed": {"a": "1"}},
                "items": [{"name": "a"}],
                "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": "1"}}}})
    );

    let open =
        Structural::from_json(&json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}), BASE).unwrap();
    let mut obj = json!({"spec": {"a": [1, {"b": 2}]}});
    assert!(open.prune(&mut obj).is_empty());
    assert_eq!(obj, json!({"spec": {"a": [1, {"b": 2}]}}));
}

#[test]
fn embedded_resources_need_type_meta_and_valid_metadata() {
    let s = schema(json!({"template": {"type": "object", "x-kubernetes-embedded-resource": true,
        "x-kubernetes-preserve-unknown-fields": true}}));
    assert_eq!(
        errors(&s, json!({"spec": {"template": {"metadata": {"name": "a/b"}}}})),
        vec![
            "spec.template.apiVersion: Required value",
            "spec.template.kind: Required value",
            "spec.template.metadata.name: Invalid value: \"a/b\": may not contain '/'"
        ]
    );
    assert!(errors(&s, json!({"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}}}))
        .is_empty());
    assert_eq!(
        refused(json!({"type": "object", "properties": {"t": {"type": "object", "x-kubernetes-embedded-resource": true}}})),
        vec![format!(
            "{BASE}.properties[t].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"
        )]
    );
}

#[test]
fn cel_rules() {
    let s = schema(json!({
        "min": {"type": "integer"}, "max": {"type": "integer"},
        "name": {"type": "string", "x-kubernetes-validations": [
            {"rule": "self.startsWith('a')", "message": "must start with a"},
            {"rule": "self == oldSelf", "message": "is immutable"},
            {"rule": "self.lowerAscii() == self", "reason": "FieldValueForbidden", "messageExpression": "'lower case only, got ' + self"}
        ]},
        "list": {"type": "array", "items": {"type": "string"}, "x-kubernetes-validations": [
            {"rule": "self.all(x, size(x) < 3)"}
        ]}
    }));
    let s = {
        // Put an object-level rule on spec too.
        let raw = json!({"type": "object", "properties": {"spec": {"type": "object",
            "x-kubernetes-validations": [{"rule": "!has(self.min) || !has(self.max) || self.min <= self.max", "fieldPath": ".min"}],
            "properties": s.to_openapi()["properties"]["spec"]["properties"].clone()}}});
        Structural::from_json(&raw, BASE).unwrap()
    };
    assert!(errors(&s, json!({"spec": {"min": 1, "max": 2, "name": "abc", "list": ["ab"]}})).is_empty());
    assert_eq!(
        errors(&s, json!({"spec": {"min": 3, "max": 2}})),
        vec!["spec.min: Invalid value: \"object\": failed rule: !has(self.min) || !has(self.max) || self.min <= self.max"]
    );
    assert_eq!(
        errors(&s, json!({"spec": {"name": "Bob"}})),
        vec!["spec.name: Invalid value: \"Bob\": must start with a", "spec.name: Forbidden: lower case only, got Bob"]
    );
    assert_eq!(
        errors(&s, json!({"spec": {"list": ["abc"]}})),
        vec!["spec.list: Invalid value: \"array\": failed rule: self.all(x, size(x) < 3)"]
    );
    // Transition rules run on update only.
    let new = json!({"spec": {"name": "ab"}});
    assert!(s.validate(&new).is_empty());
    let errs: Vec<String> =
        s.validate_update(&new, &json!({"spec": {"name": "aa"}})).iter().map(|e| e.to_string()).collect();
    assert_eq!(errs, vec!["spec.name: Invalid value: \"ab\": is immutable"]);

    let errs =
        refused(json!({"type": "object", "x-kubernetes-validations": [{"rule": "self.a ==", "reason": "Nope"}]}));
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(
        errs[0],
        format!("{BASE}.x-kubernetes-validations[0].reason: Unsupported value: \"Nope\": supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\"")
    );
    assert!(errs[1].starts_with(&format!("{BASE}.x-kubernetes-validations[0].rule: Invalid value: ")), "{}", errs[1]);
    assert!(errs[1].contains("compilation failed"));
    assert_eq!(
        refused(json!({"type": "object", "properties": {"l": {"type": "array", "items": {"type": "string",
            "x-kubernetes-validations": [{"rule": "self == oldSelf"}]}}}})),
        vec![format!(
            "{BASE}.properties[l].items.x-kubernetes-validations[0].rule: Invalid value: \"self == oldSelf\": oldSelf cannot be used on the uncorrelatable portion of the schema within {BASE}.properties[l]"
        )]
    );
}

#[test]
fn metadata_name_pattern_is_enforced() {
    let s = Structural::from_json(
        &json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {
            "name": {"type": "string", "pattern": "^[a-z]+$"}}}}}),
        BASE,
    )
    .unwrap();
    assert_eq!(
        errors(&s, json!({"metadata": {"name": "a1", "labels": {"x": "y"}}})),
        vec!["metadata.name: Invalid value: \"a1\": metadata.name in body should match '^[a-z]+$'"]
    );
}

#[test]
fn json_paths_for_printer_columns() {
    let obj = json!({"spec": {"replicas": 3}, "status": {"conditions": [{"type": "Ready"}]},
        "metadata": {"labels": {"app": "web", "a.b/c": "x"}}});
    assert_eq!(json_path(&obj, ".spec.replicas"), Some(json!(3)));
    assert_eq!(json_path(&obj, ".status.conditions[0].type"), Some(json!("Ready")));
    assert_eq!(json_path(&obj, "{.metadata.labels.app}"), Some(json!("web")));
    assert_eq!(json_path(&obj, ".metadata.labels['a.b/c']"), Some(json!("x")));
    assert_eq!(json_path(&obj, ".status.conditions[-1].type"), Some(json!("Ready")));
    assert_eq!(Structural::json_path(&obj, ".spec.missing"), None);
    assert_eq!(json_path(&obj, "spec"), None);
}

#[test]
fn openapi_publishes_type_meta() {
    let s = schema(json!({"a": {"type": "string", "description": "A."}}));
    let o = s.to_openapi();
    assert_eq!(o["properties"]["spec"]["properties"]["a"]["description"], "A.");
    assert_eq!(o["properties"]["kind"]["type"], "string");
    assert_eq!(o["properties"]["metadata"]["type"], "object");
}

#[test]
fn deep_schemas_and_objects_do_not_overflow() {
    let mut deep = json!({"type": "string"});
    for _ in 0..150 {
        deep = json!({"type": "object", "properties": {"a": deep}});
    }
    let errs = Structural::from_json(&deep, BASE).unwrap_err();
    assert!(errs[0].to_string().contains("must not be nested more than 100 levels deep"), "{}", errs[0]);

    let s =
        Structural::from_json(&json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}), BASE).unwrap();
    // Built by hand: json!() would serialise the nested value recursively.
    let mut obj = json!(1);
    for _ in 0..5000 {
        let mut m = serde_json::Map::new();
        m.insert("a".into(), Value::Array(vec![obj]));
        obj = Value::Object(m);
    }
    assert!(s.validate(&obj).is_empty());
    s.apply_defaults(&mut obj);
    assert!(s.prune(&mut obj).is_empty());
    // serde_json's own drop of a 10k-deep value would recurse; leak it instead.
    std::mem::forget(obj);
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize].clone()
    }

    fn value(&mut self, depth: u32) -> Value {
        match self.next() % if depth == 0 { 5 } else { 8 } {
            0 => Value::Null,
            1 => json!(self.next() % 20),
            2 => json!(self.pick(&["a", "b", "x1", "", "ABC", "10.0.0.1", "2024-01-01"])),
            3 => json!(self.next().is_multiple_of(2)),
            4 => json!((self.next() % 100) as f64 / 7.0),
            5 | 6 => {
                let mut m = serde_json::Map::new();
                for _ in 0..self.next() % 4 {
                    let k: &str = self.pick(&["a", "b", "c", "apiVersion", "kind", "metadata", "name"]);
                    m.insert(k.to_string(), self.value(depth - 1));
                }
                Value::Object(m)
            }
            _ => Value::Array((0..self.next() % 4).map(|_| self.value(depth - 1)).collect()),
        }
    }

    fn schema(&mut self, depth: u32) -> Value {
        let ty: &str = self.pick(&["object", "array", "string", "integer", "number", "boolean", "", "bogus"]);
        let mut m = serde_json::Map::new();
        if !ty.is_empty() {
            m.insert("type".into(), json!(ty));
        }
        for _ in 0..self.next() % 4 {
            let (k, v) = match self.next() % 18 {
                0 => ("maximum", json!(self.next() % 10)),
                1 => ("minLength", json!(self.next() % 3)),
                2 => ("pattern", json!(self.pick(&["^a", "((", "[0-9]+", ""]))),
                3 => ("enum", json!(["a", 1, null])),
                4 => ("nullable", json!(true)),
                5 => ("x-kubernetes-preserve-unknown-fields", json!(self.next().is_multiple_of(2))),
                6 => ("x-kubernetes-int-or-string", json!(true)),
                7 => ("x-kubernetes-embedded-resource", json!(true)),
                8 => ("x-kubernetes-list-type", json!(self.pick(&["set", "map", "atomic", "x"]))),
                9 => ("x-kubernetes-list-map-keys", json!(["a"])),
                10 => ("default", self.value(1)),
                11 => ("format", json!(self.pick(&["uuid", "date-time", "int32", "byte"]))),
                12 if depth > 0 => ("anyOf", json!([self.schema(depth - 1), {"required": ["a"]}])),
                13 => (
                    "x-kubernetes-validations",
                    json!([{"rule": self.pick(&["self.a > 1", "has(self.a)", "self.size() < 3", "self == oldSelf", ")("])}]),
                ),
                14 => ("required", json!(["a"])),
                15 => ("multipleOf", json!(self.pick(&[0.5, 2.0, 0.0]))),
                16 => ("maxItems", json!(1)),
                _ => ("x-kubernetes-map-type", json!("atomic")),
            };
            m.insert(k.into(), v);
        }
        if depth > 0 {
            match ty {
                "object" => {
                    let mut props = serde_json::Map::new();
                    for _ in 0..self.next() % 3 {
                        let k: &str = self.pick(&["a", "b", "metadata", "kind"]);
                        props.insert(k.into(), self.schema(depth - 1));
                    }
                    if self.next().is_multiple_of(3) {
                        m.insert("additionalProperties".into(), self.schema(depth - 1));
                    } else {
                        m.insert("properties".into(), Value::Object(props));
                    }
                }
                "array" => {
                    m.insert("items".into(), self.schema(depth - 1));
                }
                _ => {}
            }
        }
        Value::Object(m)
    }
}

#[test]
fn random_schemas_and_objects_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    for _ in 0..3_000 {
        let raw = rng.schema(4);
        let root = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": rng.next().is_multiple_of(2),
            "properties": {"spec": raw}});
        let Ok(s) = Structural::from_json(&root, BASE) else { continue };
        accepted += 1;
        for _ in 0..5 {
            let mut obj = json!({"spec": rng.value(4)});
            let old = json!({"spec": rng.value(3)});
            let _ = s.validate(&obj);
            let _ = s.validate_update(&obj, &old);
            s.apply_defaults(&mut obj);
            let _ = s.prune(&mut obj);
            let _ = s.list_type(&["spec", "a"]);
            let _ = s.map_is_atomic(&["spec"]);
            let _ = s.to_openapi();
        }
    }
    assert!(accepted > 100, "only {accepted} random schemas were accepted");
}
