"""The policy without a component: `pytest examples/plugins/bin-packing/python`.

The records below stand in for the bindings componentize-py generates from
`wit/scheduler.wit`; `test_records_mirror_the_wit` keeps them (and what
policy.py builds itself) in step with the WIT. When componentize-py is
installed, the last test also drives app.py with the generated bindings
themselves (plain CPython, no component).

(Not `test_policy.py`: tests/run collects this folder in the same pytest run
as allowed-registries/python, whose test module already has that name.)
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Optional

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]


def _load_policy():
    # Under its own name: the allowed-registries example has a `policy` module too.
    spec = importlib.util.spec_from_file_location("bin_packing_policy", HERE / "policy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


policy = _load_policy()

CPU = 1000  # millicores in a core
GI = 1024**3
MI = 1024**2

# ------------------------------------------------ the records of scheduler.wit


class TaintEffect(Enum):
    NO_SCHEDULE = 0
    PREFER_NO_SCHEDULE = 1
    NO_EXECUTE = 2


class TolerationOperator(Enum):
    EQUAL = 0
    EXISTS = 1


class SelectorOperator(Enum):
    IN = 0
    NOT_IN = 1
    EXISTS = 2
    DOES_NOT_EXIST = 3
    GT = 4
    LT = 5


class WhenUnsatisfiable(Enum):
    DO_NOT_SCHEDULE = 0
    SCHEDULE_ANYWAY = 1


@dataclass
class Resources:
    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0
    pods: int = 0
    extended: list = field(default_factory=list)


@dataclass
class Taint:
    key: str
    value: str
    effect: TaintEffect


@dataclass
class Toleration:
    key: str
    operator: TolerationOperator
    value: str = ""
    effect: Optional[TaintEffect] = None


@dataclass
class HostPort:
    port: int
    protocol: str = "TCP"
    host_ip: str = ""


@dataclass
class Requirement:
    key: str
    operator: SelectorOperator
    values: list = field(default_factory=list)


@dataclass
class LabelSelector:
    match_labels: list = field(default_factory=list)
    match_expressions: list = field(default_factory=list)


@dataclass
class NodeSelectorTerm:
    match_expressions: list = field(default_factory=list)
    match_fields: list = field(default_factory=list)


@dataclass
class PreferredNodeTerm:
    weight: int
    term: NodeSelectorTerm


@dataclass
class NodeAffinity:
    required: Optional[list] = None
    preferred: list = field(default_factory=list)


@dataclass
class PodAffinityTerm:
    selector: Optional[LabelSelector] = None
    namespaces: list = field(default_factory=list)
    all_namespaces: bool = False
    topology_key: str = "kubernetes.io/hostname"


@dataclass
class WeightedPodAffinityTerm:
    weight: int
    term: PodAffinityTerm


@dataclass
class PodAffinity:
    required: list = field(default_factory=list)
    preferred: list = field(default_factory=list)


@dataclass
class TopologySpreadConstraint:
    max_skew: int
    topology_key: str
    when_unsatisfiable: WhenUnsatisfiable
    selector: Optional[LabelSelector] = None
    min_domains: Optional[int] = None
    honor_node_affinity: bool = True
    honor_node_taints: bool = False


@dataclass
class PodSummary:
    namespace: str
    labels: list
    owner_uid: Optional[str]
    anti_affinity: list


@dataclass
class NodeView:
    index: int
    name: str
    labels: list
    taints: list
    allocatable: Resources
    requested: Resources
    used_ports: list
    unschedulable: bool
    pods: list


@dataclass
class PodView:
    namespace: str
    name: str
    uid: str
    labels: list
    owner_uid: Optional[str]
    requests: Resources
    host_ports: list
    node_name: Optional[str]
    node_selector: list
    node_affinity: Optional[NodeAffinity]
    pod_affinity: Optional[PodAffinity]
    pod_anti_affinity: Optional[PodAffinity]
    tolerations: list
    topology_spread_constraints: list


@dataclass
class Rejection:
    reason: str
    nodes: int


@dataclass
class Placement:
    node: Optional[int]
    rejections: list


def node(index, cpu=4 * CPU, memory=8 * GI, pods=110, used_cpu=0, used_memory=0, used_pods=0, *, name=None,
         labels=(), taints=(), unschedulable=False, used_ports=(), storage=0, used_storage=0, extended=(),
         used_extended=()):
    return NodeView(
        index=index,
        name=name or f"node-{index}",
        labels=list(labels),
        taints=list(taints),
        allocatable=Resources(cpu, memory, storage, pods, list(extended)),
        requested=Resources(used_cpu, used_memory, used_storage, used_pods, list(used_extended)),
        used_ports=list(used_ports),
        unschedulable=unschedulable,
        pods=[],
    )


def pod(cpu=0, memory=0, *, name="p", storage=0, extended=(), host_ports=(), node_name=None, node_selector=(),
        required=None, tolerations=(), labels=(), owner_uid=None, anti_affinity=None):
    return PodView(
        namespace="default",
        name=name,
        uid=f"uid-{name}",
        labels=list(labels),
        owner_uid=owner_uid,
        requests=Resources(cpu, memory, storage, 0, list(extended)),
        host_ports=list(host_ports),
        node_name=node_name,
        node_selector=list(node_selector),
        node_affinity=NodeAffinity(required=required) if required is not None else None,
        pod_affinity=None,
        pod_anti_affinity=anti_affinity,
        tolerations=list(tolerations),
        topology_spread_constraints=[],
    )


def schedule(nodes, *pods):
    p = policy.Policy()
    p.set_nodes(nodes)
    return p.schedule(list(pods))


def placed(placements):
    return [p.node for p in placements]


def rejections(placement):
    return [(r.reason, r.nodes) for r in placement.rejections]


def reasons(pod_, node_):
    return policy.filter_node(pod_, node_)


# ---------------------------------------------------------------- the WIT shape


def _wit_items(kind):
    text = (REPO / "wit" / "scheduler.wit").read_text()
    text = re.sub(r"//[^\n]*", "", text)
    found = {}
    for name, body in re.findall(kind + r"\s+([a-z0-9-]+)\s*\{([^}]*)\}", text):
        if kind == "record":
            items = re.findall(r"([a-z0-9-]+)\s*:", body)
        else:
            items = [c.strip() for c in body.split(",") if c.strip()]
        found["".join(w.capitalize() for w in name.split("-"))] = [i.replace("-", "_") for i in items]
    return found


def test_records_mirror_the_wit():
    records = _wit_items("record")
    assert len(records) == 18
    here = globals()
    for name, fields in records.items():
        assert [f.name for f in dataclasses.fields(here[name])] == fields, name
    # What the policy builds itself has the WIT's fields too.
    for name in ("PodSummary", "Placement", "Rejection"):
        assert [f.name for f in dataclasses.fields(getattr(policy, name))] == records[name], name


def test_enums_mirror_the_wit():
    for name, cases in _wit_items("enum").items():
        assert [c.name for c in globals()[name]] == [c.upper() for c in cases], name


# ---------------------------------------------------------------------- config


@pytest.mark.parametrize("config", ["", "   ", "{}", " { }\n"])
def test_config_empty_is_accepted(config):
    assert policy.parse_config(config) is None


@pytest.mark.parametrize(
    "config,message",
    [
        ("{", "config is not valid JSON"),
        ("null", "config must be a JSON object"),
        ("[]", "config must be a JSON object"),
        ('{"scoringStrategy": "MostAllocated"}', 'unknown config field(s) "scoringStrategy"'),
    ],
)
def test_config_anything_else_is_refused(config, message):
    with pytest.raises(policy.ConfigError) as e:
        policy.parse_config(config)
    assert message in str(e.value)
    assert 'leave it empty or "{}"' in str(e.value)


# ------------------------------------------------------------------- scoring


def test_no_nodes_no_placement():
    assert schedule([], pod(CPU)) == [policy.Placement(None, [])]


def test_prefers_the_node_the_pod_leaves_fullest():
    nodes = [node(0), node(1, used_cpu=2 * CPU, used_memory=4 * GI), node(2, used_cpu=CPU, used_memory=GI)]
    [placement] = schedule(nodes, pod(CPU, GI))
    assert placement == policy.Placement(1, [])


def test_ties_go_to_the_lowest_index_whatever_the_order_nodes_came_in():
    assert placed(schedule([node(5), node(2), node(9)], pod(CPU, GI))) == [2]


def test_the_score_is_the_mean_of_cpu_and_memory():
    pod_ = pod(CPU, GI)
    # cpu (1+1)/4 = 50, memory (1+3)/8 = 50 -> 50
    assert policy.most_allocated_score(pod_, node(0, used_cpu=CPU, used_memory=3 * GI)) == 50
    # cpu 1/4 = 25, memory 1/8 = 12 (floored) -> 18 (floored)
    assert policy.most_allocated_score(pod_, node(0)) == 18
    # a fuller cpu makes up for an emptier memory
    a = node(0, cpu=2 * CPU, memory=8 * GI)  # 50, 12 -> 31
    b = node(1, cpu=4 * CPU, memory=4 * GI)  # 25, 25 -> 25
    assert placed(schedule([a, b], pod(CPU, GI))) == [0]


def test_a_pod_that_asks_for_nothing_counts_as_100m_and_200mi():
    small = node(0, cpu=1 * CPU, memory=1 * GI)  # 100/1000 -> 10, 200Mi/1Gi -> 19
    big = node(1, cpu=10 * CPU, memory=10 * GI)  # 1, 1
    assert policy.most_allocated_score(pod(), small) == (10 + 19) // 2
    assert policy.most_allocated_score(pod(), big) == 1
    assert placed(schedule([big, small], pod())) == [0]
    # The defaults only score: they are not counted on the node.
    p = policy.Policy()
    p.set_nodes([node(0)])
    p.schedule([pod()])
    assert (p.nodes[0].requested.milli_cpu, p.nodes[0].requested.memory, p.nodes[0].requested.pods) == (0, 0, 1)


def test_more_than_the_node_has_counts_as_full():
    # The pod asks for no cpu, so it fits a 50m node, where the 100m default counts as full.
    assert policy.most_allocated_score(pod(0, GI), node(0, cpu=50, memory=2 * GI)) == (100 + 50) // 2


def test_a_resource_the_node_has_none_of_is_left_out():
    assert policy.most_allocated_score(pod(CPU, 0), node(0, cpu=2 * CPU, memory=0)) == 50
    assert policy.most_allocated_score(pod(), node(0, cpu=0, memory=0)) == 0


# ----------------------------------------------------- placements count, in and across calls


def test_a_batch_fills_one_node_before_the_next():
    nodes = [node(0, cpu=2 * CPU), node(1, cpu=2 * CPU)]
    placements = schedule(nodes, pod(CPU, name="a"), pod(CPU, name="b"), pod(CPU, name="c"), pod(CPU, name="d"),
                          pod(CPU, name="e"))
    assert placed(placements) == [0, 0, 1, 1, None]
    assert rejections(placements[2]) == [("Insufficient cpu", 1)]
    assert rejections(placements[4]) == [("Insufficient cpu", 2)]


def test_placements_count_in_later_calls_until_the_host_sends_the_node_again():
    p = policy.Policy()
    p.set_nodes([node(0, cpu=2 * CPU), node(1, cpu=2 * CPU)])
    assert placed(p.schedule([pod(CPU)])) == [0]
    assert placed(p.schedule([pod(CPU)])) == [0]
    assert placed(p.schedule([pod(CPU)])) == [1]
    # The host counted the pods too, and sends node 0 with one of them gone.
    p.update_nodes([node(0, cpu=2 * CPU, used_cpu=CPU, used_pods=1)], [])
    assert placed(p.schedule([pod(CPU)])) == [0]
    p.set_nodes([node(0, cpu=2 * CPU), node(1, cpu=2 * CPU, used_cpu=CPU)])
    assert placed(p.schedule([pod(CPU)])) == [1]


def test_assume_counts_requests_ports_and_the_pod():
    p = policy.Policy()
    extended = [("example.com/gpu", 4), ("example.com/fpga", 1)]
    p.set_nodes([node(0, extended=extended, used_extended=[("example.com/gpu", 1)], storage=10 * GI)])
    term = PodAffinityTerm(selector=LabelSelector(match_labels=[("app", "web")]))
    web = pod(500, 256 * MI, name="web", storage=GI, extended=[("example.com/gpu", 2), ("example.com/fpga", 1)],
              host_ports=[HostPort(8080)], labels=[("app", "web")], owner_uid="rs-1",
              anti_affinity=PodAffinity(required=[term]))
    assert placed(p.schedule([web])) == [0]
    n = p.nodes[0]
    assert n.requested == Resources(500, 256 * MI, GI, 1, [("example.com/gpu", 3), ("example.com/fpga", 1)])
    assert n.used_ports == [HostPort(8080)]
    assert n.pods == [policy.PodSummary("default", [("app", "web")], "rs-1", [term])]
    # Another pod on the same host port has nowhere to go now.
    [placement] = p.schedule([pod(name="other", host_ports=[HostPort(8080)])])
    assert placement == policy.Placement(None, [policy.Rejection(policy.REASON_PORTS, 1)])


def test_update_nodes_replaces_adds_and_forgets():
    p = policy.Policy()
    p.set_nodes([node(0), node(1, used_cpu=CPU)])
    p.update_nodes([node(3, used_cpu=3 * CPU)], [1])
    assert sorted(p.nodes) == [0, 3]
    assert placed(p.schedule([pod(CPU)])) == [3]
    p.update_nodes([], [3, 7])
    assert placed(p.schedule([pod(CPU)])) == [0]
    # An index both removed and changed: the change wins.
    p.update_nodes([node(0, name="again")], [0])
    assert p.nodes[0].name == "again"


def test_set_nodes_forgets_the_nodes_before():
    p = policy.Policy()
    p.set_nodes([node(0), node(1)])
    p.set_nodes([node(4)])
    assert placed(p.schedule([pod(CPU)])) == [4]


# ------------------------------------------------------------------- filters


def test_unschedulable():
    cordoned = node(0, unschedulable=True)
    assert reasons(pod(), cordoned) == ["node(s) were unschedulable"]
    tolerations = [
        Toleration("node.kubernetes.io/unschedulable", TolerationOperator.EXISTS, effect=TaintEffect.NO_SCHEDULE),
        Toleration("node.kubernetes.io/unschedulable", TolerationOperator.EXISTS),
        Toleration("", TolerationOperator.EXISTS),
        Toleration("node.kubernetes.io/unschedulable", TolerationOperator.EQUAL, ""),
    ]
    for toleration in tolerations:
        assert reasons(pod(tolerations=[toleration]), cordoned) == []
    not_enough = Toleration("node.kubernetes.io/unschedulable", TolerationOperator.EXISTS, effect=TaintEffect.NO_EXECUTE)
    assert reasons(pod(tolerations=[not_enough]), cordoned) == ["node(s) were unschedulable"]


def test_node_name():
    assert reasons(pod(node_name="node-1"), node(0)) == ["node(s) didn't match the requested node name"]
    assert reasons(pod(node_name="node-0"), node(0)) == []
    placements = schedule([node(0), node(1), node(2, used_cpu=3 * CPU)], pod(node_name="node-1"))
    assert placements == [policy.Placement(1, [policy.Rejection(policy.REASON_NODE_NAME, 2)])]


def test_taints():
    gpu = Taint("dedicated", "gpu", TaintEffect.NO_SCHEDULE)
    assert reasons(pod(), node(0, taints=[gpu])) == ["node(s) had untolerated taint {dedicated: gpu}"]
    not_ready = Taint("node.kubernetes.io/not-ready", "", TaintEffect.NO_EXECUTE)
    assert reasons(pod(), node(0, taints=[not_ready])) == ["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"]
    # PreferNoSchedule only scores in kube-scheduler; it never filters.
    assert reasons(pod(), node(0, taints=[Taint("soft", "x", TaintEffect.PREFER_NO_SCHEDULE)])) == []
    # The first untolerated taint is the one named.
    tolerate_gpu = Toleration("dedicated", TolerationOperator.EQUAL, "gpu")
    both = node(0, taints=[gpu, Taint("zone", "a", TaintEffect.NO_EXECUTE)])
    assert reasons(pod(), both) == ["node(s) had untolerated taint {dedicated: gpu}"]
    assert reasons(pod(tolerations=[tolerate_gpu]), both) == ["node(s) had untolerated taint {zone: a}"]
    for toleration in [
        tolerate_gpu,
        Toleration("dedicated", TolerationOperator.EXISTS),
        Toleration("dedicated", TolerationOperator.EQUAL, "gpu", TaintEffect.NO_SCHEDULE),
        Toleration("", TolerationOperator.EXISTS),
    ]:
        assert reasons(pod(tolerations=[toleration]), node(0, taints=[gpu])) == [], toleration
    for toleration in [
        Toleration("dedicated", TolerationOperator.EQUAL, "cpu"),
        Toleration("dedicated", TolerationOperator.EXISTS, effect=TaintEffect.NO_EXECUTE),
        Toleration("other", TolerationOperator.EXISTS),
    ]:
        assert reasons(pod(tolerations=[toleration]), node(0, taints=[gpu])) != [], toleration


AFFINITY = "node(s) didn't match Pod's node affinity/selector"


def test_node_selector():
    labelled = node(0, labels=[("disktype", "ssd"), ("zone", "a")])
    assert reasons(pod(node_selector=[("disktype", "ssd")]), labelled) == []
    assert reasons(pod(node_selector=[("disktype", "ssd"), ("zone", "a")]), labelled) == []
    assert reasons(pod(node_selector=[("disktype", "hdd")]), labelled) == [AFFINITY]
    assert reasons(pod(node_selector=[("gpu", "")]), labelled) == [AFFINITY]


def _expr(key, op, *values):
    return NodeSelectorTerm(match_expressions=[Requirement(key, SelectorOperator[op], list(values))])


@pytest.mark.parametrize(
    "term,matches",
    [
        (_expr("zone", "IN", "a", "b"), True),
        (_expr("zone", "IN", "b"), False),
        (_expr("missing", "IN", "a"), False),
        (_expr("zone", "NOT_IN", "b"), True),
        (_expr("zone", "NOT_IN", "a"), False),
        (_expr("missing", "NOT_IN", "a"), True),
        (_expr("zone", "EXISTS"), True),
        (_expr("missing", "EXISTS"), False),
        (_expr("zone", "DOES_NOT_EXIST"), False),
        (_expr("missing", "DOES_NOT_EXIST"), True),
        (_expr("cores", "GT", "7"), True),
        (_expr("cores", "GT", "8"), False),
        (_expr("cores", "LT", "9"), True),
        (_expr("cores", "LT", "+8"), False),
        (_expr("cores", "GT", "-1"), True),
        (_expr("cores", "GT", "seven"), False),
        (_expr("cores", "GT", " 7"), False),
        (_expr("cores", "GT", "7_0"), False),
        (_expr("cores", "GT", "\u0667"), False),  # an Arabic-Indic 7: not an integer to Kubernetes
        (_expr("cores", "GT", str(2**63)), False),  # past int64
        (_expr("zone", "GT", "1"), False),
        (_expr("cores", "GT"), False),
        (NodeSelectorTerm(match_fields=[Requirement("metadata.name", SelectorOperator.IN, ["node-0"])]), True),
        (NodeSelectorTerm(match_fields=[Requirement("metadata.name", SelectorOperator.NOT_IN, ["node-0"])]), False),
        (NodeSelectorTerm(match_fields=[Requirement("metadata.uid", SelectorOperator.EXISTS)]), False),
        (NodeSelectorTerm(), False),  # a term with no requirement matches no node
        (NodeSelectorTerm(match_expressions=[_expr("zone", "IN", "a").match_expressions[0],
                                             _expr("cores", "LT", "4").match_expressions[0]]), False),
    ],
)
def test_required_node_affinity_term(term, matches):
    labelled = node(0, labels=[("zone", "a"), ("cores", "8")])
    assert reasons(pod(required=[term]), labelled) == ([] if matches else [AFFINITY])


def test_required_node_affinity_terms_are_alternatives_and_add_to_the_selector():
    labelled = node(0, labels=[("zone", "a")])
    either = [_expr("zone", "IN", "b"), _expr("zone", "IN", "a")]
    assert reasons(pod(required=either), labelled) == []
    assert reasons(pod(required=[]), labelled) == [AFFINITY]
    assert reasons(pod(required=either, node_selector=[("zone", "b")]), labelled) == [AFFINITY]
    # Preferred terms never filter.
    preferring = pod()
    preferring.node_affinity = NodeAffinity(preferred=[PreferredNodeTerm(10, _expr("zone", "IN", "b"))])
    assert reasons(preferring, labelled) == []


@pytest.mark.parametrize(
    "want,used,conflict",
    [
        (HostPort(80), HostPort(80), True),
        (HostPort(80), HostPort(81), False),
        (HostPort(80, "UDP"), HostPort(80, "TCP"), False),
        (HostPort(80, host_ip="10.0.0.1"), HostPort(80, host_ip="10.0.0.2"), False),
        (HostPort(80, host_ip="10.0.0.1"), HostPort(80, host_ip="10.0.0.1"), True),
        (HostPort(80, host_ip="10.0.0.1"), HostPort(80, host_ip="0.0.0.0"), True),
        (HostPort(80), HostPort(80, host_ip="10.0.0.1"), True),
        (HostPort(80, host_ip="::"), HostPort(80, host_ip="fd00::1"), True),
    ],
)
def test_host_ports(want, used, conflict):
    expected = ["node(s) didn't have free ports for the requested pod ports"] if conflict else []
    assert reasons(pod(host_ports=[want]), node(0, used_ports=[used])) == expected


def test_resources():
    full = node(0, cpu=2 * CPU, memory=4 * GI, pods=3, used_cpu=1500, used_memory=3 * GI, used_pods=2,
                storage=10 * GI, used_storage=9 * GI, extended=[("example.com/gpu", 2)],
                used_extended=[("example.com/gpu", 1)])
    assert reasons(pod(500, GI), full) == []
    assert reasons(pod(501, GI), full) == ["Insufficient cpu"]
    assert reasons(pod(500, GI + 1), full) == ["Insufficient memory"]
    assert reasons(pod(storage=GI + 1), full) == ["Insufficient ephemeral-storage"]
    assert reasons(pod(extended=[("example.com/gpu", 1)]), full) == []
    assert reasons(pod(extended=[("example.com/gpu", 2)]), full) == ["Insufficient example.com/gpu"]
    assert reasons(pod(extended=[("example.com/fpga", 1)]), full) == ["Insufficient example.com/fpga"]
    assert reasons(pod(extended=[("example.com/fpga", 0)]), full) == []
    packed = node(0, pods=2, used_pods=2)
    assert reasons(pod(), packed) == ["Too many pods"]
    # NodeResourcesFit gives every shortage at once.
    assert sorted(reasons(pod(2 * CPU, 8 * GI, extended=[("example.com/gpu", 5)]), full)) == [
        "Insufficient cpu", "Insufficient example.com/gpu", "Insufficient memory"]


def test_a_node_s_first_failing_filter_is_its_reason():
    hopeless = node(0, cpu=100, unschedulable=True, taints=[Taint("t", "v", TaintEffect.NO_SCHEDULE)],
                    labels=[("zone", "a")], used_ports=[HostPort(80)])
    p = pod(CPU, node_name="node-0", node_selector=[("zone", "b")], host_ports=[HostPort(80)])
    assert reasons(p, hopeless) == ["node(s) were unschedulable"]
    hopeless.unschedulable = False
    assert reasons(p, hopeless) == ["node(s) had untolerated taint {t: v}"]
    hopeless.taints = []
    assert reasons(p, hopeless) == [AFFINITY]
    hopeless.labels = [("zone", "b")]
    assert reasons(p, hopeless) == ["node(s) didn't have free ports for the requested pod ports"]
    hopeless.used_ports = []
    assert reasons(p, hopeless) == ["Insufficient cpu"]
    assert reasons(pod(CPU, node_name="node-1"), hopeless) == ["node(s) didn't match the requested node name"]


def test_rejections_are_counted_per_reason_and_sorted():
    nodes = [
        node(0, unschedulable=True),
        node(1, cpu=500, memory=GI, pods=1, used_pods=1),  # three reasons at once
        node(2, cpu=500),
        node(3, taints=[Taint("b", "", TaintEffect.NO_SCHEDULE)]),
        node(4, taints=[Taint("a", "1", TaintEffect.NO_EXECUTE)]),
        node(5, unschedulable=True),
        node(6, memory=GI),
    ]
    expected = [
        ("Insufficient cpu", 2),
        ("Insufficient memory", 2),
        ("Too many pods", 1),
        ("node(s) had untolerated taint {a: 1}", 1),
        ("node(s) had untolerated taint {b: }", 1),
        ("node(s) were unschedulable", 2),
    ]
    [placement] = schedule(nodes, pod(CPU, 2 * GI))
    assert placement.node is None
    assert rejections(placement) == expected
    # With a node that fits, the others' reasons still come along.
    [placement] = schedule(nodes + [node(7)], pod(CPU, 2 * GI))
    assert placement.node == 7
    assert rejections(placement) == expected


# ------------------------------------------- app.py with the generated bindings


def _componentize_py():
    beside = Path(sys.executable).parent / "componentize-py"
    return str(beside) if beside.exists() else shutil.which("componentize-py")


@pytest.fixture
def app(tmp_path, monkeypatch):
    """app.py imported with the bindings componentize-py generates (its imports stubbed)."""
    tool = _componentize_py()
    if tool is None:
        pytest.skip("componentize-py is not installed")
    if sys.version_info < (3, 11):
        pytest.skip("the generated bindings need Python 3.11 (typing.Self)")
    bindings = tmp_path / "bindings"
    subprocess.run([tool, "-d", str(REPO / "wit"), "-w", "scheduler-policy", "bindings", str(bindings)],
                   check=True, capture_output=True)
    # The names app.py imports must be ours, not another example's (monkeypatch puts them back).
    for name in ("app", "policy", "wit_world", "componentize_py_types"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    before = set(sys.modules)
    monkeypatch.syspath_prepend(str(bindings))
    monkeypatch.syspath_prepend(str(HERE))
    try:
        import app as module
        from wit_world.imports import log

        monkeypatch.setattr(log, "write", lambda level, message, fields: None)
        yield module
    finally:
        for name in set(sys.modules) - before:
            del sys.modules[name]


def test_app_with_the_generated_bindings(app):
    from componentize_py_types import Err
    from wit_world.exports import scheduler as wit
    from wit_world.imports import types

    s = app.Scheduler()
    with pytest.raises(Err) as e:
        s.set_nodes([])
    assert e.value.value == types.Error(types.ErrorCode.INTERNAL, "the host called the policy before init")
    with pytest.raises(Err) as e:
        s.init('{"percentageOfNodesToScore": 50}')
    assert e.value.value.code == types.ErrorCode.INVALID_INPUT
    assert "bin-packing takes no config" in e.value.value.message
    s.init("{}")

    def resources(cpu, memory, pods=0, extended=()):
        return wit.Resources(milli_cpu=cpu, memory=memory, ephemeral_storage=0, pods=pods, extended=list(extended))

    def node_view(index, used_cpu, *, taints=(), unschedulable=False):
        return wit.NodeView(index=index, name=f"node-{index}", labels=[("zone", "a")], taints=list(taints),
                            allocatable=resources(2 * CPU, 4 * GI, 110, [("example.com/gpu", 1)]),
                            requested=resources(used_cpu, 0), used_ports=[], unschedulable=unschedulable, pods=[])

    def pod_view(name, cpu, tolerations=()):
        return wit.PodView(
            namespace="default", name=name, uid=name, labels=[("app", name)], owner_uid=None,
            requests=resources(cpu, GI), host_ports=[wit.HostPort(port=8080, protocol="TCP", host_ip="")],
            node_name=None, node_selector=[],
            node_affinity=wit.NodeAffinity(required=[wit.NodeSelectorTerm(
                match_expressions=[wit.Requirement(key="zone", operator=wit.SelectorOperator.IN, values=["a"])],
                match_fields=[])], preferred=[]),
            pod_affinity=None, pod_anti_affinity=None, tolerations=list(tolerations), topology_spread_constraints=[])

    s.set_nodes([node_view(0, 0), node_view(1, CPU),
                 node_view(2, 0, taints=[wit.Taint(key="gpu", value="yes", effect=wit.TaintEffect.NO_SCHEDULE)]),
                 node_view(3, 500, unschedulable=True)])
    tolerate = wit.Toleration(key="node.kubernetes.io/unschedulable", operator=wit.TolerationOperator.EXISTS,
                              value="", effect=None)
    placements = s.schedule([pod_view("a", 500), pod_view("b", 500, [tolerate]), pod_view("c", 500)])
    assert placements == [
        wit.Placement(node=1, rejections=[
            wit.Rejection(reason="node(s) had untolerated taint {gpu: yes}", nodes=1),
            wit.Rejection(reason="node(s) were unschedulable", nodes=1)]),
        # Node 1 holds a's host port now; the toleration lets b onto node 3, the fuller of 0 and 3.
        wit.Placement(node=3, rejections=[
            wit.Rejection(reason="node(s) didn't have free ports for the requested pod ports", nodes=1),
            wit.Rejection(reason="node(s) had untolerated taint {gpu: yes}", nodes=1)]),
        wit.Placement(node=0, rejections=[
            wit.Rejection(reason="node(s) didn't have free ports for the requested pod ports", nodes=1),
            wit.Rejection(reason="node(s) had untolerated taint {gpu: yes}", nodes=1),
            wit.Rejection(reason="node(s) were unschedulable", nodes=1)]),
    ]
    s.update_nodes([node_view(1, 0)], [0, 3])
    [placement] = s.schedule([pod_view("d", CPU)])
    assert placement == wit.Placement(node=1, rejections=[
        wit.Rejection(reason="node(s) had untolerated taint {gpu: yes}", nodes=1)])
    # init starts over: no nodes until the host sends them again.
    s.init("")
    assert s.schedule([pod_view("e", CPU)]) == [wit.Placement(node=None, rejections=[])]
