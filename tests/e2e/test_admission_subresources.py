"""Admission on subresources and on the server's own writes, as Kubernetes
matches webhook rules: a test plugin (plugins/testing/scale-limit) registered
for `deployments/scale` (and `deployments`) denies `kubectl scale` above a
limit, and registered as a mutating plugin for `pods/binding` it annotates
bindings — those the test posts and those the scheduler makes itself — and
the server copies a binding's annotations onto the pod, as kube-apiserver does.

The module runs a server of its own without a node agent, so the simulated
node its pods are bound to never draws the session's other pods."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from conftest import REPO, own_server, unique, wait_for

PLUGINS_DIR = Path(os.environ.get("SKIFF_PLUGINS_DIR", REPO / "target" / "plugins" / "wasm32-wasip2" / "release"))
SCALE_LIMIT = PLUGINS_DIR / "scale_limit.wasm"
MAX_REPLICAS = 3
BOUND_BY_TEST = "skiff.dev/bound-by-test"
IMAGE = "127.0.0.1:5000/e2e/busybox:1.36"
NODE_PREFIX = "admsub"
NODE = f"{NODE_PREFIX}-00000"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not SCALE_LIMIT.exists():
        pytest.fail(f"{SCALE_LIMIT} is not built: cargo build --release --target wasm32-wasip2 "
                    "--manifest-path plugins/Cargo.toml --target-dir target/plugins (tests/run does)", pytrace=False)
    yield from own_server(tmp_path_factory, "skiff-admission-sub", "--no-agent")


def skiff_cli(server, *args, check=True):
    proc = subprocess.run([str(server.binary), *map(str, args)], capture_output=True, text=True, timeout=300,
                          env=server.env(), stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"skiff {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def node(cluster):
    skiff_cli(cluster, "dev", "nodes", "--prefix", NODE_PREFIX, "--count", "1", "--label", f"pool={NODE_PREFIX}")
    return NODE


@pytest.fixture
def lab(cluster):
    """A namespace labelled for this test; the plugins act only there."""
    ns = unique("admsub")
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("label", "namespace", ns, f"admission-sub={ns}")
    pushed: list[str] = []
    yield ns, pushed
    for name in pushed:
        cluster.kubectl("delete", "wasmplugin", name, "--ignore-not-found", check=False)
    cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def push(cluster, lab, name, *extra):
    ns, pushed = lab
    pushed.append(name)
    skiff_cli(cluster, "plugin", "push", name, SCALE_LIMIT, "--namespace-selector", f"admission-sub={ns}",
              "--config", json.dumps({"maxReplicas": MAX_REPLICAS}), *extra)


def deployment(name, replicas):
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"schedulerName": "e2e-nobody", "containers": [{"name": "c", "image": IMAGE}]}},
        },
    })


def test_the_plugins_rules_name_subresources_as_kubernetes_does(cluster, lab):
    push(cluster, lab, "scale-limit", "--resources", "deployments.apps,deployments.apps/scale",
         "--operations", "CREATE,UPDATE")
    spec = cluster.kubectl_json("get", "wasmplugin", "scale-limit")["spec"]["admission"]
    resources = sorted(r for rule in spec["resources"] for r in rule["resources"])
    assert resources == ["deployments", "deployments/scale"], spec
    assert all(rule["apiGroups"] == ["apps"] for rule in spec["resources"]), spec


def test_scale_above_the_limit_is_denied(cluster, lab):
    ns, _ = lab
    push(cluster, lab, "scale-limit", "--resources", "deployments.apps,deployments.apps/scale",
         "--operations", "CREATE,UPDATE")
    k = lambda *a, **kw: cluster.kubectl("-n", ns, *a, **kw)  # noqa: E731
    name = unique("web")
    k("create", "-f", "-", input=deployment(name, 1))

    # Up to the limit through /scale: allowed.
    assert k("scale", "deployment", name, f"--replicas={MAX_REPLICAS}").stdout.strip() == \
        f"deployment.apps/{name} scaled"
    assert k("get", "deployment", name, "-o", "jsonpath={.spec.replicas}").stdout == str(MAX_REPLICAS)

    # Above it: denied by the plugin, through the scale subresource.
    denied = k("scale", "deployment", name, f"--replicas={MAX_REPLICAS + 1}", check=False)
    assert denied.returncode != 0
    assert "(Forbidden)" in denied.stderr, denied.stderr
    assert (f'admission plugin "scale-limit" denied the request: deployments/scale {ns}/{name}: '
            f"spec.replicas {MAX_REPLICAS + 1} is above the limit of {MAX_REPLICAS}") in denied.stderr, denied.stderr
    assert k("get", "deployment", name, "-o", "jsonpath={.spec.replicas}").stdout == str(MAX_REPLICAS)

    # The same limit on the deployment itself (patch and create).
    patched = k("patch", "deployment", name, "--type=merge", "-p", json.dumps({"spec": {"replicas": 5}}), check=False)
    assert patched.returncode != 0
    assert f'denied the request: deployments {ns}/{name}: spec.replicas 5 is above the limit' in patched.stderr, \
        patched.stderr
    too_big = unique("big")
    created = k("create", "-f", "-", input=deployment(too_big, 9), check=False)
    assert created.returncode != 0 and "spec.replicas 9 is above the limit" in created.stderr, created.stderr

    # The Python client's scale calls meet the same admission.
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=cfg)
    with client.ApiClient(cfg) as api_client:
        apps = client.AppsV1Api(api_client)
        with pytest.raises(ApiException) as refused:
            apps.patch_namespaced_deployment_scale(name, ns, {"spec": {"replicas": 7}})
        assert refused.value.status == 403
        body = json.loads(refused.value.body)
        assert body["reason"] == "Forbidden" and "spec.replicas 7 is above the limit" in body["message"], body
        scale = apps.replace_namespaced_deployment_scale(
            name, ns, client.V1Scale(metadata=client.V1ObjectMeta(name=name, namespace=ns),
                                     spec=client.V1ScaleSpec(replicas=2)))
        assert scale.spec.replicas == 2

    # Within the limit is allowed, and other namespaces are not selected.
    k("scale", "deployment", name, "--replicas=0")
    other = unique("free")
    cluster.kubectl("create", "namespace", other)
    try:
        cluster.kubectl("-n", other, "create", "-f", "-", input=deployment(name, 1))
        cluster.kubectl("-n", other, "scale", "deployment", name, "--replicas=10")
    finally:
        cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


def post_binding(cluster, ns, pod, node_name, annotations=None):
    conn = cluster.conn
    metadata = {"name": pod}
    if annotations:
        metadata["annotations"] = annotations
    body = {"apiVersion": "v1", "kind": "Binding", "metadata": metadata,
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}}
    req = urllib.request.Request(
        f"{conn.server}/api/v1/namespaces/{ns}/pods/{pod}/binding", data=json.dumps(body).encode(), method="POST",
        headers={**conn.headers(), "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=conn.ssl_context(), timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def create_pod(cluster, ns, name, scheduler=None):
    spec = {"containers": [{"name": "c", "image": IMAGE}], "nodeSelector": {"pool": NODE_PREFIX}}
    if scheduler:
        spec["schedulerName"] = scheduler
    cluster.kubectl("-n", ns, "create", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}))


def pod_of(cluster, ns, name):
    return cluster.kubectl_json("-n", ns, "get", "pod", name)


def test_binding_mutation_reaches_the_pod(cluster, lab, node):
    ns, _ = lab
    push(cluster, lab, "bind-marker", "--type", "Mutating", "--resources", "pods/binding", "--operations", "CREATE")

    # A binding the client posts: the plugin's annotation joins the client's own.
    manual = unique("manual")
    create_pod(cluster, ns, manual, scheduler="manual")
    code, body = post_binding(cluster, ns, manual, node, annotations={"example.com/by": "test"})
    assert code == 201 and body["status"] == "Success", body
    pod = pod_of(cluster, ns, manual)
    assert pod["spec"]["nodeName"] == node
    annotations = pod["metadata"].get("annotations", {})
    assert annotations.get(BOUND_BY_TEST) == "yes", pod["metadata"]
    assert annotations.get("example.com/by") == "test", pod["metadata"]

    # A binding the server's scheduler makes: admission runs on the server's own writes too.
    auto = unique("auto")
    create_pod(cluster, ns, auto)
    pod = wait_for(lambda: (lambda p: p if p["spec"].get("nodeName") else None)(pod_of(cluster, ns, auto)),
                   timeout=30, what="the scheduler to bind the pod")
    assert pod["spec"]["nodeName"] == node
    assert pod["metadata"].get("annotations", {}).get(BOUND_BY_TEST) == "yes", pod["metadata"]

    # Pods in namespaces the plugin does not select are bound without the mark.
    other = unique("free")
    cluster.kubectl("create", "namespace", other)
    try:
        create_pod(cluster, other, auto)
        pod = wait_for(lambda: (lambda p: p if p["spec"].get("nodeName") else None)(pod_of(cluster, other, auto)),
                       timeout=30, what="the scheduler to bind the unselected pod")
        assert BOUND_BY_TEST not in pod["metadata"].get("annotations", {}), pod["metadata"]
    finally:
        cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


def test_a_binding_plugin_can_deny_and_the_pod_stays_unbound(cluster, lab, node):
    """A validating registration on pods/binding sees the Binding (its target
    node); when it denies, nothing is bound."""
    ns, pushed = lab
    pushed.append("deny-binding")
    skiff_cli(cluster, "plugin", "push", "deny-binding", SCALE_LIMIT, "--namespace-selector", f"admission-sub={ns}",
              "--config", json.dumps({"maxReplicas": MAX_REPLICAS, "denyBindingsTo": node}),
              "--resources", "pods/binding", "--operations", "CREATE")
    name = unique("held")
    create_pod(cluster, ns, name, scheduler="manual")
    code, body = post_binding(cluster, ns, name, node)
    assert code == 403, body
    assert body["reason"] == "Forbidden"
    assert (f'admission plugin "deny-binding" denied the request: pods/binding {ns}/{name}: '
            f"binding to node {node} is not allowed") in body["message"], body
    assert not pod_of(cluster, ns, name)["spec"].get("nodeName")
    # A binding to another node is let through.
    code, body = post_binding(cluster, ns, name, "elsewhere")
    assert code == 201, body
    assert pod_of(cluster, ns, name)["spec"]["nodeName"] == "elsewhere"
