"""Bad requests get the answers a real API server gives: the right status code
and a metav1 Status body saying why, and nothing is written."""

from __future__ import annotations

import json

import pytest
import requests

from conftest import unique

TIMEOUT = 30


@pytest.fixture(scope="module")
def api(skiff):
    """A requests session that talks to skiff as the admin from the kubeconfig."""
    conn = skiff.conn
    session = requests.Session()
    session.verify = str(conn.ca_file)
    session.headers.update(conn.headers())
    session.headers["Accept"] = "application/json"

    class Api:
        base = conn.server

        def __getattr__(self, method):
            def call(path, **kw):
                kw.setdefault("timeout", TIMEOUT)
                # Per request: requests lets REQUESTS_CA_BUNDLE override session.verify.
                kw.setdefault("verify", str(conn.ca_file))
                return session.request(method.upper(), conn.server + path, **kw)
            return call

    yield Api()
    session.close()


def assert_status(resp, code: int, reason: str) -> dict:
    """The response is a Failure Status with this code and reason."""
    assert resp.status_code == code, f"expected {code}, got {resp.status_code}: {resp.text[:2000]}"
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert body.get("kind") == "Status", body
    assert body.get("apiVersion") == "v1", body
    assert body.get("status") == "Failure", body
    assert body.get("code") == code, body
    assert body.get("reason") == reason, body
    assert isinstance(body.get("message"), str) and body["message"].strip(), body
    return body


def cm_path(ns, name=None):
    return f"/api/v1/namespaces/{ns}/configmaps" + (f"/{name}" if name else "")


def configmap(name, **data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def service(name, **extra_spec):
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"ports": [{"port": 80}], "selector": {"app": name}, **extra_spec},
    }


JSON = {"Content-Type": "application/json"}


def test_malformed_json_is_bad_request(api, namespace):
    resp = api.post(cm_path(namespace), data=b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {',
                    headers=JSON)
    assert_status(resp, 400, "BadRequest")


def test_unknown_resource_is_not_found(api, namespace):
    assert_status(api.get(f"/api/v1/namespaces/{namespace}/foobars"), 404, "NotFound")
    assert_status(api.get("/apis/apps/v1/namespaces/default/foobars/x"), 404, "NotFound")
    assert_status(api.get("/apis/nosuchgroup.example.com/v1/things"), 404, "NotFound")


def test_missing_object_is_not_found(api, namespace):
    body = assert_status(api.get(cm_path(namespace, "no-such-cm")), 404, "NotFound")
    assert body["details"]["name"] == "no-such-cm"
    assert body["details"]["kind"] == "configmaps"
    assert body["message"] == 'configmaps "no-such-cm" not found'


def test_wrong_field_type_names_the_field(api, namespace):
    dep = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": unique("badtype")},
        "spec": {
            "replicas": "three",
            "selector": {"matchLabels": {"app": "x"}},
            "template": {"metadata": {"labels": {"app": "x"}},
                         "spec": {"containers": [{"name": "c", "image": "img"}]}},
        },
    }
    resp = api.post(f"/apis/apps/v1/namespaces/{namespace}/deployments", json=dep)
    assert resp.status_code in (400, 422), resp.text
    body = assert_status(resp, resp.status_code, "BadRequest" if resp.status_code == 400 else "Invalid")
    assert "replicas" in body["message"], body["message"]
    assert api.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{dep['metadata']['name']}").status_code == 404


def test_unknown_field_strict_is_rejected(api, namespace):
    name = unique("strict")
    resp = api.post(f"/api/v1/namespaces/{namespace}/services", params={"fieldValidation": "Strict"},
                    json=service(name, foo="bar"))
    body = assert_status(resp, 400, "BadRequest")
    assert 'unknown field "spec.foo"' in body["message"], body["message"]
    assert api.get(f"/api/v1/namespaces/{namespace}/services/{name}").status_code == 404


def test_unknown_field_warn_succeeds_with_warning(api, namespace):
    name = unique("warn")
    resp = api.post(f"/api/v1/namespaces/{namespace}/services", params={"fieldValidation": "Warn"},
                    json=service(name, foo="bar"))
    assert resp.status_code == 201, resp.text
    warning = resp.headers.get("Warning", "")
    assert warning.startswith("299 "), resp.headers
    assert 'unknown field \\"spec.foo\\"' in warning or 'unknown field "spec.foo"' in warning, warning
    created = resp.json()
    assert created["metadata"]["name"] == name
    assert "foo" not in created["spec"]


def test_unknown_field_via_kubectl(skiff, namespace):
    # kubectl defaults to --validate=strict and relies on server-side validation.
    name = unique("kstrict")
    manifest = json.dumps(service(name, foo="bar"))
    proc = skiff.kubectl("-n", namespace, "create", "-f", "-", input=manifest, check=False)
    assert proc.returncode != 0
    assert 'unknown field "spec.foo"' in proc.stderr, proc.stderr
    proc = skiff.kubectl("-n", namespace, "create", "--validate=warn", "-f", "-", input=manifest)
    assert 'unknown field "spec.foo"' in proc.stderr, proc.stderr
    assert proc.stdout.strip() == f"service/{name} created"


def test_body_over_3mib_is_too_large(api, namespace):
    name = unique("huge")
    # Just over the 3 MiB request body limit, so the server must have read most of it.
    payload = json.dumps(configmap(name, blob="x" * (3 * 1024 * 1024 + 64 * 1024))).encode()
    resp = api.post(cm_path(namespace), data=payload, headers=JSON)
    assert_status(resp, 413, "RequestEntityTooLarge")
    assert api.get(cm_path(namespace, name)).status_code == 404


def test_text_plain_is_unsupported_media_type(api, namespace):
    name = unique("plain")
    resp = api.post(cm_path(namespace), data=json.dumps(configmap(name, a="b")),
                    headers={"Content-Type": "text/plain"})
    assert_status(resp, 415, "UnsupportedMediaType")
    assert api.get(cm_path(namespace, name)).status_code == 404


def test_invalid_name_is_invalid(api, namespace):
    resp = api.post(cm_path(namespace), json=configmap("Foo_Bar", a="b"))
    body = assert_status(resp, 422, "Invalid")
    assert "Foo_Bar" in body["message"]
    assert "RFC 1123" in body["message"], body["message"]
    assert body["details"]["name"] == "Foo_Bar"
    assert body["details"]["kind"] == "ConfigMap"
    assert any(c.get("field") == "metadata.name" for c in body["details"].get("causes", [])), body


def test_failed_json_patch_test_op_changes_nothing(api, namespace):
    name = unique("jpt")
    assert api.post(cm_path(namespace), json=configmap(name, a="1")).status_code == 201
    before = api.get(cm_path(namespace, name)).json()
    patch = [
        {"op": "replace", "path": "/data/a", "value": "2"},
        {"op": "test", "path": "/data/a", "value": "1"},  # fails: a is "2" by now
    ]
    resp = api.patch(cm_path(namespace, name), data=json.dumps(patch),
                     headers={"Content-Type": "application/json-patch+json"})
    assert_status(resp, 422, "Invalid")
    after = api.get(cm_path(namespace, name)).json()
    assert after["data"] == {"a": "1"}
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_json_patch_copy_bomb_is_refused(api, namespace):
    name = unique("bomb")
    assert api.post(cm_path(namespace), json=configmap(name, a="x" * 1000)).status_code == 201
    before = api.get(cm_path(namespace, name)).json()
    # Each copy doubles the object: 40 of them would need terabytes.
    patch = [{"op": "copy", "from": "/data", "path": f"/data/k{i}"} for i in range(40)]
    resp = api.patch(cm_path(namespace, name), data=json.dumps(patch),
                     headers={"Content-Type": "application/json-patch+json"})
    assert_status(resp, 413, "RequestEntityTooLarge")
    after = api.get(cm_path(namespace, name)).json()
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_too_deep_object_is_refused(api, namespace):
    name = unique("deep")
    nested = "leaf"
    for _ in range(150):
        nested = {"a": nested}
    body = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": name},
            "revision": 1, "data": nested}
    resp = api.post(f"/apis/apps/v1/namespaces/{namespace}/controllerrevisions", json=body)
    assert resp.status_code in (400, 422), resp.text
    assert api.get(f"/apis/apps/v1/namespaces/{namespace}/controllerrevisions/{name}").status_code == 404
    # The collection still lists: nothing unreadable was stored.
    assert api.get(f"/apis/apps/v1/namespaces/{namespace}/controllerrevisions").status_code == 200


def test_status_of_a_type_without_one_is_not_found(api, namespace):
    name = unique("nostatus")
    assert api.post(cm_path(namespace), json=configmap(name, a="1")).status_code == 201
    assert_status(api.get(cm_path(namespace, name) + "/status"), 404, "NotFound")
    assert_status(api.get(cm_path(namespace, name) + "/status/extra"), 404, "NotFound")


def test_stale_update_is_conflict(api, namespace):
    name = unique("conf")
    created = api.post(cm_path(namespace), json=configmap(name, a="1")).json()
    fresh = dict(created, data={"a": "2"})
    assert api.put(cm_path(namespace, name), json=fresh).status_code == 200
    stale = dict(created, data={"a": "3"})  # carries the old resourceVersion
    body = assert_status(api.put(cm_path(namespace, name), json=stale), 409, "Conflict")
    assert "the object has been modified" in body["message"]
    assert api.get(cm_path(namespace, name)).json()["data"] == {"a": "2"}


def test_create_existing_is_already_exists(api, namespace):
    name = unique("dup")
    assert api.post(cm_path(namespace), json=configmap(name)).status_code == 201
    body = assert_status(api.post(cm_path(namespace), json=configmap(name)), 409, "AlreadyExists")
    assert body["message"] == f'configmaps "{name}" already exists'


def test_no_token_is_unauthorized(skiff, namespace):
    conn = skiff.conn
    resp = requests.get(conn.server + cm_path(namespace), verify=str(conn.ca_file), timeout=TIMEOUT,
                        headers={"Authorization": "Bearer not-a-real-token"})
    assert_status(resp, 401, "Unauthorized")
