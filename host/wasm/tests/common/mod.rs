//! What the sandbox tests and the admission benchmark share.

use std::path::PathBuf;

use serde_json::json;
use skiff_wasm::admission::{Operation, Request, UserInfo};
use skiff_wasm::{GroupVersionKind, GroupVersionResource};

/// Where tests/run puts the plugins/ workspace's components ($SKIFF_PLUGINS_DIR).
pub fn plugins_dir() -> PathBuf {
    std::env::var_os("SKIFF_PLUGINS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins/wasm32-wasip2/release"))
}

/// The CREATE of a one-container Pod `web` in `default` with `image`.
pub fn pod_create(image: &str) -> Request {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
                     "spec": {"containers": [{"name": "web", "image": image}]}});
    Request {
        uid: "test".into(),
        kind: GroupVersionKind { group: "".into(), version: "v1".into(), kind: "Pod".into() },
        gvr: GroupVersionResource { group: "".into(), version: "v1".into(), plural: "pods".into() },
        sub_resource: None,
        name: "web".into(),
        namespace: Some("default".into()),
        operation: Operation::Create,
        user_info: UserInfo { username: "system:admin".into(), uid: String::new(), groups: vec![], extra: vec![] },
        object: Some(pod.to_string()),
        old_object: None,
        dry_run: false,
    }
}
