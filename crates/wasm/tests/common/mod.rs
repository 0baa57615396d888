//! What the plugin tests and benchmarks share (each uses a part of it).
#![allow(dead_code)]

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

/// A simulated cluster for scheduler tests and benchmarks: `count` nodes of
/// 4 CPU / 16 GiB / 110 pods over three zones, and pods of one owner asking
/// for 100m CPU / 128 MiB.
pub mod cluster {
    use skiff_wasm::scheduling::model::{Node, Pod, Resources};

    pub fn nodes(count: usize) -> Vec<Node> {
        (0..count)
            .map(|i| {
                let name = format!("node-{i:05}");
                Node {
                    index: i as u32,
                    labels: vec![
                        ("kubernetes.io/hostname".into(), name.clone()),
                        ("kubernetes.io/os".into(), "linux".into()),
                        ("topology.kubernetes.io/zone".into(), format!("zone-{}", i % 3)),
                    ],
                    name,
                    allocatable: Resources {
                        milli_cpu: 4000,
                        memory: 16 << 30,
                        ephemeral_storage: 100 << 30,
                        pods: 110,
                        extended: vec![],
                    },
                    ..Default::default()
                }
            })
            .collect()
    }

    pub fn pod(i: usize) -> Pod {
        Pod {
            namespace: "default".into(),
            name: format!("web-{i}"),
            uid: format!("uid-{i}"),
            labels: vec![("app".into(), "web".into())],
            owner_uid: Some("replicaset-web".into()),
            requests: Resources { milli_cpu: 100, memory: 128 << 20, ..Default::default() },
            ..Default::default()
        }
    }
}
