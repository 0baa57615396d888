"""Builds the example plugins from source for the end-to-end tests.

Each build_* function returns the path of a component in `out_dir`. It does
nothing when that file is newer than everything it is built from, so repeated
test sessions are quick, and raises PluginBuildError with the tool's full
output when a build fails.

What the builds need (tests/run installs it):
- Python: componentize-py (pinned below) in the venv that runs the tests.
- JavaScript: node >= 18 and npm; `npm ci` fetches componentize-js from the
  npm registry into the example's node_modules when it is missing.
- Rust: cargo with the wasm32-wasip2 target (rust-toolchain.toml names it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Optional, Sequence

REPO = Path(__file__).resolve().parents[2]
WIT = REPO / "wit"
EXAMPLES = REPO / "examples" / "plugins"
ALLOWED_REGISTRIES = EXAMPLES / "allowed-registries"
PYTHON_DIR = ALLOWED_REGISTRIES / "python"
BIN_PACKING_PYTHON_DIR = EXAMPLES / "bin-packing" / "python"
JAVASCRIPT_DIR = ALLOWED_REGISTRIES / "javascript"
RUST_TARGET_DIR = REPO / "target" / "plugins"
RUST_TARGET = "wasm32-wasip2"

# The version the Python example was verified with; tests/run installs it.
COMPONENTIZE_PY_VERSION = "0.25.1"
WORLD = "admission-policy"
SCHEDULER_WORLD = "scheduler-policy"
BUILD_TIMEOUT = 900

# Never sources: build output, caches and installed packages.
_SKIP_DIRS = {"node_modules", "__pycache__", ".pytest_cache", "target"}
_SKIP_SUFFIXES = {".wasm", ".pyc"}


class PluginBuildError(RuntimeError):
    """A plugin could not be built; the message carries the tool's output."""


# ------------------------------------------------------------------ helpers


def _files(paths: Iterable[Path]) -> Iterable[Path]:
    for path in paths:
        if path.is_file():
            yield path
        elif path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
                for name in names:
                    if Path(name).suffix not in _SKIP_SUFFIXES:
                        yield Path(root) / name


def _up_to_date(output: Path, sources: Iterable[Path]) -> bool:
    """True when `output` exists and is newer than every file in `sources`."""
    try:
        built = output.stat().st_mtime
    except FileNotFoundError:
        return False
    for source in _files(sources):
        try:
            if source.stat().st_mtime >= built:
                return False
        except FileNotFoundError:
            return False
    return True


def _run(cmd: Sequence[str], cwd: Path, what: str, env: Optional[dict] = None) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(
            list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError as e:
        raise PluginBuildError(f"{what}: cannot run {cmd[0]!r}: {e}") from None
    except subprocess.TimeoutExpired as e:
        raise PluginBuildError(
            f"{what}: `{' '.join(cmd)}` took longer than {BUILD_TIMEOUT}s\n"
            f"--- stdout ---\n{e.stdout or ''}\n--- stderr ---\n{e.stderr or ''}"
        ) from None
    if proc.returncode != 0:
        raise PluginBuildError(
            f"{what}: `{' '.join(cmd)}` (in {cwd}) exited with {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    return proc


def _install(built: Path, output: Path) -> Path:
    """Copies a fresh build to `output` (keeping its time, which is after the sources')."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    shutil.copy2(built, tmp)
    os.replace(tmp, output)
    return output


def _componentize_py() -> Optional[Path]:
    # The venv's own script first: the tests run with the venv's python even
    # when its bin/ is not on PATH.
    beside = Path(sys.executable).parent / "componentize-py"
    if beside.exists():
        return beside
    found = shutil.which("componentize-py")
    return Path(found) if found else None


def _node_major() -> Optional[int]:
    node = shutil.which("node")
    if not node:
        return None
    proc = subprocess.run([node, "--version"], capture_output=True, text=True)
    m = re.match(r"v(\d+)\.", proc.stdout.strip())
    return int(m.group(1)) if m else None


def check_tools(languages: Sequence[str] = ("rust", "python", "javascript")) -> list[str]:
    """What is missing to build the example plugins in `languages`, one
    sentence per problem saying how to fix it; empty when all is there."""
    problems = []
    if "python" in languages and _componentize_py() is None:
        problems.append(
            "componentize-py is not installed (needed for the Python plugin): "
            f"pip install componentize-py=={COMPONENTIZE_PY_VERSION} into the test venv (tests/run --setup-only does it)"
        )
    if "javascript" in languages:
        major = _node_major()
        if major is None:
            problems.append("node is not installed (needed for the JavaScript plugin): apt-get install nodejs npm")
        elif major < 18:
            problems.append(f"node {major} is too old for componentize-js: need node >= 18")
        if not shutil.which("npm"):
            problems.append("npm is not installed (needed for the JavaScript plugin): apt-get install npm")
    if "rust" in languages:
        if not shutil.which("cargo"):
            problems.append("cargo is not installed (needed for the Rust plugins): install rustup, see rust-toolchain.toml")
        else:
            proc = subprocess.run(
                ["rustc", "--print", "target-libdir", "--target", RUST_TARGET], cwd=REPO, capture_output=True, text=True
            )
            if proc.returncode != 0 or not Path(proc.stdout.strip()).is_dir():
                problems.append(f"the Rust target {RUST_TARGET} is not installed: rustup target add {RUST_TARGET}")
    return problems


# ------------------------------------------------------------------- Python


def build_python_app(app_dir: Path, world: str, output: Path, what: str = "building the Python plugin") -> Path:
    """APP_DIR (whose app.py implements WORLD of wit/) -> OUTPUT, with componentize-py."""
    app_dir, output = Path(app_dir), Path(output)
    tool = _componentize_py()
    if tool is None:
        raise PluginBuildError("\n".join(check_tools(["python"])))
    # The tool counts as a source: a new componentize-py rebuilds.
    if _up_to_date(output, [app_dir, WIT, tool]):
        return output
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    _run(
        [str(tool), "-d", str(WIT), "-w", world, "componentize", "app", "-p", str(app_dir), "-o", str(tmp)],
        cwd=app_dir,
        what=what,
    )
    os.replace(tmp, output)
    return output


def build_python(out_dir: Path) -> Path:
    """examples/plugins/allowed-registries/python -> OUT_DIR/allowed-registries-python.wasm"""
    return build_python_app(PYTHON_DIR, WORLD, Path(out_dir) / "allowed-registries-python.wasm")


def build_bin_packing_python(out_dir: Path) -> Path:
    """examples/plugins/bin-packing/python -> OUT_DIR/bin-packing-python.wasm (a scheduler policy)"""
    return build_python_app(
        BIN_PACKING_PYTHON_DIR,
        SCHEDULER_WORLD,
        Path(out_dir) / "bin-packing-python.wasm",
        what="building the Python bin-packing scheduler",
    )


# --------------------------------------------------------------- JavaScript


def _npm_ci_needed() -> bool:
    # npm writes node_modules/.package-lock.json on every install; an older
    # one than package-lock.json means the pins changed since.
    installed = JAVASCRIPT_DIR / "node_modules" / ".package-lock.json"
    bin_ = JAVASCRIPT_DIR / "node_modules" / ".bin" / "componentize-js"
    if not installed.exists() or not bin_.exists():
        return True
    return installed.stat().st_mtime < (JAVASCRIPT_DIR / "package-lock.json").stat().st_mtime


def build_javascript(out_dir: Path) -> Path:
    """examples/plugins/allowed-registries/javascript -> OUT_DIR/allowed-registries-javascript.wasm"""
    output = Path(out_dir) / "allowed-registries-javascript.wasm"
    # package-lock.json is among the sources: new pins rebuild.
    if _up_to_date(output, [JAVASCRIPT_DIR, WIT]):
        return output
    problems = check_tools(["javascript"])
    if problems:
        raise PluginBuildError("\n".join(problems))
    if _npm_ci_needed():
        _run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JAVASCRIPT_DIR, what="installing componentize-js (npm ci)")
    _run(["npm", "run", "build"], cwd=JAVASCRIPT_DIR, what="building the JavaScript plugin")
    return _install(JAVASCRIPT_DIR / "allowed-registries.wasm", output)


# --------------------------------------------------------------------- Rust


def _rust_manifest(name: str) -> Path:
    for manifest in (EXAMPLES / name / "rust" / "Cargo.toml", EXAMPLES / name / "Cargo.toml"):
        if manifest.exists():
            return manifest
    raise PluginBuildError(
        f"no Rust crate for the example plugin {name!r}: neither "
        f"examples/plugins/{name}/rust/Cargo.toml nor examples/plugins/{name}/Cargo.toml exists"
    )


def _rust_artifact_name(manifest: Path) -> str:
    """The file stem cargo gives the crate's cdylib."""
    text = manifest.read_text()
    try:
        import tomllib  # Python 3.11+
    except ImportError:
        # Good enough for a plain manifest: the first `name` of each table.
        tables = {}
        for table, body in re.findall(r"^\[([^\]]+)\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S):
            m = re.search(r'^name\s*=\s*"([^"]+)"', body, re.M)
            if m:
                tables.setdefault(table.strip(), {"name": m.group(1)})
        data = tables
    else:
        data = tomllib.loads(text)
    lib_name = data.get("lib", {}).get("name")
    if lib_name:
        return lib_name
    return data["package"]["name"].replace("-", "_")


def _dep_info_sources(dep_info: Path) -> Optional[list[Path]]:
    """The files cargo's dep-info says the artifact was built from (None if unreadable)."""
    try:
        text = dep_info.read_text()
    except OSError:
        return None
    sources: list[Path] = []
    for line in text.splitlines():
        _, sep, deps = line.partition(": ")
        if not sep:
            continue
        # Paths are separated by spaces; a space inside a path is escaped.
        for token in re.split(r"(?<!\\) ", deps.strip()):
            if token:
                sources.append(Path(token.replace("\\ ", " ")))
    return sources


def _crate_manifests(sources: Iterable[Path]) -> set[Path]:
    """The Cargo.toml of each crate the sources belong to (dep-info lists no manifests)."""
    manifests = set()
    for source in sources:
        for parent in source.parents:
            if (parent / "Cargo.toml").exists():
                manifests.add(parent / "Cargo.toml")
                break
            if parent == REPO:
                break
    return manifests


def build_rust_example(name: str, out_dir: Path) -> Path:
    """examples/plugins/NAME/rust (or NAME/) -> OUT_DIR/NAME-rust.wasm, built in target/plugins."""
    manifest = _rust_manifest(name)
    output = Path(out_dir) / f"{name}-rust.wasm"
    built = RUST_TARGET_DIR / RUST_TARGET / "release" / f"{_rust_artifact_name(manifest)}.wasm"
    # Cargo's dep-info lists every source file, path dependencies included.
    dep_info = _dep_info_sources(built.with_suffix(".d"))
    if dep_info is not None:
        lock = [manifest.parent / "Cargo.lock"] if (manifest.parent / "Cargo.lock").exists() else []
        if _up_to_date(output, [*dep_info, *_crate_manifests(dep_info), manifest, *lock, WIT]):
            return output
    problems = check_tools(["rust"])
    if problems:
        raise PluginBuildError("\n".join(problems))
    _run(
        [
            "cargo", "build", "--release", "--target", RUST_TARGET,
            "--manifest-path", str(manifest), "--target-dir", str(RUST_TARGET_DIR),
        ],
        cwd=REPO,
        what=f"building the Rust plugin {name}",
    )
    if not built.exists():
        raise PluginBuildError(f"cargo built {name} but {built} is not there: is the crate a cdylib?")
    return _install(built, output)
