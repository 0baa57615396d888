//! Reading and writing `metadata` on untyped objects.

use rand::Rng;
use serde_json::{Map, Value};

/// Now, as Kubernetes writes timestamps (RFC 3339, seconds, UTC).
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = Value::Object(Map::new());
    }
    match obj.get_mut("metadata").and_then(Value::as_object_mut) {
        Some(m) => m,
        None => unreachable!("metadata was just made an object"),
    }
}

pub fn str_field<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or("")
}

pub fn name(obj: &Value) -> &str {
    str_field(obj, "name")
}

pub fn namespace(obj: &Value) -> &str {
    str_field(obj, "namespace")
}

pub fn uid(obj: &Value) -> &str {
    str_field(obj, "uid")
}

pub fn resource_version(obj: &Value) -> &str {
    str_field(obj, "resourceVersion")
}

pub fn is_deleting(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    obj["metadata"]["finalizers"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

pub fn set_finalizers(obj: &mut Value, finalizers: Vec<String>) {
    let meta = metadata_mut(obj);
    if finalizers.is_empty() {
        meta.remove("finalizers");
    } else {
        meta.insert("finalizers".into(), Value::Array(finalizers.into_iter().map(Value::String).collect()));
    }
}

pub fn add_finalizer(obj: &mut Value, finalizer: &str) {
    let mut list = finalizers(obj);
    if !list.iter().any(|f| f == finalizer) {
        list.push(finalizer.to_string());
    }
    set_finalizers(obj, list);
}

/// `generateName` plus five random characters, from the alphabet Kubernetes
/// uses (no vowels, so no words; no look-alike digits).
pub fn generate_name(base: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let base: String = base.chars().take(63 - 5).collect();
    let mut rng = rand::rng();
    let suffix: String = (0..5).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
    format!("{base}{suffix}")
}

/// Everything but metadata and status: what `generation` counts changes of.
pub fn desired_state_differs(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        let mut m = v.as_object().cloned().unwrap_or_default();
        for f in ["metadata", "status", "apiVersion", "kind"] {
            m.remove(f);
        }
        m
    };
    strip(a) != strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_keep_the_base_and_fit() {
        let n = generate_name("web-");
        assert!(n.starts_with("web-") && n.len() == 9);
        assert!(generate_name(&"a".repeat(100)).len() <= 63);
    }

    #[test]
    fn finalizers_are_added_once_and_cleared() {
        let mut obj = serde_json::json!({"metadata": {}});
        add_finalizer(&mut obj, "x");
        add_finalizer(&mut obj, "x");
        assert_eq!(finalizers(&obj), ["x"]);
        set_finalizers(&mut obj, Vec::new());
        assert!(obj["metadata"].get("finalizers").is_none());
    }
}
