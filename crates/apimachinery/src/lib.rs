//! Kubernetes API machinery without I/O: the pieces of
//! `k8s.io/apimachinery` an API server needs to behave like Kubernetes
//! towards kubectl — name and label validation ([`names`]), field errors
//! ([`field_error`]), label and field selectors ([`labels`], [`fields`]),
//! resource quantities ([`quantity`]) and the three PATCH formats
//! ([`patch`]). Everything works on `serde_json::Value` and never panics on
//! client input.
//!
//! ```
//! use serde_json::json;
//! use skiff_apimachinery::patch::{k8s_meta::KubernetesPatchMeta, strategic};
//! use skiff_apimachinery::{Quantity, Selector};
//!
//! let sel = Selector::parse("app=web,tier in (fe,be)").unwrap();
//! assert!(sel.matches_object(&json!({"metadata": {"labels": {"app": "web", "tier": "fe"}}})));
//!
//! let live = json!({"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}});
//! let patch = json!({"spec": {"containers": [{"name": "b", "image": "b:2"}]}});
//! let out = strategic::apply(&live, &patch, &KubernetesPatchMeta::for_kind("Pod")).unwrap();
//! assert_eq!(out["spec"]["containers"][1]["image"], "b:2");
//!
//! assert_eq!(Quantity::parse("0.5Gi").unwrap().to_string(), "512Mi");
//! ```

#![warn(missing_docs)]

pub mod apply;
pub mod field_error;
pub mod fields;
pub mod labels;
pub mod names;
pub mod patch;
pub mod quantity;
pub mod query;
pub mod schema;

pub use field_error::{FieldError, FieldErrorKind};
pub use fields::{FieldOp, FieldRequirement, FieldSelector, FieldSelectorError};
pub use labels::{Operator, Requirement, Selector, SelectorError};
pub use names::NameError;
pub use patch::strategic::{ListStrategy, PatchMeta};
pub use patch::PatchError;
pub use quantity::{Format, Quantity, QuantityError};

/// Any error this crate reports, for callers that funnel them together.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A name failed validation.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A field failed validation.
    #[error(transparent)]
    Field(#[from] FieldError),
    /// A label selector was malformed.
    #[error(transparent)]
    LabelSelector(#[from] SelectorError),
    /// A field selector was malformed.
    #[error(transparent)]
    FieldSelector(#[from] FieldSelectorError),
    /// A quantity was malformed.
    #[error(transparent)]
    Quantity(#[from] QuantityError),
    /// A patch could not be applied.
    #[error(transparent)]
    Patch(#[from] PatchError),
}

#[cfg(test)]
mod robustness {
    //! Garbage in must mean an error out, never a panic: these parsers sit
    //! directly behind query strings and request bodies.

    use serde_json::{json, Value};

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
            let len = u64::try_from(items.len()).ok()?;
            let i = usize::try_from(self.next() % len.max(1)).ok()?;
            items.get(i)
        }

        fn string(&mut self, alphabet: &[&str]) -> String {
            let len = self.next() % 12;
            (0..len).filter_map(|_| self.pick(alphabet).copied()).collect()
        }

        fn value(&mut self, depth: u32) -> Value {
            let keys = [
                "name",
                "a",
                "$patch",
                "$retainKeys",
                "$setElementOrder/a",
                "$deleteFromPrimitiveList/a",
                "containers",
                "spec",
            ];
            match self.next() % if depth == 0 { 4 } else { 7 } {
                0 => Value::Null,
                1 => json!(self.next() % 3),
                2 => json!(self.pick(&["delete", "replace", "merge", "x", "a"]).copied().unwrap_or("")),
                3 => json!(self.next().is_multiple_of(2)),
                4 | 5 => {
                    let n = self.next() % 4;
                    let mut map = serde_json::Map::new();
                    for _ in 0..n {
                        let key = self.pick(&keys).copied().unwrap_or("k").to_string();
                        map.insert(key, self.value(depth - 1));
                    }
                    Value::Object(map)
                }
                _ => Value::Array((0..self.next() % 4).map(|_| self.value(depth - 1)).collect()),
            }
        }
    }

    #[test]
    fn parsers_never_panic() {
        let alphabet = [
            "a", "b", "Z", "0", "9", ".", "-", "_", "/", "=", "!", "(", ")", ",", "<", ">", " ", "\t", "\\", "in",
            "notin", "e", "E", "i", "m", "k", "Ki", "G", "+", "ä", "~", "\u{0}",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let s = rng.string(&alphabet);
            let _ = crate::labels::Selector::parse(&s).map(|sel| sel.to_string());
            let _ = crate::fields::FieldSelector::parse(&s).map(|sel| sel.to_string());
            let _ = crate::quantity::Quantity::parse(&s).map(|q| (q.to_string(), q.as_millis()));
            let _ = crate::names::is_qualified_name(&s);
            let _ = crate::names::is_dns1123_subdomain(&s);
            let _ = crate::names::is_env_var_name(&s);
        }
    }

    #[test]
    fn patches_never_panic() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let meta = crate::patch::KubernetesPatchMeta;
        let keyed = |path: &[&str]| match path.last() {
            Some(&"a") => crate::ListStrategy::Merge { key: None },
            Some(&"containers") => crate::ListStrategy::Merge { key: Some("name".into()) },
            _ => crate::ListStrategy::Atomic,
        };
        for _ in 0..5_000 {
            let original = rng.value(4);
            let patch = rng.value(4);
            let _ = crate::patch::strategic::apply(&original, &patch, &meta);
            let _ = crate::patch::strategic::apply(&original, &patch, &keyed);
            let _ = crate::patch::merge_patch::apply(&original, &patch);
            let _ = crate::labels::Selector::from_label_selector(&patch);
            let _ = crate::labels::validate_label_selector(&patch, "spec.selector");
            let _ = crate::quantity::Quantity::from_json(&patch);
            let ops = json!([{"op": rng.pick(&["add", "remove", "replace", "move", "copy", "test"]).copied().unwrap_or("add"),
                              "path": rng.pick(&["", "/a", "/a/0", "/a/-", "/spec/containers/1", "/~1"]).copied().unwrap_or(""),
                              "from": rng.pick(&["/a", "/name", "/a/0"]).copied().unwrap_or("/a"),
                              "value": rng.value(2)}]);
            let _ = crate::patch::json_patch::apply(&original, &ops);
        }
    }
}
