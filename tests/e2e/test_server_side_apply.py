"""Server-side apply (application/apply-patch+yaml) with the real kubectl and
the Python client, asserting what kube-apiserver does: managedFields per
manager and operation, conflicts between managers in Kubernetes' words,
--force-conflicts, removal of fields a manager stops applying, the
kubectl scale manager, the client-side → server-side migration, kubectl
diff, list-map keys of a custom resource, and the Python client's apply."""

from __future__ import annotations

import json
import textwrap
import urllib.request

import pytest
import yaml
from kubernetes import client, config, dynamic
from kubernetes.client.rest import ApiException

from conftest import unique, wait_for

IMAGE = "127.0.0.1:5000/e2e/nginx:1.25"
IMAGE2 = "127.0.0.1:5000/e2e/nginx:1.27"

GROUP = "ssa.e2e.skiff.dev"
PLURAL = "routes"
KIND = "Route"
CRD_NAME = f"{PLURAL}.{GROUP}"
RESOURCE = f"{PLURAL}.{GROUP}"


def apply(k, manifest: str, *flags, check=True):
    return k("apply", "--server-side", *flags, "-f", "-", input=manifest, check=check)


def configmap(name: str, **data) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})


def deployment(name: str, replicas=None, image=IMAGE, env=None) -> str:
    container = {"name": "app", "image": image}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    spec = {
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return yaml.safe_dump({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec})


def managers(obj: dict) -> dict:
    """managedFields as {(manager, operation, subresource): entry}."""
    return {(m["manager"], m["operation"], m.get("subresource", "")): m
            for m in obj["metadata"].get("managedFields", [])}


# --------------------------------------------------------------------------- create and update


def test_apply_creates_and_updates_a_configmap(k, kj):
    name = unique("cm")
    out = apply(k, configmap(name, a="1", b="2")).stdout
    assert out.strip() == f"configmap/{name} serverside-applied"
    obj = kj("get", "configmap", name)
    assert obj["data"] == {"a": "1", "b": "2"}
    rv = obj["metadata"]["resourceVersion"]

    out = apply(k, configmap(name, a="1", b="3")).stdout
    assert out.strip() == f"configmap/{name} serverside-applied"
    obj = kj("get", "configmap", name)
    assert obj["data"] == {"a": "1", "b": "3"}
    assert obj["metadata"]["resourceVersion"] != rv

    # The same configuration again changes nothing, not even the resourceVersion.
    rv = obj["metadata"]["resourceVersion"]
    apply(k, configmap(name, a="1", b="3"))
    assert kj("get", "configmap", name)["metadata"]["resourceVersion"] == rv


def test_managed_fields_are_shown_and_recorded(k, kj):
    name = unique("mf")
    apply(k, configmap(name, a="1"))
    # kubectl hides managedFields unless asked.
    assert "managedFields" not in kj("get", "configmap", name)["metadata"]
    obj = kj("get", "configmap", name, "--show-managed-fields")
    entries = obj["metadata"]["managedFields"]
    assert len(entries) == 1, entries
    entry = entries[0]
    assert entry["manager"] == "kubectl" and entry["operation"] == "Apply"
    assert entry["apiVersion"] == "v1" and entry["fieldsType"] == "FieldsV1"
    assert entry["time"]
    assert entry["fieldsV1"] == {"f:data": {"f:a": {}}}

    # An ordinary update is recorded as an Update by its own manager.
    k("label", "configmap", name, "team=blue")
    obj = kj("get", "configmap", name, "--show-managed-fields")
    by = managers(obj)
    assert ("kubectl", "Apply", "") in by
    label = by[("kubectl-label", "Update", "")]
    assert label["fieldsV1"] == {"f:metadata": {"f:labels": {".": {}, "f:team": {}}}}, label
    assert by[("kubectl", "Apply", "")]["fieldsV1"] == {"f:data": {"f:a": {}}}

    # The YAML view shows the same entries.
    yaml_out = k("get", "configmap", name, "-o", "yaml", "--show-managed-fields").stdout
    assert "manager: kubectl" in yaml_out and "operation: Apply" in yaml_out and "fieldsV1:" in yaml_out


def test_apply_creates_and_updates_a_deployment(k, kj):
    name = unique("dep")
    out = apply(k, deployment(name, replicas=2, env={"MODE": "a"})).stdout
    assert out.strip() == f"deployment.apps/{name} serverside-applied"
    obj = kj("get", "deployment", name, "--show-managed-fields")
    assert obj["spec"]["replicas"] == 2
    # Defaults are filled in, but belong to no manager.
    assert obj["spec"]["strategy"]["type"] == "RollingUpdate"
    fields = managers(obj)[("kubectl", "Apply", "")]["fieldsV1"]
    containers = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]
    # Containers are a list map keyed by name.
    assert list(containers) == ['k:{"name":"app"}'], containers
    assert 'f:strategy' not in fields["f:spec"]
    assert obj["metadata"]["generation"] == 1

    apply(k, deployment(name, replicas=2, image=IMAGE2, env={"MODE": "a"}))
    obj = kj("get", "deployment", name)
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE2
    assert obj["metadata"]["generation"] == 2


# --------------------------------------------------------------------------- ownership


def test_conflict_between_two_managers_and_force(k, kj):
    name = unique("owned")
    apply(k, configmap(name, key="one"), "--field-manager=a")
    conflict = apply(k, configmap(name, key="two"), "--field-manager=b", check=False)
    assert conflict.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "a": .data.key' in conflict.stderr, conflict.stderr
    assert kj("get", "configmap", name)["data"] == {"key": "one"}

    # Applying the same value is shared ownership, not a conflict.
    apply(k, configmap(name, key="one"), "--field-manager=b")
    by = managers(kj("get", "configmap", name, "--show-managed-fields"))
    assert by[("a", "Apply", "")]["fieldsV1"] == {"f:data": {"f:key": {}}}
    assert by[("b", "Apply", "")]["fieldsV1"] == {"f:data": {"f:key": {}}}

    third = apply(k, configmap(name, key="three"), "--field-manager=c", check=False)
    assert third.returncode != 0
    assert "Apply failed with 2 conflicts" in third.stderr, third.stderr
    assert 'conflicts with "a"' in third.stderr and 'conflicts with "b"' in third.stderr

    apply(k, configmap(name, key="three"), "--field-manager=c", "--force-conflicts")
    obj = kj("get", "configmap", name, "--show-managed-fields")
    assert obj["data"] == {"key": "three"}
    by = managers(obj)
    # Forcing takes the field from the others; a manager left with nothing is dropped.
    assert by[("c", "Apply", "")]["fieldsV1"] == {"f:data": {"f:key": {}}}
    assert ("a", "Apply", "") not in by and ("b", "Apply", "") not in by, list(by)


def test_conflict_status_from_the_api(skiff, namespace):
    name = unique("raw")
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(skiff.kubeconfig), client_configuration=cfg)
    with client.ApiClient(cfg) as api_client:
        core = client.CoreV1Api(api_client)
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "1"}}
        core.patch_namespaced_config_map(name, namespace, body, field_manager="first",
                                         _content_type="application/apply-patch+yaml")
        body["data"]["k"] = "2"
        with pytest.raises(ApiException) as raised:
            core.patch_namespaced_config_map(name, namespace, body, field_manager="second",
                                             _content_type="application/apply-patch+yaml")
        assert raised.value.status == 409
        status = json.loads(raised.value.body)
        assert status["kind"] == "Status" and status["reason"] == "Conflict" and status["code"] == 409
        assert status["message"] == 'Apply failed with 1 conflict: conflict with "first": .data.k'
        assert status["details"]["causes"] == [
            {"reason": "FieldManagerConflict", "message": 'conflict with "first"', "field": ".data.k"}]

        # Apply needs a field manager: the PatchOptions are invalid without one.
        with pytest.raises(ApiException) as no_manager:
            core.patch_namespaced_config_map(name, namespace, body, _content_type="application/apply-patch+yaml")
        assert no_manager.value.status == 422
        invalid = json.loads(no_manager.value.body)
        assert invalid["reason"] == "Invalid", invalid
        assert "fieldManager: Required value: is required for apply patch" in invalid["message"], invalid

        forced = core.patch_namespaced_config_map(name, namespace, body, field_manager="second", force=True,
                                                  _content_type="application/apply-patch+yaml")
        assert forced.data == {"k": "2"}


def test_a_field_no_longer_applied_is_removed(k, kj):
    name = unique("prune")
    apply(k, configmap(name, keep="1", drop="2"))
    apply(k, configmap(name, keep="1"))
    assert kj("get", "configmap", name)["data"] == {"keep": "1"}

    dep = unique("prune-dep")
    apply(k, deployment(dep, replicas=1, env={"A": "1", "B": "2"}))
    apply(k, deployment(dep, replicas=1, env={"A": "1"}))
    env = kj("get", "deployment", dep)["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "A", "value": "1"}]

    # A field another manager also owns stays when one of them lets go.
    # (Keys like `y` would read as booleans in YAML 1.1: plain words here.)
    shared = unique("shared")
    apply(k, configmap(shared, first="1", second="2"), "--field-manager=one")
    apply(k, configmap(shared, first="1"), "--field-manager=two")
    apply(k, configmap(shared, second="2"), "--field-manager=one")
    assert kj("get", "configmap", shared)["data"] == {"first": "1", "second": "2"}


def test_kubectl_scale_takes_replicas_and_a_reapply_conflicts(k, kj):
    name = unique("scaled")
    apply(k, deployment(name, replicas=2))
    k("scale", "deployment", name, "--replicas=4")
    obj = kj("get", "deployment", name, "--show-managed-fields")
    assert obj["spec"]["replicas"] == 4
    # kubectl scale names no field manager (it has no --field-manager flag), so the
    # server takes the name from its user agent: "kubectl", an Update of the scale
    # subresource, recorded in the parent's apiVersion.
    scale_entry = managers(obj)[("kubectl", "Update", "scale")]
    assert scale_entry["apiVersion"] == "apps/v1"
    assert scale_entry["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    # The scale took spec.replicas away from the applier.
    assert "f:replicas" not in managers(obj)[("kubectl", "Apply", "")]["fieldsV1"]["f:spec"]

    # Re-applying another count conflicts with kubectl scale ...
    conflict = apply(k, deployment(name, replicas=3), check=False)
    assert conflict.returncode != 0
    assert 'conflict with "kubectl" with subresource "scale" using apps/v1' in conflict.stderr, conflict.stderr
    assert ".spec.replicas" in conflict.stderr
    assert kj("get", "deployment", name)["spec"]["replicas"] == 4
    # ... an apply that leaves replicas out does not, and keeps the scaled count ...
    apply(k, deployment(name, image=IMAGE2))
    obj = kj("get", "deployment", name)
    assert obj["spec"]["replicas"] == 4 and obj["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE2
    # ... and forcing takes it back.
    apply(k, deployment(name, replicas=3), "--force-conflicts")
    assert kj("get", "deployment", name)["spec"]["replicas"] == 3


def test_client_side_apply_then_server_side_migrates_without_conflict(k, kj):
    name = unique("migrate")
    k("apply", "-f", "-", input=configmap(name, a="1", b="2"))
    obj = kj("get", "configmap", name, "--show-managed-fields")
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]
    assert ("kubectl-client-side-apply", "Update", "") in managers(obj)

    # A changed value applied server-side: kubectl moves the client-side
    # manager's fields to its own before applying, so nothing conflicts.
    out = apply(k, configmap(name, a="1", b="3"))
    assert out.returncode == 0, out.stderr
    obj = kj("get", "configmap", name, "--show-managed-fields")
    assert obj["data"] == {"a": "1", "b": "3"}
    by = managers(obj)
    assert ("kubectl-client-side-apply", "Update", "") not in by, list(by)
    assert set(by[("kubectl", "Apply", "")]["fieldsV1"]["f:data"]) == {"f:a", "f:b"}
    # From now on the server-side applier owns what it applied: a dropped key goes.
    apply(k, configmap(name, a="1"))
    assert kj("get", "configmap", name)["data"] == {"a": "1"}


# --------------------------------------------------------------------------- kubectl diff


@pytest.mark.parametrize("server_side", [False, True], ids=["client-side", "server-side"])
def test_kubectl_diff(k, kj, tmp_path, server_side):
    name = unique("diff")
    manifest = tmp_path / "cm.yaml"
    flags = ["--server-side"] if server_side else []
    manifest.write_text(configmap(name, color="blue"))
    if server_side:
        k("apply", "--server-side", "-f", manifest)
    else:
        k("apply", "-f", manifest)
    rv = kj("get", "configmap", name)["metadata"]["resourceVersion"]

    same = k("diff", *flags, "-f", manifest, check=False)
    assert same.returncode == 0, same.stdout + same.stderr
    assert same.stdout == ""

    manifest.write_text(configmap(name, color="green"))
    changed = k("diff", *flags, "-f", manifest, check=False)
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert "-  color: blue" in changed.stdout and "+  color: green" in changed.stdout, changed.stdout
    # A diff is a dry run: nothing changed.
    obj = kj("get", "configmap", name)
    assert obj["data"] == {"color": "blue"} and obj["metadata"]["resourceVersion"] == rv

    new = tmp_path / "new.yaml"
    new.write_text(configmap(unique("diffnew"), color="red"))
    created = k("diff", *flags, "-f", new, check=False)
    assert created.returncode == 1 and "+  color: red" in created.stdout, created.stdout


# --------------------------------------------------------------------------- custom objects


ROUTE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": CRD_NAME},
    "spec": {
        "group": GROUP, "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "route", "kind": KIND},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": {
                "host": {"type": "string"},
                "backends": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name", "port"],
                    "items": {"type": "object", "required": ["name", "port"], "properties": {
                        "name": {"type": "string"}, "port": {"type": "integer"}, "weight": {"type": "integer"}}},
                },
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "rules": {"type": "array", "x-kubernetes-list-type": "atomic", "items": {"type": "string"}},
            }}}}}}],
    },
}


@pytest.fixture(scope="module")
def route_crd(skiff):
    skiff.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(ROUTE_CRD))
    skiff.kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=30s", timeout=45)
    wait_for(lambda: skiff.kubectl("get", RESOURCE, "-A", check=False).returncode == 0, timeout=30,
             what=f"{RESOURCE} to be served")
    yield
    skiff.kubectl("delete", "crd", CRD_NAME, "--ignore-not-found", "--wait=false", check=False)


def route(name, backends=None, tags=None, rules=None, host=None) -> str:
    spec = {}
    if host is not None:
        spec["host"] = host
    if backends is not None:
        spec["backends"] = backends
    if tags is not None:
        spec["tags"] = tags
    if rules is not None:
        spec["rules"] = rules
    return yaml.safe_dump({"apiVersion": f"{GROUP}/v1", "kind": KIND, "metadata": {"name": name}, "spec": spec})


def test_apply_custom_object_merges_list_maps_by_their_keys(k, kj, route_crd):
    name = unique("route")
    apply(k, route(name, host="a.example.com",
                   backends=[{"name": "web", "port": 80, "weight": 1}],
                   tags=["blue"], rules=["r1"]), "--field-manager=team-a")
    # Another manager adds its own backend (same name, other port: another key),
    # its own tag, and its own atomic list value.
    apply(k, route(name, backends=[{"name": "web", "port": 8080, "weight": 5}], tags=["green"]),
          "--field-manager=team-b")
    spec = kj("get", RESOURCE, name)["spec"]
    assert spec["host"] == "a.example.com"
    assert sorted((b["name"], b["port"], b["weight"]) for b in spec["backends"]) == [("web", 80, 1), ("web", 8080, 5)]
    assert sorted(spec["tags"]) == ["blue", "green"]
    assert spec["rules"] == ["r1"]

    obj = kj("get", RESOURCE, name, "--show-managed-fields")
    b_fields = managers(obj)[("team-b", "Apply", "")]["fieldsV1"]["f:spec"]
    assert 'k:{"name":"web","port":8080}' in b_fields["f:backends"], b_fields
    assert 'v:"green"' in b_fields["f:tags"], b_fields

    # An atomic list is owned whole: a different value from another manager conflicts.
    conflict = apply(k, route(name, rules=["r2"]), "--field-manager=team-b", check=False)
    assert conflict.returncode != 0
    assert 'conflict with "team-a": .spec.rules' in conflict.stderr, conflict.stderr

    # team-a stops applying its backend: only that entry goes.
    apply(k, route(name, host="a.example.com", tags=["blue"], rules=["r1"]), "--field-manager=team-a")
    spec = kj("get", RESOURCE, name)["spec"]
    assert spec["backends"] == [{"name": "web", "port": 8080, "weight": 5}]
    assert sorted(spec["tags"]) == ["blue", "green"]

    out = k("apply", "--server-side", "--field-manager=team-a", "--dry-run=server", "-f", "-",
            input=route(name, host="b.example.com", tags=["blue"], rules=["r1"])).stdout
    assert "(server dry run)" in out
    assert kj("get", RESOURCE, name)["spec"]["host"] == "a.example.com"


# --------------------------------------------------------------------------- the Python client


def test_python_client_server_side_apply(skiff, namespace):
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(skiff.kubeconfig), client_configuration=cfg)
    with client.ApiClient(cfg) as api_client:
        dyn = dynamic.DynamicClient(api_client)
        configmaps = dyn.resources.get(api_version="v1", kind="ConfigMap")
        name = unique("dyn")
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
                "data": {"x": "1"}}
        created = dyn.server_side_apply(configmaps, body=body, field_manager="python-e2e")
        assert created.metadata.name == name and created.data.x == "1"
        body["data"] = {"y": "2"}
        updated = dyn.server_side_apply(configmaps, body=body, field_manager="python-e2e")
        # x was applied by this manager before and is not any more: removed.
        assert updated.data.to_dict() == {"y": "2"}
        entries = [m for m in updated.metadata.managedFields if m.manager == "python-e2e"]
        assert len(entries) == 1 and entries[0].operation == "Apply"

        # Typed API with the apply content type: a Deployment.
        apps = client.AppsV1Api(api_client)
        dep = unique("pydep")
        manifest = yaml.safe_load(deployment(dep, replicas=1))
        applied = apps.patch_namespaced_deployment(dep, namespace, manifest, field_manager="python-e2e",
                                                   _content_type="application/apply-patch+yaml")
        assert applied.spec.replicas == 1
        assert any(m.manager == "python-e2e" and m.operation == "Apply" for m in applied.metadata.managed_fields)
        manifest["spec"]["replicas"] = 2
        with pytest.raises(ApiException) as conflict:
            apps.patch_namespaced_deployment(dep, namespace, manifest, field_manager="someone-else",
                                             _content_type="application/apply-patch+yaml")
        assert conflict.value.status == 409
        forced = apps.patch_namespaced_deployment(dep, namespace, manifest, field_manager="someone-else",
                                                  force=True, _content_type="application/apply-patch+yaml")
        assert forced.spec.replicas == 2


def test_apply_yaml_body_is_accepted_as_yaml(skiff, namespace):
    """The apply body is YAML, not only JSON."""
    name = unique("yamlbody")
    body = textwrap.dedent(f"""\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {name}
        data:
          greeting: hello   # a comment, which JSON could not carry
        """).encode()
    conn = skiff.conn
    req = urllib.request.Request(
        f"{conn.server}/api/v1/namespaces/{namespace}/configmaps/{name}?fieldManager=raw-yaml",
        data=body, method="PATCH",
        headers={**conn.headers(), "Content-Type": "application/apply-patch+yaml", "Accept": "application/json"})
    with urllib.request.urlopen(req, context=conn.ssl_context(), timeout=30) as resp:
        assert resp.status == 201
        obj = json.loads(resp.read())
    assert obj["data"] == {"greeting": "hello"}
    assert obj["metadata"]["managedFields"][0]["manager"] == "raw-yaml"
