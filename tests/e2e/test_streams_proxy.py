"""kubectl logs, exec, attach and cp through the API server to a node agent.

The API server resolves the pod's container and node and proxies to the
agent at the Node's address and kubelet port, as kube-apiserver does to the
kubelet. The agent here is `fake_agent` (crates/node/examples): the real
agent's HTTP server over host processes, so these tests need no container
runtime; its "container root" is a temp dir and its logs are CRI files the
tests write.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from conftest import REPO, SkiffServer, own_server, unique

POD_TIMEOUT = 30


def _target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))


class FakeAgent:
    def __init__(self, base: Path, token: str):
        self.dir = base
        self.root = base / "root"
        self.logs = base / "logs"
        binary = _target_dir() / "debug" / "examples" / "fake_agent"
        if not binary.exists():
            subprocess.run(["cargo", "build", "-p", "skiff-node", "--example", "fake_agent"], cwd=REPO, check=True)
        self.proc = subprocess.Popen(
            [str(binary), "--dir", str(base), "--token", token],
            stdout=subprocess.PIPE,
            stderr=open(base / "agent.log", "wb"),
            stdin=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline().strip()
        assert line.startswith("PORT="), f"fake agent said {line!r}; see {base / 'agent.log'}"
        self.port = int(line.split("=", 1)[1])

    def log_file(self, ns: str, pod: str, container: str, suffix: str = "log") -> Path:
        return self.logs / f"{ns}_{pod}_{container}.{suffix}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> SkiffServer:
    # The fake agent stands for this node's agent: the server must not run its own.
    yield from own_server(tmp_path_factory, "skiff-streams", "--no-agent")


@pytest.fixture(scope="module")
def agent(server, tmp_path_factory) -> FakeAgent:
    fake = FakeAgent(tmp_path_factory.mktemp("fake-agent"), server.conn.token)
    yield fake
    fake.stop()


def _apply(server: SkiffServer, obj: dict) -> None:
    server.kubectl("apply", "-f", "-", input=json.dumps(obj))


def _node(server: SkiffServer, name: str, port: int) -> None:
    _apply(server, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
    status = {
        "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        }
    }
    server.kubectl("patch", "node", name, "--subresource=status", "--type=merge", "-p", json.dumps(status))


def _pod(server: SkiffServer, ns: str, name: str, node: str, containers=("c",), running=True) -> None:
    _apply(server, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"nodeName": node, "containers": [{"name": c, "image": "busybox"} for c in containers]},
    })
    if running:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        status = {"status": {"phase": "Running", "containerStatuses": [
            {"name": c, "ready": True, "restartCount": 0, "image": "busybox", "imageID": "",
             "state": {"running": {"startedAt": now}}} for c in containers]}}
        server.kubectl("patch", "pod", name, "-n", ns, "--subresource=status", "--type=merge",
                       "-p", json.dumps(status))


@pytest.fixture(scope="module")
def cluster(server, agent):
    """A namespace, a Node pointing at the fake agent and a running pod bound to it."""
    ns = unique("streams")
    server.kubectl("create", "namespace", ns)
    node = unique("node")
    _node(server, node, agent.port)
    _pod(server, ns, "box", node)
    return {"ns": ns, "node": node, "pod": "box"}


def _write_log(agent: FakeAgent, ns: str, pod: str, lines: list[str], container: str = "c") -> Path:
    path = agent.log_file(ns, pod, container)
    with open(path, "a") as f:
        for line in lines:
            f.write(line + "\n")
    return path


LOG = [
    "2024-01-02T03:04:05.123456789Z stdout F first line",
    "2024-01-02T03:04:06Z stderr F an error",
    "2024-01-02T03:04:07.5Z stdout P a long ",
    "2024-01-02T03:04:07.6Z stdout F line in two pieces",
]


def test_logs_tail_timestamps_and_limit(server, agent, cluster):
    ns, pod = cluster["ns"], "logs-pod"
    _pod(server, ns, pod, cluster["node"])
    _write_log(agent, ns, pod, LOG)
    out = server.kubectl("logs", pod, "-n", ns).stdout
    assert out == "first line\nan error\na long line in two pieces\n"
    assert server.kubectl("logs", pod, "-n", ns, "--tail=1").stdout == "a long line in two pieces\n"
    stamped = server.kubectl("logs", pod, "-n", ns, "--timestamps", "--tail=2").stdout
    assert stamped == "2024-01-02T03:04:06Z an error\n2024-01-02T03:04:07.5Z a long line in two pieces\n"
    assert server.kubectl("logs", pod, "-n", ns, "--limit-bytes=8").stdout == "first li"
    assert server.kubectl("logs", pod, "-n", ns, "-c", "c", "--since-time=2024-01-02T03:04:06Z").stdout == (
        "an error\na long line in two pieces\n")


def test_logs_follow_ends_when_the_container_stops(server, agent, cluster):
    ns, pod = cluster["ns"], "follow-pod"
    _pod(server, ns, pod, cluster["node"])
    path = _write_log(agent, ns, pod, ["2024-01-02T03:04:05Z stdout F before"])
    live = agent.log_file(ns, pod, "c", "live")
    live.write_text("")
    proc = server.kubectl_popen("logs", "-f", pod, "-n", ns)
    try:
        assert _readline(proc, 15) == "before\n"
        _write_log(agent, ns, pod, ["2024-01-02T03:04:06Z stdout F during"])
        assert _readline(proc, 15) == "during\n"
        _write_log(agent, ns, pod, ["2024-01-02T03:04:07Z stdout F last words"])
        live.unlink()
        assert _readline(proc, 15) == "last words\n"
        assert proc.wait(timeout=15) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert path.exists()


def _readline(proc: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "kubectl printed nothing in time"
    return proc.stdout.readline()


def test_logs_errors_come_from_the_pod_and_the_node(server, agent, cluster):
    ns = cluster["ns"]
    waiting = "waiting-pod"
    _pod(server, ns, waiting, cluster["node"], running=False)
    status = {"status": {"phase": "Pending", "containerStatuses": [
        {"name": "c", "ready": False, "restartCount": 0, "image": "busybox", "imageID": "",
         "state": {"waiting": {"reason": "ContainerCreating"}}}]}}
    server.kubectl("patch", "pod", waiting, "-n", ns, "--subresource=status", "--type=merge", "-p", json.dumps(status))
    err = server.kubectl("logs", waiting, "-n", ns, check=False)
    assert err.returncode != 0
    assert 'container "c" in pod "waiting-pod" is waiting to start: ContainerCreating' in err.stderr

    # A node whose agent does not answer: the error names the node.
    dead = unique("dead")
    _node(server, dead, _unused_port())
    _pod(server, ns, "stranded", dead)
    err = server.kubectl("logs", "stranded", "-n", ns, check=False)
    assert err.returncode != 0 and dead in err.stderr, err.stderr
    err = server.kubectl("exec", "stranded", "-n", ns, "--", "true", check=False)
    assert err.returncode != 0 and dead in err.stderr, err.stderr

    err = server.kubectl("exec", "no-such-pod", "-n", ns, "--", "true", check=False)
    assert err.returncode != 0 and 'pods "no-such-pod" not found' in err.stderr, err.stderr


def _unused_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_exec_streams_and_exit_code(server, cluster):
    ns, pod = cluster["ns"], cluster["pod"]
    res = server.kubectl("exec", pod, "-n", ns, "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert res.returncode == 3, res
    assert res.stdout == "out\n"
    assert "err\n" in res.stderr
    assert "command terminated with exit code 3" in res.stderr
    ok = server.kubectl("exec", pod, "-n", ns, "-c", "c", "--", "echo", "a b", "$HOME")
    assert ok.stdout == "a b $HOME\n"


def test_exec_with_stdin(server, cluster):
    data = "".join(f"line {i}\n" for i in range(2000))
    res = server.kubectl("exec", "-i", cluster["pod"], "-n", cluster["ns"], "--", "cat", input=data)
    assert res.stdout == data


def test_attach_with_stdin(server, cluster):
    res = server.kubectl("attach", "-i", cluster["pod"], "-n", cluster["ns"], input="hello attach\n")
    assert "hello attach" in res.stdout


def test_exec_tty_and_resize(server, cluster):
    pid, fd = pty.fork()
    if pid == 0:
        env = server.env()
        os.execve(server.kubectl_bin, [server.kubectl_bin, "exec", "-it", cluster["pod"], "-n", cluster["ns"], "--",
                                       "sh"], env)
    try:
        _set_size(fd, 30, 100)
        out = _Terminal(fd)
        out.send(b"stty size\n")
        out.expect(b"30 100")
        _set_size(fd, 40, 120)
        time.sleep(0.5)
        out.send(b"stty size\n")
        out.expect(b"40 120")
        out.send(b"exit 4\n")
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 4, (status, out.seen)
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)


def _set_size(fd: int, rows: int, cols: int) -> None:
    # Setting the size on our side signals SIGWINCH to kubectl, the terminal's foreground process.
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class _Terminal:
    def __init__(self, fd: int):
        self.fd = fd
        self.seen = b""

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def expect(self, wanted: bytes, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        start = len(self.seen)
        while wanted not in self.seen[start:]:
            left = deadline - time.monotonic()
            assert left > 0, f"terminal never showed {wanted!r}; it showed {self.seen!r}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                assert chunk, f"kubectl ended before {wanted!r}; it showed {self.seen!r}"
                self.seen += chunk


def test_cp_round_trip(server, agent, cluster, tmp_path):
    ns, pod = cluster["ns"], cluster["pod"]
    local = tmp_path / "up.txt"
    payload = "".join(f"{i} skiff\n" for i in range(5000))
    local.write_text(payload)
    # The container's working directory is the fake's root: a relative path lands there.
    server.kubectl("cp", str(local), f"{ns}/{pod}:copied.txt")
    assert (agent.root / "copied.txt").read_text() == payload
    back = tmp_path / "down.txt"
    server.kubectl("cp", f"{ns}/{pod}:copied.txt", str(back))
    assert back.read_text() == payload


def test_discovery_lists_the_stream_subresources(server):
    doc = json.loads(server.kubectl("get", "--raw", "/api/v1").stdout)
    names = {r["name"]: r for r in doc["resources"]}
    assert names["pods/exec"]["kind"] == "PodExecOptions"
    assert names["pods/attach"]["verbs"] == ["create", "get"]
    assert names["pods/log"]["verbs"] == ["get"]
