"""Every manifest in examples/ goes through `kubectl apply` like on a real cluster:
created, then unchanged on a second apply, then a three-way merge on a modified
third apply that keeps what other writers changed."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from conftest import EXAMPLES, wait_for

# namespace.yaml first: rbac.yaml lives in the namespace it declares.
EXAMPLE_FILES = ["namespace.yaml"] + sorted(
    p.name for p in EXAMPLES.glob("*.yaml") if p.name != "namespace.yaml"
)

# Objects for which real kubectl (client-side apply) reports `configured` on
# every re-apply although nothing changes:
# - a Secret with stringData: the server folds stringData into data, so the
#   three-way diff always finds stringData "missing" (kubernetes#87736).
# - a StatefulSet with volumeClaimTemplates: the list has no merge key and the
#   server defaults fields inside it (volumeMode, status.phase), so the list is
#   always re-sent whole.
# Either way nothing may be written: resourceVersion/generation stay the same.
MAY_REPORT_CONFIGURED = {"statefulset.apps/web"}
MUST_REPORT_CONFIGURED = {"secret/mixed-secret"}


def docs(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def object_ref(doc) -> str:
    """What kubectl prints for an object: kind.group/name (group omitted for core)."""
    group = doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""
    kind = doc["kind"].lower()
    return f"{kind}.{group}/{doc['metadata']['name']}" if group else f"{kind}/{doc['metadata']['name']}"


def expected_refs(filename) -> list[str]:
    return [object_ref(d) for d in docs(EXAMPLES / filename)]


def parse_apply(stdout: str) -> dict[str, str]:
    """`deployment.apps/nginx-deployment created` -> {ref: verb}."""
    result = {}
    for line in stdout.splitlines():
        m = re.fullmatch(r"(\S+/\S+) (created|configured|unchanged)", line.strip())
        assert m, f"unexpected kubectl apply output line: {line!r}"
        result[m.group(1)] = m.group(2)
    return result


# Kinds no controller writes to: a no-op apply must leave their resourceVersion
# alone. Workloads get status writes from controllers at any time, so for them
# metadata.generation (bumped only by spec changes) is compared instead.
NO_CONTROLLER_KINDS = {
    "ConfigMap", "Secret", "Namespace", "ServiceAccount", "Role", "RoleBinding",
    "StorageClass", "NetworkPolicy",
}


def live_objects(skiff, filename) -> list[dict]:
    got = skiff.kubectl_json("get", "-f", EXAMPLES / filename)
    return got["items"] if got.get("kind", "").endswith("List") else [got]


def write_markers(skiff, filename) -> dict[str, str]:
    """Per object, what a real write would change: generation or resourceVersion."""
    markers = {}
    for obj in live_objects(skiff, filename):
        key = f"{obj['kind']}/{obj['metadata']['name']}"
        if "generation" in obj["metadata"] and obj["kind"] not in NO_CONTROLLER_KINDS:
            markers[key] = f"generation={obj['metadata']['generation']}"
        elif obj["kind"] in NO_CONTROLLER_KINDS:
            markers[key] = f"resourceVersion={obj['metadata']['resourceVersion']}"
    return markers


@pytest.fixture(scope="module")
def applied(skiff):
    """First apply of every example, in order; {file: CompletedProcess}."""
    return {name: skiff.kubectl("apply", "-f", EXAMPLES / name, check=False) for name in EXAMPLE_FILES}


def test_examples_directory_is_complete():
    expected = {
        "namespace.yaml", "nginx-deployment.yaml", "nginx-service.yaml", "configmap.yaml",
        "secret.yaml", "job-pi.yaml", "cronjob.yaml", "statefulset.yaml", "daemonset.yaml",
        "storage.yaml", "rbac.yaml", "ingress.yaml", "networkpolicy.yaml",
    }
    assert expected <= set(EXAMPLE_FILES)
    readme = (EXAMPLES / "README.md").read_text()
    for name in expected:
        assert f"`{name}`" in readme, f"examples/README.md does not list {name}"


@pytest.mark.parametrize("filename", EXAMPLE_FILES)
def test_first_apply_creates_every_object(applied, filename):
    proc = applied[filename]
    assert proc.returncode == 0, f"kubectl apply -f {filename} failed:\n{proc.stderr}"
    verbs = parse_apply(proc.stdout)
    assert sorted(verbs) == sorted(expected_refs(filename))
    for ref, verb in verbs.items():
        # `configured` only if a previous run in this same server created it.
        assert verb in ("created", "configured"), f"{ref}: {verb}"


@pytest.mark.parametrize("filename", EXAMPLE_FILES)
def test_second_apply_is_unchanged(skiff, applied, filename):
    before = write_markers(skiff, filename)
    verbs = parse_apply(skiff.kubectl("apply", "-f", EXAMPLES / filename).stdout)
    assert sorted(verbs) == sorted(expected_refs(filename))
    for ref, verb in verbs.items():
        if ref in MUST_REPORT_CONFIGURED:
            assert verb == "configured", f"{ref}: real kubectl reports configured, got {verb}"
        elif ref in MAY_REPORT_CONFIGURED:
            assert verb in ("unchanged", "configured"), f"{ref}: {verb}"
        else:
            assert verb == "unchanged", f"{ref}: {verb}"
    # A no-op apply must not write.
    assert write_markers(skiff, filename) == before


def test_secret_string_data_is_folded_into_data(skiff, applied):
    secret = skiff.kubectl_json("get", "secret", "mixed-secret")
    assert "stringData" not in secret
    assert secret["data"]["foo"] == "cGxhaW4gdHh0"  # base64("plain txt")
    assert secret["data"]["http.key"] == "c2VjcmV0LWtleQ=="
    plain = skiff.kubectl_json("get", "secret", "mysecret")
    assert plain["type"] == "Opaque"
    assert plain["data"] == {"username": "YWRtaW4=", "password": "MWYyZDFlMmU2N2Rm"}


def test_rbac_objects_live_in_the_declared_namespace(skiff, applied):
    out = skiff.kubectl("get", "serviceaccount,role,rolebinding", "-n", "mynamespace", "-o", "name").stdout
    names = set(out.split())
    assert {
        "serviceaccount/example-sa",
        "role.rbac.authorization.k8s.io/example-role",
        "rolebinding.rbac.authorization.k8s.io/example-rolebinding",
    } <= names
    rb = skiff.kubectl_json("get", "rolebinding", "example-rolebinding", "-n", "mynamespace")
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "example-role"}


def test_modified_apply_is_a_three_way_merge(skiff, applied, tmp_path):
    original_file = EXAMPLES / "nginx-deployment.yaml"
    original = docs(original_file)[0]
    name = original["metadata"]["name"]
    try:
        # Other writers touch the live object between applies.
        skiff.kubectl("label", "deployment", name, "owner=ops")
        skiff.kubectl("annotate", "deployment", name, "example.com/note=kept")
        skiff.kubectl("patch", "deployment", name, "--type", "merge", "-p", '{"spec":{"minReadySeconds":7}}')

        modified = copy.deepcopy(original)
        modified["spec"]["replicas"] = 3
        modified["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.9.1"
        del modified["metadata"]["labels"]["tier"]
        path = tmp_path / "nginx-deployment.yaml"
        path.write_text(yaml.safe_dump(modified))

        verbs = parse_apply(skiff.kubectl("apply", "-f", path).stdout)
        assert verbs == {f"deployment.apps/{name}": "configured"}

        live = skiff.kubectl_json("get", "deployment", name)
        meta = live["metadata"]
        # What the new manifest says.
        assert live["spec"]["replicas"] == 3
        containers = live["spec"]["template"]["spec"]["containers"]
        assert [c["name"] for c in containers] == ["nginx"]
        assert containers[0]["image"] == "nginx:1.9.1"
        assert containers[0]["ports"][0]["containerPort"] == 80
        # The label dropped from the manifest is removed ...
        assert "tier" not in meta["labels"]
        assert meta["labels"]["app"] == "nginx"
        # ... while fields set by others survive.
        assert meta["labels"]["owner"] == "ops"
        assert meta["annotations"]["example.com/note"] == "kept"
        assert live["spec"]["minReadySeconds"] == 7
        assert live["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 1}
        last = meta["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
        assert '"replicas":3' in last and "tier" not in last

        # Applying the same modified file again is a no-op.
        verbs = parse_apply(skiff.kubectl("apply", "-f", path).stdout)
        assert verbs == {f"deployment.apps/{name}": "unchanged"}
    finally:
        # Back to the example as written so later applies of it stay `unchanged`.
        skiff.kubectl("apply", "-f", original_file)

    live = skiff.kubectl_json("get", "deployment", name)
    assert live["spec"]["replicas"] == original["spec"]["replicas"]
    assert live["metadata"]["labels"]["tier"] == "frontend"
    assert live["metadata"]["labels"]["owner"] == "ops"


@pytest.mark.parametrize("filename", EXAMPLE_FILES)
def test_get_by_file_lists_the_objects(skiff, applied, filename):
    out = skiff.kubectl("get", "-f", EXAMPLES / filename, "-o", "name").stdout
    assert out.split() == expected_refs(filename)


def test_namespaced_examples_default_to_default_namespace(skiff, applied):
    dep = skiff.kubectl_json("get", "deployment", "nginx-deployment", "-n", "default")
    assert dep["metadata"]["namespace"] == "default"
    assert dep["spec"]["strategy"]["type"] == "RollingUpdate"
    sts = skiff.kubectl_json("get", "statefulset", "web")
    assert sts["spec"]["serviceName"] == "nginx"
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "www"
    svc = skiff.kubectl_json("get", "service", "nginx")
    assert svc["spec"]["clusterIP"] == "None"


def test_delete_by_file_and_reapply(skiff, applied):
    target = EXAMPLES / "configmap.yaml"
    out = skiff.kubectl("delete", "-f", target, "-o", "name").stdout
    assert sorted(out.split()) == sorted(expected_refs("configmap.yaml"))
    wait_for(
        lambda: skiff.kubectl("get", "-f", target, "--ignore-not-found", "-o", "name").stdout.strip() == "",
        what="configmaps from configmap.yaml to be gone",
    )
    verbs = parse_apply(skiff.kubectl("apply", "-f", target).stdout)
    assert set(verbs.values()) == {"created"}
