"""The wasm plugin platform end to end: WasmPlugin objects, module upload,
`skiff plugin push|list|rollback|test`, hot swap, admission through kubectl
(denials, mutations, warnings, failurePolicy with plugins that trap, loop
forever or eat memory), the built-in pod-security and podpreset plugins, and
the same policy written in Rust, Python and JavaScript.

Plugins pushed here only act in namespaces labelled for the test that pushed
them, so the session's other tests never see them."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO, unique, wait_for

PLUGINS_DIR = Path(os.environ.get("SKIFF_PLUGINS_DIR", REPO / "target" / "plugins" / "wasm32-wasip2" / "release"))
CHAOS = PLUGINS_DIR / "chaos.wasm"


def skiff_cli(skiff, *args, check=True, timeout=300):
    proc = subprocess.run(
        [str(skiff.binary), "plugin", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=skiff.env(), stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"skiff plugin {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def pod_manifest(name, image="reg.example.com/app:1", labels=None, privileged=False):
    container = {"name": "app", "image": image}
    if privileged:
        container["securityContext"] = {"privileged": True}
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [container]},
    })


@pytest.fixture
def lab(skiff):
    """A namespace labelled for this test; its plugins are removed afterwards."""
    ns = unique("plug")
    skiff.kubectl("create", "namespace", ns)
    skiff.kubectl("label", "namespace", ns, f"plugin-test={ns}")
    pushed: list[str] = []
    yield ns, pushed
    for name in pushed:
        skiff.kubectl("delete", "wasmplugin", name, "--ignore-not-found", check=False)
    skiff.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def push(skiff, lab, name, module, config=None, *extra, check=True):
    ns, pushed = lab
    if name not in pushed:
        pushed.append(name)
    args = ["push", name, module, "--namespace-selector", f"plugin-test={ns}", *extra]
    if config is not None:
        args += ["--config", json.dumps(config)]
    return skiff_cli(skiff, *args, check=check)


def create_pod(skiff, ns, name, **kw):
    return skiff.kubectl("-n", ns, "create", "-f", "-", input=pod_manifest(name, **kw), check=False)


def status_of(skiff, name):
    return skiff.kubectl_json("get", "wasmplugin", name).get("status", {})


def condition(status, type_):
    return next((c for c in status.get("conditions", []) if c["type"] == type_), {})


# -- built-ins ---------------------------------------------------------------

def test_builtin_plugins_are_on_and_listed(skiff):
    out = skiff.kubectl("get", "wasmplugins").stdout
    assert "pod-security" in out and "podpreset" in out
    for name in ("pod-security", "podpreset"):
        status = status_of(skiff, name)
        assert condition(status, "Ready")["status"] == "True", status
        assert status["activeDigest"].startswith("sha256:")
    listed = skiff_cli(skiff, "list").stdout
    assert "pod-security" in listed and "Validating" in listed and "Mutating" in listed


def test_pod_security_enforces_and_warns_by_namespace_label(skiff, lab):
    ns, _ = lab
    assert create_pod(skiff, ns, "priv-ok", privileged=True).returncode == 0, "privileged is the default level"
    skiff.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=baseline")
    denied = create_pod(skiff, ns, "priv-denied", privileged=True)
    assert denied.returncode != 0
    assert 'admission plugin "pod-security" denied the request' in denied.stderr
    assert 'violates PodSecurity "baseline:latest"' in denied.stderr and "privileged" in denied.stderr
    skiff.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/warn=restricted")
    ok = create_pod(skiff, ns, "plain")
    assert ok.returncode == 0, ok.stderr
    assert 'would violate PodSecurity "restricted:latest"' in ok.stderr


def test_podpreset_injects_env_and_volumes(skiff, lab):
    ns, _ = lab
    preset = """
apiVersion: settings.k8s.io/v1alpha1
kind: PodPreset
metadata:
  name: allow-database
spec:
  selector:
    matchLabels:
      role: frontend
  env:
    - name: DB_PORT
      value: "6379"
  volumeMounts:
    - mountPath: /cache
      name: cache-volume
  volumes:
    - name: cache-volume
      emptyDir: {}
"""
    skiff.kubectl("-n", ns, "apply", "-f", "-", input=preset)
    assert create_pod(skiff, ns, "website", labels={"role": "frontend"}).returncode == 0
    assert create_pod(skiff, ns, "backend", labels={"role": "backend"}).returncode == 0
    pod = skiff.kubectl_json("-n", ns, "get", "pod", "website")
    container = pod["spec"]["containers"][0]
    assert {"name": "DB_PORT", "value": "6379"} in container["env"]
    assert {"mountPath": "/cache", "name": "cache-volume"} in container["volumeMounts"]
    assert any(v["name"] == "cache-volume" for v in pod["spec"]["volumes"])
    assert "podpreset.admission.kubernetes.io/podpreset-allow-database" in pod["metadata"]["annotations"]
    other = skiff.kubectl_json("-n", ns, "get", "pod", "backend")
    assert "env" not in other["spec"]["containers"][0]


# -- admission through kubectl ------------------------------------------------

def test_denial_reaches_kubectl_with_the_plugins_message(skiff, lab):
    ns, _ = lab
    push(skiff, lab, "deny-pods", CHAOS, {"validate": "deny", "message": "no pods today"}, "--resources", "pods")
    denied = create_pod(skiff, ns, "p1")
    assert denied.returncode != 0
    assert 'admission plugin "deny-pods" denied the request: no pods today' in denied.stderr
    assert "(Forbidden)" in denied.stderr
    # Other namespaces are not selected.
    other = unique("free")
    skiff.kubectl("create", "namespace", other)
    try:
        assert create_pod(skiff, other, "p1").returncode == 0
    finally:
        skiff.kubectl("delete", "namespace", other, "--wait=false", check=False)


def test_mutation_is_visible_and_warnings_are_shown(skiff, lab):
    ns, _ = lab
    push(skiff, lab, "labeller", CHAOS, {"mutate": "add-label", "label": "team=blue"},
         "--type", "Mutating", "--resources", "pods")
    push(skiff, lab, "warner", CHAOS, {"validate": "warn", "message": "mind the gap"}, "--resources", "pods")
    made = create_pod(skiff, ns, "m1")
    assert made.returncode == 0, made.stderr
    assert "Warning: mind the gap" in made.stderr
    assert skiff.kubectl_json("-n", ns, "get", "pod", "m1")["metadata"]["labels"]["team"] == "blue"
    # Updates go through admission too: a label removed by patch comes back.
    skiff.kubectl("-n", ns, "label", "pod", "m1", "team-")
    assert skiff.kubectl_json("-n", ns, "get", "pod", "m1")["metadata"]["labels"]["team"] == "blue"


def test_a_plugin_may_not_change_the_objects_identity(skiff, lab):
    ns, _ = lab
    push(skiff, lab, "forger", CHAOS, {"mutate": "forge-name"}, "--type", "Mutating", "--resources", "pods")
    result = create_pod(skiff, ns, "honest")
    assert result.returncode != 0
    assert 'failed calling admission plugin "forger"' in result.stderr
    assert "may not change metadata.name" in result.stderr


@pytest.mark.parametrize("mode", ["trap", "loop", "hog"])
def test_failure_policy_decides_on_trap_timeout_and_memory(skiff, lab, mode):
    ns, _ = lab
    extra = ["--resources", "pods", "--timeout-seconds", "1", "--memory-limit-mib", "32"]
    push(skiff, lab, f"bad-{mode}", CHAOS, {"validate": mode}, *extra, "--failure-policy", "Fail")
    started = time.monotonic()
    refused = create_pod(skiff, ns, "f1")
    elapsed = time.monotonic() - started
    assert refused.returncode != 0
    assert f'failed calling admission plugin "bad-{mode}"' in refused.stderr
    expected = {"trap": "trapped", "loop": "timed out", "hog": "ran out of memory"}[mode]
    assert expected in refused.stderr, refused.stderr
    # A hang would take the kubectl timeout; the deadline is 1 s.
    assert elapsed < 15, f"the request took {elapsed:.1f}s"
    skiff_cli(skiff, "push", f"bad-{mode}", CHAOS, "--failure-policy", "Ignore")
    wait_for(lambda: create_pod(skiff, ns, "f2").returncode == 0, timeout=30, what="Ignore lets the pod in")


def test_runaway_plugins_do_not_stall_the_api_or_grow_the_host(skiff, lab):
    ns, _ = lab
    push(skiff, lab, "spinner", CHAOS, {"validate": "loop"}, "--resources", "pods", "--timeout-seconds", "2")
    push(skiff, lab, "glutton", CHAOS, {"validate": "hog"}, "--resources", "configmaps",
         "--memory-limit-mib", "64", "--failure-policy", "Fail")

    def rss_kib():
        for line in Path(f"/proc/{skiff.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    spinning = [threading.Thread(target=create_pod, args=(skiff, ns, f"s{i}")) for i in range(2)]
    for t in spinning:
        t.start()
    # While two calls spin, the API answers other requests.
    answered = skiff.kubectl("get", "namespaces", timeout=10)
    assert answered.returncode == 0
    for t in spinning:
        t.join(timeout=60)
    before = rss_kib()
    for i in range(5):
        r = skiff.kubectl("-n", ns, "create", "configmap", f"c{i}", "--from-literal=a=b", check=False)
        assert "ran out of memory" in r.stderr, r.stderr
    grown_mib = (rss_kib() - before) / 1024
    assert grown_mib < 256, f"the server grew by {grown_mib:.0f} MiB after five 64 MiB plugins"


# -- hot swap, rollback, failed loads ------------------------------------------

def test_hot_swap_rollback_and_a_failed_load_keeps_the_old_version(skiff, lab, built_policies):
    ns, _ = lab
    rust = built_policies["rust"]
    push(skiff, lab, "registries", rust, {"registries": ["reg.example.com"]}, "--resources", "pods")
    assert create_pod(skiff, ns, "h1", image="nginx:1.25").returncode != 0
    first = status_of(skiff, "registries")["activeRevision"]

    push(skiff, lab, "registries", rust, {"registries": ["reg.example.com", "docker.io"]})
    assert create_pod(skiff, ns, "h2", image="nginx:1.25").returncode == 0
    status = status_of(skiff, "registries")
    assert status["activeRevision"] == first + 1
    assert [r["revision"] for r in status["revisions"]][:2] == [first + 1, first]

    skiff_cli(skiff, "rollback", "registries")
    assert create_pod(skiff, ns, "h3", image="nginx:1.25").returncode != 0
    assert status_of(skiff, "registries")["activeRevision"] == first + 2

    # A config the policy refuses: the old version keeps serving and the status says why.
    bad = push(skiff, lab, "registries", rust, {"registries": []}, check=False)
    assert bad.returncode != 0 and "did not load" in bad.stderr
    status = status_of(skiff, "registries")
    assert condition(status, "Degraded")["status"] == "True"
    assert condition(status, "Degraded")["reason"] == "InitFailed"
    assert condition(status, "Ready")["reason"] == "PreviousRevisionServing"
    assert create_pod(skiff, ns, "h4", image="nginx:1.25").returncode != 0
    assert create_pod(skiff, ns, "h5").returncode == 0
    described = skiff.kubectl("describe", "wasmplugin", "registries").stdout
    assert "InitFailed" in described


def test_calls_in_flight_finish_on_the_old_version(skiff, lab):
    ns, _ = lab
    push(skiff, lab, "slow", CHAOS, {"validate": "loop"}, "--resources", "pods",
         "--timeout-seconds", "8", "--failure-policy", "Ignore")
    result = {}
    t = threading.Thread(target=lambda: result.update(r=create_pod(skiff, ns, "inflight")))
    t.start()
    # Long enough for kubectl to have sent the request, well inside the 8 s deadline.
    time.sleep(3)
    push(skiff, lab, "slow", CHAOS, {"validate": "deny"})
    t.join(timeout=60)
    # The call that began on the looping version ended by its deadline (Ignore: admitted) ...
    assert result["r"].returncode == 0, result["r"].stderr
    # ... and the next request meets the new version.
    assert 'admission plugin "slow" denied the request' in create_pod(skiff, ns, "after").stderr


# -- modules and the CLI ---------------------------------------------------------

def test_module_upload_is_content_addressed_and_checked(skiff):
    conn = skiff.conn

    def post(body):
        req = urllib.request.Request(
            f"https://{skiff.listen}/apis/plugins.skiff.dev/v1alpha1/modules", data=body, method="POST",
            headers={**conn.headers(), "Content-Type": "application/wasm"})
        try:
            with urllib.request.urlopen(req, context=conn.ssl_context()) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    chaos = CHAOS.read_bytes()
    code1, first = post(chaos)
    code2, again = post(chaos)
    assert code1 in (200, 201) and code2 == 200 and first["digest"] == again["digest"]
    code, status = post(b"\0asm\x01\0\0\0")
    assert code == 400 and "core WebAssembly module" in status["message"]
    code, status = post(b"hello")
    assert code == 400 and "not a WebAssembly binary" in status["message"]
    bad = skiff.kubectl("apply", "-f", "-", check=False, input=json.dumps({
        "apiVersion": "plugins.skiff.dev/v1alpha1", "kind": "WasmPlugin", "metadata": {"name": unique("ghost")},
        "spec": {"world": "admission", "module": "sha256:" + "0" * 64,
                 "admission": {"type": "Validating", "resources": [{"apiGroups": [""], "resources": ["pods"]}]}}}))
    assert bad.returncode == 0
    name = bad.stdout.split()[0].split("/")[-1]
    try:
        wait_for(lambda: condition(status_of(skiff, name), "Ready").get("reason") == "ModuleNotFound",
                 what="ModuleNotFound in status")
    finally:
        skiff.kubectl("delete", "wasmplugin", name, check=False)


def test_plugin_test_runs_a_plugin_locally(skiff, tmp_path, built_policies):
    request = tmp_path / "pod.json"
    request.write_text(pod_manifest("local", image="nginx:1.25"))
    config = json.dumps({"registries": ["reg.example.com"]})
    denied = subprocess.run([str(skiff.binary), "plugin", "test", built_policies["rust"], "--request", request,
                             "--config", config], capture_output=True, text=True, timeout=120)
    assert denied.returncode == 1, denied.stderr
    verdict = json.loads(denied.stdout)
    assert verdict["allowed"] is False and 'uses image "nginx:1.25"' in verdict["message"]
    mutated = subprocess.run([str(skiff.binary), "plugin", "test", CHAOS, "--request", request, "--mutate",
                              "--config", json.dumps({"mutate": "add-label"})],
                             capture_output=True, text=True, timeout=120)
    assert mutated.returncode == 0, mutated.stderr
    assert json.loads(mutated.stdout)["change"]["patch"]


def test_plugin_metrics(skiff, lab):
    ns, _ = lab
    push(skiff, lab, "counted", CHAOS, {"validate": "allow"}, "--resources", "pods")
    create_pod(skiff, ns, "metered")
    conn = skiff.conn
    req = urllib.request.Request(f"https://{skiff.listen}/metrics", headers=conn.headers())
    with urllib.request.urlopen(req, context=conn.ssl_context()) as r:
        text = r.read().decode()
    assert 'skiff_plugin_calls_total{plugin="counted",world="admission",result="ok"}' in text
    assert 'skiff_plugin_call_duration_seconds_count{plugin="counted"}' in text
    assert 'skiff_plugin_timeouts_total{plugin="counted"} 0' in text


# -- one policy, three languages ---------------------------------------------------

@pytest.mark.parametrize("language", ["rust", "python", "javascript"])
def test_the_same_policy_in_three_languages(skiff, lab, built_policies, language):
    ns, _ = lab
    name = f"registries-{language}"
    push(skiff, lab, name, built_policies[language], {"registries": ["reg.example.com", "127.0.0.1:5000"]},
         "--resources", "pods")
    assert create_pod(skiff, ns, f"ok-{language}", image="127.0.0.1:5000/app:1").returncode == 0
    denied = create_pod(skiff, ns, f"no-{language}", image="nginx:1.25")
    assert denied.returncode != 0
    assert (f'admission plugin "{name}" denied the request: container "app" uses image "nginx:1.25" from '
            f'registry "docker.io", which is not allowed (allowed registries: reg.example.com, 127.0.0.1:5000)'
            ) in denied.stderr
    skiff.kubectl("delete", "wasmplugin", name)


def test_the_seeds_envoy_initializer_as_a_sidecar_injector(skiff, lab):
    import plugin_builds

    ns, _ = lab
    module = plugin_builds.build_rust_example("sidecar-injector", REPO / "target" / "plugins" / "examples")
    manifest = (REPO / "examples" / "envoy-initializer.yaml").read_text().replace("namespace: default", f"namespace: {ns}")
    skiff.kubectl("apply", "-f", "-", input=manifest)
    push(skiff, lab, "envoy", module, {"configMap": {"namespace": ns, "name": "envoy-initializer"}},
         "--type", "Mutating", "--resources", "pods", "--operations", "CREATE")
    assert create_pod(skiff, ns, "web").returncode == 0
    pod = skiff.kubectl_json("-n", ns, "get", "pod", "web")
    assert [c["name"] for c in pod["spec"]["containers"]] == ["app", "envoy"]
    assert any(v["name"] == "envoy-conf" for v in pod["spec"]["volumes"])
    assert pod["metadata"]["annotations"]["sidecar.skiff.dev/injected"] == "envoy"
