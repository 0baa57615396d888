"""Image helpers for the end-to-end tests: a real registry on loopback
(Debian's `docker-registry`), OCI images built in memory, pushes through the
distribution API, and `docker save` / OCI-layout archives for
`skiff image import`.

    reg = start_registry(tmp_path)                       # or auth=("user", "pass")
    push(reg, "test/busybox", "v1", busybox_image())
    # pods can now use image: 127.0.0.1:PORT/test/busybox:v1
    reg.stop()

Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import shutil
import socket
import subprocess
import tarfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import requests

REGISTRY_BIN = os.environ.get("SKIFF_REGISTRY_BIN", "/usr/bin/docker-registry")
BUSYBOX = Path("/bin/busybox")
MTIME = 1_700_000_000
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

BUSYBOX_APPLETS = """
sh ash ls cat echo sleep ps hostname id mount umount wget nc head tail dd mkdir rmdir rm env printenv
kill killall true false touch stat grep egrep sed tr wc date yes cp mv ln chmod chown pwd uname whoami
test [ sort uniq cut find xargs du df free top vi ip ifconfig ping nslookup netstat httpd tee seq
basename dirname readlink realpath sync mkfifo timeout base64 md5sum sha256sum awk gzip gunzip tar
less more watch which nohup usleep sysctl mknod dmesg nproc pidof pgrep pkill arp route getty login
""".split()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bcrypt(password: str) -> str:
    """docker-registry only reads bcrypt htpasswd entries."""
    try:
        import bcrypt  # type: ignore

        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    except ImportError:
        pass
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # Python <= 3.12; libxcrypt does bcrypt

        hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
        if hashed and hashed.startswith("$2"):
            return hashed
    except ImportError:
        pass
    htpasswd = shutil.which("htpasswd")
    if htpasswd:
        out = subprocess.run([htpasswd, "-nbBC", "4", "u", password], check=True, capture_output=True, text=True)
        return out.stdout.strip().split(":", 1)[1]
    raise RuntimeError("no bcrypt available: pip install bcrypt, or apt-get install apache2-utils")


class Registry:
    """A `docker-registry serve` on 127.0.0.1 with its storage in `tmpdir`."""

    def __init__(self, tmpdir, auth: tuple[str, str] | None = None, timeout: float = 20.0):
        if not Path(REGISTRY_BIN).exists():
            raise RuntimeError(f"{REGISTRY_BIN} not found: apt-get install docker-registry")
        self.dir = Path(tmpdir) / f"registry-{os.getpid()}-{time.monotonic_ns()}"
        self.dir.mkdir(parents=True)
        self.auth = auth
        self.port = _free_port()
        self.url = f"127.0.0.1:{self.port}"
        config = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.dir / 'storage'}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
        ]
        if auth:
            htpasswd = self.dir / "htpasswd"
            htpasswd.write_text(f"{auth[0]}:{_bcrypt(auth[1])}\n")
            config += ["auth:", "  htpasswd:", "    realm: skiff-e2e", f"    path: {htpasswd}"]
        config_path = self.dir / "config.yml"
        config_path.write_text("\n".join(config) + "\n")
        self.log_path = self.dir / "registry.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [REGISTRY_BIN, "serve", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                r = requests.get(f"http://{self.url}/v2/", timeout=2)
                if r.status_code in (200, 401):
                    break
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"docker-registry did not start: {self.log_path.read_text(errors='replace')}")
            time.sleep(0.05)

    def session(self) -> requests.Session:
        s = requests.Session()
        if self.auth:
            s.auth = self.auth
        return s

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_registry(tmpdir, auth: tuple[str, str] | None = None) -> Registry:
    return Registry(tmpdir, auth=auth)


@dataclass
class Layer:
    tar: bytes
    gz: bytes

    @property
    def diff_id(self) -> str:
        return digest(self.tar)

    @property
    def digest(self) -> str:
        return digest(self.gz)


@dataclass
class Image:
    name: str
    layers: list[Layer]
    config: bytes
    manifest: bytes = field(default=b"")

    @property
    def id(self) -> str:
        """The config digest: what skiff and crictl call the image ID."""
        return digest(self.config)

    @property
    def digest(self) -> str:
        """The manifest digest: what `name@sha256:…` pins."""
        return digest(self.manifest)


def _norm(path: str) -> str:
    path = path.strip("/")
    if not path or ".." in path.split("/"):
        raise ValueError(f"bad path in image: {path!r}")
    return path


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def build_layer(
    files: dict | None = None,
    symlinks: dict | None = None,
    dirs: dict | None = None,
    whiteouts: list | tuple = (),
    opaque: list | tuple = (),
) -> Layer:
    """One layer: `files` {path: bytes | (bytes, mode)}, `symlinks` {path: target},
    `dirs` {path: mode}, `whiteouts` [paths deleted from lower layers],
    `opaque` [dirs whose lower contents are hidden]. Owned by 0:0, directories
    before their contents, fixed mtimes so digests are reproducible."""
    files = {_norm(p): v for p, v in (files or {}).items()}
    symlinks = {_norm(p): t for p, t in (symlinks or {}).items()}
    dir_modes = {_norm(p): m for p, m in (dirs or {}).items()}
    for w in whiteouts:
        w = _norm(w)
        parent, _, name = w.rpartition("/")
        files[f"{parent}/.wh.{name}".lstrip("/")] = (b"", 0o644)
    for d in opaque:
        d = _norm(d)
        dir_modes.setdefault(d, 0o755)
        files[f"{d}/.wh..wh..opq"] = (b"", 0o644)
    all_dirs = set(dir_modes)
    for p in list(files) + list(symlinks) + list(dir_modes):
        all_dirs.update(_parents(p))

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:

        def info(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
            ti = tarfile.TarInfo(name)
            ti.type = kind
            ti.mode = mode
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            ti.mtime = MTIME
            return ti

        for d in sorted(all_dirs):
            tar.addfile(info(d + "/", tarfile.DIRTYPE, dir_modes.get(d, 0o755)))
        entries = [(p, "file") for p in files] + [(p, "link") for p in symlinks]
        for path, kind in sorted(entries):
            if kind == "file":
                value = files[path]
                data, mode = value if isinstance(value, tuple) else (value, 0o644)
                ti = info(path, tarfile.REGTYPE, mode)
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
            else:
                ti = info(path, tarfile.SYMTYPE, 0o777)
                ti.linkname = symlinks[path]
                tar.addfile(ti)
    raw = buf.getvalue()
    return Layer(tar=raw, gz=gzip.compress(raw, compresslevel=6, mtime=0))


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


def build_image(
    name: str,
    files: dict | None = None,
    symlinks: dict | None = None,
    config: dict | None = None,
    *,
    dirs: dict | None = None,
    base: Image | None = None,
    whiteouts: list | tuple = (),
    opaque: list | tuple = (),
) -> Image:
    """An OCI image whose top layer holds `files`/`symlinks`/`dirs` (and any
    `whiteouts`/`opaque` dirs) over `base`'s layers. `config` is the image
    config's `config` object (Env, Cmd, Entrypoint, WorkingDir, User,
    ExposedPorts, Labels, StopSignal); it inherits `base`'s when not given."""
    layer = build_layer(files, symlinks, dirs, whiteouts, opaque)
    layers = (list(base.layers) if base else []) + [layer]
    if config is None:
        config = json.loads(base.config).get("config", {}) if base else {"Env": [DEFAULT_PATH]}
    config_blob = json.dumps(
        {
            "architecture": _arch(),
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [l.diff_id for l in layers]},
            "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "tests/e2e/images.py"} for _ in layers],
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": digest(config_blob), "size": len(config_blob)},
            "layers": [{"mediaType": MEDIA_LAYER_GZIP, "digest": l.digest, "size": len(l.gz)} for l in layers],
        },
        sort_keys=True,
    ).encode()
    return Image(name=name, layers=layers, config=config_blob, manifest=manifest)


def _busybox_applets() -> list[str]:
    try:
        out = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, timeout=10)
        available = set(out.stdout.split())
    except (OSError, subprocess.SubprocessError):
        available = set()
    return [a for a in BUSYBOX_APPLETS if not available or a in available]


def busybox_image(name: str = "busybox") -> Image:
    """The standard test image: Debian's static busybox with its applets
    linked in /bin, root and nobody (65534) users, /tmp 1777, PATH and `sh`."""
    if not BUSYBOX.exists():
        raise RuntimeError(f"{BUSYBOX} not found: apt-get install busybox-static")
    files = {
        "bin/busybox": (BUSYBOX.read_bytes(), 0o755),
        "etc/passwd": (b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", 0o644),
        "etc/group": (b"root:x:0:\nnogroup:x:65534:\nnobody:x:65534:\n", 0o644),
        "etc/hostname": (b"busybox\n", 0o644),
    }
    symlinks = {f"bin/{a}": "busybox" for a in _busybox_applets() if a != "busybox"}
    dirs = {d: 0o755 for d in ("dev", "proc", "sys", "etc", "root", "home", "var", "usr/bin", "usr/sbin", "sbin")}
    dirs["root"] = 0o700
    dirs["tmp"] = 0o1777
    config = {"Env": [DEFAULT_PATH], "Cmd": ["sh"]}
    return build_image(name, files=files, symlinks=symlinks, config=config, dirs=dirs)


def push(registry: Registry, repo: str, tag: str, image: Image) -> str:
    """Pushes blobs (monolithic POST + PUT) and the manifest; returns the
    `host:port/repo@sha256:…` reference of what was pushed."""
    s = registry.session()
    base = f"http://{registry.url}"
    for blob in [l.gz for l in image.layers] + [image.config]:
        d = digest(blob)
        if s.head(f"{base}/v2/{repo}/blobs/{d}", timeout=30).status_code == 200:
            continue
        r = s.post(f"{base}/v2/{repo}/blobs/uploads/", timeout=30)
        if r.status_code != 202:
            raise RuntimeError(f"starting upload to {repo}: {r.status_code} {r.text}")
        location = r.headers["Location"]
        if location.startswith("/"):
            location = base + location
        sep = "&" if "?" in location else "?"
        r = s.put(
            f"{location}{sep}digest={d}",
            data=blob,
            headers={"Content-Type": "application/octet-stream"},
            timeout=120,
        )
        if r.status_code != 201:
            raise RuntimeError(f"uploading {d} to {repo}: {r.status_code} {r.text}")
    r = s.put(
        f"{base}/v2/{repo}/manifests/{tag}",
        data=image.manifest,
        headers={"Content-Type": MEDIA_MANIFEST},
        timeout=30,
    )
    if r.status_code != 201:
        raise RuntimeError(f"pushing manifest {repo}:{tag}: {r.status_code} {r.text}")
    return f"{registry.url}/{repo}@{image.digest}"


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    ti.mtime = MTIME
    tar.addfile(ti, io.BytesIO(data))


def _tag(image: Image, tag: str | None) -> str:
    ref = image.name
    last = ref.rsplit("/", 1)[-1]
    if ":" in last or "@" in ref:
        return ref
    return f"{ref}:{tag or 'latest'}"


def save_docker_archive(image: Image, path, tag: str | None = None) -> Path:
    """A `docker save` tarball: manifest.json, repositories, <config>.json,
    <layer>/layer.tar (uncompressed, as docker writes them)."""
    path = Path(path)
    name = _tag(image, tag)
    config_name = image.id.split(":", 1)[1] + ".json"
    layer_names = []
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for layer in image.layers:
            layer_dir = layer.diff_id.split(":", 1)[1]
            layer_name = f"{layer_dir}/layer.tar"
            if layer_name not in layer_names:
                _add(tar, layer_name, layer.tar)
            layer_names.append(layer_name)
        _add(tar, config_name, image.config)
        _add(tar, "manifest.json", json.dumps([{"Config": config_name, "RepoTags": [name], "Layers": layer_names}]).encode())
        repo, _, tag_part = name.rpartition(":")
        top = image.layers[-1].diff_id.split(":", 1)[1] if image.layers else ""
        _add(tar, "repositories", json.dumps({repo: {tag_part: top}}).encode())
    return path


def save_oci_archive(image: Image, path, tag: str | None = None) -> Path:
    """An OCI image-layout tarball, named as containerd and docker name them:
    `io.containerd.image.name` (full reference) and
    `org.opencontainers.image.ref.name` (the tag)."""
    path = Path(path)
    name = _tag(image, tag)
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [
            {
                "mediaType": MEDIA_MANIFEST,
                "digest": image.digest,
                "size": len(image.manifest),
                "annotations": {
                    "io.containerd.image.name": name,
                    "org.opencontainers.image.ref.name": name.rpartition(":")[2],
                },
            }
        ],
    }
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        _add(tar, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        _add(tar, "index.json", json.dumps(index).encode())
        seen = set()
        for blob in [image.manifest, image.config] + [l.gz for l in image.layers]:
            d = digest(blob)
            if d not in seen:
                seen.add(d)
                _add(tar, "blobs/sha256/" + d.split(":", 1)[1], blob)
    return path
