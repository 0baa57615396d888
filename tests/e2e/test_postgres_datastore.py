"""`skiff server --datastore postgres://...` serves the same API from PostgreSQL,
and keeps its objects across a restart."""

from __future__ import annotations

import json
import os

import pytest

from conftest import SkiffServer, unique

PG_URL = os.environ.get("SKIFF_TEST_POSTGRES_URL")


@pytest.fixture(scope="module")
def pg_server(skiff, tmp_path_factory):
    if not PG_URL:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the PostgreSQL datastore test: set SKIFF_TEST_POSTGRES_URL (tests/run does)")
        pytest.skip("SKIFF_TEST_POSTGRES_URL is not set; tests/run starts a PostgreSQL for this")
    server = SkiffServer(skiff.binary, tmp_path_factory.mktemp("postgres"), ("--datastore", PG_URL))
    server.start()
    try:
        yield server
    finally:
        server.stop()


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
