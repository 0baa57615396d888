"""The official Python client (kubernetes) against skiff: CRUD, selectors,
pagination, and an informer-style list+watch that survives a server restart."""

from __future__ import annotations

import queue
import subprocess
import threading
import time

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from conftest import SkiffServer, unique

# Longer than the harness's 30 s SIGTERM grace: a server that waits for open
# watches to end before exiting fails the restart test instead of passing by luck.
WATCH_SECONDS = 60
REQUEST_TIMEOUT = 30


@pytest.fixture(scope="module")
def core(skiff):
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(skiff.kubeconfig), client_configuration=cfg)
    api_client = client.ApiClient(cfg)
    yield client.CoreV1Api(api_client)
    api_client.close()


@pytest.fixture
def ns(core):
    """A fresh namespace per test, made through the client."""
    name = unique("e2e-py")
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)),
                          _request_timeout=REQUEST_TIMEOUT)
    yield name
    try:
        core.delete_namespace(name, _request_timeout=REQUEST_TIMEOUT)
    except ApiException:
        pass


def cm(name, labels=None, **data):
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels), data=data or None)


def names(items):
    return sorted(i.metadata.name for i in items)


def test_configmap_crud(core, ns):
    created = core.create_namespaced_config_map(ns, cm("crud", a="1"), _request_timeout=REQUEST_TIMEOUT)
    assert created.metadata.uid and created.metadata.resource_version
    assert created.metadata.namespace == ns

    got = core.read_namespaced_config_map("crud", ns)
    assert got.data == {"a": "1"} and got.metadata.uid == created.metadata.uid

    got.data["b"] = "2"
    replaced = core.replace_namespaced_config_map("crud", ns, got)
    assert replaced.data == {"a": "1", "b": "2"}
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)

    patched = core.patch_namespaced_config_map("crud", ns, {"metadata": {"labels": {"x": "y"}}, "data": {"a": "9"}})
    assert patched.data == {"a": "9", "b": "2"} and patched.metadata.labels == {"x": "y"}

    # An update carrying the old resourceVersion is refused.
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("crud", ns, replaced)
    assert conflict.value.status == 409

    # The client hands DELETE's answer back as a plain dict.
    status = core.delete_namespaced_config_map("crud", ns)
    assert status["kind"] == "Status" and status["status"] == "Success"
    assert status["details"]["name"] == "crud"
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("crud", ns)
    assert gone.value.status == 404
    with pytest.raises(ApiException) as gone_again:
        core.delete_namespaced_config_map("crud", ns)
    assert gone_again.value.status == 404


def test_list_with_label_and_field_selectors(core, ns):
    core.create_namespaced_config_map(ns, cm("a", {"env": "prod", "tier": "web"}))
    core.create_namespaced_config_map(ns, cm("b", {"env": "dev", "tier": "web"}))
    core.create_namespaced_config_map(ns, cm("c", {"env": "prod"}))
    core.create_namespaced_config_map(ns, cm("d"))

    def sel(label_selector=None, field_selector=None):
        kw = {}
        if label_selector is not None:
            kw["label_selector"] = label_selector
        if field_selector is not None:
            kw["field_selector"] = field_selector
        return names(core.list_namespaced_config_map(ns, **kw).items)

    assert sel() == ["a", "b", "c", "d"]
    assert sel("env=prod") == ["a", "c"]
    assert sel("env==prod") == ["a", "c"]
    # != and notin also match objects that do not have the label at all.
    assert sel("env!=prod") == ["b", "d"]
    assert sel("env in (prod,dev)") == ["a", "b", "c"]
    assert sel("env notin (prod)") == ["b", "d"]
    assert sel("tier") == ["a", "b"]
    assert sel("!tier") == ["c", "d"]
    assert sel("env=prod,tier") == ["a"]
    assert sel("env in (prod),tier notin (web)") == ["c"]
    assert sel(field_selector="metadata.name=b") == ["b"]
    assert sel(field_selector="metadata.name!=b") == ["a", "c", "d"]
    assert sel("env=prod", "metadata.name=c") == ["c"]
    assert sel(field_selector=f"metadata.namespace={ns}") == ["a", "b", "c", "d"]

    with pytest.raises(ApiException) as bad:
        core.list_namespaced_config_map(ns, label_selector="env in prod")
    assert bad.value.status == 400
    with pytest.raises(ApiException) as bad_field:
        core.list_namespaced_config_map(ns, field_selector="data.a=1")
    assert bad_field.value.status == 400


def test_pagination_returns_every_item_once(core, ns):
    expected = [f"page-{i:02d}" for i in range(23)]
    for n in expected:
        core.create_namespaced_config_map(ns, cm(n, v=n))

    seen, pages, token = [], 0, None
    while True:
        kw = {"limit": 5}
        if token:
            kw["_continue"] = token
        page = core.list_namespaced_config_map(ns, **kw)
        pages += 1
        assert len(page.items) <= 5
        seen += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if not token:
            assert not page.metadata.remaining_item_count
            break
        assert len(page.items) == 5
        if page.metadata.remaining_item_count is not None:
            assert page.metadata.remaining_item_count == len(expected) - len(seen)
        assert pages < 20, "pagination does not terminate"
    assert pages == 5
    assert sorted(seen) == expected and len(seen) == len(set(seen))


def test_pagination_during_writes_has_no_duplicates(core, ns):
    expected = [f"item-{i:02d}" for i in range(12)]
    for n in expected:
        core.create_namespaced_config_map(ns, cm(n))
    first = core.list_namespaced_config_map(ns, limit=4)
    seen = [i.metadata.name for i in first.items]
    # Writes between pages: a new item that sorts first, and updates to seen and unseen ones.
    core.create_namespaced_config_map(ns, cm("aaa-new"))
    core.patch_namespaced_config_map(seen[0], ns, {"data": {"touched": "1"}})
    core.patch_namespaced_config_map("item-11", ns, {"data": {"touched": "1"}})
    token = first.metadata._continue
    assert token
    while token:
        page = core.list_namespaced_config_map(ns, limit=4, _continue=token)
        seen += [i.metadata.name for i in page.items]
        token = page.metadata._continue
    assert len(seen) == len(set(seen)), f"duplicates across pages: {seen}"
    assert set(expected) <= set(seen)


def test_bad_continue_token_is_rejected(core, ns):
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_config_map(ns, limit=1, _continue="not-a-continue-token")
    assert bad.value.status in (400, 410), bad.value


# --------------------------------------------------------------------------- watch


class Watcher:
    """An informer's watch half: streams events from a resourceVersion into a queue."""

    def __init__(self, core, ns, resource_version):
        self.events: queue.Queue = queue.Queue()
        self.error: Exception | None = None
        self._w = watch.Watch()
        self._t = threading.Thread(target=self._run, args=(core, ns, resource_version), daemon=True)
        self._t.start()

    def _run(self, core, ns, rv):
        try:
            for ev in self._w.stream(core.list_namespaced_config_map, ns, resource_version=rv,
                                     timeout_seconds=WATCH_SECONDS, allow_watch_bookmarks=False,
                                     _request_timeout=WATCH_SECONDS + 15):
                raw = ev["raw_object"]
                self.events.put((ev["type"], raw["metadata"]["name"], int(raw["metadata"]["resourceVersion"]),
                                 (raw.get("data") or {})))
        except Exception as exc:  # the server going away ends the stream
            self.error = exc

    def take(self, count, timeout=15.0):
        got, deadline = [], time.monotonic() + timeout
        while len(got) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"expected {count} watch events, got {got} (error: {self.error!r})")
            try:
                got.append(self.events.get(timeout=remaining))
            except queue.Empty:
                pass
        return got

    def quiet(self, seconds=1.5):
        """Whatever else arrives within a short while (should be nothing)."""
        time.sleep(seconds)
        extra = []
        while not self.events.empty():
            extra.append(self.events.get_nowait())
        return extra

    def stop(self):
        # Takes effect at the next event or when the server ends the watch; the
        # daemon thread is not waited for.
        self._w.stop()


def test_watch_resumes_across_server_restart(skiff, core, ns):
    core.create_namespaced_config_map(ns, cm("a1", v="1"))
    core.create_namespaced_config_map(ns, cm("a2", v="1"))
    listed = core.list_namespaced_config_map(ns)
    assert names(listed.items) == ["a1", "a2"]
    rv0 = listed.metadata.resource_version

    # Live watch from the list's resourceVersion sees changes as they happen.
    w1 = Watcher(core, ns, rv0)
    time.sleep(0.5)
    core.create_namespaced_config_map(ns, cm("b1", v="1"))
    core.patch_namespaced_config_map("a1", ns, {"data": {"v": "2"}})
    core.delete_namespaced_config_map("a2", ns)
    first = w1.take(3)
    assert [(t, n) for t, n, _, _ in first] == [("ADDED", "b1"), ("MODIFIED", "a1"), ("DELETED", "a2")]
    assert first[1][3] == {"v": "2"}
    rvs = [rv for _, _, rv, _ in first]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3 and rvs[0] > int(rv0)
    last_seen = rvs[-1]
    assert w1.quiet() == []

    # The watch goes down (server restart); changes happen before and after it.
    core.create_namespaced_config_map(ns, cm("d1", v="1"))     # server up, nobody watching
    code = skiff.restart()
    assert code == 0, f"skiff server did not exit cleanly on SIGTERM (exit {code})"
    w1.stop()
    core.create_namespaced_config_map(ns, cm("c1", v="1"))     # after the restart
    core.patch_namespaced_config_map("b1", ns, {"data": {"v": "2"}})
    core.delete_namespaced_config_map("a1", ns)

    # Resuming from the last seen resourceVersion delivers exactly what was missed.
    w2 = Watcher(core, ns, str(last_seen))
    missed = w2.take(4)
    assert [(t, n) for t, n, _, _ in missed] == [
        ("ADDED", "d1"), ("ADDED", "c1"), ("MODIFIED", "b1"), ("DELETED", "a1"),
    ]
    rvs = [rv for _, _, rv, _ in missed]
    assert rvs == sorted(rvs) and len(set(rvs)) == 4 and rvs[0] > last_seen
    # ... and then goes on live.
    core.create_namespaced_config_map(ns, cm("e1", v="1"))
    live = w2.take(1)
    assert [(t, n) for t, n, _, _ in live] == [("ADDED", "e1")] and live[0][2] > rvs[-1]
    assert w2.quiet() == []
    w2.stop()

    # resourceVersions keep increasing across the restart, and the data is all there.
    final = core.list_namespaced_config_map(ns)
    assert names(final.items) == ["b1", "c1", "d1", "e1"]
    assert int(final.metadata.resource_version) >= live[0][2]


@pytest.fixture(scope="module")
def compacting(skiff, tmp_path_factory):
    """A second server that keeps one revision of history and compacts every second."""
    server = SkiffServer(skiff.binary, tmp_path_factory.mktemp("compacting"),
                         ("--watch-history", "1", "--compaction-interval", "1", "--no-agent"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_watch_from_compacted_resource_version_is_gone(compacting):
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(compacting.kubeconfig), client_configuration=configuration)
    core = client.CoreV1Api(client.ApiClient(configuration))
    ns = "default"
    core.create_namespaced_config_map(ns, cm("old", v="1"))
    old_rv = core.list_namespaced_config_map(ns).metadata.resource_version
    for i in range(3):
        core.patch_namespaced_config_map("old", ns, {"data": {"v": str(i + 2)}})
    time.sleep(2.5)  # two compaction rounds

    w = watch.Watch()
    with pytest.raises(ApiException) as gone:
        # The client retries a 410 once by itself, then raises it.
        for _ in w.stream(core.list_namespaced_config_map, ns, resource_version=old_rv,
                          timeout_seconds=10, _request_timeout=30):
            pass
    assert gone.value.status == 410

    # A fresh list gives a resourceVersion to watch from again.
    fresh_rv = core.list_namespaced_config_map(ns).metadata.resource_version
    w2 = Watcher(core, ns, fresh_rv)
    time.sleep(0.5)
    core.patch_namespaced_config_map("old", ns, {"data": {"v": "new"}})
    assert [(t, n) for t, n, _, _ in w2.take(1)] == [("MODIFIED", "old")]
    w2.stop()
