"""`skiff server --datastore postgres://...` serves the same API from PostgreSQL,
and keeps its objects across a restart."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from conftest import own_server, unique, wait_for

PG_URL = os.environ.get("SKIFF_TEST_POSTGRES_URL")


def serve_from_postgres(tmp_path_factory, label):
    """A running server on the shared PostgreSQL store; stopped when the generator closes."""
    yield from own_server(tmp_path_factory, label, "--datastore", PG_URL, "--no-agent")


@pytest.fixture(scope="module")
def pg_server(skiff, tmp_path_factory):
    if not PG_URL:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the PostgreSQL datastore test: set SKIFF_TEST_POSTGRES_URL (tests/run does)")
        pytest.skip("SKIFF_TEST_POSTGRES_URL is not set; tests/run starts a PostgreSQL for this")
    yield from serve_from_postgres(tmp_path_factory, "postgres")


def test_objects_live_in_postgres_and_survive_restart(pg_server):
    name = unique("pg-cm")
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}
    pg_server.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    before = json.loads(pg_server.kubectl("get", "configmap", name, "-o", "json").stdout)
    assert before["data"] == {"k": "v"}

    pg_server.restart()

    after = json.loads(pg_server.kubectl("get", "configmap", name, "-o", "json").stdout)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    pg_server.kubectl("patch", "configmap", name, "--type", "merge", "-p", '{"data":{"k":"w"}}')
    patched = json.loads(pg_server.kubectl("get", "configmap", name, "-o", "json").stdout)
    assert patched["data"] == {"k": "w"}
    assert int(patched["metadata"]["resourceVersion"]) > int(after["metadata"]["resourceVersion"])
    # The built-in namespaces were bootstrapped into PostgreSQL too.
    namespaces = pg_server.kubectl("get", "namespaces", "-o", "name").stdout.split()
    assert "namespace/kube-system" in namespaces


@pytest.fixture(scope="module")
def pg_second(pg_server, tmp_path_factory):
    """A second server on the same PostgreSQL store."""
    yield from serve_from_postgres(tmp_path_factory, "postgres-b")


def test_two_servers_share_one_store(pg_server, pg_second):
    name = unique("shared")
    # A watch on the second server sees what the first one writes.
    proc = pg_second.kubectl_popen("get", "configmaps", "--watch-only", "-o", "name")
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(line.strip() for line in proc.stdout), daemon=True)
    reader.start()
    try:
        time.sleep(1.0)
        manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}
        pg_server.kubectl("create", "-f", "-", input=json.dumps(manifest))
        wait_for(lambda: f"configmap/{name}" in seen, timeout=20, what="the other server's watch to see the write")
    finally:
        proc.kill()
        proc.wait(timeout=10)
    # Exactly one of them holds the controller lease, and the controllers work from either side.
    lease = json.loads(pg_second.kubectl("get", "lease", "skiff-controllers", "-n", "kube-system", "-o", "json").stdout)
    assert lease["spec"]["holderIdentity"]
    owner = json.loads(pg_server.kubectl("create", "configmap", unique("owner"), "-o", "json").stdout)
    dependent = unique("dependent")
    dep = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": dependent, "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}]}}
    pg_second.kubectl("create", "-f", "-", input=json.dumps(dep))
    pg_second.kubectl("delete", "configmap", owner["metadata"]["name"], "--cascade=background")
    wait_for(lambda: pg_server.kubectl("get", "configmap", dependent, check=False).returncode != 0,
             timeout=30, what="the dependent to be collected")
