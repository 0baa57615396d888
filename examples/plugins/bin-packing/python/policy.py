"""The bin-packing scheduling policy as plain Python, importable without wasm.

Pods go to the feasible node that their CPU and memory would leave the most
allocated (kube-scheduler's NodeResourcesFit with the MostAllocated
strategy), so pods fill few nodes and the rest stay empty.

The functions work on any objects shaped like the records of
`wit/scheduler.wit` (fields in snake_case, enums compared by case name such as
`NO_SCHEDULE`), so `app.py` hands them the generated bindings as they are and
the tests hand them plain dataclasses. The filters, their order and their
reasons are those of the default policy (`plugins/scheduling/src/policy.rs`),
in kube-scheduler's words; inter-pod affinity and topology spread are not
checked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

# What kube-scheduler assumes a pod asks for when it asks for nothing, for scoring only.
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024

MAX_NODE_SCORE = 100

UNSCHEDULABLE_TAINT_KEY = "node.kubernetes.io/unschedulable"

REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_NODE_NAME = "node(s) didn't match the requested node name"
REASON_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
REASON_PORTS = "node(s) didn't have free ports for the requested pod ports"
REASON_TOO_MANY_PODS = "Too many pods"

# The `int64` that Kubernetes parses `Gt`/`Lt` values into.
_INT64 = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_WILDCARD_IPS = ("", "0.0.0.0", "::")


class ConfigError(ValueError):
    """The config is unusable; app.py turns this into the WIT `invalid-input` error."""


def parse_config(config_json: str) -> None:
    """Accepts the only configs there are: empty, or an empty JSON object."""
    if not config_json.strip():
        return
    hint = 'bin-packing takes no config: leave it empty or "{}"'
    try:
        config = json.loads(config_json)
    except ValueError as e:
        raise ConfigError(f"config is not valid JSON ({e}); {hint}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"config must be a JSON object; {hint}")
    if config:
        raise ConfigError(f"unknown config field(s) {', '.join(map(json.dumps, sorted(config)))}; {hint}")


# ------------------------------------------------------------ what it returns


@dataclass
class Rejection:
    reason: str
    nodes: int


@dataclass
class Placement:
    """The chosen node's index (None when no node fits) and why nodes were turned down."""

    node: Optional[int]
    rejections: list[Rejection] = field(default_factory=list)


@dataclass
class PodSummary:
    """The WIT `pod-summary` of a pod this policy placed, kept on its node."""

    namespace: str
    labels: list[tuple[str, str]]
    owner_uid: Optional[str]
    anti_affinity: list[Any]


# -------------------------------------------------------------------- policy


class Policy:
    """The nodes the host told about, by index, with the pods placed since counted on them.

    The policy owns the node views it is given: placing a pod updates the
    view of its node (`requested`, `used_ports`, `pods`) in place, until the
    host sends that node again.
    """

    def __init__(self) -> None:
        self.nodes: dict[int, Any] = {}
        # The indexes in use, ascending: the order nodes are visited in, so ties go to the lowest.
        self._order: list[int] = []

    def set_nodes(self, nodes: Iterable[Any]) -> None:
        self.nodes = {}
        self.update_nodes(nodes, [])

    def update_nodes(self, changed: Iterable[Any], removed: Iterable[int]) -> None:
        for index in removed:
            self.nodes.pop(index, None)
        for node in changed:
            self.nodes[node.index] = node
        self._order = sorted(self.nodes)

    def schedule(self, pods: Iterable[Any]) -> list[Placement]:
        """Places the pods in order; each placement counts against its node for the pods after it."""
        return [self.schedule_one(pod) for pod in pods]

    def schedule_one(self, pod: Any) -> Placement:
        reasons: dict[str, int] = {}
        best, best_score = None, -1
        for index in self._order:
            node = self.nodes[index]
            why = filter_node(pod, node)
            if why:
                for reason in why:
                    reasons[reason] = reasons.get(reason, 0) + 1
                continue
            # Strictly greater: among equal scores the lowest index stays.
            score = most_allocated_score(pod, node)
            if score > best_score:
                best, best_score = node, score
        rejections = [Rejection(reason, count) for reason, count in sorted(reasons.items())]
        if best is None:
            return Placement(None, rejections)
        assume(pod, best)
        return Placement(best.index, rejections)


# ------------------------------------------------------------------- filters


def filter_node(pod: Any, node: Any) -> list[str]:
    """Why `node` cannot take `pod`: the reasons of the first filter that fails, or [] when it fits."""
    if node.unschedulable and not any(
        _tolerates(t, UNSCHEDULABLE_TAINT_KEY, "", "NO_SCHEDULE") for t in pod.tolerations
    ):
        return [REASON_UNSCHEDULABLE]
    if pod.node_name is not None and pod.node_name != node.name:
        return [REASON_NODE_NAME]
    taint = untolerated_taint(pod, node)
    if taint is not None:
        return [f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}"]
    if not node_affinity_matches(pod, node):
        return [REASON_NODE_AFFINITY]
    if any(ports_conflict(want, used) for want in pod.host_ports for used in node.used_ports):
        return [REASON_PORTS]
    return insufficient_resources(pod.requests, node)


def tolerates(toleration: Any, taint: Any) -> bool:
    return _tolerates(toleration, taint.key, taint.value, taint.effect.name)


def _tolerates(toleration: Any, key: str, value: str, effect: str) -> bool:
    # No effect tolerates every effect; an empty key (only valid with Exists) every key.
    if toleration.effect is not None and toleration.effect.name != effect:
        return False
    if not toleration.key:
        return toleration.operator.name == "EXISTS"
    return toleration.key == key and (toleration.operator.name == "EXISTS" or toleration.value == value)


def untolerated_taint(pod: Any, node: Any) -> Optional[Any]:
    """The node's first NoSchedule or NoExecute taint the pod does not tolerate."""
    for taint in node.taints:
        if taint.effect.name != "PREFER_NO_SCHEDULE" and not any(tolerates(t, taint) for t in pod.tolerations):
            return taint
    return None


def _label(labels: Iterable[tuple[str, str]], key: str) -> Optional[str]:
    for k, v in labels:
        if k == key:
            return v
    return None


def _int64(text: str) -> Optional[int]:
    if not _INT64.fullmatch(text):
        return None
    number = int(text)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


def requirement_matches(requirement: Any, labels: Iterable[tuple[str, str]]) -> bool:
    """A selector requirement against labels; `Gt`/`Lt` compare integers and a non-integer never matches."""
    value = _label(labels, requirement.key)
    op = requirement.operator.name
    if op == "IN":
        return value is not None and value in requirement.values
    if op == "NOT_IN":
        return value is None or value not in requirement.values
    if op == "EXISTS":
        return value is not None
    if op == "DOES_NOT_EXIST":
        return value is None
    if op in ("GT", "LT"):
        if value is None or not requirement.values:
            return False
        have, bound = _int64(value), _int64(requirement.values[0])
        if have is None or bound is None:
            return False
        return have > bound if op == "GT" else have < bound
    return False


def term_matches(term: Any, node: Any) -> bool:
    """A node selector term: all its expressions and fields hold; a term with neither matches no node."""
    if not term.match_expressions and not term.match_fields:
        return False
    fields = [("metadata.name", node.name)]
    return all(requirement_matches(r, node.labels) for r in term.match_expressions) and all(
        r.key == "metadata.name" and requirement_matches(r, fields) for r in term.match_fields
    )


def node_affinity_matches(pod: Any, node: Any) -> bool:
    """The pod's nodeSelector and its required node affinity both hold."""
    if not all(_label(node.labels, k) == v for k, v in pod.node_selector):
        return False
    required = pod.node_affinity.required if pod.node_affinity is not None else None
    return required is None or any(term_matches(t, node) for t in required)


def ports_conflict(a: Any, b: Any) -> bool:
    return (
        a.port == b.port
        and a.protocol == b.protocol
        and (a.host_ip in _WILDCARD_IPS or b.host_ip in _WILDCARD_IPS or a.host_ip == b.host_ip)
    )


def _extended(resources: Any, name: str) -> int:
    for n, amount in resources.extended:
        if n == name:
            return amount
    return 0


def insufficient_resources(want: Any, node: Any) -> list[str]:
    """NodeResourcesFit: every resource the pod asks for, and room for one more pod."""
    have, used = node.allocatable, node.requested
    short = []
    if used.pods + 1 > have.pods:
        short.append(REASON_TOO_MANY_PODS)
    if want.milli_cpu > 0 and used.milli_cpu + want.milli_cpu > have.milli_cpu:
        short.append("Insufficient cpu")
    if want.memory > 0 and used.memory + want.memory > have.memory:
        short.append("Insufficient memory")
    if want.ephemeral_storage > 0 and used.ephemeral_storage + want.ephemeral_storage > have.ephemeral_storage:
        short.append("Insufficient ephemeral-storage")
    for name, amount in want.extended:
        if amount > 0 and _extended(used, name) + amount > _extended(have, name):
            short.append(f"Insufficient {name}")
    return short


# --------------------------------------------------------------------- score


def most_allocated_score(pod: Any, node: Any) -> int:
    """0-100: how full CPU and memory would be with the pod on the node (the mean of the two).

    As kube-scheduler's MostAllocated: a pod that asks for no CPU or memory
    counts as asking for 100m or 200Mi; more than the node has counts as full;
    a resource the node has none of is left out.
    """
    cpu = pod.requests.milli_cpu or DEFAULT_MILLI_CPU
    memory = pod.requests.memory or DEFAULT_MEMORY
    scores = [
        min(requested, allocatable) * MAX_NODE_SCORE // allocatable
        for requested, allocatable in (
            (node.requested.milli_cpu + cpu, node.allocatable.milli_cpu),
            (node.requested.memory + memory, node.allocatable.memory),
        )
        if allocatable > 0
    ]
    return sum(scores) // len(scores) if scores else 0


# -------------------------------------------------------------------- assume


def assume(pod: Any, node: Any) -> None:
    """Counts a placed pod on its node, as the host will once it binds it."""
    want, requested = pod.requests, node.requested
    requested.milli_cpu += want.milli_cpu
    requested.memory += want.memory
    requested.ephemeral_storage += want.ephemeral_storage
    requested.pods += 1
    if want.extended:
        extended = dict(requested.extended)
        for name, amount in want.extended:
            extended[name] = extended.get(name, 0) + amount
        requested.extended = list(extended.items())
    node.used_ports.extend(pod.host_ports)
    anti_affinity = pod.pod_anti_affinity.required if pod.pod_anti_affinity is not None else []
    node.pods.append(PodSummary(pod.namespace, list(pod.labels), pod.owner_uid, list(anti_affinity)))
