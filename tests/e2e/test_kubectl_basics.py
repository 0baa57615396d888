"""Everyday kubectl against skiff, asserting what a real cluster does."""

from __future__ import annotations

import json
import re
import textwrap
import time

import pytest
import yaml

from conftest import EventReader, unique, wait_for

# Images are never pulled by these tests; a loopback registry name keeps any
# future pull attempt on this machine.
IMAGE = "127.0.0.1:5000/e2e/nginx:1.25"
IMAGE2 = "127.0.0.1:5000/e2e/nginx:1.27"
SIDECAR = "127.0.0.1:5000/e2e/busybox:1.36"


def header(table: str) -> list[str]:
    return table.splitlines()[0].split()


def two_container_deployment(name: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {name}
          labels: {{app: {name}}}
        spec:
          replicas: 1
          selector:
            matchLabels: {{app: {name}}}
          template:
            metadata:
              labels: {{app: {name}}}
            spec:
              containers:
              - name: app
                image: {IMAGE}
                ports:
                - containerPort: 80
              - name: sidecar
                image: {SIDECAR}
                command: ["sleep", "infinity"]
        """)


# --------------------------------------------------------------------------- get


def test_default_namespaces_exist(skiff):
    names = set(skiff.kubectl("get", "namespaces", "-o", "name").stdout.split())
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert f"namespace/{ns}" in names
    default = skiff.kubectl_json("get", "namespace", "default")
    assert default["status"]["phase"] == "Active"


def test_get_output_formats(k, namespace):
    name = unique("fmt")
    out = k("create", "configmap", name, "--from-literal=color=blue").stdout
    assert out.strip() == f"configmap/{name} created"

    as_yaml = yaml.safe_load(k("get", "configmap", name, "-o", "yaml").stdout)
    as_json = json.loads(k("get", "configmap", name, "-o", "json").stdout)
    for obj in (as_yaml, as_json):
        assert obj["apiVersion"] == "v1" and obj["kind"] == "ConfigMap"
        assert obj["metadata"]["name"] == name
        assert obj["metadata"]["namespace"] == namespace
        assert obj["data"] == {"color": "blue"}
        for field in ("uid", "resourceVersion", "creationTimestamp"):
            assert obj["metadata"].get(field), f"metadata.{field} missing"
    assert as_yaml == as_json

    assert k("get", "configmap", name, "-o", "name").stdout.strip() == f"configmap/{name}"
    assert k("get", "configmap", name, "-o", "jsonpath={.data.color}").stdout == "blue"
    assert k("get", "configmap", name, "-o", "jsonpath={.metadata.name}{' '}{.kind}").stdout == f"{name} ConfigMap"

    table = k("get", "configmap", name).stdout
    assert header(table) == ["NAME", "DATA", "AGE"]
    assert table.splitlines()[1].split()[:2] == [name, "1"]

    dep = unique("wide")
    k("create", "deployment", dep, f"--image={IMAGE}", "--replicas=2")
    wide = k("get", "deployment", dep, "-o", "wide").stdout
    assert header(wide) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    row = wide.splitlines()[1].split()
    assert row[0] == dep
    assert row[-3:] == ["nginx", IMAGE, f"app={dep}"]


def test_get_pods_table_header(k):
    pod = unique("pod")
    k("run", pod, f"--image={SIDECAR}", "--restart=Never", "--", "sleep", "3600")
    table = k("get", "pods").stdout
    assert header(table) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = {line.split()[0]: line.split() for line in table.splitlines()[1:]}
    assert pod in rows
    assert re.fullmatch(r"\d+/1", rows[pod][1])


def test_get_missing_object_is_not_found(k):
    proc = k("get", "configmap", "does-not-exist", check=False)
    assert proc.returncode != 0
    assert "(NotFound)" in proc.stderr and '"does-not-exist" not found' in proc.stderr
    assert k("get", "configmap", "does-not-exist", "--ignore-not-found").stdout == ""


# --------------------------------------------------------------------------- describe


def test_describe_deployment(k, namespace):
    dep = unique("desc")
    k("create", "deployment", dep, f"--image={IMAGE}", "--replicas=2")
    out = k("describe", "deployment", dep).stdout
    assert re.search(rf"^Name:\s+{dep}$", out, re.M), out
    assert re.search(rf"^Namespace:\s+{namespace}$", out, re.M), out
    assert re.search(rf"^Selector:\s+app={dep}$", out, re.M), out
    assert re.search(r"^Replicas:\s+2 desired \|", out, re.M), out
    assert re.search(r"^StrategyType:\s+RollingUpdate$", out, re.M), out
    # Server-side defaulting of the rolling update parameters.
    assert re.search(r"^RollingUpdateStrategy:\s+25% max unavailable, 25% max surge$", out, re.M), out
    assert "Pod Template:" in out
    assert re.search(rf"Image:\s+{re.escape(IMAGE)}", out), out


def test_describe_configmap(k, namespace):
    name = unique("desc")
    k("create", "configmap", name, "--from-literal=special.how=very")
    out = k("describe", "configmap", name).stdout
    assert re.search(rf"^Name:\s+{name}$", out, re.M), out
    assert re.search(rf"^Namespace:\s+{namespace}$", out, re.M), out
    assert re.search(r"^Data\n====\n", out, re.M), out
    assert re.search(r"^special\.how:\n----\nvery$", out, re.M), out


# --------------------------------------------------------------------------- label / annotate


def test_label_overwrite_and_remove(k, kj):
    name = unique("lab")
    k("create", "configmap", name)
    assert k("label", "configmap", name, "env=prod").stdout.strip() == f"configmap/{name} labeled"
    assert kj("get", "configmap", name)["metadata"]["labels"] == {"env": "prod"}

    refused = k("label", "configmap", name, "env=dev", check=False)
    assert refused.returncode != 0
    assert "already has a value (prod)" in refused.stderr and "--overwrite is false" in refused.stderr
    assert kj("get", "configmap", name)["metadata"]["labels"] == {"env": "prod"}

    k("label", "configmap", name, "env=dev", "--overwrite")
    assert kj("get", "configmap", name)["metadata"]["labels"] == {"env": "dev"}
    assert k("get", "configmap", "-l", "env=dev", "-o", "name").stdout.split() == [f"configmap/{name}"]

    assert k("label", "configmap", name, "env-").stdout.strip() == f"configmap/{name} unlabeled"
    assert not kj("get", "configmap", name)["metadata"].get("labels")


def test_annotate_overwrite_and_remove(k, kj):
    name = unique("ann")
    k("create", "configmap", name)
    assert k("annotate", "configmap", name, "example.com/note=one").stdout.strip() == f"configmap/{name} annotated"
    assert kj("get", "configmap", name)["metadata"]["annotations"]["example.com/note"] == "one"

    refused = k("annotate", "configmap", name, "example.com/note=two", check=False)
    assert refused.returncode != 0
    assert "--overwrite is false" in refused.stderr
    assert kj("get", "configmap", name)["metadata"]["annotations"]["example.com/note"] == "one"

    k("annotate", "configmap", name, "example.com/note=two", "--overwrite")
    assert kj("get", "configmap", name)["metadata"]["annotations"]["example.com/note"] == "two"

    k("annotate", "configmap", name, "example.com/note-")
    assert "example.com/note" not in (kj("get", "configmap", name)["metadata"].get("annotations") or {})


# --------------------------------------------------------------------------- patch


def test_patch_json(k, kj):
    name = unique("jp")
    k("create", "configmap", name, "--from-literal=a=1", "--from-literal=c=3")
    patch = [
        {"op": "add", "path": "/data/b", "value": "2"},
        {"op": "replace", "path": "/data/a", "value": "10"},
        {"op": "remove", "path": "/data/c"},
        {"op": "add", "path": "/metadata/labels", "value": {"patched": "json"}},
    ]
    out = k("patch", "configmap", name, "--type", "json", "-p", json.dumps(patch)).stdout
    assert out.strip() == f"configmap/{name} patched"
    cm = kj("get", "configmap", name)
    assert cm["data"] == {"a": "10", "b": "2"}
    assert cm["metadata"]["labels"] == {"patched": "json"}


def test_patch_merge(k, kj):
    name = unique("mp")
    k("create", "configmap", name, "--from-literal=a=1", "--from-literal=b=2")
    k("patch", "configmap", name, "--type", "merge", "-p", '{"data":{"a":null,"d":"4"}}')
    assert kj("get", "configmap", name)["data"] == {"b": "2", "d": "4"}


def test_patch_strategic_merges_containers_by_name(k, kj):
    name = unique("smp")
    k("apply", "-f", "-", input=two_container_deployment(name))
    k("patch", "deployment", name, "--type", "strategic",
      "-p", json.dumps({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": IMAGE2}]}}}}))
    containers = kj("get", "deployment", name)["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app", "sidecar"]
    assert containers[0]["image"] == IMAGE2
    assert containers[0]["ports"][0]["containerPort"] == 80
    assert containers[1]["image"] == SIDECAR
    assert containers[1]["command"] == ["sleep", "infinity"]

    # The $patch: delete directive removes one element by its merge key.
    k("patch", "deployment", name,
      "-p", json.dumps({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}))
    containers = kj("get", "deployment", name)["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app"]


def test_patch_merge_replaces_lists_whole(k, kj):
    # The contrast with strategic merge: RFC 7386 replaces a list as a whole.
    name = unique("mpl")
    k("apply", "-f", "-", input=two_container_deployment(name))
    k("patch", "deployment", name, "--type", "merge",
      "-p", json.dumps({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": IMAGE2}]}}}}))
    containers = kj("get", "deployment", name)["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("app", IMAGE2)]
    assert "ports" not in containers[0]


# --------------------------------------------------------------------------- edit / scale


def test_edit_with_scripted_editor(k, kj, tmp_path):
    name = unique("edit")
    k("create", "configmap", name, "--from-literal=color=blue", "--from-literal=size=big")
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/^  color: blue$/  color: green/' \"$1\"\n")
    editor.chmod(0o755)
    out = k("edit", "configmap", name, env={"KUBE_EDITOR": str(editor), "EDITOR": str(editor)}).stdout
    assert out.strip() == f"configmap/{name} edited"
    assert kj("get", "configmap", name)["data"] == {"color": "green", "size": "big"}

    # An editor that changes nothing: kubectl reports it and writes nothing.
    before = kj("get", "configmap", name)["metadata"]["resourceVersion"]
    noop = tmp_path / "noop.sh"
    noop.write_text("#!/bin/sh\ntrue\n")
    noop.chmod(0o755)
    proc = k("edit", "configmap", name, env={"KUBE_EDITOR": str(noop), "EDITOR": str(noop)})
    assert "Edit cancelled, no changes made." in proc.stdout + proc.stderr
    assert kj("get", "configmap", name)["metadata"]["resourceVersion"] == before


def test_scale_deployment(k, kj):
    dep = unique("scale")
    k("create", "deployment", dep, f"--image={IMAGE}", "--replicas=1")
    out = k("scale", "deployment", dep, "--replicas=5").stdout
    assert out.strip() == f"deployment.apps/{dep} scaled"
    assert kj("get", "deployment", dep)["spec"]["replicas"] == 5
    assert k("get", "deployment", dep, "-o", "jsonpath={.spec.replicas}").stdout == "5"

    # The precondition is checked against the scale subresource.
    proc = k("scale", "deployment", dep, "--current-replicas=3", "--replicas=1", check=False)
    assert proc.returncode != 0
    assert "Expected replicas to be 3, was 5" in proc.stderr
    assert kj("get", "deployment", dep)["spec"]["replicas"] == 5


# --------------------------------------------------------------------------- delete


def _owner_with_dependents(k, kj, prefix, count=2, block=False):
    owner = unique(prefix)
    k("create", "configmap", owner)
    uid = kj("get", "configmap", owner)["metadata"]["uid"]
    dependents = [f"{owner}-dep{i}" for i in range(count)]
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": owner, "uid": uid}
    if block:
        ref["blockOwnerDeletion"] = True
    docs = [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": d, "ownerReferences": [ref]}, "data": {"owner": owner}}
        for d in dependents
    ]
    k("create", "-f", "-", input=yaml.safe_dump_all(docs))
    for d in dependents:
        assert kj("get", "configmap", d)["metadata"]["ownerReferences"][0]["uid"] == uid
    return owner, dependents


def _existing(k, names):
    out = k("get", "configmap", *names, "--ignore-not-found", "-o", "name").stdout
    return {line.split("/", 1)[1] for line in out.split()}


def test_delete_cascade_background(k, kj):
    owner, dependents = _owner_with_dependents(k, kj, "bg")
    k("delete", "configmap", owner, "--cascade=background", "--timeout=60s")
    assert _existing(k, [owner]) == set()
    wait_for(lambda: _existing(k, dependents) == set(), timeout=30,
             what="garbage collection of background-deleted dependents")


def test_delete_cascade_foreground(k, kj):
    owner, dependents = _owner_with_dependents(k, kj, "fg", block=True)
    # kubectl waits until the owner is gone, which in foreground deletion happens
    # only after the dependents that block owner deletion are gone.
    k("delete", "configmap", owner, "--cascade=foreground", "--timeout=60s", timeout=90)
    assert _existing(k, [owner]) == set()
    assert _existing(k, dependents) == set()


def test_delete_cascade_orphan(k, kj):
    owner, dependents = _owner_with_dependents(k, kj, "orph")
    k("delete", "configmap", owner, "--cascade=orphan", "--timeout=60s", timeout=90)
    assert _existing(k, [owner]) == set()

    def orphaned():
        for d in dependents:
            if kj("get", "configmap", d)["metadata"].get("ownerReferences"):
                return False
        return True

    wait_for(orphaned, timeout=30, what="ownerReferences to be removed from orphans")
    time.sleep(2)  # and the garbage collector must not delete them afterwards
    assert _existing(k, dependents) == set(dependents)


def test_delete_namespace_removes_contents(skiff):
    ns = unique("e2e-nsdel")
    skiff.kubectl("create", "namespace", ns)
    skiff.kubectl("-n", ns, "create", "configmap", "cm1", "--from-literal=a=b")
    skiff.kubectl("-n", ns, "create", "secret", "generic", "s1", "--from-literal=a=b")
    skiff.kubectl("-n", ns, "create", "deployment", "d1", f"--image={IMAGE}")
    out = skiff.kubectl("delete", "namespace", ns, "--timeout=90s", timeout=120).stdout
    assert f'"{ns}" deleted' in out

    gone = skiff.kubectl("get", "namespace", ns, check=False)
    assert gone.returncode != 0 and "(NotFound)" in gone.stderr
    for kind in ("configmaps", "secrets", "deployments"):
        listed = skiff.kubectl("-n", ns, "get", kind, "-o", "name")
        assert listed.stdout.strip() == "", f"{kind} left in deleted namespace {ns}: {listed.stdout}"


# --------------------------------------------------------------------------- watch


# `-o name` would print no event type (the name printer drops it), so the events
# are read from the JSON output and from the default table (EVENT column).
@pytest.mark.parametrize("mode", ["json", "table"])
def test_get_watch_streams_events(skiff, k, namespace, mode):
    sentinel = unique("sentinel")
    target = unique("watched")
    k("create", "configmap", sentinel)
    args = ["-n", namespace, "get", "configmaps", "-w", "--output-watch-events"]
    if mode == "json":
        args += ["-o", "json"]
    proc = skiff.kubectl_popen(*args)
    try:
        reader = EventReader(proc.stdout, mode)
        # The initial list arrives as ADDED events; after it the watch is live.
        reader.wait_for(f"ADDED {sentinel}", timeout=15)
        k("create", "configmap", target, "--from-literal=v=1")
        reader.wait_for(f"ADDED {target}")
        k("patch", "configmap", target, "--type", "merge", "-p", '{"data":{"v":"2"}}')
        reader.wait_for(f"MODIFIED {target}")
        k("delete", "configmap", target)
        reader.wait_for(f"DELETED {target}")
        assert proc.poll() is None, f"kubectl get -w exited early: {proc.stderr.read()}"
    finally:
        proc.kill()
        proc.wait(timeout=10)
    events = [line.split()[0] for line in reader.lines if line.endswith(f" {target}")]
    assert events == ["ADDED", "MODIFIED", "DELETED"]


# --------------------------------------------------------------------------- conflicts, dry run, generateName, explain


def test_stale_replace_is_a_conflict(k, kj, tmp_path):
    name = unique("stale")
    k("create", "configmap", name, "--from-literal=v=1")
    stale = kj("get", "configmap", name)
    k("label", "configmap", name, "touched=yes")  # bumps resourceVersion
    stale["data"]["v"] = "2"
    path = tmp_path / "stale.json"
    path.write_text(json.dumps(stale))

    proc = k("replace", "-f", path, check=False)
    assert proc.returncode != 0
    assert "(Conflict)" in proc.stderr, proc.stderr
    assert "the object has been modified; please apply your changes to the latest version and try again" in proc.stderr
    live = kj("get", "configmap", name)
    assert live["data"] == {"v": "1"} and live["metadata"]["labels"] == {"touched": "yes"}

    # With the current resourceVersion the same replace succeeds.
    live["data"]["v"] = "2"
    path.write_text(json.dumps(live))
    assert k("replace", "-f", path).stdout.strip() == f"configmap/{name} replaced"
    assert kj("get", "configmap", name)["data"] == {"v": "2"}


def test_server_dry_run_writes_nothing(k, kj):
    name = unique("dry")
    out = k("create", "configmap", name, "--from-literal=a=b", "--dry-run=server", "-o", "json").stdout
    obj = json.loads(out)
    assert obj["metadata"]["name"] == name and obj["data"] == {"a": "b"}
    gone = k("get", "configmap", name, check=False)
    assert gone.returncode != 0 and "(NotFound)" in gone.stderr

    # Server dry run still validates.
    bad = k("create", "configmap", "Bad_Name", "--dry-run=server", check=False)
    # kubectl words Invalid errors as: The ConfigMap "Bad_Name" is invalid: metadata.name: ...
    assert bad.returncode != 0 and '"Bad_Name" is invalid' in bad.stderr, bad.stderr

    # Nor do dry-run updates and deletes.
    k("create", "configmap", name, "--from-literal=a=b")
    rv = kj("get", "configmap", name)["metadata"]["resourceVersion"]
    k("patch", "configmap", name, "--dry-run=server", "-p", '{"data":{"a":"changed"}}')
    k("delete", "configmap", name, "--dry-run=server")
    live = kj("get", "configmap", name)
    assert live["data"] == {"a": "b"} and live["metadata"]["resourceVersion"] == rv


def test_generate_name(k, kj):
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: gen-\ndata:\n  a: b\n"
    names = set()
    for _ in range(2):
        out = k("create", "-f", "-", "-o", "name", input=manifest).stdout.strip()
        m = re.fullmatch(r"configmap/(gen-[a-z0-9]{5})", out)
        assert m, out
        names.add(m.group(1))
    assert len(names) == 2
    for n in names:
        cm = kj("get", "configmap", n)
        assert cm["metadata"]["generateName"] == "gen-"
        assert cm["data"] == {"a": "b"}


def test_explain_field(skiff):
    out = skiff.kubectl("explain", "deployment.spec.replicas").stdout
    assert re.search(r"^KIND:\s+Deployment$", out, re.M), out
    assert re.search(r"^FIELD:\s+replicas\s+<integer>$", out, re.M), out
    assert "DESCRIPTION:" in out
    assert "number of desired pods" in out.lower(), out


def test_system_namespaces_cannot_be_deleted(skiff):
    for ns in ("default", "kube-system", "kube-public"):
        result = skiff.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        assert result.returncode != 0
        assert "may not be deleted" in result.stderr, result.stderr
    phase = skiff.kubectl("get", "namespace", "kube-system", "-o", "jsonpath={.status.phase}").stdout
    assert phase == "Active"


def test_service_addresses_are_allocated_once_and_kept(skiff, namespace):
    name = unique("svc")
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
           "spec": {"type": "NodePort", "selector": {"app": name}, "ports": [{"port": 80}]}}
    skiff.kubectl("create", "-f", "-", input=json.dumps(svc))
    created = json.loads(skiff.kubectl("get", "service", name, "-n", namespace, "-o", "json").stdout)
    ip = created["spec"]["clusterIP"]
    node_port = created["spec"]["ports"][0]["nodePort"]
    assert ip and ip != "None" and 30000 <= node_port <= 32767
    # A replace that leaves the allocated values out keeps them.
    svc["metadata"]["labels"] = {"changed": "yes"}
    skiff.kubectl("replace", "-f", "-", input=json.dumps(svc))
    replaced = json.loads(skiff.kubectl("get", "service", name, "-n", namespace, "-o", "json").stdout)
    assert replaced["spec"]["clusterIP"] == ip
    assert replaced["spec"]["ports"][0]["nodePort"] == node_port
    # Another Service may not take the same IP.
    other = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": unique("svc"), "namespace": namespace},
             "spec": {"clusterIP": ip, "ports": [{"port": 80}]}}
    result = skiff.kubectl("create", "-f", "-", input=json.dumps(other), check=False)
    assert result.returncode != 0 and "already allocated" in result.stderr, result.stderr


def test_every_namespace_gets_a_default_service_account(skiff, namespace):
    for ns in ("default", "kube-system", namespace):
        wait_for(lambda ns=ns: skiff.kubectl("get", "serviceaccount", "default", "-n", ns, check=False).returncode == 0,
                 timeout=15, what=f"serviceaccount default in {ns}")


def test_dependents_of_vanished_owners_are_collected_after_restart(skiff, namespace):
    orphan = unique("dangling")
    foreign = unique("foreign")
    refs = {
        orphan: [{"apiVersion": "v1", "kind": "ConfigMap", "name": "never-existed",
                  "uid": "00000000-0000-0000-0000-000000000001"}],
        # An owner of a kind this server does not serve cannot be checked: kept.
        foreign: [{"apiVersion": "unserved.e2e.skiff.dev/v1", "kind": "Gizmo", "name": "w",
                   "uid": "00000000-0000-0000-0000-000000000002"}],
    }
    for name, owner_refs in refs.items():
        cm = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": name, "namespace": namespace, "ownerReferences": owner_refs}}
        skiff.kubectl("create", "-f", "-", input=json.dumps(cm))
    # The collector sweeps for dangling owners when it starts.
    skiff.restart()
    wait_for(lambda: skiff.kubectl("get", "configmap", orphan, "-n", namespace, check=False).returncode != 0,
             timeout=30, what="the object with a vanished owner to be collected")
    assert skiff.kubectl("get", "configmap", foreign, "-n", namespace, check=False).returncode == 0


def test_health_version_and_metrics(skiff):
    assert skiff.kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"
    assert "[+]ping ok" in skiff.kubectl("get", "--raw", "/livez?verbose").stdout
    version = json.loads(skiff.kubectl("get", "--raw", "/version").stdout)
    assert version["major"] == "1" and version["gitVersion"].startswith("v1.")
    metrics = skiff.kubectl("get", "--raw", "/metrics").stdout
    assert 'apiserver_request_total{verb="GET",code="200"}' in metrics
    assert "apiserver_request_duration_seconds_bucket" in metrics
    watchers = next(int(line.split()[1]) for line in metrics.splitlines() if line.startswith("skiff_watchers "))
    assert watchers >= 2, "the two controllers each hold a watch"
    revision = next(int(line.split()[1]) for line in metrics.splitlines() if line.startswith("skiff_store_revision "))
    assert revision > 0
