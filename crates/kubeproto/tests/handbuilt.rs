//! Protobuf bodies built byte by byte from the field numbers in k8s-pb
//! (checked against kubectl's Go struct tags by the generator), decoded to
//! the exact expected JSON; then encode → decode round trips and malformed
//! input.

use serde_json::{json, Value};
use skiff_kubeproto::{decode, encode, DecodeError, EncodeError};

// ---- a minimal protobuf writer for building test bodies by hand

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

/// Field `num` as a varint.
fn int(num: u32, v: u64) -> Vec<u8> {
    let mut out = varint(u64::from(num) << 3);
    out.extend(varint(v));
    out
}

/// Field `num` as length-delimited bytes.
fn bytes(num: u32, b: &[u8]) -> Vec<u8> {
    let mut out = varint((u64::from(num) << 3) | 2);
    out.extend(varint(b.len() as u64));
    out.extend_from_slice(b);
    out
}

fn string(num: u32, s: &str) -> Vec<u8> {
    bytes(num, s.as_bytes())
}

/// Field `num` as an embedded message made of `parts`.
fn msg(num: u32, parts: &[Vec<u8>]) -> Vec<u8> {
    bytes(num, &parts.concat())
}

/// A map entry {1: key, 2: value} as field `num`.
fn entry(num: u32, key: &str, value: Vec<u8>) -> Vec<u8> {
    msg(num, &[string(1, key), value])
}

/// `k8s\0` + runtime.Unknown{typeMeta{apiVersion, kind}, raw, "", ""}.
fn body(api_version: &str, kind: &str, raw: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"k8s\0".to_vec();
    out.extend(msg(1, &[string(1, api_version), string(2, kind)]));
    out.extend(bytes(2, &raw.concat()));
    out.extend(string(3, ""));
    out.extend(string(4, ""));
    out
}

fn round_trip(value: &Value) {
    let pb = encode(value).unwrap_or_else(|e| panic!("encode: {e}"));
    let back = decode(&pb).unwrap_or_else(|e| panic!("decode: {e}"));
    assert_eq!(&back, value);
}

// ---- decode of hand-built bytes

#[test]
fn namespace_with_labels() {
    // ObjectMeta: 1 name, 11 labels (map entries).
    let pb = body("v1", "Namespace", &[msg(1, &[string(1, "x"), entry(11, "a", string(2, "b"))])]);
    let want = json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "x", "labels": {"a": "b"}}});
    assert_eq!(decode(&pb).unwrap(), want);
    round_trip(&want);
}

#[test]
fn configmap_with_data() {
    // ConfigMap: 1 metadata, 2 data (map<string,string>), 3 binaryData, 4 immutable.
    let pb = body(
        "v1",
        "ConfigMap",
        &[
            msg(1, &[string(1, "cfg"), string(3, "default")]),
            entry(2, "game.properties", string(2, "lives=3\n")),
            entry(2, "empty", vec![]),
            entry(3, "blob", bytes(2, &[0, 1, 2, 255])),
            int(4, 1),
        ],
    );
    let want = json!({
        "kind": "ConfigMap", "apiVersion": "v1",
        "metadata": {"name": "cfg", "namespace": "default"},
        "data": {"game.properties": "lives=3\n", "empty": ""},
        "binaryData": {"blob": "AAEC/w=="},
        "immutable": true
    });
    assert_eq!(decode(&pb).unwrap(), want);
    round_trip(&want);
}

#[test]
fn secret_with_bytes_data() {
    // Secret: 2 data (map<string,bytes>), 3 type.
    let pb = body(
        "v1",
        "Secret",
        &[msg(1, &[string(1, "db")]), entry(2, "password", bytes(2, b"s3cr3t")), string(3, "Opaque")],
    );
    let want = json!({
        "kind": "Secret", "apiVersion": "v1",
        "metadata": {"name": "db"},
        "data": {"password": "czNjcjN0"},
        "type": "Opaque"
    });
    assert_eq!(decode(&pb).unwrap(), want);
    round_trip(&want);
}

fn deployment_bytes() -> Vec<u8> {
    let labels = || entry(11, "app", string(2, "web"));
    let container = msg(
        2, // PodSpec.containers
        &[
            string(1, "web"),
            string(2, "nginx:1.27"),
            msg(6, &[int(3, 80), string(4, "TCP")]), // ports: containerPort, protocol
            msg(8, &[entry(1, "cpu", msg(2, &[string(1, "500m")])), entry(1, "memory", msg(2, &[string(1, "128Mi")]))]),
        ],
    );
    body(
        "apps/v1",
        "Deployment",
        &[
            // ObjectMeta: 8 creationTimestamp = Time{1 seconds, 2 nanos}; Go
            // also writes zero-valued non-pointer strings, which JSON omits.
            msg(
                1,
                &[
                    string(1, "web"),
                    string(2, ""),
                    string(3, "default"),
                    int(7, 0),
                    msg(8, &[int(1, 1_704_164_645), int(2, 0)]),
                    labels(),
                ],
            ),
            msg(
                2,
                &[
                    int(1, 3),                                                         // replicas (pointer: kept even if 0)
                    msg(2, &[entry(1, "app", string(2, "web"))]),                      // selector.matchLabels
                    msg(3, &[msg(1, &[labels(), msg(8, &[])]), msg(2, &[container])]), // template
                    msg(4, &[string(1, "")]),                                          // strategy{type:""}
                    int(5, 0),                                                         // minReadySeconds 0: omitted
                ],
            ),
        ],
    )
}

#[test]
fn deployment_with_template_quantities_and_time() {
    let want = json!({
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2024-01-02T03:04:05Z", "labels": {"app": "web"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "creationTimestamp": null},
                "spec": {"containers": [{
                    "name": "web",
                    "image": "nginx:1.27",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}}
                }]}
            },
            "strategy": {}
        }
    });
    assert_eq!(decode(&deployment_bytes()).unwrap(), want);
    round_trip(&want);
}

#[test]
fn present_zero_pointer_fields_survive() {
    // replicas is *int32 in Go: an explicit 0 means "scale to zero".
    let pb = body("apps/v1", "Deployment", &[msg(2, &[int(1, 0)])]);
    assert_eq!(decode(&pb).unwrap()["spec"], json!({"replicas": 0}));
}

#[test]
fn keys_come_out_in_kubectl_order() {
    let got = decode(&deployment_bytes()).unwrap();
    let keys: Vec<_> = got.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["kind", "apiVersion", "metadata", "spec"]);
}

// ---- encode → decode round trips of richer objects

#[test]
fn pod_with_int_or_string_probes_round_trips() {
    round_trip(&json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "p", "namespace": "default", "annotations": {"z": "1", "a": "2"}},
        "spec": {
            "containers": [{
                "name": "app",
                "image": "app:1",
                "command": ["/bin/app", "--serve"],
                "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "b", "optional": false}}}],
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5},
                "readinessProbe": {"httpGet": {"path": "/ready", "port": "http", "scheme": "HTTP"}, "initialDelaySeconds": 2},
                "startupProbe": {"tcpSocket": {"port": "http"}, "failureThreshold": 30},
                "securityContext": {"runAsUser": 0, "runAsNonRoot": false, "privileged": false}
            }],
            "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}, {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420}}],
            "terminationGracePeriodSeconds": 0,
            "nodeSelector": {"disk": "ssd"},
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 30}]
        },
        "status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}], "startTime": "2024-01-02T03:04:05Z"}
    }));
}

#[test]
fn service_event_and_controller_revision_round_trip() {
    round_trip(&json!({
        "kind": "Service", "apiVersion": "v1", "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80, "targetPort": "http", "protocol": "TCP"}, {"port": 81, "targetPort": 0}],
                 "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "type": "ClusterIP",
                 "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}}}
    }));
    round_trip(&json!({
        "kind": "Event", "apiVersion": "v1", "metadata": {"name": "e", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
        "reason": "Started", "count": 2, "type": "Normal",
        "firstTimestamp": "2024-01-02T03:04:05Z",
        "eventTime": "2024-01-02T03:04:05.123456Z",
        "series": {"count": 3, "lastObservedTime": "2024-01-02T03:04:06.000001Z"},
        "reportingComponent": "skiff", "reportingInstance": "node-1"
    }));
    round_trip(&json!({
        "kind": "ControllerRevision", "apiVersion": "apps/v1", "metadata": {"name": "r"},
        "data": {"spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}}, "revision": 7
    }));
    round_trip(&json!({
        "kind": "Lease", "apiVersion": "coordination.k8s.io/v1", "metadata": {"name": "leader"},
        "spec": {"holderIdentity": "skiff-1", "leaseDurationSeconds": 15, "renewTime": "2024-01-02T03:04:05.000000Z", "leaseTransitions": 0}
    }));
    round_trip(&json!({
        "kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1",
        "gracePeriodSeconds": 0, "propagationPolicy": "Foreground", "dryRun": ["All"]
    }));
}

#[test]
fn microtime_keeps_microseconds_and_time_drops_fractions() {
    let pb = encode(&json!({
        "kind": "Event", "apiVersion": "v1", "metadata": {"name": "e"},
        "firstTimestamp": "2024-01-02T03:04:05.9Z",
        "eventTime": "2024-01-02T05:04:05.123456789+02:00"
    }))
    .unwrap();
    let got = decode(&pb).unwrap();
    assert_eq!(got["firstTimestamp"], "2024-01-02T03:04:05Z");
    assert_eq!(got["eventTime"], "2024-01-02T03:04:05.123456Z");
}

// ---- protocol details

#[test]
fn unknown_fields_are_skipped_and_packed_scalars_accepted() {
    let pb = body(
        "v1",
        "Pod",
        &[
            msg(1, &[string(1, "p"), int(99, 5), string(98, "future")]),
            // PodSecurityContext.supplementalGroups (field 4 of 14), packed.
            msg(2, &[msg(14, &[bytes(4, &[varint(1), varint(2), varint(300)].concat())])]),
            // fixed32 and fixed64 unknown fields
            [varint((50 << 3) | 5), vec![1, 2, 3, 4]].concat(),
            [varint((51 << 3) | 1), vec![0; 8]].concat(),
        ],
    );
    let got = decode(&pb).unwrap();
    assert_eq!(got["metadata"], json!({"name": "p"}));
    assert_eq!(got["spec"]["securityContext"]["supplementalGroups"], json!([1, 2, 300]));
}

#[test]
fn negative_int32_uses_ten_byte_varints_like_go() {
    let value = json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "ports": [{"containerPort": -1}]}]}});
    let pb = encode(&value).unwrap();
    assert_eq!(decode(&pb).unwrap(), value);
}

// ---- malformed input

#[test]
fn garbage_and_truncation_are_errors() {
    assert!(matches!(decode(b""), Err(DecodeError::NoMagic)));
    assert!(matches!(decode(b"{\"kind\":\"Pod\"}"), Err(DecodeError::NoMagic)));
    assert!(matches!(decode(b"k8s\0\xff\xff\xff"), Err(DecodeError::Malformed { .. })));

    let good = deployment_bytes();
    for cut in 4..good.len() {
        // Every prefix is an error or a smaller valid object; never a panic.
        let _ = decode(&good[..cut]);
    }
    let err = decode(&good[..good.len() - 12]).unwrap_err();
    assert!(matches!(err, DecodeError::Malformed { .. }), "{err}");

    // A field with the wrong wire type names where it was.
    let pb = body("apps/v1", "Deployment", &[msg(2, &[string(1, "three")])]);
    let err = decode(&pb).unwrap_err().to_string();
    assert!(err.contains("spec.replicas") || err.contains("apps.v1.DeploymentSpec field 1"), "{err}");

    // Every single-byte corruption of a real body is handled.
    for i in 4..good.len() {
        for b in [0x00, 0x07, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[i] = b;
            let _ = decode(&bad);
        }
    }
}

#[test]
fn unknown_kinds_and_envelopes_are_errors() {
    let pb = body("v1", "Nonsense", &[]);
    assert!(matches!(decode(&pb), Err(DecodeError::UnknownKind { .. })));
    let mut gz = b"k8s\0".to_vec();
    gz.extend(msg(1, &[string(1, "v1"), string(2, "Namespace")]));
    gz.extend(string(3, "gzip"));
    assert!(matches!(decode(&gz), Err(DecodeError::Unsupported { .. })));
}

#[test]
fn bad_special_values_are_errors() {
    // IntOrString type 7 has no JSON form.
    let pb = body("v1", "Service", &[msg(2, &[msg(1, &[int(3, 80), msg(4, &[int(1, 7)])])])]);
    let err = decode(&pb).unwrap_err().to_string();
    assert!(err.contains("spec.ports[0].targetPort"), "{err}");
    // Embedded JSON that is not JSON.
    let pb = body("apps/v1", "ControllerRevision", &[msg(2, &[string(1, "{nope")])]);
    assert!(matches!(decode(&pb), Err(DecodeError::BadValue { .. })));
}

#[test]
fn nesting_is_bounded() {
    // RawExtension may carry a whole protobuf object, which may carry another.
    let mut inner = body("apps/v1", "ControllerRevision", &[]);
    for _ in 0..100 {
        inner = body("apps/v1", "ControllerRevision", &[msg(2, &[bytes(1, &inner)])]);
    }
    assert!(matches!(decode(&inner), Err(DecodeError::TooDeep)));
}

#[test]
fn encode_rejects_wrong_types_with_a_path() {
    let err = encode(&json!({"kind": "Deployment", "apiVersion": "apps/v1", "spec": {"replicas": "3"}})).unwrap_err();
    assert!(matches!(&err, EncodeError::WrongType { at, .. } if at == "spec.replicas"), "{err}");
    let err = encode(&json!({"kind": "Pod", "apiVersion": "v1", "spec": {"containers": [{"name": "a", "ports": [{"containerPort": 1_u64 << 40}]}]}})).unwrap_err();
    assert!(err.to_string().contains("spec.containers[0].ports[0].containerPort"), "{err}");
    let err = encode(&json!({"kind": "Secret", "apiVersion": "v1", "data": {"k": "not base64!"}})).unwrap_err();
    assert!(matches!(err, EncodeError::BadValue { .. }));
    assert!(matches!(encode(&json!({"kind": "Pod"})), Err(EncodeError::MissingTypeMeta("apiVersion"))));
    assert!(matches!(encode(&json!([])), Err(EncodeError::NotAnObject)));
    assert!(matches!(encode(&json!({"kind": "X", "apiVersion": "v1"})), Err(EncodeError::UnknownKind { .. })));
}
