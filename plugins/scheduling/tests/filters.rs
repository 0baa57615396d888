//! The filters, one table each, against kube-scheduler's semantics and its
//! exact reason strings. Every case places one pod on a fresh policy and
//! checks both where it went and why the other nodes were turned down.

mod common;

use common::*;
use skiff_scheduling::model::Operator::{DoesNotExist, Exists, Gt, In, Lt, NotIn};
use skiff_scheduling::model::TaintEffect::{NoExecute, NoSchedule, PreferNoSchedule};
use skiff_scheduling::model::WhenUnsatisfiable::{DoNotSchedule, ScheduleAnyway};
use skiff_scheduling::model::{LabelSelector, Node, Pod};
use skiff_scheduling::Config;

const UNSCHEDULABLE_NODE: &str = "node(s) were unschedulable";
const NODE_NAME: &str = "node(s) didn't match the requested node name";
const NODE_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
const PORTS: &str = "node(s) didn't have free ports for the requested pod ports";
const CPU: &str = "Insufficient cpu";
const MEMORY: &str = "Insufficient memory";
const STORAGE: &str = "Insufficient ephemeral-storage";
const GPU: &str = "Insufficient example.com/gpu";
const PODS: &str = "Too many pods";
const SPREAD: &str = "node(s) didn't match pod topology spread constraints";
const SPREAD_LABEL: &str = "node(s) didn't match pod topology spread constraints (missing required label)";
const POD_AFFINITY: &str = "node(s) didn't match pod affinity rules";
const POD_ANTI: &str = "node(s) didn't match pod anti-affinity rules";
const EXISTING_ANTI: &str = "node(s) didn't satisfy existing pods anti-affinity rules";

struct Case {
    name: &'static str,
    nodes: Vec<Node>,
    pod: Pod,
    /// The nodes the pod may go to (ties are the policy's to break); empty when none fits.
    fits: &'static [&'static str],
    /// Every rejection, sorted by reason as the policy reports them.
    rejected: &'static [(&'static str, u32)],
}

fn run(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in cases {
        let placement = place(Config::default(), case.nodes, std::slice::from_ref(&case.pod)).remove(0);
        let node_ok = match &placement.node {
            None => case.fits.is_empty(),
            Some(name) => case.fits.contains(&name.as_str()),
        };
        let want_rejections = reasons(case.rejected);
        if !node_ok || placement.rejections != want_rejections {
            failures.push(format!(
                "case {:?}:\n    placed on {:?}, want one of {:?}\n    rejections {:?}\n          want {:?}",
                case.name, placement.node, case.fits, placement.rejections, want_rejections
            ));
        }
    }
    assert!(failures.is_empty(), "{} case(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn node_unschedulable() {
    run(vec![
        Case {
            name: "a cordoned node is turned down",
            nodes: vec![node("n1").cordon(), node("n2")],
            pod: pod("p"),
            fits: &["n2"],
            rejected: &[(UNSCHEDULABLE_NODE, 1)],
        },
        Case {
            name: "every node cordoned",
            nodes: vec![node("n1").cordon(), node("n2").cordon()],
            pod: pod("p"),
            fits: &[],
            rejected: &[(UNSCHEDULABLE_NODE, 2)],
        },
        Case {
            name: "the flag alone, without the taint, is enough",
            nodes: vec![Node { unschedulable: true, ..node("n1") }],
            pod: pod("p"),
            fits: &[],
            rejected: &[(UNSCHEDULABLE_NODE, 1)],
        },
        Case {
            name: "a pod tolerating node.kubernetes.io/unschedulable goes on a cordoned node",
            nodes: vec![node("n1").cordon()],
            pod: pod("p").tolerate(tolerate_exists(UNSCHEDULABLE, Some(NoSchedule))),
            fits: &["n1"],
            rejected: &[],
        },
        Case {
            name: "a toleration of the key for every effect passes the cordon",
            nodes: vec![node("n1").cordon()],
            pod: pod("p").tolerate(tolerate_exists(UNSCHEDULABLE, None)),
            fits: &["n1"],
            rejected: &[],
        },
        Case {
            name: "a toleration of everything passes the cordon",
            nodes: vec![node("n1").cordon()],
            pod: pod("p").tolerate(tolerate_exists("", None)),
            fits: &["n1"],
            rejected: &[],
        },
        Case {
            name: "a toleration of the key for NoExecute only does not pass the cordon",
            nodes: vec![node("n1").cordon()],
            pod: pod("p").tolerate(tolerate_exists(UNSCHEDULABLE, Some(NoExecute))),
            fits: &[],
            rejected: &[(UNSCHEDULABLE_NODE, 1)],
        },
        Case {
            name: "a toleration of another key does not pass the cordon",
            nodes: vec![node("n1").cordon()],
            pod: pod("p").tolerate(tolerate_exists("dedicated", None)),
            fits: &[],
            rejected: &[(UNSCHEDULABLE_NODE, 1)],
        },
        Case {
            name: "unschedulable is checked before everything else",
            nodes: vec![node("n1").cordon().cpu(1000, 1000).taint("dedicated", "gpu", NoSchedule)],
            pod: pod("p").cpu(500).node_name("n2").select("disk", "ssd"),
            fits: &[],
            rejected: &[(UNSCHEDULABLE_NODE, 1)],
        },
    ]);
}

#[test]
fn node_name() {
    run(vec![
        Case {
            name: "spec.nodeName picks its node",
            nodes: vec![node("n1"), node("n2"), node("n3")],
            pod: pod("p").node_name("n2"),
            fits: &["n2"],
            rejected: &[(NODE_NAME, 2)],
        },
        Case {
            name: "spec.nodeName naming no node",
            nodes: vec![node("n1"), node("n2")],
            pod: pod("p").node_name("gone"),
            fits: &[],
            rejected: &[(NODE_NAME, 2)],
        },
        Case {
            name: "the named node is cordoned",
            nodes: vec![node("n1").cordon(), node("n2")],
            pod: pod("p").node_name("n1"),
            fits: &[],
            rejected: &[(NODE_NAME, 1), (UNSCHEDULABLE_NODE, 1)],
        },
        Case {
            name: "the named node must still pass the other filters",
            nodes: vec![node("n1").cpu(1000, 800), node("n2")],
            pod: pod("p").node_name("n1").cpu(500),
            fits: &[],
            rejected: &[(CPU, 1), (NODE_NAME, 1)],
        },
    ]);
}

#[test]
fn taint_toleration() {
    run(vec![
        Case {
            name: "NoSchedule taint blocks",
            nodes: vec![node("n1").taint("dedicated", "gpu", NoSchedule), node("n2")],
            pod: pod("p"),
            fits: &["n2"],
            rejected: &[("node(s) had untolerated taint {dedicated: gpu}", 1)],
        },
        Case {
            name: "NoExecute taint blocks",
            nodes: vec![node("n1").taint("dedicated", "gpu", NoExecute)],
            pod: pod("p"),
            fits: &[],
            rejected: &[("node(s) had untolerated taint {dedicated: gpu}", 1)],
        },
        Case {
            name: "PreferNoSchedule taint does not block",
            nodes: vec![node("n1").taint("dedicated", "gpu", PreferNoSchedule)],
            pod: pod("p"),
            fits: &["n1"],
            rejected: &[],
        },
        Case {
            name: "taint with an empty value (not-ready)",
            nodes: vec![node("n1").taint("node.kubernetes.io/not-ready", "", NoExecute)],
            pod: pod("p"),
            fits: &[],
            rejected: &[("node(s) had untolerated taint {node.kubernetes.io/not-ready: }", 1)],
        },
        Case {
            name: "Equal toleration with the taint's value and effect",
            nodes: vec![node("n1").taint("dedicated", "gpu", NoSchedule)],
            pod: pod("p").tolerate(tolerate_equal("dedicated", "gpu", Some(NoSchedule))),
            fits: &["n1"],
            rejected: &[],
        },
        Case {
            name: "Equal toleration needs the value",
            nodes: vec![node("n1").taint("dedicated", "gpu", NoSchedule)],
            pod: pod("p").tolerate(tolerate_equal("dedicated", "db", Some(NoSchedule))),
            fits: &[],
            rejected: &[("node(s) had untolerated taint {dedicated: gpu}", 1)],
        },
        Case {
            name: "Equal toleration with an empty value does not tolerate a valued taint",
            nodes: vec![node("n1").taint("dedicated", "gpu", NoSchedule)],
            pod: pod("p").tolerate(tolerate_equal("dedicated", "", None)),
            fits: &[],
            rejected: &[("node(s) had untolerated taint {dedicated: gpu}", 1)],
        },
        Case {
            name: "Exists toleration with a key tolerates any value",
            nodes: vec![node("n1").taint("dedicated", "anything", NoSchedule)],
            pod: pod("p").tolerate(tolerate_exists("dedicated", Some(NoSchedule))),
            fits: &["n1"],
            rejected: &[],
        },
        Case {
            name: "Exists toleration of another key",
            nodes: vec![node("n1").taint("dedicated", "gpu", NoSchedule)],
            pod: pod("p").tolerate(tolerate_exists("team", None)),
            fits: &[],
            rejected: &[("node(s) had untolerated taint {dedicated: gpu}", 1)],
        },
        Case {
            name: "Exists with an empty key tolerates every taint",
            nodes: vec![node("n1")
                .taint("dedicated", "gpu", NoSchedule)
                .taint("node.kubernetes.io/not-ready", "", NoExecute)
                .taint("team", "a", NoSchedule)],
            pod: pod("p").tolerate(tolerate_exists("", None)),
            fits: &["n1"],
            rejected: &[],
        },
        Case {
            name: "Exists with an empty key and an effect tolerates only that effect",
            nodes: vec![node("n1").taint("a", "1", NoSchedule), node("n2").taint("b", "2", NoExecute)],
            pod: pod("p").tolerate(tolerate_exists("", Some(NoSchedule))),
            fits: &["n1"],
            rejected: &[("node(s) had untolerated taint {b: 2}", 1)],
        },
        Case {
            name: "a toleration without effect tolerates NoSchedule and NoExecute of its key",
            nodes: vec![node("n1").taint("dedicated", "gpu", NoSchedule).taint("dedicated", "gpu", NoExecute)],
            pod: pod("p").tolerate(tolerate_equal("dedicated", "gpu", None)),
            fits: &["n1"],
            rejected: &[],
        },
        Case {
            name: "a NoSchedule toleration does not tolerate NoExecute",
            nodes: vec![node("n1").taint("dedicated", "gpu", NoExecute)],
            pod: pod("p").tolerate(tolerate_equal("dedicated", "gpu", Some(NoSchedule))),
            fits: &[],
            rejected: &[("node(s) had untolerated taint {dedicated: gpu}", 1)],
        },
        Case {
            name: "the reason names the first untolerated taint",
            nodes: vec![node("n1")
                .taint("a", "1", PreferNoSchedule)
                .taint("b", "2", NoSchedule)
                .taint("c", "3", NoExecute)
                .taint("d", "4", NoSchedule)],
            pod: pod("p").tolerate(tolerate_exists("b", None)),
            fits: &[],
            rejected: &[("node(s) had untolerated taint {c: 3}", 1)],
        },
        Case {
            name: "different taints are different reasons",
            nodes: vec![
                node("n1").taint("a", "1", NoSchedule),
                node("n2").taint("a", "1", NoSchedule),
                node("n3").taint("b", "2", NoExecute),
                node("n4"),
            ],
            pod: pod("p"),
            fits: &["n4"],
            rejected: &[("node(s) had untolerated taint {a: 1}", 2), ("node(s) had untolerated taint {b: 2}", 1)],
        },
        Case {
            name: "taints are checked before node affinity",
            nodes: vec![node("n1").taint("a", "1", NoSchedule)],
            pod: pod("p").select("disk", "ssd"),
            fits: &[],
            rejected: &[("node(s) had untolerated taint {a: 1}", 1)],
        },
    ]);
}

#[test]
fn node_affinity() {
    let zones = || vec![node("a").zone("a"), node("b").zone("b"), node("c").zone("c"), node("none")];
    run(vec![
        Case {
            name: "nodeSelector matches a label",
            nodes: vec![node("ssd").label("disk", "ssd"), node("hdd").label("disk", "hdd"), node("bare")],
            pod: pod("p").select("disk", "ssd"),
            fits: &["ssd"],
            rejected: &[(NODE_AFFINITY, 2)],
        },
        Case {
            name: "nodeSelector needs every pair",
            nodes: vec![
                node("both").label("disk", "ssd").label("arch", "arm64"),
                node("disk").label("disk", "ssd").label("arch", "amd64"),
            ],
            pod: pod("p").select("disk", "ssd").select("arch", "arm64"),
            fits: &["both"],
            rejected: &[(NODE_AFFINITY, 1)],
        },
        Case {
            name: "required terms are OR'd",
            nodes: zones(),
            pod: pod("p").require_nodes(vec![term(vec![req(ZONE, In, &["a"])]), term(vec![req(ZONE, In, &["b"])])]),
            fits: &["a", "b"],
            rejected: &[(NODE_AFFINITY, 2)],
        },
        Case {
            name: "expressions of a term are AND'd",
            nodes: vec![
                node("a-ssd").zone("a").label("disk", "ssd"),
                node("a-hdd").zone("a").label("disk", "hdd"),
                node("b-ssd").zone("b").label("disk", "ssd"),
            ],
            pod: pod("p").require_nodes(vec![term(vec![req(ZONE, In, &["a"]), req("disk", In, &["ssd"])])]),
            fits: &["a-ssd"],
            rejected: &[(NODE_AFFINITY, 2)],
        },
        Case {
            name: "In with several values",
            nodes: zones(),
            pod: pod("p").require_nodes(vec![term(vec![req(ZONE, In, &["b", "c"])])]),
            fits: &["b", "c"],
            rejected: &[(NODE_AFFINITY, 2)],
        },
        Case {
            name: "NotIn matches nodes without the label",
            nodes: zones(),
            pod: pod("p").require_nodes(vec![term(vec![req(ZONE, NotIn, &["a", "b"])])]),
            fits: &["c", "none"],
            rejected: &[(NODE_AFFINITY, 2)],
        },
        Case {
            name: "Exists",
            nodes: zones(),
            pod: pod("p").require_nodes(vec![term(vec![req(ZONE, Exists, &[])])]),
            fits: &["a", "b", "c"],
            rejected: &[(NODE_AFFINITY, 1)],
        },
        Case {
            name: "DoesNotExist",
            nodes: zones(),
            pod: pod("p").require_nodes(vec![term(vec![req(ZONE, DoesNotExist, &[])])]),
            fits: &["none"],
            rejected: &[(NODE_AFFINITY, 3)],
        },
        Case {
            name: "Gt compares integers; missing or non-integer labels never match",
            nodes: vec![
                node("8").label("cores", "8"),
                node("4").label("cores", "4"),
                node("nan").label("cores", "many"),
                node("none"),
            ],
            pod: pod("p").require_nodes(vec![term(vec![req("cores", Gt, &["4"])])]),
            fits: &["8"],
            rejected: &[(NODE_AFFINITY, 3)],
        },
        Case {
            name: "Lt compares integers, not strings",
            nodes: vec![node("10").label("cores", "10"), node("4").label("cores", "4"), node("9").label("cores", "9")],
            pod: pod("p").require_nodes(vec![term(vec![req("cores", Lt, &["9"])])]),
            fits: &["4"],
            rejected: &[(NODE_AFFINITY, 2)],
        },
        Case {
            name: "an empty term matches no node",
            nodes: zones(),
            pod: pod("p").require_nodes(vec![term(vec![])]),
            fits: &[],
            rejected: &[(NODE_AFFINITY, 4)],
        },
        Case {
            name: "an empty term among others is skipped",
            nodes: zones(),
            pod: pod("p").require_nodes(vec![term(vec![]), term(vec![req(ZONE, In, &["c"])])]),
            fits: &["c"],
            rejected: &[(NODE_AFFINITY, 3)],
        },
        Case {
            name: "matchFields metadata.name In",
            nodes: vec![node("n1"), node("n2"), node("n3")],
            pod: pod("p").require_nodes(vec![fields(vec![req("metadata.name", In, &["n2"])])]),
            fits: &["n2"],
            rejected: &[(NODE_AFFINITY, 2)],
        },
        Case {
            name: "matchFields metadata.name NotIn",
            nodes: vec![node("n1"), node("n2"), node("n3")],
            pod: pod("p").require_nodes(vec![fields(vec![req("metadata.name", NotIn, &["n1", "n3"])])]),
            fits: &["n2"],
            rejected: &[(NODE_AFFINITY, 2)],
        },
        Case {
            name: "matchFields and matchExpressions of one term are AND'd",
            nodes: vec![node("n1").zone("a"), node("n2").zone("b")],
            pod: pod("p").require_nodes(vec![skiff_scheduling::model::NodeSelectorTerm {
                match_expressions: vec![req(ZONE, In, &["a"])],
                match_fields: vec![req("metadata.name", In, &["n2"])],
            }]),
            fits: &[],
            rejected: &[(NODE_AFFINITY, 2)],
        },
        Case {
            name: "nodeSelector and required affinity must both hold",
            nodes: vec![
                node("a-ssd").zone("a").label("disk", "ssd"),
                node("b-ssd").zone("b").label("disk", "ssd"),
                node("a").zone("a"),
            ],
            pod: pod("p").select("disk", "ssd").require_nodes(vec![term(vec![req(ZONE, In, &["a"])])]),
            fits: &["a-ssd"],
            rejected: &[(NODE_AFFINITY, 2)],
        },
        Case {
            name: "preferred terms never filter",
            nodes: vec![node("n1")],
            pod: pod("p").prefer_nodes(100, term(vec![req(ZONE, In, &["a"])])),
            fits: &["n1"],
            rejected: &[],
        },
    ]);
}

#[test]
fn node_ports() {
    run(vec![
        Case {
            name: "same port and protocol conflict",
            nodes: vec![node("n1").port(80, "TCP", ""), node("n2")],
            pod: pod("p").port(80, "TCP", ""),
            fits: &["n2"],
            rejected: &[(PORTS, 1)],
        },
        Case {
            name: "a different protocol on the same port is free",
            nodes: vec![node("n1").port(53, "UDP", "")],
            pod: pod("p").port(53, "TCP", ""),
            fits: &["n1"],
            rejected: &[],
        },
        Case {
            name: "a different port is free",
            nodes: vec![node("n1").port(80, "TCP", "")],
            pod: pod("p").port(8080, "TCP", ""),
            fits: &["n1"],
            rejected: &[],
        },
        Case {
            name: "0.0.0.0 wanted, a specific address used",
            nodes: vec![node("n1").port(80, "TCP", "10.0.0.1")],
            pod: pod("p").port(80, "TCP", "0.0.0.0"),
            fits: &[],
            rejected: &[(PORTS, 1)],
        },
        Case {
            name: "a specific address wanted, 0.0.0.0 used",
            nodes: vec![node("n1").port(80, "TCP", "0.0.0.0")],
            pod: pod("p").port(80, "TCP", "10.0.0.1"),
            fits: &[],
            rejected: &[(PORTS, 1)],
        },
        Case {
            name: "an empty address means 0.0.0.0",
            nodes: vec![node("n1").port(80, "TCP", "")],
            pod: pod("p").port(80, "TCP", "10.0.0.1"),
            fits: &[],
            rejected: &[(PORTS, 1)],
        },
        Case {
            name: "the same specific address conflicts",
            nodes: vec![node("n1").port(80, "TCP", "10.0.0.1")],
            pod: pod("p").port(80, "TCP", "10.0.0.1"),
            fits: &[],
            rejected: &[(PORTS, 1)],
        },
        Case {
            name: "different specific addresses share a port",
            nodes: vec![node("n1").port(80, "TCP", "10.0.0.1")],
            pod: pod("p").port(80, "TCP", "10.0.0.2"),
            fits: &["n1"],
            rejected: &[],
        },
        Case {
            name: "one of several ports taken",
            nodes: vec![node("n1").port(443, "TCP", ""), node("n2").port(8443, "TCP", "")],
            pod: pod("p").port(80, "TCP", "").port(443, "TCP", ""),
            fits: &["n2"],
            rejected: &[(PORTS, 1)],
        },
        Case {
            name: "SCTP and UDP on the same port",
            nodes: vec![node("n1").port(9000, "SCTP", ""), node("n2").port(9000, "UDP", "")],
            pod: pod("p").port(9000, "SCTP", ""),
            fits: &["n2"],
            rejected: &[(PORTS, 1)],
        },
    ]);
}

#[test]
fn node_resources_fit() {
    run(vec![
        Case {
            name: "Insufficient cpu",
            nodes: vec![node("n1").cpu(2000, 1500), node("n2").cpu(2000, 1000)],
            pod: pod("p").cpu(600),
            fits: &["n2"],
            rejected: &[(CPU, 1)],
        },
        Case {
            name: "a request that exactly fills the node fits",
            nodes: vec![node("n1").cpu(2000, 1500).memory(GI, GI / 2)],
            pod: pod("p").cpu(500).memory(GI / 2),
            fits: &["n1"],
            rejected: &[],
        },
        Case {
            name: "Insufficient memory",
            nodes: vec![node("n1").memory(4 * GI, 3 * GI)],
            pod: pod("p").memory(2 * GI),
            fits: &[],
            rejected: &[(MEMORY, 1)],
        },
        Case {
            name: "Insufficient ephemeral-storage",
            nodes: vec![node("n1").storage(10 * GI, 9 * GI), node("n2").storage(10 * GI, 0)],
            pod: pod("p").storage(2 * GI),
            fits: &["n2"],
            rejected: &[(STORAGE, 1)],
        },
        Case {
            name: "an extended resource the node lacks or has used up",
            nodes: vec![
                node("none"),
                node("used").extended("example.com/gpu", 2, 2),
                node("free").extended("example.com/gpu", 2, 1),
            ],
            pod: pod("p").extended("example.com/gpu", 1),
            fits: &["free"],
            rejected: &[(GPU, 2)],
        },
        Case {
            name: "a zero extended request needs nothing",
            nodes: vec![node("none")],
            pod: pod("p").extended("example.com/gpu", 0),
            fits: &["none"],
            rejected: &[],
        },
        Case {
            name: "Too many pods, even for a pod that asks for nothing",
            nodes: vec![node("full").max_pods(3, 3), node("room").max_pods(3, 2)],
            pod: pod("p"),
            fits: &["room"],
            rejected: &[(PODS, 1)],
        },
        Case {
            name: "pods already on the node count against its capacity",
            nodes: vec![node("n1").max_pods(2, 0).with_pod(running(&[])).with_pod(running(&[]))],
            pod: pod("p"),
            fits: &[],
            rejected: &[(PODS, 1)],
        },
        Case {
            name: "a pod that asks for nothing fits on a fully requested node",
            nodes: vec![node("n1").cpu(1000, 1000).memory(GI, GI)],
            pod: pod("p"),
            fits: &["n1"],
            rejected: &[],
        },
        Case {
            name: "an overcommitted node refuses any positive request",
            nodes: vec![node("n1").cpu(1000, 1200)],
            pod: pod("p").cpu(1),
            fits: &[],
            rejected: &[(CPU, 1)],
        },
        Case {
            name: "several reasons on one node",
            nodes: vec![node("n1")
                .cpu(1000, 900)
                .memory(GI, GI)
                .storage(GI, 0)
                .extended("example.com/gpu", 1, 1)
                .max_pods(1, 1)],
            pod: pod("p").cpu(200).memory(MI).storage(MI).extended("example.com/gpu", 1),
            fits: &[],
            rejected: &[(CPU, 1), (GPU, 1), (MEMORY, 1), (PODS, 1)],
        },
        Case {
            name: "counts per reason over nodes with several reasons",
            nodes: vec![
                node("cpu").cpu(1000, 1000),
                node("cpu+mem").cpu(1000, 1000).memory(GI, GI),
                node("mem").memory(GI, GI),
                node("ok"),
            ],
            pod: pod("p").cpu(100).memory(MI),
            fits: &["ok"],
            rejected: &[(CPU, 2), (MEMORY, 2)],
        },
        Case {
            name: "resources are checked after ports",
            nodes: vec![node("n1").cpu(1000, 1000).port(80, "TCP", "")],
            pod: pod("p").cpu(100).port(80, "TCP", ""),
            fits: &[],
            rejected: &[(PORTS, 1)],
        },
    ]);
}

#[test]
fn pod_topology_spread() {
    let web = [("app", "web")];
    let hard = |max_skew| spread(ZONE, max_skew, DoNotSchedule, &web);
    // Two zones, `a` with `in_a` web pods and `b` with `in_b`.
    let two_zones = |in_a: usize, in_b: usize| {
        let mut a = node("a").zone("a");
        for _ in 0..in_a {
            a = a.with_pod(running(&web));
        }
        let mut b = node("b").zone("b");
        for _ in 0..in_b {
            b = b.with_pod(running(&web));
        }
        vec![a, b]
    };
    run(vec![
        Case {
            name: "DoNotSchedule: the fuller zone would exceed maxSkew",
            nodes: two_zones(2, 0),
            pod: pod("p").label("app", "web").spread(hard(1)),
            fits: &["b"],
            rejected: &[(SPREAD, 1)],
        },
        Case {
            name: "DoNotSchedule: one ahead with maxSkew 1 is already the limit",
            nodes: two_zones(1, 0),
            pod: pod("p").label("app", "web").spread(hard(1)),
            fits: &["b"],
            rejected: &[(SPREAD, 1)],
        },
        Case {
            name: "DoNotSchedule: maxSkew 2 allows one ahead",
            nodes: two_zones(1, 0),
            pod: pod("p").label("app", "web").spread(hard(2)),
            fits: &["a", "b"],
            rejected: &[],
        },
        Case {
            name: "DoNotSchedule: even zones",
            nodes: two_zones(3, 3),
            pod: pod("p").label("app", "web").spread(hard(1)),
            fits: &["a", "b"],
            rejected: &[],
        },
        Case {
            name: "a pod its own selector doesn't match adds nothing to the skew",
            nodes: two_zones(1, 0),
            pod: pod("p").label("app", "other").spread(hard(1)),
            fits: &["a", "b"],
            rejected: &[],
        },
        Case {
            name: "pods of other namespaces are not counted",
            nodes: vec![
                node("a").zone("a").with_pod(running(&web).in_ns("other")).with_pod(running(&web).in_ns("other")),
                node("b").zone("b"),
            ],
            pod: pod("p").label("app", "web").spread(hard(1)),
            fits: &["a", "b"],
            rejected: &[],
        },
        Case {
            name: "a node without the topology label is turned down",
            nodes: vec![node("a").zone("a"), node("nozone")],
            pod: pod("p").label("app", "web").spread(hard(1)),
            fits: &["a"],
            rejected: &[(SPREAD_LABEL, 1)],
        },
        Case {
            name: "minDomains above the domains there are counts the global minimum as 0",
            nodes: two_zones(1, 1),
            pod: pod("p").label("app", "web").spread(TopologySpread { min_domains: Some(3), ..hard(1) }),
            fits: &[],
            rejected: &[(SPREAD, 2)],
        },
        Case {
            name: "minDomains met: the usual minimum",
            nodes: two_zones(1, 1),
            pod: pod("p").label("app", "web").spread(TopologySpread { min_domains: Some(2), ..hard(1) }),
            fits: &["a", "b"],
            rejected: &[],
        },
        Case {
            name: "nodeAffinityPolicy Honor: a zone the pod can't go to doesn't set the minimum",
            nodes: vec![
                node("a").zone("a").label("pool", "x").with_pod(running(&web)),
                node("b").zone("b").label("pool", "x").with_pod(running(&web)),
                node("c").zone("c").label("pool", "y"),
            ],
            pod: pod("p").label("app", "web").select("pool", "x").spread(hard(1)),
            fits: &["a", "b"],
            rejected: &[(NODE_AFFINITY, 1)],
        },
        Case {
            name: "nodeAffinityPolicy Ignore: it does",
            nodes: vec![
                node("a").zone("a").label("pool", "x").with_pod(running(&web)),
                node("b").zone("b").label("pool", "x").with_pod(running(&web)),
                node("c").zone("c").label("pool", "y"),
            ],
            pod: pod("p")
                .label("app", "web")
                .select("pool", "x")
                .spread(TopologySpread { honor_node_affinity: false, ..hard(1) }),
            fits: &[],
            rejected: &[(NODE_AFFINITY, 1), (SPREAD, 2)],
        },
        Case {
            name: "nodeTaintsPolicy Ignore (default): a tainted empty zone sets the minimum",
            nodes: vec![
                node("a").zone("a").with_pod(running(&web)),
                node("b").zone("b").with_pod(running(&web)),
                node("c").zone("c").taint("dedicated", "x", NoSchedule),
            ],
            pod: pod("p").label("app", "web").spread(hard(1)),
            fits: &[],
            rejected: &[(SPREAD, 2), ("node(s) had untolerated taint {dedicated: x}", 1)],
        },
        Case {
            name: "nodeTaintsPolicy Honor: it doesn't",
            nodes: vec![
                node("a").zone("a").with_pod(running(&web)),
                node("b").zone("b").with_pod(running(&web)),
                node("c").zone("c").taint("dedicated", "x", NoSchedule),
            ],
            pod: pod("p").label("app", "web").spread(TopologySpread { honor_node_taints: true, ..hard(1) }),
            fits: &["a", "b"],
            rejected: &[("node(s) had untolerated taint {dedicated: x}", 1)],
        },
        Case {
            // kube-scheduler counts only nodes that carry every hard constraint's key.
            name: "a node missing another constraint's key doesn't count for this one",
            nodes: vec![
                node("a").zone("a").with_pod(running(&web)),
                node("b").zone("b").with_pod(running(&web)),
                node("nozone"),
            ],
            pod: pod("p").label("app", "web").spread(hard(1)).spread(spread(HOSTNAME, 1, DoNotSchedule, &web)),
            fits: &["a", "b"],
            rejected: &[(SPREAD_LABEL, 1)],
        },
        Case {
            name: "hostname spreading: each node is a domain",
            nodes: vec![node("n1").with_pod(running(&web)), node("n2").with_pod(running(&web)), node("n3")],
            pod: pod("p").label("app", "web").spread(spread(HOSTNAME, 1, DoNotSchedule, &web)),
            fits: &["n3"],
            rejected: &[(SPREAD, 2)],
        },
        Case {
            name: "ScheduleAnyway never filters",
            nodes: vec![node("a").zone("a").with_pod(running(&web)).with_pod(running(&web)), node("nozone")],
            pod: pod("p").label("app", "web").spread(spread(ZONE, 1, ScheduleAnyway, &web)),
            fits: &["a", "nozone"],
            rejected: &[],
        },
        Case {
            name: "a constraint without a selector counts no pods",
            nodes: two_zones(3, 0),
            pod: pod("p").label("app", "web").spread(TopologySpread { selector: None, ..hard(1) }),
            fits: &["a", "b"],
            rejected: &[],
        },
    ]);
}

/// Struct-update syntax over the model's constraint, kept short in the tables.
type TopologySpread = skiff_scheduling::model::TopologySpreadConstraint;

#[test]
fn inter_pod_affinity() {
    let db = [("app", "db")];
    let web = [("app", "web")];
    run(vec![
        Case {
            name: "required affinity: the zone of a matching pod",
            nodes: vec![node("a1").zone("a").with_pod(running(&db)), node("a2").zone("a"), node("b1").zone("b")],
            pod: pod("p").label("app", "web").affinity(pods_with(&db, ZONE)),
            fits: &["a1", "a2"],
            rejected: &[(POD_AFFINITY, 1)],
        },
        Case {
            name: "required affinity by hostname",
            nodes: vec![node("n1"), node("n2").with_pod(running(&db)), node("n3")],
            pod: pod("p").affinity(pods_with(&db, HOSTNAME)),
            fits: &["n2"],
            rejected: &[(POD_AFFINITY, 2)],
        },
        Case {
            name: "required affinity: a node without the topology key never matches",
            nodes: vec![node("a1").zone("a").with_pod(running(&db)), node("nozone").with_pod(running(&db))],
            pod: pod("p").affinity(pods_with(&db, ZONE)),
            fits: &["a1"],
            rejected: &[(POD_AFFINITY, 1)],
        },
        Case {
            name: "required affinity with no matching pod anywhere",
            nodes: vec![node("a1").zone("a").with_pod(running(&web)), node("b1").zone("b")],
            pod: pod("p").label("app", "web").affinity(pods_with(&db, ZONE)),
            fits: &[],
            rejected: &[(POD_AFFINITY, 2)],
        },
        Case {
            name: "first pod of a group that matches its own terms goes anywhere",
            nodes: vec![node("a1").zone("a"), node("b1").zone("b").with_pod(running(&db))],
            pod: pod("p").label("app", "web").affinity(pods_with(&web, ZONE)),
            fits: &["a1", "b1"],
            rejected: &[],
        },
        Case {
            name: "first pod of a group still needs the topology key",
            nodes: vec![node("a1").zone("a"), node("nozone")],
            pod: pod("p").label("app", "web").affinity(pods_with(&web, ZONE)),
            fits: &["a1"],
            rejected: &[(POD_AFFINITY, 1)],
        },
        Case {
            name: "a matching pod on a node without the key doesn't end the first-pod exception",
            nodes: vec![node("a1").zone("a"), node("b1").zone("b"), node("nozone").with_pod(running(&web))],
            pod: pod("p").label("app", "web").affinity(pods_with(&web, ZONE)),
            fits: &["a1", "b1"],
            rejected: &[(POD_AFFINITY, 1)],
        },
        Case {
            name: "once a group member runs, the others must follow it",
            nodes: vec![node("a1").zone("a"), node("b1").zone("b").with_pod(running(&web))],
            pod: pod("p").label("app", "web").affinity(pods_with(&web, ZONE)),
            fits: &["b1"],
            rejected: &[(POD_AFFINITY, 1)],
        },
        Case {
            name: "the first-pod exception needs the pod in the term's namespaces",
            nodes: vec![node("a1").zone("a")],
            pod: pod("p").label("app", "web").affinity(pods_with(&web, ZONE).namespaces(&["other"])),
            fits: &[],
            rejected: &[(POD_AFFINITY, 1)],
        },
        Case {
            name: "several required terms must be met by the same pods",
            nodes: vec![
                node("n1").zone("a").with_pod(running(&db)),
                node("n2").zone("a").with_pod(running(&[("app", "db"), ("tier", "backend")])),
                node("n3").zone("b"),
            ],
            pod: pod("p").affinity(pods_with(&db, ZONE)).affinity(pods_with(&[("tier", "backend")], HOSTNAME)),
            fits: &["n2"],
            rejected: &[(POD_AFFINITY, 2)],
        },
        Case {
            name: "affinity terms look in the pod's own namespace by default",
            nodes: vec![node("a1").zone("a").with_pod(running(&db).in_ns("data")), node("b1").zone("b")],
            pod: pod("p").affinity(pods_with(&db, ZONE)),
            fits: &[],
            rejected: &[(POD_AFFINITY, 2)],
        },
        Case {
            name: "affinity terms with namespaces look only there",
            nodes: vec![
                node("a1").zone("a").with_pod(running(&db).in_ns("data")),
                node("b1").zone("b").with_pod(running(&db)),
            ],
            pod: pod("p").affinity(pods_with(&db, ZONE).namespaces(&["data"])),
            fits: &["a1"],
            rejected: &[(POD_AFFINITY, 1)],
        },
        Case {
            name: "affinity terms over all namespaces",
            nodes: vec![node("a1").zone("a").with_pod(running(&db).in_ns("data")), node("b1").zone("b")],
            pod: pod("p").affinity(pods_with(&db, ZONE).all_namespaces()),
            fits: &["a1"],
            rejected: &[(POD_AFFINITY, 1)],
        },
        Case {
            name: "required anti-affinity by hostname",
            nodes: vec![node("n1").with_pod(running(&web)), node("n2")],
            pod: pod("p").label("app", "web").anti(pods_with(&web, HOSTNAME)),
            fits: &["n2"],
            rejected: &[(POD_ANTI, 1)],
        },
        Case {
            name: "required anti-affinity keeps out of the whole zone",
            nodes: vec![node("a1").zone("a").with_pod(running(&web)), node("a2").zone("a"), node("b1").zone("b")],
            pod: pod("p").anti(pods_with(&web, ZONE)),
            fits: &["b1"],
            rejected: &[(POD_ANTI, 2)],
        },
        Case {
            name: "required anti-affinity: a node without the topology key is fine",
            nodes: vec![node("nozone").with_pod(running(&web))],
            pod: pod("p").anti(pods_with(&web, ZONE)),
            fits: &["nozone"],
            rejected: &[],
        },
        Case {
            name: "required anti-affinity ignores other namespaces by default",
            nodes: vec![node("n1").with_pod(running(&web).in_ns("other"))],
            pod: pod("p").anti(pods_with(&web, HOSTNAME)),
            fits: &["n1"],
            rejected: &[],
        },
        Case {
            name: "required anti-affinity over all namespaces",
            nodes: vec![node("n1").with_pod(running(&web).in_ns("other")), node("n2")],
            pod: pod("p").anti(pods_with(&web, HOSTNAME).all_namespaces()),
            fits: &["n2"],
            rejected: &[(POD_ANTI, 1)],
        },
        Case {
            name: "a term without a selector selects no pod",
            nodes: vec![node("n1").with_pod(running(&web))],
            pod: pod("p").anti(skiff_scheduling::model::PodAffinityTerm { selector: None, ..pods_with(&[], HOSTNAME) }),
            fits: &["n1"],
            rejected: &[],
        },
        Case {
            name: "an empty selector selects every pod of the namespace",
            nodes: vec![node("n1").with_pod(running(&[("any", "thing")])), node("n2")],
            pod: pod("p").anti(skiff_scheduling::model::PodAffinityTerm {
                selector: Some(LabelSelector::default()),
                ..pods_with(&[], HOSTNAME)
            }),
            fits: &["n2"],
            rejected: &[(POD_ANTI, 1)],
        },
        Case {
            name: "existing pods' anti-affinity refuses the pod",
            nodes: vec![node("n1").with_pod(running(&db).anti(pods_with(&web, HOSTNAME))), node("n2")],
            pod: pod("p").label("app", "web"),
            fits: &["n2"],
            rejected: &[(EXISTING_ANTI, 1)],
        },
        Case {
            name: "existing pods' anti-affinity over a zone",
            nodes: vec![
                node("a1").zone("a").with_pod(running(&db).anti(pods_with(&web, ZONE))),
                node("a2").zone("a"),
                node("b1").zone("b"),
            ],
            pod: pod("p").label("app", "web"),
            fits: &["b1"],
            rejected: &[(EXISTING_ANTI, 2)],
        },
        Case {
            name: "existing pods' anti-affinity doesn't select a pod it doesn't match",
            nodes: vec![node("n1").with_pod(running(&db).anti(pods_with(&web, HOSTNAME)))],
            pod: pod("p").label("app", "api"),
            fits: &["n1"],
            rejected: &[],
        },
        Case {
            name: "existing pods' anti-affinity looks in its own namespace by default",
            nodes: vec![node("n1").with_pod(running(&db).in_ns("other").anti(pods_with(&web, HOSTNAME)))],
            pod: pod("p").label("app", "web"),
            fits: &["n1"],
            rejected: &[],
        },
        Case {
            name: "existing pods' anti-affinity naming the pod's namespace",
            nodes: vec![node("n1")
                .with_pod(running(&db).in_ns("other").anti(pods_with(&web, HOSTNAME).namespaces(&["default"])))],
            pod: pod("p").label("app", "web"),
            fits: &[],
            rejected: &[(EXISTING_ANTI, 1)],
        },
        Case {
            name: "existing pods' anti-affinity over all namespaces",
            nodes: vec![
                node("n1").with_pod(running(&db).in_ns("other").anti(pods_with(&web, HOSTNAME).all_namespaces()))
            ],
            pod: pod("p").label("app", "web").in_ns("shop"),
            fits: &[],
            rejected: &[(EXISTING_ANTI, 1)],
        },
        Case {
            name: "the pod's affinity is checked before its anti-affinity",
            nodes: vec![node("a1").zone("a").with_pod(running(&web)), node("b1").zone("b").with_pod(running(&db))],
            pod: pod("p").affinity(pods_with(&db, ZONE)).anti(pods_with(&web, ZONE)),
            fits: &["b1"],
            rejected: &[(POD_AFFINITY, 1)],
        },
        Case {
            name: "the pod's anti-affinity is checked before the existing pods'",
            nodes: vec![node("n1").with_pod(running(&web).anti(pods_with(&web, HOSTNAME))), node("n2")],
            pod: pod("p").label("app", "web").anti(pods_with(&web, HOSTNAME)),
            fits: &["n2"],
            rejected: &[(POD_ANTI, 1)],
        },
        Case {
            name: "inter-pod affinity is the last filter",
            nodes: vec![node("n1").cpu(1000, 1000).with_pod(running(&web))],
            pod: pod("p").cpu(100).anti(pods_with(&web, HOSTNAME)),
            fits: &[],
            rejected: &[(CPU, 1)],
        },
    ]);
}
