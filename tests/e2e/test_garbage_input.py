"""Garbage in, a 4xx Status out: whatever shape a body or patch has, no
resource answers 5xx and the server keeps serving."""

from __future__ import annotations

import copy
import json
import random

import pytest
import requests
import yaml

from conftest import REPO, unique

TIMEOUT = 30
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
WRONG_VALUES = [None, 0, -1, 1.5, True, "", "x", [], {}, [1, "a"], {"a": {"b": []}}, "9" * 400]


@pytest.fixture(scope="module")
def http(skiff):
    conn = skiff.conn
    session = requests.Session()
    session.headers.update(conn.headers())

    def call(method, path, **kw):
        kw.setdefault("timeout", TIMEOUT)
        kw.setdefault("verify", str(conn.ca_file))
        return session.request(method, conn.server + path, **kw)

    yield call
    session.close()


def resource_paths(http, namespace):
    """(collection path, namespaced) for every resource discovery lists."""
    out = []
    for prefix in ["/api/v1"] + [f"/apis/{gv}" for gv in group_versions(http)]:
        for r in http("GET", prefix).json()["resources"]:
            if "/" in r["name"]:
                continue
            base = f"{prefix}/namespaces/{namespace}/{r['name']}" if r["namespaced"] else f"{prefix}/{r['name']}"
            out.append((base, r["kind"], prefix[len("/apis/"):] if prefix.startswith("/apis/") else "v1"))
    return out


def group_versions(http):
    return [g["preferredVersion"]["groupVersion"] for g in http("GET", "/apis").json()["groups"]]


def leaves(obj, path=()):
    """Every (path, value) below obj, containers included."""
    yield path, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from leaves(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from leaves(v, path + (i,))


def replaced(obj, path, value):
    out = copy.deepcopy(obj)
    target = out
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    return out


def assert_client_error(resp, what):
    assert resp.status_code < 500, f"{what}: {resp.status_code} {resp.text[:500]}"
    if resp.status_code >= 400:
        body = resp.json()
        assert body.get("kind") == "Status" and body.get("message"), f"{what}: {resp.text[:500]}"


def test_shapeless_bodies_get_client_errors_everywhere(http, namespace):
    bodies = ["[]", '"x"', "5", "null", "{", '{"metadata": "x"}', '{"metadata": {"name": 5}}',
              '{"metadata": {"name": "a", "labels": []}}', '{"metadata": {"name": "a"}, "spec": []}',
              '{"metadata": {"name": "a"}, "spec": {"x": {"y": []}}, "status": 7}', "\u0000\u00ff"]
    for path, kind, _ in resource_paths(http, namespace):
        for body in bodies:
            resp = http("POST", path, data=body.encode("utf-8", "surrogatepass"),
                        headers={"Content-Type": "application/json"})
            assert_client_error(resp, f"POST {path} {body!r}")
    assert http("GET", "/readyz").text == "ok"


@pytest.mark.parametrize("manifest", EXAMPLES, ids=lambda p: p.stem)
def test_examples_with_wrong_types_get_client_errors(http, namespace, manifest):
    rng = random.Random(manifest.stem)
    paths = {kind: (path, gv) for path, kind, gv in resource_paths(http, namespace)}
    for doc in yaml.safe_load_all(manifest.read_text()):
        if not doc or doc["kind"] not in paths:
            continue
        path, _ = paths[doc["kind"]]
        doc = copy.deepcopy(doc)
        doc["metadata"].pop("namespace", None)
        candidates = [p for p, _ in leaves(doc) if p and p[0] not in ("apiVersion", "kind")]
        for p in rng.sample(candidates, min(25, len(candidates))):
            bad = replaced(doc, p, rng.choice(WRONG_VALUES))
            if isinstance(bad.get("metadata"), dict):
                bad["metadata"]["name"] = unique("garbage")
            resp = http("POST", path, data=json.dumps(bad), headers={"Content-Type": "application/json"})
            assert_client_error(resp, f"POST {path} with {'.'.join(map(str, p))} replaced")
    assert http("GET", "/readyz").text == "ok"


def test_odd_patches_get_client_errors(http, namespace):
    name = unique("patchme")
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                  "spec": {"selector": {"matchLabels": {"app": name}},
                           "template": {"metadata": {"labels": {"app": name}},
                                        "spec": {"containers": [{"name": "a", "image": "a"}]}}}}
    assert http("POST", path, json=deployment).status_code == 201
    item = f"{path}/{name}"
    patches = {
        "application/merge-patch+json": ['{"metadata": []}', '{"spec": "x"}', '{"spec": {"template": 5}}', "[]",
                                         '{"apiVersion": "v2"}', '{"metadata": {"resourceVersion": "1"}}'],
        "application/strategic-merge-patch+json": [
            '{"spec": {"template": {"spec": {"containers": "x"}}}}',
            '{"spec": {"template": {"spec": {"containers": [{"image": "no-name"}]}}}}',
            '{"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "explode"}]}}}}',
            '{"$setElementOrder/containers": 5}', '{"spec": {"$retainKeys": "x"}}', '{"spec": [[1]]}'],
        "application/json-patch+json": ['[{"op": "explode"}]', '[{"op": "add", "path": "spec"}]',
                                        '[{"op": "remove", "path": "/nope/0"}]', '{"op": "add"}',
                                        '[{"op": "replace", "path": "/spec/replicas", "value": "many"}]',
                                        '[{"op": "move", "from": "/spec", "path": "/spec/x"}]'],
        "application/apply-patch+yaml": ["spec: {}"],
        "text/plain": ["hello"],
    }
    before = http("GET", item).json()["metadata"]["resourceVersion"]
    for content_type, bodies in patches.items():
        for body in bodies:
            resp = http("PATCH", item, data=body, headers={"Content-Type": content_type})
            assert_client_error(resp, f"PATCH {content_type} {body}")
            assert resp.status_code >= 400, f"PATCH {content_type} {body} was accepted: {resp.text[:300]}"
    assert http("GET", item).json()["metadata"]["resourceVersion"] == before
    assert http("GET", "/readyz").text == "ok"
