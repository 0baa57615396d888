"""The node agent end to end, through the real kubectl: pods bound to the
server's own node run as isolated Linux containers from images pulled from a
real registry on loopback; logs, exec (with a terminal), cp; OOM kills,
the pids limit, probes, hooks and graceful deletion; and the agent killed
with SIGKILL while its containers run on, adopted by the next agent.

These tests run their own server (it is killed on purpose) and remove every
container it started when they end (`skiff node reset`).
"""

from __future__ import annotations

import fcntl
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
import yaml

import images
from conftest import SkiffServer, own_server, skiff_binary, unique, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0 and not os.environ.get("CI"),
                                reason="the node agent needs root (CI runs as root)")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    reg = images.start_registry(tmp_path_factory.mktemp("registry"))
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="module")
def busybox(registry) -> str:
    image = images.busybox_image("test/busybox")
    images.push(registry, "test/busybox", "v1", image)
    return f"{registry.url}/test/busybox:v1"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    servers = own_server(tmp_path_factory, "skiff-node", "--pod-max-pids", "64")
    server = next(servers)
    try:
        wait_for(lambda: server.kubectl("get", "nodes", check=False).stdout.count(" Ready") == 1,
                 timeout=30, what="the node to be Ready")
        yield server
    finally:
        server.kubectl("delete", "pods", "--all", "--all-namespaces", "--grace-period=0", "--force",
                       "--wait=false", check=False)
        servers.close()


@pytest.fixture
def ns(node):
    name = unique("node")
    node.kubectl("create", "namespace", name)
    yield name
    node.kubectl("delete", "pods", "--all", "-n", name, "--grace-period=0", "--force", check=False)
    node.kubectl("delete", "namespace", name, "--wait=false", check=False)


def pod(name: str, image: str, script: str, **spec) -> dict:
    container = {"name": "main", "image": image, "command": ["sh", "-c", script]}
    container.update(spec.pop("container", {}))
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [container], "terminationGracePeriodSeconds": 5, **spec}}
    return body


def apply(server: SkiffServer, ns: str, obj: dict) -> None:
    server.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(obj))


def get(server: SkiffServer, ns: str, name: str) -> dict:
    return server.kubectl_json("get", "pod", name, "-n", ns)


def running(server: SkiffServer, ns: str, name: str, timeout=60) -> dict:
    def check():
        p = get(server, ns, name)
        return p if p.get("status", {}).get("phase") == "Running" else None
    return wait_for(check, timeout=timeout, what=f"pod {name} Running")


def logs(server: SkiffServer, ns: str, name: str, *args) -> str:
    return server.kubectl("logs", name, "-n", ns, *args).stdout


def status_of(p: dict, container: str = "main") -> dict:
    for s in p.get("status", {}).get("containerStatuses", []):
        if s["name"] == container:
            return s
    return {}


def test_a_pod_runs_isolated_from_a_pulled_image(node, ns, busybox):
    # "$$$$" reaches the shell as "$$" (Kubernetes expands $(VAR) and unescapes $$).
    script = ("echo pid=$$$$; echo host=$(hostname) $HOSTNAME; set -- /proc/[0-9]*; echo procs=$*; "
              "ls /; cat /etc/hosts | tail -1; id; sleep 3600")
    apply(node, ns, pod("iso", busybox, script, container={"imagePullPolicy": "Always"}))
    p = running(node, ns, "iso")
    text = wait_for(lambda: (t := logs(node, ns, "iso")) and "uid=" in t and t, what="the script's output")
    assert "pid=1\n" in text, text
    assert "host=iso iso\n" in text, text
    assert "procs=/proc/1\n" in text, "the container sees only its own processes: " + text
    listing = text.split("procs=/proc/1\n", 1)[1]
    assert "busybox" not in listing and "bin" in listing and "work" not in listing, listing
    assert "127.0.1.1\tiso" in text
    assert "uid=0(root)" in text
    s = status_of(p)
    assert s["ready"] is True and s["restartCount"] == 0 and "running" in s["state"]
    assert s["imageID"].startswith(f"{busybox.rsplit(':', 1)[0]}@sha256:"), s
    assert s["containerID"].startswith("skiff://")
    conds = {c["type"]: c["status"] for c in p["status"]["conditions"]}
    assert conds["Ready"] == "True" and conds["Initialized"] == "True" and conds["ContainersReady"] == "True"
    events = node.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=iso").stdout
    for reason in ("Scheduled", "Pulling", "Pulled", "Created", "Started"):
        assert reason in events, events
    # The node's image store lists the pulled image and keeps it while a container runs it.
    def skiff_image(*args):
        return subprocess.run([str(node.binary), "image", *args, "--data-dir", str(node.data_dir)],
                              capture_output=True, text=True, timeout=60)
    assert busybox.rsplit(":", 1)[0] in skiff_image("ls").stdout
    refused = skiff_image("rm", busybox)
    assert refused.returncode != 0 and "is using it" in refused.stderr, refused


def test_unknown_image_is_err_image_pull_then_back_off(node, ns, registry):
    apply(node, ns, pod("nope", f"{registry.url}/test/nothing:v1", "true"))

    def waiting(reason):
        def check():
            w = status_of(get(node, ns, "nope")).get("state", {}).get("waiting", {})
            return w if w.get("reason") == reason else None
        return check

    w = wait_for(waiting("ErrImagePull"), timeout=30, what="ErrImagePull")
    assert "not found" in w["message"] or "unknown" in w["message"], w
    wait_for(waiting("ImagePullBackOff"), timeout=30, what="ImagePullBackOff")
    described = node.kubectl("describe", "pod", "nope", "-n", ns).stdout
    assert "Failed to pull image" in described and "test/nothing" in described, described
    assert "Back-off pulling image" in described, described


def test_registry_credentials_from_image_pull_secrets(node, ns, tmp_path, busybox):
    reg = images.start_registry(tmp_path / "auth-registry", auth=("skiff", "s3cret"))
    try:
        images.push(reg, "private/busybox", "v1", images.busybox_image("private/busybox"))
        image = f"{reg.url}/private/busybox:v1"
        apply(node, ns, pod("denied", image, "sleep 3600"))
        wait_for(lambda: status_of(get(node, ns, "denied")).get("state", {}).get("waiting", {})
                 .get("reason") in ("ErrImagePull", "ImagePullBackOff"), what="a refused pull")
        described = node.kubectl("describe", "pod", "denied", "-n", ns).stdout
        assert "unauthorized" in described.lower() or "authentication required" in described.lower(), described
        node.kubectl("create", "secret", "docker-registry", "creds", "-n", ns, f"--docker-server={reg.url}",
                     "--docker-username=skiff", "--docker-password=s3cret")
        apply(node, ns, pod("allowed", image, "sleep 3600", imagePullSecrets=[{"name": "creds"}]))
        running(node, ns, "allowed")
    finally:
        reg.stop()


def test_logs_follow_exec_and_cp(node, ns, busybox):
    apply(node, ns, pod("talk", busybox, "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"))
    running(node, ns, "talk")
    follow = node.kubectl_popen("logs", "-f", "talk", "-n", ns)
    try:
        seen = [follow.stdout.readline() for _ in range(5)]
    finally:
        follow.kill()
        follow.wait()
    assert seen[0].startswith("tick ") and len(set(seen)) == 5, seen
    assert logs(node, ns, "talk", "--tail", "1").count("\n") == 1
    stamped = logs(node, ns, "talk", "--tail", "1", "--timestamps")
    assert stamped[:4].isdigit() and "Z tick " in stamped, stamped

    out = node.kubectl("exec", "talk", "-n", ns, "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert out.returncode == 3, out
    assert out.stdout == "out\n" and "err" in out.stderr, out
    piped = node.kubectl("exec", "-i", "talk", "-n", ns, "--", "sh", "-c", "tr a-z A-Z", input="shout\n")
    assert piped.stdout == "SHOUT\n"

    src = Path(ns + ".txt")
    src.write_text("round trip\n" * 100)
    try:
        node.kubectl("cp", str(src), f"{ns}/talk:/tmp/copied.txt")
        back = Path(ns + ".back")
        node.kubectl("cp", f"{ns}/talk:/tmp/copied.txt", str(back))
        assert back.read_text() == src.read_text()
        back.unlink()
    finally:
        src.unlink()


def _read_until(fd: int, needle: bytes, timeout: float = 20.0) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {needle!r}; got {buf[-500:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def test_exec_with_a_terminal(node, ns, busybox):
    apply(node, ns, pod("term", busybox, "sleep 3600"))
    running(node, ns, "term")
    pid, fd = pty.fork()
    if pid == 0:
        env = node.env()
        os.execve(node.kubectl_bin, [node.kubectl_bin, "exec", "-it", "term", "-n", ns, "--", "sh"], env)
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
        os.write(fd, b"echo $((6*7)); tty; stty size\n")
        out = _read_until(fd, b"33 111")
        assert b"42" in out and b"/dev/pts/0" in out, out
        # A resize of kubectl's terminal reaches the container's.
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.kill(pid, signal.SIGWINCH)
        time.sleep(0.5)
        os.write(fd, b"stty size\n")
        _read_until(fd, b"40 120")
        os.write(fd, b"exit 7\n")
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.WEXITSTATUS(status) == 7
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)


def test_memory_hog_is_oom_killed_and_restarted(node, ns, busybox):
    hog = "x=a; while true; do x=$x$x; done"
    apply(node, ns, pod("hog", busybox, hog, container={"resources": {"limits": {"memory": "32Mi"}}}))

    def restarted():
        s = status_of(get(node, ns, "hog"))
        last = s.get("lastState", {}).get("terminated", {})
        return s if s.get("restartCount", 0) >= 1 and last.get("reason") == "OOMKilled" else None

    s = wait_for(restarted, timeout=60, what="an OOMKilled restart")
    assert s["lastState"]["terminated"]["exitCode"] == 137
    described = node.kubectl("describe", "pod", "hog", "-n", ns).stdout
    assert "OOMKilled" in described


def test_fork_bomb_hits_the_pids_limit_and_the_node_survives(node, ns, busybox):
    # The server allows 64 processes a container; the shell fails to fork and gives up.
    bomb = "echo forking; for i in $(seq 1 500); do sleep 600 & done; echo spawned all"
    apply(node, ns, pod("bomb", busybox, bomb, restartPolicy="Never"))
    p = wait_for(lambda: (q := get(node, ns, "bomb"))["status"].get("phase") == "Failed" and q, timeout=60,
                 what="the bomb to fail")
    text = logs(node, ns, "bomb")
    assert "forking" in text and "can't fork" in text and "spawned all" not in text, text
    assert status_of(p)["state"]["terminated"]["exitCode"] != 0
    # The node still works.
    assert node.kubectl("get", "nodes").stdout.count(" Ready") == 1


def test_failing_liveness_probe_restarts_the_container(node, ns, busybox):
    probe = {"exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 1, "failureThreshold": 2}
    apply(node, ns, pod("sick", busybox, "touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 3600",
                        container={"livenessProbe": probe}))
    wait_for(lambda: status_of(get(node, ns, "sick")).get("restartCount", 0) >= 1, timeout=60,
             what="a liveness restart")
    events = node.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=sick").stdout
    assert "Unhealthy" in events and "Liveness probe failed" in events, events
    assert "failed liveness probe, will be restarted" in events, events


def test_readiness_probe_gates_ready(node, ns, busybox):
    probe = {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1}
    apply(node, ns, pod("gate", busybox, "sleep 3; touch /tmp/ready; sleep 3600",
                        container={"readinessProbe": probe}))
    p = running(node, ns, "gate")
    assert status_of(p)["ready"] is False
    wait_for(lambda: status_of(get(node, ns, "gate")).get("ready") is True, timeout=30, what="ready")


def test_graceful_deletion_runs_pre_stop_then_term_then_kill(node, ns, busybox, tmp_path):
    out = tmp_path / "trace"
    out.mkdir()
    script = ("trap 'echo term >> /trace/log' TERM; echo started >> /trace/log; "
              "while true; do sleep 0.2; done")
    spec = pod("graceful", busybox, script,
               volumes=[{"name": "trace", "hostPath": {"path": str(out), "type": "Directory"}}],
               container={"volumeMounts": [{"name": "trace", "mountPath": "/trace"}],
                          "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "echo prestop >> /trace/log"]}}}})
    spec["spec"]["terminationGracePeriodSeconds"] = 3
    apply(node, ns, spec)
    running(node, ns, "graceful")
    wait_for(lambda: (out / "log").exists(), what="the container to start")
    began = time.monotonic()
    node.kubectl("delete", "pod", "graceful", "-n", ns, timeout=60)
    took = time.monotonic() - began
    assert (out / "log").read_text().split() == ["started", "prestop", "term"]
    assert 3 <= took < 15, f"deletion took {took:.1f}s with a 3s grace period"
    assert node.kubectl("get", "pod", "graceful", "-n", ns, check=False).returncode != 0


def test_init_containers_env_and_volumes(node, ns, busybox):
    node.kubectl("create", "configmap", "cfg", "-n", ns, "--from-literal=greeting=hello", "--from-literal=file=v1")
    spec = pod("init", busybox, "cat /scratch/init.txt; echo $GREETING $(NAME) $POD; cat /cfg/file; echo; sleep 3600",
               initContainers=[{"name": "prepare", "image": busybox,
                                "command": ["sh", "-c", "echo from-init > /scratch/init.txt"],
                                "volumeMounts": [{"name": "work", "mountPath": "/scratch"}]}],
               volumes=[{"name": "work", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "cfg"}}],
               container={"env": [{"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}},
                                  {"name": "NAME", "value": "world"},
                                  {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                          "volumeMounts": [{"name": "work", "mountPath": "/scratch"},
                                           {"name": "cfg", "mountPath": "/cfg"}]})
    apply(node, ns, spec)
    p = running(node, ns, "init")
    assert p["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    text = wait_for(lambda: (t := logs(node, ns, "init")) and "v1" in t and t, what="the output")
    assert text.split("\n")[:3] == ["from-init", "hello world init", "v1"], text
    # A configMap volume follows the configmap (the kubelet's atomic swap).
    node.kubectl("create", "configmap", "cfg", "-n", ns, "--from-literal=greeting=hello", "--from-literal=file=v2",
                 "--dry-run=client", "-o", "yaml")
    node.kubectl("patch", "configmap", "cfg", "-n", ns, "-p", '{"data":{"file":"v2"}}')
    wait_for(lambda: node.kubectl("exec", "init", "-n", ns, "--", "cat", "/cfg/file").stdout == "v2",
             timeout=40, what="the configMap update in the volume")


def test_restart_policy_never_reports_the_exit(node, ns, busybox):
    apply(node, ns, pod("done", busybox, "echo bye", restartPolicy="Never"))
    apply(node, ns, pod("fail", busybox, "echo oops; exit 4", restartPolicy="Never"))
    wait_for(lambda: get(node, ns, "done")["status"].get("phase") == "Succeeded", what="Succeeded")
    p = wait_for(lambda: (q := get(node, ns, "fail"))["status"].get("phase") == "Failed" and q, what="Failed")
    t = status_of(p)["state"]["terminated"]
    assert t["exitCode"] == 4 and t["reason"] == "Error"
    assert logs(node, ns, "done") == "bye\n"
    table = node.kubectl("get", "pods", "-n", ns, "done", "fail").stdout
    assert "Completed" in table and "Error" in table, table


def test_crash_loop_back_off(node, ns, busybox):
    apply(node, ns, pod("crash", busybox, "echo crashing; exit 1"))

    def backing_off():
        s = status_of(get(node, ns, "crash"))
        w = s.get("state", {}).get("waiting", {})
        return s if w.get("reason") == "CrashLoopBackOff" else None

    s = wait_for(backing_off, timeout=60, what="CrashLoopBackOff")
    assert "back-off" in s["state"]["waiting"]["message"]
    assert s["lastState"]["terminated"]["exitCode"] == 1
    assert logs(node, ns, "crash", "--previous") == "crashing\n"


def test_agent_killed_with_sigkill_leaves_containers_running_and_is_adopted(node, ns, busybox):
    apply(node, ns, pod("survivor", busybox, "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"))
    running(node, ns, "survivor")
    before = logs(node, ns, "survivor")
    node.proc.send_signal(signal.SIGKILL)
    node.proc.wait(timeout=10)
    time.sleep(2)
    node.start()
    p = running(node, ns, "survivor")
    assert status_of(p)["restartCount"] == 0
    after = wait_for(lambda: (t := logs(node, ns, "survivor")) and t.count("\n") > before.count("\n") + 10 and t,
                     what="logs that kept growing")
    assert after.startswith(before.split("\n")[0]), "the log from before the kill is intact"
    ticks = [int(line.split()[1]) for line in after.splitlines()]
    assert ticks == list(range(len(ticks))), "no gap and no restart while the agent was down"
    out = node.kubectl("exec", "survivor", "-n", ns, "--", "echo", "still here").stdout
    assert out == "still here\n"


def test_attach_to_the_container_process(node, ns, busybox):
    spec = pod("attached", busybox, "echo ready; read line; echo got $line; sleep 1", restartPolicy="Never",
               container={"stdin": True})
    apply(node, ns, spec)
    running(node, ns, "attached")
    wait_for(lambda: "ready" in logs(node, ns, "attached"), what="the container to wait for input")
    out = node.kubectl("attach", "-i", "attached", "-n", ns, input="hello\n", timeout=60)
    assert "got hello" in out.stdout, out
    wait_for(lambda: get(node, ns, "attached")["status"].get("phase") == "Succeeded", what="the container to end")


def test_an_agent_joins_from_outside_and_its_node_goes_unknown_when_it_stops(tmp_path_factory, busybox):
    binary = skiff_binary()
    server = SkiffServer(binary, tmp_path_factory.mktemp("skiff-join"), ("--no-agent", "--node-monitor-grace-period", "3"))
    server.start()
    agent_dir = tmp_path_factory.mktemp("joined-agent")
    log = open(agent_dir / "agent.log", "wb")
    cmd = [str(binary), "agent", "--server", server.conn.server, "--token", server.conn.token,
           "--ca-file", str(server.data_dir / "pki" / "ca.crt"), "--data-dir", str(agent_dir / "data"),
           "--node-name", "joined", "--agent-listen", "127.0.0.1:0"]

    def start_agent():
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def ready() -> str:
        nodes = server.kubectl_json("get", "nodes")["items"]
        return next((c["status"] for n in nodes if n["metadata"]["name"] == "joined"
                     for c in n["status"].get("conditions", []) if c["type"] == "Ready"), "")

    agent = start_agent()
    try:
        wait_for(lambda: ready() == "True", timeout=60, what="the joined node to be Ready")
        lease = server.kubectl_json("get", "lease", "joined", "-n", "kube-node-lease")
        assert lease["spec"]["holderIdentity"] == "joined"
        apply(server, "default", pod("remote", busybox, "while true; do echo remote; sleep 0.5; done"))
        running(server, "default", "remote")
        assert "remote" in logs(server, "default", "remote")
        agent.send_signal(signal.SIGKILL)
        agent.wait(timeout=10)
        wait_for(lambda: ready() == "Unknown", timeout=30, what="the node to turn Unknown")
        assert "NotReady" in server.kubectl("get", "node", "joined").stdout
        agent = start_agent()
        wait_for(lambda: ready() == "True", timeout=60, what="the node to be Ready again")
        p = running(server, "default", "remote")
        assert status_of(p)["restartCount"] == 0
        server.kubectl("delete", "pod", "remote", "--grace-period=1", timeout=60)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
        log.close()
        server.stop()
        subprocess.run([str(binary), "node", "reset", "--data-dir", str(agent_dir / "data")],
                       capture_output=True, timeout=120)


def test_security_context_and_memory_volumes(node, ns, busybox):
    script = ("id -u; id -g; touch /file 2>&1 || echo read-only; grep -E 'CapBnd|NoNewPrivs' /proc/self/status; "
              "df -k /scratch | tail -1; cat /info/labels; echo; sleep 3600")
    spec = pod("secure", busybox, script,
               securityContext={"runAsUser": 1000, "runAsGroup": 3000},
               volumes=[{"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}},
                        {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}],
               container={"securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                              "runAsNonRoot": True, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}},
                          "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"},
                                           {"name": "info", "mountPath": "/info"}]})
    spec["metadata"]["labels"] = {"tier": "secure"}
    apply(node, ns, spec)
    running(node, ns, "secure")
    text = wait_for(lambda: (t := logs(node, ns, "secure")) and "tier" in t and t, what="the output")
    lines = text.splitlines()
    assert lines[:2] == ["1000", "3000"], text
    assert "read-only" in text, text
    assert "CapBnd:\t0000000000000400" in text and "NoNewPrivs:\t1" in text, text
    assert " 8192 " in text, "an 8Mi tmpfs: " + text
    assert 'tier="secure"' in text, text
    # runAsNonRoot with an image that runs as root is refused, with the kubelet's message.
    apply(node, ns, pod("rooted", busybox, "true", container={"securityContext": {"runAsNonRoot": True}}))
    w = wait_for(lambda: status_of(get(node, ns, "rooted")).get("state", {}).get("waiting", {})
                 .get("reason") == "CreateContainerConfigError" and status_of(get(node, ns, "rooted"))["state"]["waiting"],
                 what="CreateContainerConfigError")
    assert "container has runAsNonRoot and image will run as root" in w["message"], w


def test_host_namespaces(node, ns, busybox):
    script = "hostname; ls /proc 2>/dev/null | grep -c '^[0-9]'; cat /proc/net/dev | wc -l; sleep 3600"
    apply(node, ns, pod("hosty", busybox, script, hostNetwork=True, hostPID=True))
    p = running(node, ns, "hosty")
    text = wait_for(lambda: (t := logs(node, ns, "hosty")) and len(t.splitlines()) >= 3 and t, what="the output")
    host, procs, netdev = text.splitlines()[:3]
    assert host == os.uname().nodename, text
    assert int(procs) > 20, "the node's processes are visible: " + text
    assert int(netdev) >= 4, "the node's interfaces are visible: " + text
    assert p["status"]["podIP"] == p["status"]["hostIP"]
