"""CustomResourceDefinitions (apiextensions.k8s.io/v1) end to end, asserting
what kube-apiserver does: names and conditions, served versions, structural
schema validation with Kubernetes' field paths, defaulting and pruning,
printer columns, short names and categories, explain, the status and scale
subresources, patches (strategic merge refused with 415), watch, selectors,
pagination, garbage collection and finalizers on custom objects, deletion of
the CRD with its objects, and the Python client's CustomObjectsApi.

The module's CRDs live in groups of their own (`*.crds.e2e.skiff.dev`) with
short names and categories no other test uses."""

from __future__ import annotations

import copy
import json
import re
import time
import urllib.error
import urllib.request

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from conftest import EventReader, unique, wait_for

GROUP = "crds.e2e.skiff.dev"
PLURAL = "widgets"
KIND = "Widget"
SHORT = "wdgt"
CATEGORY = "e2ewidgetcat"
CRD_NAME = f"{PLURAL}.{GROUP}"
RESOURCE = f"{PLURAL}.{GROUP}"  # what kubectl is given, fully qualified

SPEC_DESCRIPTION = "WidgetSpec is what a widget should be."
COLOR_DESCRIPTION = "Colour of the widget's paint, one of red, green or blue."


def widget_schema() -> dict:
    return {
        "type": "object",
        "description": "A Widget is a test kind of skiff's end-to-end suite.",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "description": SPEC_DESCRIPTION,
                "required": ["color"],
                "properties": {
                    "color": {"type": "string", "enum": ["red", "green", "blue"], "description": COLOR_DESCRIPTION},
                    "replicas": {"type": "integer", "minimum": 0, "maximum": 100, "default": 1},
                    "size": {"type": "string", "pattern": "^[a-z]+$", "default": "medium", "maxLength": 10},
                    "port": {"x-kubernetes-int-or-string": True},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {"name": {"type": "string"}, "number": {"type": "integer"}},
                        },
                    },
                },
            },
            "status": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer"},
                    "phase": {"type": "string"},
                    "selector": {"type": "string"},
                },
            },
        },
    }


def widget_crd() -> dict:
    columns = [
        {"name": "Color", "type": "string", "jsonPath": ".spec.color", "description": "the paint"},
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Size", "type": "string", "jsonPath": ".spec.size", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    subresources = {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    }

    def version(name, storage):
        return {
            "name": name, "served": True, "storage": storage,
            "schema": {"openAPIV3Schema": widget_schema()},
            "subresources": copy.deepcopy(subresources),
            "additionalPrinterColumns": copy.deepcopy(columns),
        }

    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "plural": PLURAL, "singular": "widget", "kind": KIND, "listKind": "WidgetList",
                "shortNames": [SHORT], "categories": [CATEGORY],
            },
            "versions": [version("v1", True), version("v1beta1", False)],
        },
    }


def condition(crd: dict, type_: str) -> dict:
    return next((c for c in crd.get("status", {}).get("conditions", []) if c["type"] == type_), {})


def wait_established(skiff, name: str, timeout=30) -> dict:
    skiff.kubectl("wait", "--for=condition=Established", f"crd/{name}", f"--timeout={timeout}s", timeout=timeout + 15)
    return skiff.kubectl_json("get", "crd", name)


def api_ready(skiff, resource: str, timeout=30):
    """Discovery (kubectl's cached view aside) serves the new resource."""
    wait_for(lambda: skiff.kubectl("get", resource, "-A", "-o", "name", check=False).returncode == 0,
             timeout=timeout, what=f"{resource} to be served")


def widget(name, color="blue", labels=None, **spec) -> dict:
    return {
        "apiVersion": f"{GROUP}/v1", "kind": KIND,
        "metadata": {"name": name, **({"labels": labels} if labels else {})},
        "spec": {"color": color, **spec},
    }


def raw(skiff, method, path, body=None, content_type="application/json"):
    """One HTTP request to the API; returns (code, decoded JSON body or text)."""
    conn = skiff.conn
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    headers = {**conn.headers(), "Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(conn.server + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, context=conn.ssl_context(), timeout=30) as resp:
            code, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        code, text = e.code, e.read().decode()
    try:
        return code, json.loads(text)
    except ValueError:
        return code, text


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def crd(skiff):
    skiff.kubectl("apply", "-f", "-", input=json.dumps(widget_crd()))
    established = wait_established(skiff, CRD_NAME)
    api_ready(skiff, RESOURCE)
    yield established
    skiff.kubectl("delete", "crd", CRD_NAME, "--ignore-not-found", "--wait=false", check=False)


@pytest.fixture
def k(k, crd):
    """conftest's kubectl in the module's namespace, once the CRD is established."""
    return k


@pytest.fixture(scope="module")
def custom(skiff):
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(skiff.kubeconfig), client_configuration=cfg)
    api_client = client.ApiClient(cfg)
    yield client.CustomObjectsApi(api_client)
    api_client.close()


def create(k, obj) -> None:
    k("create", "-f", "-", input=json.dumps(obj))


# --------------------------------------------------------------------------- the CRD itself


def test_crd_is_established_with_accepted_names(skiff, crd):
    assert condition(crd, "NamesAccepted")["status"] == "True", crd["status"]
    assert condition(crd, "Established")["status"] == "True", crd["status"]
    accepted = crd["status"]["acceptedNames"]
    assert accepted["plural"] == PLURAL and accepted["kind"] == KIND and accepted["singular"] == "widget"
    assert accepted["shortNames"] == [SHORT] and accepted["categories"] == [CATEGORY]
    assert accepted["listKind"] == "WidgetList"
    assert crd["status"]["storedVersions"] == ["v1"]
    # Defaults of the CRD's own spec, as kube-apiserver fills them.
    assert crd["spec"]["conversion"]["strategy"] == "None"

    table = skiff.kubectl("get", "crd", CRD_NAME).stdout
    assert table.splitlines()[0].split() == ["NAME", "CREATED", "AT"]
    assert table.splitlines()[1].split()[0] == CRD_NAME


def test_discovery_lists_the_new_resource(skiff, crd):
    out = skiff.kubectl("api-resources", f"--api-group={GROUP}", "-o", "wide").stdout
    row = next(line.split() for line in out.splitlines()[1:] if line.split()[0] == PLURAL)
    # NAME SHORTNAMES APIVERSION NAMESPACED KIND VERBS CATEGORIES
    assert row[1:5] == [SHORT, f"{GROUP}/v1", "true", KIND], out
    assert CATEGORY in out
    code, body = raw(skiff, "GET", f"/apis/{GROUP}/v1")
    assert code == 200
    names = {r["name"] for r in body["resources"]}
    assert {PLURAL, f"{PLURAL}/status", f"{PLURAL}/scale"} <= names, names
    main = next(r for r in body["resources"] if r["name"] == PLURAL)
    assert main["namespaced"] is True and main["kind"] == KIND and main["shortNames"] == [SHORT]
    assert set(main["verbs"]) >= {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
    code, groups = raw(skiff, "GET", "/apis")
    group = next(g for g in groups["groups"] if g["name"] == GROUP)
    assert group["preferredVersion"]["version"] == "v1"
    assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1"]


def test_both_served_versions_read_the_same_object(skiff, k, namespace):
    name = unique("ver")
    beta = widget(name, "red")
    beta["apiVersion"] = f"{GROUP}/v1beta1"
    create(k, beta)
    code, v1 = raw(skiff, "GET", f"/apis/{GROUP}/v1/namespaces/{namespace}/{PLURAL}/{name}")
    assert code == 200 and v1["apiVersion"] == f"{GROUP}/v1" and v1["spec"]["color"] == "red"
    code, v1beta1 = raw(skiff, "GET", f"/apis/{GROUP}/v1beta1/namespaces/{namespace}/{PLURAL}/{name}")
    assert code == 200 and v1beta1["apiVersion"] == f"{GROUP}/v1beta1"
    assert v1beta1["metadata"]["uid"] == v1["metadata"]["uid"]


# --------------------------------------------------------------------------- kubectl on custom objects


def test_create_get_with_printer_columns_short_name_and_category(k, kj):
    name = unique("cols")
    out = k("create", "-f", "-", input=json.dumps(widget(name, "green", replicas=3, size="large"))).stdout
    assert out.strip() == f"widget.{GROUP}/{name} created"

    for what in (RESOURCE, SHORT, CATEGORY):
        table = k("get", what).stdout
        lines = table.splitlines()
        assert lines[0].split() == ["NAME", "COLOR", "REPLICAS", "PHASE", "AGE"], (what, table)
        row = next(line.split() for line in lines[1:] if line.split()[0].endswith(name))
        assert row[0] in (name, f"widget.{GROUP}/{name}"), (what, row)
        assert row[1:3] == ["green", "3"], (what, row)
        # An absent .status.phase prints as <none>; a date column as an age.
        assert row[3] == "<none>", (what, row)
        assert re.fullmatch(r"\d+(s|m\d*s?)", row[4]), (what, row)

    wide = k("get", RESOURCE, name, "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "COLOR", "REPLICAS", "PHASE", "SIZE", "AGE"]
    assert wide[1].split()[:5] == [name, "green", "3", "<none>", "large"]

    obj = kj("get", SHORT, name)
    assert obj["kind"] == KIND and obj["apiVersion"] == f"{GROUP}/v1"
    for field in ("uid", "resourceVersion", "creationTimestamp"):
        assert obj["metadata"].get(field), field
    assert obj["metadata"]["generation"] == 1


def test_describe_custom_object(k, namespace):
    name = unique("desc")
    create(k, widget(name, "red", replicas=2, labels={"tier": "web"}))
    out = k("describe", RESOURCE, name).stdout
    assert re.search(rf"^Name:\s+{name}$", out, re.M), out
    assert re.search(rf"^Namespace:\s+{namespace}$", out, re.M), out
    assert re.search(r"^Labels:\s+tier=web$", out, re.M), out
    assert re.search(rf"^API Version:\s+{re.escape(GROUP)}/v1$", out, re.M), out
    assert re.search(rf"^Kind:\s+{KIND}$", out, re.M), out
    assert re.search(r"^Spec:$", out, re.M), out
    assert re.search(r"^\s+Color:\s+red$", out, re.M), out
    assert re.search(r"^\s+Replicas:\s+2$", out, re.M), out


def test_explain_shows_the_schema_descriptions(skiff, crd):
    out = skiff.kubectl("explain", f"{PLURAL}.spec", f"--api-version={GROUP}/v1").stdout
    assert re.search(rf"^GROUP:\s+{re.escape(GROUP)}$", out, re.M), out
    assert re.search(rf"^KIND:\s+{KIND}$", out, re.M), out
    assert re.search(r"^VERSION:\s+v1$", out, re.M), out
    assert re.search(r"^FIELD:\s+spec\s+<Object>$", out, re.M), out
    assert SPEC_DESCRIPTION in out, out
    assert re.search(r"^\s+color\s+<string>( -required-)?", out, re.M), out
    field = skiff.kubectl("explain", f"{PLURAL}.spec.color", f"--api-version={GROUP}/v1").stdout
    assert COLOR_DESCRIPTION in " ".join(field.split()), field
    assert re.search(r"^ENUM:", field, re.M) or "red" in field, field


def test_merge_and_json_patch_work_and_strategic_merge_is_refused(skiff, k, kj, namespace):
    name = unique("patch")
    create(k, widget(name, "red", ports=[{"name": "http", "number": 80}]))
    k("patch", RESOURCE, name, "--type=merge", "-p", '{"spec":{"color":"green"}}')
    assert kj("get", RESOURCE, name)["spec"]["color"] == "green"
    k("patch", RESOURCE, name, "--type=json", "-p", '[{"op":"replace","path":"/spec/color","value":"blue"}]')
    obj = kj("get", RESOURCE, name)
    assert obj["spec"]["color"] == "blue"
    assert obj["metadata"]["generation"] == 3

    # kubectl's default patch type is strategic: refused (415) for custom resources,
    # which kubectl reports with the kind it tried.
    refused = k("patch", RESOURCE, name, "-p", '{"spec":{"color":"red"}}', check=False)
    assert refused.returncode != 0
    assert (f"application/strategic-merge-patch+json is not supported by {GROUP}/v1, Kind={KIND}: "
            "the body of the request was in an unknown format") in refused.stderr, refused.stderr
    code, body = raw(skiff, "PATCH", f"/apis/{GROUP}/v1/namespaces/{namespace}/{PLURAL}/{name}",
                     {"spec": {"color": "red"}}, content_type="application/strategic-merge-patch+json")
    assert code == 415 and body["reason"] == "UnsupportedMediaType", body
    assert body["message"].startswith(
        "the body of the request was in an unknown format - accepted media types include: "), body
    for accepted in ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"):
        assert accepted in body["message"], body
    assert kj("get", RESOURCE, name)["spec"]["color"] == "blue"

    # A patch that breaks the schema is refused like a create.
    bad = k("patch", RESOURCE, name, "--type=merge", "-p", '{"spec":{"replicas":1000}}', check=False)
    assert bad.returncode != 0 and "spec.replicas: Invalid value: 1000" in bad.stderr, bad.stderr


def test_label_and_annotate_use_merge_patches(k, kj):
    name = unique("lab")
    create(k, widget(name))
    k("label", RESOURCE, name, "env=prod")
    k("annotate", RESOURCE, name, "example.com/note=hi")
    meta = kj("get", RESOURCE, name)["metadata"]
    assert meta["labels"] == {"env": "prod"} and meta["annotations"]["example.com/note"] == "hi"
    assert k("get", RESOURCE, "-l", "env=prod", "-o", "name").stdout.split() == [f"widget.{GROUP}/{name}"]


def test_scale_subresource(skiff, k, kj, namespace):
    name = unique("scale")
    create(k, widget(name, replicas=1))
    out = k("scale", RESOURCE, name, "--replicas=4").stdout
    assert out.strip() == f"widget.{GROUP}/{name} scaled"
    obj = kj("get", RESOURCE, name)
    assert obj["spec"]["replicas"] == 4
    assert "status" not in obj or "replicas" not in obj["status"]

    k("patch", RESOURCE, name, "--subresource=status", "--type=merge",
      "-p", json.dumps({"status": {"replicas": 2, "selector": f"app={name}"}}))
    code, scale = raw(skiff, "GET", f"/apis/{GROUP}/v1/namespaces/{namespace}/{PLURAL}/{name}/scale")
    assert code == 200, scale
    assert scale["apiVersion"] == "autoscaling/v1" and scale["kind"] == "Scale"
    assert scale["metadata"]["name"] == name
    assert scale["spec"] == {"replicas": 4}
    assert scale["status"] == {"replicas": 2, "selector": f"app={name}"}

    # The precondition is checked against the scale subresource.
    stale = k("scale", RESOURCE, name, "--current-replicas=3", "--replicas=1", check=False)
    assert stale.returncode != 0 and "Expected replicas to be 3, was 4" in stale.stderr, stale.stderr
    # The schema's maximum applies to writes through /scale too.
    too_many = k("scale", RESOURCE, name, "--replicas=101", check=False)
    assert too_many.returncode != 0 and "spec.replicas" in too_many.stderr, too_many.stderr
    assert kj("get", RESOURCE, name)["spec"]["replicas"] == 4


def test_status_subresource_and_main_resource_ignore_each_other(k, kj):
    name = unique("status")
    create(k, widget(name, "red"))
    before = kj("get", RESOURCE, name)
    assert before["metadata"]["generation"] == 1

    # Through /status: status changes, spec does not, generation stays.
    k("patch", RESOURCE, name, "--subresource=status", "--type=merge",
      "-p", '{"status":{"phase":"Ready","replicas":1},"spec":{"color":"green"}}')
    after = kj("get", RESOURCE, name)
    assert after["status"] == {"phase": "Ready", "replicas": 1}
    assert after["spec"]["color"] == "red"
    assert after["metadata"]["generation"] == 1
    assert k("get", RESOURCE, name, "--subresource=status", "-o", "jsonpath={.status.phase}").stdout == "Ready"
    table = k("get", RESOURCE, name).stdout.splitlines()
    assert table[1].split()[3] == "Ready"

    # Through the main resource: spec changes, status does not.
    k("patch", RESOURCE, name, "--type=merge", "-p", '{"status":{"phase":"Hacked"},"spec":{"color":"green"}}')
    after = kj("get", RESOURCE, name)
    assert after["spec"]["color"] == "green" and after["status"]["phase"] == "Ready"
    assert after["metadata"]["generation"] == 2
    # A full update (replace) with a different status keeps the stored status too.
    after["status"]["phase"] = "Replaced"
    after["spec"]["color"] = "blue"
    k("replace", "-f", "-", input=json.dumps(after))
    final = kj("get", RESOURCE, name)
    assert final["spec"]["color"] == "blue" and final["status"]["phase"] == "Ready"


def test_watch_sees_added_modified_deleted(skiff, k, namespace):
    sentinel, target = unique("sentinel"), unique("watched")
    create(k, widget(sentinel))
    proc = skiff.kubectl_popen("-n", namespace, "get", RESOURCE, "-w", "--output-watch-events", "-o", "json")
    try:
        reader = EventReader(proc.stdout, "json")
        reader.wait_for(f"ADDED {sentinel}", timeout=15)
        create(k, widget(target))
        reader.wait_for(f"ADDED {target}", timeout=15)
        k("patch", RESOURCE, target, "--type=merge", "-p", '{"spec":{"color":"red"}}')
        reader.wait_for(f"MODIFIED {target}", timeout=15)
        k("delete", RESOURCE, target)
        reader.wait_for(f"DELETED {target}", timeout=15)
        assert proc.poll() is None, proc.stderr.read()
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert [line.split()[0] for line in reader.lines if line.endswith(f" {target}")] == ["ADDED", "MODIFIED", "DELETED"]


def test_label_selectors_and_pagination(k, custom, namespace):
    batch = unique("batch")
    names = [f"{batch}-{i}" for i in range(5)]
    docs = [widget(n, labels={"batch": batch, "parity": "even" if i % 2 == 0 else "odd"}) for i, n in enumerate(names)]
    k("create", "-f", "-", input=yaml.safe_dump_all(docs))

    listed = k("get", RESOURCE, "-l", f"batch={batch}", "--chunk-size=2", "-o", "name").stdout.split()
    assert sorted(listed) == sorted(f"widget.{GROUP}/{n}" for n in names)
    odd = k("get", RESOURCE, "-l", f"batch={batch},parity=odd", "-o", "name").stdout.split()
    assert sorted(odd) == sorted(f"widget.{GROUP}/{n}" for n in names[1::2])
    notin = k("get", RESOURCE, "-l", f"batch={batch},parity notin (odd)", "-o", "name").stdout.split()
    assert len(notin) == 3
    by_field = k("get", RESOURCE, f"--field-selector=metadata.name={names[2]}", "-o", "name").stdout.split()
    assert by_field == [f"widget.{GROUP}/{names[2]}"]

    # Pages through the API: limit, continue, remainingItemCount.
    seen, token, pages = [], None, 0
    while True:
        kw = {"_continue": token} if token else {}
        page = custom.list_namespaced_custom_object(GROUP, "v1", namespace, PLURAL,
                                                    label_selector=f"batch={batch}", limit=2, **kw)
        pages += 1
        assert len(page["items"]) <= 2
        seen += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
        if pages == 1:
            # No remainingItemCount: with a label selector the server cannot know it.
            assert token, page["metadata"]
        if not token:
            break
    assert pages == 3 and sorted(seen) == sorted(names)


# --------------------------------------------------------------------------- schema


def test_schema_errors_are_422_with_field_paths(k, custom, namespace):
    name = unique("bad")
    bad = widget(name, "purple", replicas=200, size="NOT-LOWER", port=True)
    result = k("create", "-f", "-", input=json.dumps(bad), check=False)
    assert result.returncode != 0
    err = result.stderr
    # kubectl words a 422 with causes as `The KIND "NAME" is invalid:` and lists them.
    assert f'The {KIND} "{name}" is invalid' in err, err
    assert 'spec.color: Unsupported value: "purple": supported values: "red", "green", "blue"' in err, err
    assert "spec.replicas: Invalid value: 200: spec.replicas in body should be less than or equal to 100" in err, err
    assert "spec.size: Invalid value: \"NOT-LOWER\": spec.size in body should match '^[a-z]+$'" in err, err
    # int-or-string validates as type [integer, string].
    assert 'spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"' \
        in err, err
    assert k("get", RESOURCE, name, "--ignore-not-found", "-o", "name").stdout == ""

    missing = k("create", "-f", "-", input=json.dumps({**widget(name), "spec": {"replicas": 1}}), check=False)
    assert missing.returncode != 0 and "spec.color: Required value" in missing.stderr, missing.stderr
    wrong_type = k("create", "-f", "-", input=json.dumps(widget(name, replicas="three")), check=False)
    assert wrong_type.returncode != 0
    assert 'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"' \
        in wrong_type.stderr, wrong_type.stderr
    dup = widget(name, ports=[{"name": "a", "number": 1}, {"name": "a", "number": 2}])
    duplicated = k("create", "-f", "-", input=json.dumps(dup), check=False)
    assert duplicated.returncode != 0 and "spec.ports[1]: Duplicate value" in duplicated.stderr, duplicated.stderr

    with pytest.raises(ApiException) as raised:
        custom.create_namespaced_custom_object(GROUP, "v1", namespace, PLURAL, bad)
    assert raised.value.status == 422
    status = json.loads(raised.value.body)
    assert status["kind"] == "Status" and status["reason"] == "Invalid" and status["code"] == 422
    # The server's own message qualifies the kind with its group.
    assert status["message"].startswith(f'{KIND}.{GROUP} "{name}" is invalid: '), status
    assert status["details"]["name"] == name and status["details"]["group"] == GROUP
    assert status["details"]["kind"] == KIND
    fields = {c["field"] for c in status["details"]["causes"]}
    assert {"spec.color", "spec.replicas", "spec.size"} <= fields, status


def test_int_or_string_preserve_unknown_fields_and_defaults(k, kj):
    name = unique("def")
    create(k, widget(name, port="http", extra={"anything": {"goes": [1, "two"]}}))
    obj = kj("get", RESOURCE, name)
    assert obj["spec"]["port"] == "http"
    assert obj["spec"]["extra"] == {"anything": {"goes": [1, "two"]}}
    # Defaults from the schema.
    assert obj["spec"]["replicas"] == 1 and obj["spec"]["size"] == "medium"
    numeric = unique("num")
    create(k, widget(numeric, port=8080))
    assert kj("get", RESOURCE, numeric)["spec"]["port"] == 8080


def test_unknown_fields_strict_warn_and_ignore(k, kj):
    strict = unique("strict")
    doc = widget(strict, bogus="x")
    # kubectl create validates strictly by default (fieldValidation=Strict).
    refused = k("create", "-f", "-", input=json.dumps(doc), check=False)
    assert refused.returncode != 0
    assert "(BadRequest)" in refused.stderr, refused.stderr
    assert 'strict decoding error: unknown field "spec.bogus"' in refused.stderr, refused.stderr
    assert k("get", RESOURCE, strict, "--ignore-not-found", "-o", "name").stdout == ""

    warned = k("create", "--validate=warn", "-f", "-", input=json.dumps(doc))
    assert 'Warning: unknown field "spec.bogus"' in warned.stderr, warned.stderr
    assert "bogus" not in kj("get", RESOURCE, strict)["spec"], "unknown fields are pruned"

    ignored = unique("ignored")
    quiet = k("create", "--validate=false", "-f", "-", input=json.dumps(widget(ignored, bogus="y")))
    assert "Warning" not in quiet.stderr, quiet.stderr
    assert "bogus" not in kj("get", RESOURCE, ignored)["spec"]
    # Unknown top-level fields are pruned as well.
    top = unique("top")
    k("create", "--validate=false", "-f", "-", input=json.dumps({**widget(top), "junk": {"a": 1}}))
    assert "junk" not in kj("get", RESOURCE, top)


# --------------------------------------------------------------------------- other CRDs


def test_cluster_scoped_crd(skiff):
    group = "cluster.crds.e2e.skiff.dev"
    name = f"gizmos.{group}"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": group, "scope": "Cluster",
            "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {"spec": {"type": "object", "properties": {"level": {"type": "integer"}}}}}}}],
        },
    }
    skiff.kubectl("apply", "-f", "-", input=json.dumps(crd))
    try:
        wait_established(skiff, name)
        api_ready(skiff, f"gizmos.{group}")
        obj = unique("giz")
        skiff.kubectl("create", "-f", "-", input=json.dumps(
            {"apiVersion": f"{group}/v1", "kind": "Gizmo", "metadata": {"name": obj}, "spec": {"level": 3}}))
        got = skiff.kubectl_json("get", f"gizmos.{group}", obj)
        assert "namespace" not in got["metadata"] and got["spec"]["level"] == 3
        table = skiff.kubectl("get", f"gizmos.{group}").stdout.splitlines()
        # Without additionalPrinterColumns: NAME and AGE.
        assert table[0].split() == ["NAME", "AGE"]
        assert any(line.split()[0] == obj for line in table[1:])
        code, _ = raw(skiff, "GET", f"/apis/{group}/v1/gizmos/{obj}")
        assert code == 200
        code, _ = raw(skiff, "GET", f"/apis/{group}/v1/namespaces/default/gizmos/{obj}")
        assert code == 404
        resources = skiff.kubectl("api-resources", f"--api-group={group}", "--namespaced=false", "-o", "name").stdout
        assert f"gizmos.{group}" in resources.split()
    finally:
        skiff.kubectl("delete", "crd", name, "--ignore-not-found", "--timeout=60s", timeout=90, check=False)


def test_a_conflicting_name_is_not_accepted(skiff, crd):
    # The plural asked for is the short name of the Widget CRD in the same group.
    name = f"{SHORT}.{GROUP}"
    clash = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": GROUP, "scope": "Namespaced",
            "names": {"plural": SHORT, "singular": "clashingthing", "kind": "ClashingThing"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }
    skiff.kubectl("create", "-f", "-", input=json.dumps(clash))
    try:
        def not_accepted():
            obj = skiff.kubectl_json("get", "crd", name)
            cond = condition(obj, "NamesAccepted")
            return obj if cond.get("status") == "False" else None

        obj = wait_for(not_accepted, timeout=30, what="NamesAccepted=False on the clashing CRD")
        cond = condition(obj, "NamesAccepted")
        assert cond["reason"] == "PluralConflict", cond
        assert f'"{SHORT}" is already in use' in cond["message"], cond
        established = condition(obj, "Established")
        assert established.get("status") != "True", obj["status"]
        # The accepted CRD keeps serving under its names.
        assert condition(skiff.kubectl_json("get", "crd", CRD_NAME), "NamesAccepted")["status"] == "True"
    finally:
        skiff.kubectl("delete", "crd", name, "--ignore-not-found", "--wait=false", check=False)


# --------------------------------------------------------------------------- lifecycle


def test_owner_references_gc_and_finalizers(k, kj):
    owner = unique("owner")
    create(k, widget(owner))
    uid = kj("get", RESOURCE, owner)["metadata"]["uid"]
    ref = {"apiVersion": f"{GROUP}/v1", "kind": KIND, "name": owner, "uid": uid}
    child_cm = f"{owner}-cm"
    child_widget = f"{owner}-child"
    k("create", "-f", "-", input=yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": child_cm, "ownerReferences": [ref]}},
        {**widget(child_widget), "metadata": {"name": child_widget, "ownerReferences": [ref]}},
    ]))
    k("delete", RESOURCE, owner, "--timeout=60s", timeout=90)

    def collected():
        cm = k("get", "configmap", child_cm, "--ignore-not-found", "-o", "name").stdout
        w = k("get", RESOURCE, child_widget, "--ignore-not-found", "-o", "name").stdout
        return not cm.strip() and not w.strip()

    wait_for(collected, timeout=30, what="dependents of a custom object to be collected")

    # A custom object owned by a ConfigMap is collected too (foreground: the owner waits).
    cm_owner = unique("cmowner")
    k("create", "configmap", cm_owner)
    cm_uid = kj("get", "configmap", cm_owner)["metadata"]["uid"]
    dependent = f"{cm_owner}-w"
    k("create", "-f", "-", input=json.dumps({**widget(dependent), "metadata": {"name": dependent, "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": cm_owner, "uid": cm_uid, "blockOwnerDeletion": True}]}}))
    k("delete", "configmap", cm_owner, "--cascade=foreground", "--timeout=60s", timeout=90)
    assert k("get", RESOURCE, dependent, "--ignore-not-found", "-o", "name").stdout == ""

    # Finalizers hold a custom object until they are removed.
    held = unique("held")
    create(k, {**widget(held), "metadata": {"name": held, "finalizers": ["e2e.skiff.dev/hold"]}})
    k("delete", RESOURCE, held, "--wait=false")
    obj = kj("get", RESOURCE, held)
    assert obj["metadata"].get("deletionTimestamp"), obj["metadata"]
    assert obj["metadata"]["finalizers"] == ["e2e.skiff.dev/hold"]
    k("patch", RESOURCE, held, "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
    wait_for(lambda: k("get", RESOURCE, held, "--ignore-not-found", "-o", "name").stdout == "",
             timeout=30, what="the finalized custom object to go")


def test_deleting_the_crd_removes_its_objects_and_endpoints(skiff, namespace):
    group = "gone.crds.e2e.skiff.dev"
    name = f"sprockets.{group}"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"plural": "sprockets", "singular": "sprocket", "kind": "Sprocket"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                "type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}],
        },
    }
    skiff.kubectl("apply", "-f", "-", input=json.dumps(crd))
    wait_established(skiff, name)
    api_ready(skiff, f"sprockets.{group}")
    for i in range(3):
        skiff.kubectl("-n", namespace, "create", "-f", "-", input=json.dumps(
            {"apiVersion": f"{group}/v1", "kind": "Sprocket", "metadata": {"name": f"s{i}"}, "spec": {"i": i}}))
    path = f"/apis/{group}/v1/namespaces/{namespace}/sprockets"
    code, listed = raw(skiff, "GET", path)
    assert code == 200 and len(listed["items"]) == 3

    skiff.kubectl("delete", "crd", name, "--timeout=60s", timeout=90)
    gone = skiff.kubectl("get", "crd", name, check=False)
    assert gone.returncode != 0 and "(NotFound)" in gone.stderr
    wait_for(lambda: raw(skiff, "GET", path)[0] == 404, timeout=30, what="the custom resource endpoint to 404")
    assert raw(skiff, "GET", f"{path}/s0")[0] == 404
    code, groups = raw(skiff, "GET", "/apis")
    assert group not in {g["name"] for g in groups["groups"]}

    # A CRD of the same name made again starts empty: the objects were deleted, not hidden.
    skiff.kubectl("apply", "-f", "-", input=json.dumps(crd))
    try:
        wait_established(skiff, name)
        wait_for(lambda: raw(skiff, "GET", path)[0] == 200, timeout=30, what="the recreated CRD to serve")
        assert raw(skiff, "GET", path)[1]["items"] == []
    finally:
        skiff.kubectl("delete", "crd", name, "--ignore-not-found", "--wait=false", check=False)


# --------------------------------------------------------------------------- the Python client


def test_custom_objects_api(custom, crd, namespace):
    name = unique("py")
    created = custom.create_namespaced_custom_object(GROUP, "v1", namespace, PLURAL, widget(name, "red", replicas=2))
    assert created["metadata"]["name"] == name and created["metadata"]["uid"]
    assert created["spec"] == {"color": "red", "replicas": 2, "size": "medium"}

    got = custom.get_namespaced_custom_object(GROUP, "v1", namespace, PLURAL, name)
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    listed = custom.list_namespaced_custom_object(GROUP, "v1", namespace, PLURAL)
    assert listed["kind"] == "WidgetList" and listed["apiVersion"] == f"{GROUP}/v1"
    assert name in {i["metadata"]["name"] for i in listed["items"]}
    assert listed["metadata"]["resourceVersion"]
    everywhere = custom.list_custom_object_for_all_namespaces(GROUP, "v1", PLURAL)
    assert name in {i["metadata"]["name"] for i in everywhere["items"]}

    # The client sends merge patches for dicts by default, JSON patches when told.
    patched = custom.patch_namespaced_custom_object(GROUP, "v1", namespace, PLURAL, name, {"spec": {"color": "green"}})
    assert patched["spec"]["color"] == "green" and patched["spec"]["replicas"] == 2
    patched = custom.patch_namespaced_custom_object(
        GROUP, "v1", namespace, PLURAL, name, [{"op": "replace", "path": "/spec/replicas", "value": 5}],
        _content_type="application/json-patch+json")
    assert patched["spec"]["replicas"] == 5

    replaced_body = copy.deepcopy(patched)
    replaced_body["spec"]["color"] = "blue"
    replaced = custom.replace_namespaced_custom_object(GROUP, "v1", namespace, PLURAL, name, replaced_body)
    assert replaced["spec"]["color"] == "blue"
    with pytest.raises(ApiException) as stale:
        custom.replace_namespaced_custom_object(GROUP, "v1", namespace, PLURAL, name, replaced_body)
    assert stale.value.status == 409

    status = custom.patch_namespaced_custom_object_status(
        GROUP, "v1", namespace, PLURAL, name, {"status": {"phase": "Running", "replicas": 5}})
    assert status["status"] == {"phase": "Running", "replicas": 5}
    read_status = custom.get_namespaced_custom_object_status(GROUP, "v1", namespace, PLURAL, name)
    assert read_status["status"]["phase"] == "Running" and read_status["spec"]["color"] == "blue"

    scale = custom.get_namespaced_custom_object_scale(GROUP, "v1", namespace, PLURAL, name)
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 5 and scale["status"]["replicas"] == 5
    custom.patch_namespaced_custom_object_scale(GROUP, "v1", namespace, PLURAL, name, {"spec": {"replicas": 7}})
    assert custom.get_namespaced_custom_object(GROUP, "v1", namespace, PLURAL, name)["spec"]["replicas"] == 7

    deleted = custom.delete_namespaced_custom_object(GROUP, "v1", namespace, PLURAL, name)
    # A custom object without finalizers is deleted at once; the answer is a Status.
    assert deleted["kind"] == "Status" and deleted["status"] == "Success", deleted
    assert deleted["details"]["name"] == name and deleted["details"]["group"] == GROUP
    with pytest.raises(ApiException) as gone:
        custom.get_namespaced_custom_object(GROUP, "v1", namespace, PLURAL, name)
    assert gone.value.status == 404
    body = json.loads(gone.value.body)
    assert body["reason"] == "NotFound" and body["details"] == {"name": name, "group": GROUP, "kind": PLURAL}
    assert body["message"] == f'{PLURAL}.{GROUP} "{name}" not found'
