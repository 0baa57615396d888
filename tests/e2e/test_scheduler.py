"""The scheduler end to end, through the real kubectl: the built-in default
policy (a wasm plugin) places pods on simulated nodes (`skiff dev nodes`);
labels, taints and cordons change where new pods land; an unschedulable pod
says why in `kubectl describe` and is placed as soon as a node fits; the
policy is swapped live, by config and for a Python plugin.

These tests run their own server, so the simulated nodes they register never
pick up the pods of other test modules.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO, own_server, unique, wait_for

PLUGINS_DIR = Path(os.environ.get("SKIFF_PLUGINS_DIR", REPO / "target" / "plugins" / "wasm32-wasip2" / "release"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # Simulated nodes only: no agent registers this machine among them.
    yield from own_server(tmp_path_factory, "skiff-scheduler", "--no-agent")


@pytest.fixture
def ns(cluster):
    name = unique("sched")
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def skiff_cli(server, *args, check=True):
    proc = subprocess.run(
        [str(server.binary), *map(str, args)],
        capture_output=True, text=True, timeout=300, env=server.env(), stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"skiff {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def nodes(server, prefix, count=3, *extra):
    """Registers simulated nodes PREFIX-00000...; each also labelled pool=PREFIX."""
    skiff_cli(server, "dev", "nodes", "--prefix", prefix, "--count", count, "--label", f"pool={prefix}", *extra)
    return [f"{prefix}-{i:05d}" for i in range(count)]


def pod(server, ns, name, pool=None, cpu=None, scheduler=None, tolerate=None, selector=None):
    spec = {"containers": [{"name": "c", "image": "registry.local/app:1"}]}
    node_selector = dict(selector or {})
    if pool:
        node_selector["pool"] = pool
    if node_selector:
        spec["nodeSelector"] = node_selector
    if cpu:
        spec["containers"][0]["resources"] = {"requests": {"cpu": cpu}}
    if scheduler:
        spec["schedulerName"] = scheduler
    if tolerate:
        key, value = tolerate.split("=")
        spec["tolerations"] = [{"key": key, "operator": "Equal", "value": value, "effect": "NoSchedule"}]
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}}, "spec": spec}
    server.kubectl("-n", ns, "create", "-f", "-", input=json.dumps(manifest))


def node_of(server, ns, name):
    return server.kubectl_json("-n", ns, "get", "pod", name)["spec"].get("nodeName")


def bound(server, ns, name, timeout=30):
    return wait_for(lambda: node_of(server, ns, name), timeout=timeout, what=f"pod {name} to be bound")


def scheduled_condition(server, ns, name):
    conditions = server.kubectl_json("-n", ns, "get", "pod", name).get("status", {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == "PodScheduled"), None)


def test_the_default_policy_is_a_builtin_scheduler_plugin(cluster):
    plugin = cluster.kubectl_json("get", "wasmplugin", "default-scheduler")
    assert plugin["spec"]["world"] == "scheduler"
    assert plugin["spec"]["module"] == "builtin:default-scheduler"
    ready = next(c for c in plugin["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True", ready
    resources = cluster.kubectl("api-resources", "--api-group=", "-o", "name").stdout.split()
    assert "pods" in resources


def test_labels_taints_and_cordons_decide_where_pods_land(cluster, ns):
    a, b, c = nodes(cluster, "land")
    # nodeSelector: no node has the label yet, so the pod waits and says why.
    pod(cluster, ns, "wants-ssd", pool="land", selector={"disk": "ssd"})
    cond = wait_for(lambda: scheduled_condition(cluster, ns, "wants-ssd"), what="PodScheduled=False")
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable", cond
    assert "didn't match Pod's node affinity/selector" in cond["message"], cond
    cluster.kubectl("label", "node", b, "disk=ssd")
    assert bound(cluster, ns, "wants-ssd") == b

    # Cordon one node and taint another: an ordinary pod can only go to the third.
    cluster.kubectl("cordon", a)
    cluster.kubectl("taint", "node", c, "dedicated=db:NoSchedule")
    for i in range(3):
        pod(cluster, ns, f"plain-{i}", pool="land", cpu="100m")
        assert bound(cluster, ns, f"plain-{i}") == b
    # Tolerating the taint opens the tainted node, never the cordoned one.
    placed = set()
    for i in range(4):
        pod(cluster, ns, f"tolerant-{i}", pool="land", cpu="100m", tolerate="dedicated=db")
        placed.add(bound(cluster, ns, f"tolerant-{i}"))
    assert a not in placed and c in placed, placed

    # Uncordon and untaint: the emptiest node (a) takes the next pod.
    cluster.kubectl("uncordon", a)
    cluster.kubectl("taint", "node", c, "dedicated=db:NoSchedule-")
    pod(cluster, ns, "after", pool="land", cpu="100m")
    assert bound(cluster, ns, "after") == a


def test_an_unschedulable_pod_says_why_and_is_placed_once_a_node_fits(cluster, ns):
    nodes(cluster, "small", 2, "--cpu", "2")
    pod(cluster, ns, "huge", pool="small", cpu="16")
    message = "0/{n} nodes are available: "

    def failed_event():
        out = cluster.kubectl("-n", ns, "describe", "pod", "huge").stdout
        return out if "FailedScheduling" in out else None

    described = wait_for(failed_event, what="a FailedScheduling event")
    total = len(cluster.kubectl_json("get", "nodes")["items"])
    assert message.format(n=total) in described, described
    assert "2 Insufficient cpu" in described, described
    assert f"{total - 2} node(s) didn't match Pod's node affinity/selector" in described, described
    cond = scheduled_condition(cluster, ns, "huge")
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable", cond

    # A node that fits arrives: the pod is placed there, and says so.
    skiff_cli(cluster, "dev", "nodes", "--prefix", "roomy", "--count", "1", "--cpu", "32", "--label", "pool=small")
    assert bound(cluster, ns, "huge") == "roomy-00000"
    described = cluster.kubectl("-n", ns, "describe", "pod", "huge").stdout
    assert f"Successfully assigned {ns}/huge to roomy-00000" in described, described
    assert scheduled_condition(cluster, ns, "huge")["status"] == "True"


def test_pods_spread_to_emptier_nodes_and_a_live_config_swap_packs_them(cluster, ns):
    spread = nodes(cluster, "spread")
    for i in range(3):
        pod(cluster, ns, f"web-{i}", pool="spread", cpu="100m")
    assert {bound(cluster, ns, f"web-{i}") for i in range(3)} == set(spread)

    # The same built-in policy, reconfigured live to bin-pack.
    packed = nodes(cluster, "packed")
    patch = {"spec": {"config": {"scoringStrategy": "MostAllocated"}}}
    cluster.kubectl("patch", "wasmplugin", "default-scheduler", "--type=merge", "-p", json.dumps(patch))
    try:
        generation = cluster.kubectl_json("get", "wasmplugin", "default-scheduler")["metadata"]["generation"]
        wait_for(
            lambda: cluster.kubectl_json("get", "wasmplugin", "default-scheduler")["status"].get("observedGeneration")
            == generation,
            what="the new config to load",
        )
        for i in range(3):
            pod(cluster, ns, f"db-{i}", pool="packed", cpu="500m")
        placed = {bound(cluster, ns, f"db-{i}") for i in range(3)}
        assert len(placed) == 1 and placed <= set(packed), placed
    finally:
        cluster.kubectl("patch", "wasmplugin", "default-scheduler", "--type=json",
                        "-p", '[{"op": "remove", "path": "/spec/config"}]')


def test_a_python_policy_pushed_live_serves_its_scheduler_name(cluster, ns):
    import plugin_builds

    module = plugin_builds.build_bin_packing_python(REPO / "target" / "plugins" / "examples")
    pool = nodes(cluster, "py")
    out = skiff_cli(cluster, "plugin", "push", "bin-packing", module, "--world", "scheduler",
                    "--scheduler-name", "bin-packing").stdout
    assert "revision 1 active" in out, out
    try:
        for i in range(3):
            pod(cluster, ns, f"packed-{i}", pool="py", cpu="200m", scheduler="bin-packing")
        placed = {bound(cluster, ns, f"packed-{i}", timeout=60) for i in range(3)}
        assert len(placed) == 1 and placed <= set(pool), placed
        events = cluster.kubectl("-n", ns, "get", "events", "--field-selector", "involvedObject.name=packed-0",
                                 "-o", "json").stdout
        assert any(e["source"].get("component") == "bin-packing" and e["reason"] == "Scheduled"
                   for e in json.loads(events)["items"]), events
        # Pods for a scheduler nobody serves wait; they are not the default scheduler's.
        pod(cluster, ns, "orphan", pool="py", scheduler="nobody")
        assert node_of(cluster, ns, "orphan") is None
    finally:
        cluster.kubectl("delete", "wasmplugin", "bin-packing", "--ignore-not-found")


def test_a_module_of_another_world_is_refused_with_the_reason(cluster):
    name = unique("not-a-scheduler")
    out = skiff_cli(cluster, "plugin", "push", name, PLUGINS_DIR / "chaos.wasm", "--world", "scheduler",
                    check=False)
    try:
        assert out.returncode != 0
        assert "does not export the scheduler interface" in out.stderr, out.stderr
        status = cluster.kubectl_json("get", "wasmplugin", name)["status"]
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "False" and ready["reason"] == "LoadFailed", ready
    finally:
        cluster.kubectl("delete", "wasmplugin", name, "--ignore-not-found")


def test_the_binding_subresource(cluster, ns):
    nodes(cluster, "bind", 1)
    pod(cluster, ns, "manual", pool="bind", scheduler="manual")
    conn = cluster.conn

    def post(body):
        req = urllib.request.Request(
            f"{conn.server}/api/v1/namespaces/{ns}/pods/manual/binding",
            data=json.dumps(body).encode(), method="POST",
            headers={**conn.headers(), "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, context=conn.ssl_context(), timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "manual"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "bind-00000"}}
    code, body = post({**binding, "metadata": {"name": "other"}})
    assert code == 400, body
    code, body = post(binding)
    assert code == 201 and body["status"] == "Success", body
    assert node_of(cluster, ns, "manual") == "bind-00000"
    assert scheduled_condition(cluster, ns, "manual")["status"] == "True"
    code, body = post(binding)
    assert code == 409 and "already assigned to node" in body["message"], body


def test_scheduler_metrics(cluster, ns):
    nodes(cluster, "metrics", 1)
    pod(cluster, ns, "counted", pool="metrics")
    bound(cluster, ns, "counted")
    conn = cluster.conn
    req = urllib.request.Request(f"{conn.server}/metrics", headers=conn.headers())
    with urllib.request.urlopen(req, context=conn.ssl_context(), timeout=30) as resp:
        text = resp.read().decode()
    assert 'scheduler_schedule_attempts_total{profile="default-scheduler",result="scheduled"}' in text
    assert "scheduler_pending_pods" in text
    assert 'skiff_plugin_calls_total{plugin="default-scheduler",world="scheduler",result="ok"}' in text
