//! Scoring, batches, the share of nodes scored, how rejections add up, and
//! how the policy learns of node changes, as tables. Nodes are built so that
//! the expected choice wins by a clear margin; where two nodes score the
//! same, the policy takes the first one visited (kube-scheduler picks one of
//! them at random), and the case says so.

mod common;

use common::*;
use skiff_scheduling::model::Operator::In;
use skiff_scheduling::model::TaintEffect::{NoSchedule, PreferNoSchedule};
use skiff_scheduling::model::WhenUnsatisfiable::{DoNotSchedule, ScheduleAnyway};
use skiff_scheduling::model::{Node, Pod};
use skiff_scheduling::{Config, Policy, ScoringStrategy};

const CPU: &str = "Insufficient cpu";
const PODS: &str = "Too many pods";
const PORTS: &str = "node(s) didn't have free ports for the requested pod ports";
const SPREAD: &str = "node(s) didn't match pod topology spread constraints";
const POD_ANTI: &str = "node(s) didn't match pod anti-affinity rules";
const EXISTING_ANTI: &str = "node(s) didn't satisfy existing pods anti-affinity rules";
const NODE_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
const NODE_NAME: &str = "node(s) didn't match the requested node name";
const UNSCHEDULABLE_NODE: &str = "node(s) were unschedulable";

/// Where one pod of a batch should go.
#[derive(Debug)]
enum Want {
    /// On this node (whatever the other nodes' rejections).
    On(&'static str),
    /// On no node, for these reasons.
    Nowhere(&'static [(&'static str, u32)]),
}
use Want::{Nowhere, On};

struct Case {
    name: &'static str,
    config: Config,
    nodes: Vec<Node>,
    /// One batch, scheduled in order.
    pods: Vec<Pod>,
    want: Vec<Want>,
}

fn check(failures: &mut Vec<String>, case: &str, step: &str, got: &[Outcome], want: &[Want]) {
    if got.len() != want.len() {
        failures.push(format!("case {case:?}{step}: {} placements, want {}", got.len(), want.len()));
        return;
    }
    for (i, (got, want)) in got.iter().zip(want).enumerate() {
        let ok = match want {
            On(name) => got.node.as_deref() == Some(*name),
            Nowhere(list) => got.node.is_none() && got.rejections == reasons(list),
        };
        if !ok {
            failures.push(format!(
                "case {case:?}{step}, pod #{i}: placed on {:?} (rejections {:?}), want {want:?}",
                got.node, got.rejections
            ));
        }
    }
}

fn run(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in cases {
        let got = place(case.config, case.nodes, &case.pods);
        check(&mut failures, case.name, "", &got, &case.want);
    }
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}

fn least() -> Config {
    Config::default()
}

fn most() -> Config {
    Config { scoring_strategy: ScoringStrategy::MostAllocated, ..Config::default() }
}

/// `n` pods named `prefix-0…`, each made by `make`.
fn pods(n: usize, prefix: &str, make: impl Fn(Pod) -> Pod) -> Vec<Pod> {
    (0..n).map(|i| make(pod(&format!("{prefix}-{i}")))).collect()
}

#[test]
fn scores() {
    let web = [("app", "web")];
    let cache = [("app", "cache")];
    run(vec![
        Case {
            name: "least allocated prefers the emptier node",
            config: least(),
            nodes: vec![
                node("full").cpu(4000, 3000).memory(8 * GI, 6 * GI),
                node("empty").cpu(4000, 1000).memory(8 * GI, 2 * GI),
            ],
            pods: vec![pod("p").cpu(500).memory(GI)],
            want: vec![On("empty")],
        },
        Case {
            name: "MostAllocated packs onto the fuller node",
            config: most(),
            nodes: vec![
                node("empty").cpu(4000, 1000).memory(8 * GI, 2 * GI),
                node("full").cpu(4000, 3000).memory(8 * GI, 6 * GI),
            ],
            pods: vec![pod("p").cpu(500).memory(GI)],
            want: vec![On("full")],
        },
        Case {
            // The defaults (100m, 200Mi) of a pod that asks for nothing take
            // `full` past its CPU: kube-scheduler counts that resource as full (100).
            name: "MostAllocated counts a resource pushed past capacity as full",
            config: most(),
            nodes: vec![
                node("light").cpu(4000, 1000).memory(8 * GI, 2 * GI),
                node("full").cpu(4000, 3950).memory(8 * GI, 4 * GI),
            ],
            pods: vec![pod("best-effort")],
            want: vec![On("full")],
        },
        Case {
            name: "balanced allocation breaks a least-allocated tie",
            config: least(),
            nodes: vec![
                node("lopsided").cpu(4000, 0).memory(4 * GI, 2 * GI),
                node("even").cpu(4000, 1000).memory(4 * GI, GI),
            ],
            pods: vec![pod("p").cpu(1000).memory(GI)],
            want: vec![On("even")],
        },
        Case {
            name: "an untolerated PreferNoSchedule taint outweighs load",
            config: least(),
            nodes: vec![
                node("tainted").taint("spot", "true", PreferNoSchedule),
                node("busy").cpu(4000, 2000).memory(8 * GI, 4 * GI),
            ],
            pods: vec![pod("p").cpu(100)],
            want: vec![On("busy")],
        },
        Case {
            name: "a tolerated PreferNoSchedule taint costs nothing",
            config: least(),
            nodes: vec![
                node("busy").cpu(4000, 2000).memory(8 * GI, 4 * GI),
                node("tainted").taint("spot", "true", PreferNoSchedule),
            ],
            pods: vec![pod("p").cpu(100).tolerate(tolerate_equal("spot", "true", Some(PreferNoSchedule)))],
            want: vec![On("tainted")],
        },
        Case {
            name: "fewer untolerated PreferNoSchedule taints score higher",
            config: least(),
            nodes: vec![
                node("two").taint("a", "1", PreferNoSchedule).taint("b", "2", PreferNoSchedule),
                node("one").taint("a", "1", PreferNoSchedule).cpu(4000, 1000),
            ],
            pods: vec![pod("p").cpu(100)],
            want: vec![On("one")],
        },
        Case {
            name: "a NoSchedule toleration doesn't tolerate a PreferNoSchedule taint",
            config: least(),
            nodes: vec![
                node("tainted").taint("spot", "true", PreferNoSchedule),
                node("busy").cpu(4000, 2000).memory(8 * GI, 4 * GI),
            ],
            pods: vec![pod("p").cpu(100).tolerate(tolerate_exists("spot", Some(NoSchedule)))],
            want: vec![On("busy")],
        },
        Case {
            name: "preferred node affinity: the heavier term wins",
            config: least(),
            nodes: vec![node("zone-a").zone("a").label("disk", "hdd"), node("ssd").zone("b").label("disk", "ssd")],
            pods: vec![pod("p")
                .prefer_nodes(10, term(vec![req(ZONE, In, &["a"])]))
                .prefer_nodes(50, term(vec![req("disk", In, &["ssd"])]))],
            want: vec![On("ssd")],
        },
        Case {
            name: "preferred node affinity: weights of matching terms add up",
            config: least(),
            nodes: vec![node("ssd").zone("b").label("disk", "ssd"), node("both").zone("a").label("disk", "ssd")],
            pods: vec![pod("p")
                .prefer_nodes(10, term(vec![req(ZONE, In, &["a"])]))
                .prefer_nodes(50, term(vec![req("disk", In, &["ssd"])]))],
            want: vec![On("both")],
        },
        Case {
            name: "preferred node affinity outweighs some load",
            config: least(),
            nodes: vec![node("empty"), node("preferred").label("disk", "ssd").cpu(4000, 1000)],
            pods: vec![pod("p").cpu(100).prefer_nodes(1, term(vec![req("disk", In, &["ssd"])]))],
            want: vec![On("preferred")],
        },
        Case {
            name: "preferred pod affinity: the zone with matching pods",
            config: least(),
            nodes: vec![node("a1").zone("a"), node("b1").zone("b"), node("b2").zone("b").with_pod(running(&cache))],
            pods: vec![pod("p").prefer_affinity(50, pods_with(&cache, ZONE))],
            want: vec![On("b1")],
        },
        Case {
            name: "preferred pod anti-affinity: away from matching pods",
            config: least(),
            nodes: vec![node("n1").with_pod(running(&web)), node("n2").cpu(4000, 1000)],
            pods: vec![pod("p").cpu(100).prefer_anti(50, pods_with(&web, HOSTNAME))],
            want: vec![On("n2")],
        },
        Case {
            name: "preferred affinity and anti-affinity weights add up",
            config: least(),
            nodes: vec![
                node("both").with_pod(running(&cache)).with_pod(running(&web)),
                node("none"),
                node("cache").with_pod(running(&cache)),
            ],
            pods: vec![pod("p")
                .prefer_affinity(10, pods_with(&cache, HOSTNAME))
                .prefer_anti(50, pods_with(&web, HOSTNAME))],
            want: vec![On("cache")],
        },
        Case {
            name: "preferred pod affinity counts only the namespaces of its term",
            config: least(),
            nodes: vec![node("other-ns-cache").cpu(4000, 500).with_pod(running(&cache).in_ns("other")), node("empty")],
            pods: vec![pod("p").cpu(100).prefer_affinity(50, pods_with(&cache, HOSTNAME))],
            want: vec![On("empty")],
        },
        Case {
            name: "pods of one owner spread over nodes, even onto a busier one",
            config: least(),
            nodes: vec![
                node("has-two").with_pod(running(&web).owner("rs-1")).with_pod(running(&web).owner("rs-1")),
                node("busier").cpu(4000, 1000).memory(8 * GI, GI),
            ],
            pods: vec![pod("p").cpu(100).owner("rs-1")],
            want: vec![On("busier")],
        },
        Case {
            name: "pods of other owners don't count",
            config: least(),
            nodes: vec![
                node("busier").cpu(4000, 1000).memory(8 * GI, GI),
                node("has-two").with_pod(running(&web).owner("rs-2")).with_pod(running(&web).owner("rs-2")),
            ],
            pods: vec![pod("p").cpu(100).owner("rs-1")],
            want: vec![On("has-two")],
        },
        Case {
            name: "ScheduleAnyway prefers the domain with fewer matching pods",
            config: least(),
            nodes: vec![
                node("a1").zone("a").with_pod(running(&web)).with_pod(running(&web)).with_pod(running(&web)),
                node("b1").zone("b").cpu(4000, 1000).with_pod(running(&web)),
            ],
            pods: vec![pod("p").label("app", "web").cpu(100).spread(spread(ZONE, 1, ScheduleAnyway, &web))],
            want: vec![On("b1")],
        },
        Case {
            name: "ScheduleAnyway: a node without the topology key scores worst",
            config: least(),
            nodes: vec![
                node("nozone"),
                node("a1").zone("a").cpu(4000, 1000).with_pod(running(&web)).with_pod(running(&web)),
            ],
            pods: vec![pod("p").label("app", "web").cpu(100).spread(spread(ZONE, 1, ScheduleAnyway, &web))],
            want: vec![On("a1")],
        },
        Case {
            name: "spread constraints replace spreading by owner",
            config: least(),
            nodes: vec![
                node("b").zone("b").with_pod(running(&web)).with_pod(running(&web)),
                node("a").zone("a").with_pod(running(&[]).owner("rs-1")).with_pod(running(&[]).owner("rs-1")),
            ],
            pods: vec![pod("p").owner("rs-1").label("app", "web").spread(spread(ZONE, 1, ScheduleAnyway, &web))],
            want: vec![On("a")],
        },
        Case {
            name: "hard spread constraints alone turn off spreading by owner",
            config: least(),
            nodes: vec![
                node("busier").zone("b").cpu(4000, 1000).memory(8 * GI, GI),
                node("owner").zone("a").with_pod(running(&[]).owner("rs-1")).with_pod(running(&[]).owner("rs-1")),
            ],
            pods: vec![pod("p").cpu(100).owner("rs-1").label("app", "web").spread(spread(
                ZONE,
                10,
                DoNotSchedule,
                &web,
            ))],
            want: vec![On("owner")],
        },
    ]);
}

#[test]
fn batches() {
    let web = [("app", "web")];
    let two = || vec![node("a").cpu(2000, 0).memory(2 * GI, 0), node("b").cpu(2000, 0).memory(2 * GI, 0)];
    run(vec![
        Case {
            // Pods 0 and 2 find both nodes equal and take the first.
            name: "each pod counts against the next: 1-cpu pods onto two 2-cpu nodes",
            config: least(),
            nodes: two(),
            pods: pods(5, "p", |p| p.cpu(1000)),
            want: vec![On("a"), On("b"), On("a"), On("b"), Nowhere(&[(CPU, 2)])],
        },
        Case {
            name: "MostAllocated fills one node first",
            config: most(),
            nodes: two(),
            pods: pods(3, "p", |p| p.cpu(1000).memory(GI)),
            want: vec![On("a"), On("a"), On("b")],
        },
        Case {
            name: "host ports taken by earlier pods",
            config: least(),
            nodes: two(),
            pods: pods(3, "p", |p| p.port(80, "TCP", "")),
            want: vec![On("a"), On("b"), Nowhere(&[(PORTS, 2)])],
        },
        Case {
            name: "anti-affinity against earlier pods of the batch",
            config: least(),
            nodes: two(),
            pods: pods(3, "p", |p| p.label("app", "web").anti(pods_with(&web, HOSTNAME))),
            want: vec![On("a"), On("b"), Nowhere(&[(POD_ANTI, 2)])],
        },
        Case {
            name: "earlier pods' anti-affinity refuses later ones",
            config: least(),
            nodes: two(),
            pods: vec![pod("db").label("app", "db").anti(pods_with(&web, HOSTNAME)), pod("web").label("app", "web")],
            want: vec![On("a"), On("b")],
        },
        Case {
            name: "affinity to an earlier pod of the batch",
            config: least(),
            nodes: vec![node("a").cpu(2000, 1000), node("b").cpu(2000, 0)],
            pods: vec![
                pod("db").label("app", "db"),
                pod("web").cpu(100).affinity(pods_with(&[("app", "db")], HOSTNAME)),
            ],
            want: vec![On("b"), On("b")],
        },
        Case {
            name: "topology spread counts earlier pods of the batch",
            config: least(),
            nodes: vec![node("a1").zone("a"), node("a2").zone("a"), node("b1").zone("b")],
            pods: pods(4, "p", |p| p.cpu(100).label("app", "web").spread(spread(ZONE, 1, DoNotSchedule, &web))),
            want: vec![On("a1"), On("b1"), On("a2"), On("b1")],
        },
        Case {
            name: "topology spread with a zone out of room",
            config: least(),
            nodes: vec![node("a1").zone("a"), node("b1").zone("b").cpu(1000, 1000)],
            pods: pods(2, "p", |p| p.cpu(100).label("app", "web").spread(spread(ZONE, 1, DoNotSchedule, &web))),
            want: vec![On("a1"), Nowhere(&[(CPU, 1), (SPREAD, 1)])],
        },
        Case {
            name: "earlier pods count against the pod capacity",
            config: least(),
            nodes: vec![node("a").max_pods(2, 1)],
            pods: pods(2, "p", |p| p),
            want: vec![On("a"), Nowhere(&[(PODS, 1)])],
        },
        Case {
            name: "pods of one owner in a batch go to different nodes",
            config: least(),
            nodes: vec![node("a"), node("b"), node("c")],
            pods: pods(4, "p", |p| p.owner("rs-1")),
            want: vec![On("a"), On("b"), On("c"), On("a")],
        },
    ]);
}

/// `count` nodes named `n000…` with 2 of their 4 CPUs requested, except
/// those `tweak` changes.
fn many(count: usize, tweak: impl Fn(usize, Node) -> Node) -> Vec<Node> {
    (0..count).map(|i| tweak(i, node(&format!("n{i:03}")).cpu(4000, 2000))).collect()
}

#[test]
fn percentage_of_nodes_to_score() {
    let share = |p| Config { percentage_of_nodes_to_score: Some(p), ..Config::default() };
    let empty_150 = |i, n: Node| if i == 150 { n.cpu(4000, 0) } else { n };
    run(vec![
        Case {
            // 200 nodes: 50% - 200/125 = 49%, raised to the floor of 100 nodes;
            // the next pod starts where the last stopped.
            name: "default share: the first 100 of 200 nodes are scored, then the next 100",
            config: least(),
            nodes: many(200, empty_150),
            pods: pods(2, "p", |p| p.cpu(100)),
            want: vec![On("n000"), On("n150")],
        },
        Case {
            name: "100% scores every node",
            config: share(100),
            nodes: many(200, empty_150),
            pods: pods(2, "p", |p| p.cpu(100)),
            want: vec![On("n150"), On("n150")],
        },
        Case {
            name: "a small percentage is raised to 100 nodes",
            config: share(1),
            nodes: many(200, |i, n| if i == 99 { n.cpu(4000, 0) } else { n }),
            pods: vec![pod("p").cpu(100)],
            want: vec![On("n099")],
        },
        Case {
            name: "a small percentage is raised to 100 nodes, and no further",
            config: share(1),
            nodes: many(200, |i, n| if i == 100 { n.cpu(4000, 0) } else { n }),
            pods: vec![pod("p").cpu(100)],
            want: vec![On("n000")],
        },
        Case {
            name: "50% of 400 nodes is 200",
            config: share(50),
            nodes: many(400, |i, n| match i {
                199 => n.cpu(4000, 100),
                200 => n.cpu(4000, 0),
                _ => n,
            }),
            pods: vec![pod("p").cpu(100)],
            want: vec![On("n199")],
        },
        Case {
            name: "below 100 nodes every node is scored",
            config: share(1),
            nodes: many(99, |i, n| if i == 98 { n.cpu(4000, 0) } else { n }),
            pods: vec![pod("p").cpu(100)],
            want: vec![On("n098")],
        },
        Case {
            name: "a pod that fits nowhere reports every node",
            config: least(),
            nodes: many(200, |_, n| n),
            pods: vec![pod("p").cpu(3000)],
            want: vec![Nowhere(&[(CPU, 200)])],
        },
        Case {
            name: "a pod that fits on one node visits every node to find it",
            config: least(),
            nodes: many(300, |i, n| if i == 250 { n.cpu(4000, 0) } else { n }),
            pods: vec![pod("p").cpu(3000), pod("q").cpu(3000)],
            want: vec![On("n250"), Nowhere(&[(CPU, 300)])],
        },
    ]);
}

/// Rejections of pods that fit nowhere, over mixed clusters.
#[test]
fn rejection_aggregation() {
    let mixed = || {
        vec![
            node("cordoned").cordon(),
            node("tainted-a").taint("a", "1", NoSchedule),
            node("tainted-b").taint("b", "1", NoSchedule),
            node("tainted-a2").taint("a", "1", NoSchedule),
            node("wrong-label").label("disk", "hdd"),
            node("short-cpu").label("disk", "ssd").cpu(1000, 1000),
            node("short-both").label("disk", "ssd").cpu(1000, 1000).max_pods(1, 1),
            node("full").label("disk", "ssd").max_pods(5, 5),
        ]
    };
    run(vec![
        Case {
            name: "every node's reasons, counted per reason and sorted by reason",
            config: least(),
            nodes: mixed(),
            pods: vec![pod("p").select("disk", "ssd").cpu(100)],
            want: vec![Nowhere(&[
                (CPU, 2),
                (PODS, 2),
                (NODE_AFFINITY, 1),
                ("node(s) had untolerated taint {a: 1}", 2),
                ("node(s) had untolerated taint {b: 1}", 1),
                (UNSCHEDULABLE_NODE, 1),
            ])],
        },
        Case {
            name: "a placed pod still reports the nodes turned down",
            config: least(),
            nodes: [mixed(), vec![node("fits").label("disk", "ssd")]].concat(),
            pods: vec![pod("p").select("disk", "ssd").cpu(100)],
            want: vec![On("fits")],
        },
        Case {
            name: "one reason for every node",
            config: least(),
            nodes: mixed(),
            pods: vec![pod("p").node_name("elsewhere")],
            want: vec![Nowhere(&[(NODE_NAME, 7), (UNSCHEDULABLE_NODE, 1)])],
        },
        Case {
            name: "no nodes at all",
            config: least(),
            nodes: vec![],
            pods: vec![pod("p")],
            want: vec![Nowhere(&[])],
        },
    ]);
    // The placed pod's rejections, checked in full.
    let got = place(
        least(),
        [mixed(), vec![node("fits").label("disk", "ssd")]].concat(),
        &[pod("p").select("disk", "ssd").cpu(100)],
    );
    assert_eq!(
        got[0].rejections,
        reasons(&[
            (CPU, 2),
            (PODS, 2),
            (NODE_AFFINITY, 1),
            ("node(s) had untolerated taint {a: 1}", 2),
            ("node(s) had untolerated taint {b: 1}", 1),
            (UNSCHEDULABLE_NODE, 1),
        ]),
        "a placed pod's rejections"
    );
}

/// One call on a policy, and what its placements should be.
enum Step {
    Set(Vec<Node>),
    Update(Vec<Node>, Vec<u32>),
    Schedule(Vec<Pod>, Vec<Want>),
}
use Step::{Schedule, Set, Update};

struct Steps {
    name: &'static str,
    steps: Vec<Step>,
}

#[test]
fn node_updates() {
    let web = [("app", "web")];
    let cases = vec![
        Steps {
            name: "a changed node replaces the old one",
            steps: vec![
                Set(indexed(vec![node("a").cpu(1000, 1000), node("b").cpu(1000, 500)])),
                Schedule(vec![pod("p").cpu(600)], vec![Nowhere(&[(CPU, 2)])]),
                Update(vec![node("a").cpu(1000, 0).at(0)], vec![]),
                Schedule(vec![pod("p").cpu(600)], vec![On("a")]),
            ],
        },
        Steps {
            name: "a removed node is forgotten",
            steps: vec![
                Set(indexed(vec![node("a").cpu(1000, 1000), node("b").cpu(1000, 1000), node("c")])),
                Update(vec![], vec![2]),
                Schedule(vec![pod("p").cpu(600)], vec![Nowhere(&[(CPU, 2)])]),
            ],
        },
        Steps {
            name: "removing an unknown index changes nothing",
            steps: vec![
                Set(indexed(vec![node("a")])),
                Update(vec![], vec![7]),
                Schedule(vec![pod("p")], vec![On("a")]),
            ],
        },
        Steps {
            name: "a new index is a new node, gaps and all",
            steps: vec![
                Set(indexed(vec![node("a").cordon()])),
                Update(vec![node("e").at(5)], vec![]),
                Schedule(vec![pod("p")], vec![On("e")]),
                Update(vec![], vec![5]),
                Schedule(vec![pod("p")], vec![Nowhere(&[(UNSCHEDULABLE_NODE, 1)])]),
            ],
        },
        Steps {
            name: "a removed index can be reused by another node",
            steps: vec![
                Set(indexed(vec![node("a"), node("b").cordon()])),
                Update(vec![node("c").at(1)], vec![1]),
                Schedule(vec![pod("p").node_name("c")], vec![On("c")]),
            ],
        },
        Steps {
            name: "set_nodes replaces every node",
            steps: vec![
                Set(indexed(vec![node("a"), node("b"), node("c")])),
                Set(vec![node("d").cordon().at(0)]),
                Schedule(vec![pod("p")], vec![Nowhere(&[(UNSCHEDULABLE_NODE, 1)])]),
            ],
        },
        Steps {
            name: "set_nodes with no nodes",
            steps: vec![Set(indexed(vec![node("a")])), Set(vec![]), Schedule(vec![pod("p")], vec![Nowhere(&[])])],
        },
        Steps {
            name: "placements count in later calls until the node is sent again",
            steps: vec![
                Set(indexed(vec![node("a").cpu(1000, 0)])),
                Schedule(vec![pod("p").cpu(1000)], vec![On("a")]),
                Schedule(vec![pod("q").cpu(1000)], vec![Nowhere(&[(CPU, 1)])]),
                // The host's copy: p was deleted after all.
                Update(vec![node("a").cpu(1000, 0).at(0)], vec![]),
                Schedule(vec![pod("q").cpu(1000)], vec![On("a")]),
            ],
        },
        Steps {
            name: "an update brings in a pod with anti-affinity",
            steps: vec![
                Set(indexed(vec![node("a"), node("b").cpu(4000, 1000)])),
                Update(vec![node("a").with_pod(running(&[]).anti(pods_with(&web, HOSTNAME))).at(0)], vec![]),
                Schedule(vec![pod("web").label("app", "web")], vec![On("b")]),
            ],
        },
        Steps {
            name: "an update without the anti-affinity pod lifts it",
            steps: vec![
                Set(indexed(vec![
                    node("a").with_pod(running(&[]).anti(pods_with(&web, HOSTNAME))),
                    node("b").cordon(),
                ])),
                Schedule(
                    vec![pod("web").label("app", "web")],
                    vec![Nowhere(&[(EXISTING_ANTI, 1), (UNSCHEDULABLE_NODE, 1)])],
                ),
                Update(vec![node("a").at(0)], vec![]),
                Schedule(vec![pod("web").label("app", "web")], vec![On("a")]),
            ],
        },
        Steps {
            name: "set_nodes forgets placements and anti-affinity pods",
            steps: vec![
                Set(indexed(vec![node("a").cpu(1000, 0)])),
                Schedule(vec![pod("p").cpu(1000).label("app", "web").anti(pods_with(&web, HOSTNAME))], vec![On("a")]),
                Schedule(vec![pod("q").label("app", "web")], vec![Nowhere(&[(EXISTING_ANTI, 1)])]),
                Set(indexed(vec![node("a").cpu(1000, 0)])),
                Schedule(vec![pod("q").cpu(1000).label("app", "web")], vec![On("a")]),
            ],
        },
    ];
    let mut failures = Vec::new();
    for case in cases {
        let mut policy = Policy::new(Config::default());
        for (i, step) in case.steps.into_iter().enumerate() {
            match step {
                Set(nodes) => policy.set_nodes(nodes),
                Update(changed, removed) => policy.update_nodes(changed, &removed),
                Schedule(pods, want) => {
                    let got = schedule(&mut policy, &pods);
                    check(&mut failures, case.name, &format!(", step {i}"), &got, &want);
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}
