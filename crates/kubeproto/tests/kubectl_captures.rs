//! Real request bodies captured from kubectl v1.32 (`kubectl create ...`
//! against a plain-HTTP stub server), each next to the JSON the same
//! command prints with `--dry-run=client -o json`. Decoding the protobuf
//! must give exactly that JSON, and encoding it back must decode the same.

use std::fs;
use std::path::Path;

use serde_json::Value;

const NAMES: &[&str] = &[
    "namespace",
    "configmap",
    "secret",
    "deployment",
    "service",
    "job",
    "cronjob",
    "role",
    "clusterrolebinding",
    "quota",
    "pdb",
    "priorityclass",
    "ingress",
    "serviceaccount",
];

fn load(name: &str) -> (Vec<u8>, Value) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let pb = fs::read(dir.join(format!("kubectl-{name}.pb"))).expect("capture");
    let json = fs::read(dir.join(format!("kubectl-{name}.json"))).expect("expected JSON");
    (pb, serde_json::from_slice(&json).expect("valid JSON"))
}

#[test]
fn kubectl_bodies_decode_to_kubectls_own_json() {
    for name in NAMES {
        let (pb, want) = load(name);
        let got = skiff_kubeproto::decode(&pb).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}:\n{}", serde_json::to_string_pretty(&got).unwrap_or_default());
    }
}

#[test]
fn kubectl_objects_round_trip_through_encode() {
    for name in NAMES {
        let (pb, want) = load(name);
        let again = skiff_kubeproto::encode(&want).unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = skiff_kubeproto::decode(&again).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back, want, "{name}");
        // Go writes zero-valued non-pointer fields that we leave out, so the
        // bytes differ, but ours are never longer.
        assert!(again.len() <= pb.len(), "{name}: {} > {}", again.len(), pb.len());
    }
}

#[test]
fn mutated_kubectl_bodies_never_panic() {
    // A fixed xorshift stream: reproducible, no extra dependency.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in NAMES {
        let (pb, _) = load(name);
        for _ in 0..300 {
            let mut bad = pb.clone();
            for _ in 0..=(next() % 4) {
                let i = 4 + (next() as usize) % (bad.len() - 4);
                if let Some(b) = bad.get_mut(i) {
                    *b = next() as u8;
                }
            }
            let cut = 4 + (next() as usize) % (bad.len() - 3);
            bad.truncate(cut);
            let _ = skiff_kubeproto::decode(&bad);
        }
    }
}
