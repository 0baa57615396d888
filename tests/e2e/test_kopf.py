"""A real operator framework written by others — kopf, from PyPI — runs an
operator of this suite (tests/e2e/operators/pets_operator.py) against skiff:
it watches a custom kind, adds its finalizer, creates a child ConfigMap it
owns, records status, and its create, update and delete handlers fire.

The operator runs as a subprocess (`python -m kopf run --standalone
--namespace NS`), with the test server's kubeconfig, and is stopped by its pid."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import unique, wait_for

OPERATOR = Path(__file__).resolve().parent / "operators" / "pets_operator.py"
GROUP = "kopf.e2e.skiff.dev"
PLURAL = "pets"
CRD_NAME = f"{PLURAL}.{GROUP}"
RESOURCE = f"{PLURAL}.{GROUP}"
KOPF_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"

PETS_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": CRD_NAME},
    "spec": {
        "group": GROUP, "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "pet", "kind": "Pet", "shortNames": ["kopfpet"]},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "subresources": {"status": {}},
            "additionalPrinterColumns": [{"name": "Phase", "type": "string", "jsonPath": ".status.phase"}],
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {"food": {"type": "string"}}},
                # kopf keeps handler results and its progress in status.
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            }}},
        }],
    },
}


@pytest.fixture(scope="module")
def pets_crd(skiff):
    skiff.kubectl("apply", "-f", "-", input=json.dumps(PETS_CRD))
    skiff.kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=30s", timeout=45)
    wait_for(lambda: skiff.kubectl("get", RESOURCE, "-A", check=False).returncode == 0, timeout=30,
             what=f"{RESOURCE} to be served")
    yield
    skiff.kubectl("delete", "crd", CRD_NAME, "--ignore-not-found", "--wait=false", check=False)


class Operator:
    def __init__(self, proc: subprocess.Popen, log: Path):
        self.proc = proc
        self.log = log

    def log_tail(self, chars=6000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "(no log)"

    def wait_for(self, predicate, what, timeout=60):
        try:
            return wait_for(predicate, timeout=timeout, interval=0.5, what=what)
        except AssertionError as e:
            alive = "running" if self.proc.poll() is None else f"exited {self.proc.returncode}"
            raise AssertionError(f"{e}\n--- kopf operator ({alive}) log ---\n{self.log_tail()}") from None


@pytest.fixture
def operator(skiff, namespace, pets_crd, tmp_path):
    log = tmp_path / "kopf.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", namespace, "--verbose",
             str(OPERATOR)],
            env={**skiff.env(), "PETS_GROUP": GROUP, "PYTHONUNBUFFERED": "1"},
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(tmp_path),
        )
    op = Operator(proc, log)
    try:
        yield op
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def test_kopf_operator_handles_create_update_and_delete(skiff, namespace, operator):
    k = lambda *a, **kw: skiff.kubectl("-n", namespace, *a, **kw)  # noqa: E731
    kj = lambda *a: json.loads(k(*a, "-o", "json").stdout)  # noqa: E731

    def configmap(name):
        out = k("get", "configmap", name, "--ignore-not-found", "-o", "json").stdout
        return json.loads(out) if out.strip() else None

    pet = unique("rex")
    child = f"{pet}-food"
    k("create", "-f", "-", input=json.dumps(
        {"apiVersion": f"{GROUP}/v1", "kind": "Pet", "metadata": {"name": pet}, "spec": {"food": "bones"}}))

    # create: the child ConfigMap, owned by the pet.
    cm = operator.wait_for(lambda: configmap(child), what="the create handler's ConfigMap")
    assert cm["data"] == {"food": "bones"}
    uid = kj("get", RESOURCE, pet)["metadata"]["uid"]
    refs = cm["metadata"]["ownerReferences"]
    assert len(refs) == 1, refs
    assert {k_: refs[0][k_] for k_ in ("apiVersion", "kind", "name", "uid")} == {
        "apiVersion": f"{GROUP}/v1", "kind": "Pet", "name": pet, "uid": uid}
    assert refs[0].get("controller") is True and refs[0].get("blockOwnerDeletion") is True

    # kopf's finalizer (it has a delete handler) and the recorded status.
    def fed():
        obj = kj("get", RESOURCE, pet)
        status = obj.get("status", {})
        return obj if status.get("phase") == "Fed" and status.get("on_create") == {"child": child} else None

    obj = operator.wait_for(fed, what="status.phase=Fed and the create handler's result in status")
    assert KOPF_FINALIZER in obj["metadata"].get("finalizers", []), obj["metadata"]
    # kopf remembers what it handled in an annotation (its diff base).
    assert "kopf.zalando.org/last-handled-configuration" in obj["metadata"].get("annotations", {}), obj["metadata"]
    assert k("get", RESOURCE, pet).stdout.splitlines()[1].split()[1] == "Fed"

    # update: the child follows the spec.
    k("patch", RESOURCE, pet, "--type=merge", "-p", '{"spec":{"food":"fish"}}')
    operator.wait_for(lambda: (configmap(child) or {}).get("data") == {"food": "fish"},
                      what="the update handler to change the ConfigMap")
    operator.wait_for(lambda: kj("get", RESOURCE, pet).get("status", {}).get("phase") == "Refed",
                      what="status.phase=Refed")

    # delete: kopf runs the handler, then removes its finalizer and the pet goes.
    k("delete", RESOURCE, pet, "--wait=false")
    operator.wait_for(lambda: not k("get", RESOURCE, pet, "--ignore-not-found", "-o", "name").stdout.strip(),
                      what="the pet to go once kopf removed its finalizer")
    assert configmap(child) is None
    farewell = configmap(f"{pet}-farewell")
    assert farewell and farewell["data"] == {"pet": pet}, "the delete handler did not run"

    assert operator.proc.poll() is None, f"the operator exited:\n{operator.log_tail()}"
    # Stopped by its pid: kopf shuts down on SIGTERM.
    operator.proc.send_signal(signal.SIGTERM)
    operator.proc.wait(timeout=30)


def test_kopf_handles_objects_that_existed_before_it_started(skiff, namespace, pets_crd, operator):
    # The operator of this test started before the pet; a restart of it must
    # not run the create handler twice (kopf keeps its progress on the object).
    pet = unique("tom")
    child = f"{pet}-food"
    skiff.kubectl("-n", namespace, "create", "-f", "-", input=json.dumps(
        {"apiVersion": f"{GROUP}/v1", "kind": "Pet", "metadata": {"name": pet}, "spec": {"food": "milk"}}))
    operator.wait_for(lambda: skiff.kubectl("-n", namespace, "get", "configmap", child, "--ignore-not-found",
                                            "-o", "name").stdout.strip(), what="the child ConfigMap")
    operator.wait_for(lambda: skiff.kubectl_json("-n", namespace, "get", RESOURCE, pet)
                      .get("status", {}).get("phase") == "Fed", what="status.phase=Fed")
    operator.proc.send_signal(signal.SIGTERM)
    operator.proc.wait(timeout=30)

    # A second run sees the pet already handled: no new create (the ConfigMap
    # would conflict and the handler would retry with an error in the log).
    log = operator.log.with_name("kopf-second.log")
    with open(log, "wb") as out:
        second = subprocess.Popen(
            [sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", namespace, "--verbose",
             str(OPERATOR)],
            env={**skiff.env(), "PETS_GROUP": GROUP, "PYTHONUNBUFFERED": "1"},
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(log.parent),
        )
    again = Operator(second, log)
    try:
        skiff.kubectl("-n", namespace, "patch", RESOURCE, pet, "--type=merge", "-p", '{"spec":{"food":"cream"}}')
        again.wait_for(lambda: skiff.kubectl("-n", namespace, "get", "configmap", child, "-o",
                                             "jsonpath={.data.food}").stdout == "cream",
                       what="the second operator's update handler")
        text = log.read_text(errors="replace")
        assert "Handler 'on_create' succeeded" not in text, again.log_tail()
        skiff.kubectl("-n", namespace, "delete", RESOURCE, pet, "--wait=false")
        again.wait_for(lambda: not skiff.kubectl("-n", namespace, "get", RESOURCE, pet, "--ignore-not-found",
                                                 "-o", "name").stdout.strip(), what="the pet to go")
    finally:
        if second.poll() is None:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(timeout=30)
            except subprocess.TimeoutExpired:
                second.kill()
                second.wait(timeout=10)
