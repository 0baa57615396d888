"""The allowed-registries rules as pure functions.

Nothing here imports the generated bindings, so pytest can check the rules
without building a component; `app.py` is the glue between these functions
and the WIT interface. The Rust and JavaScript versions of this policy follow
the same rules and produce the same messages.
"""

from __future__ import annotations

import json
from typing import Any, Optional

# Pod fields that hold containers, in the order they are checked and reported.
CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")

CONFIG_EXAMPLE = '{"registries": ["reg.example.com", "127.0.0.1:5000"]}'


class ConfigError(ValueError):
    """The config is unusable; app.py turns this into the WIT `invalid-input` error."""


class InputError(ValueError):
    """The request is unusable; app.py turns this into the WIT `invalid-input` error."""


def parse_config(config_json: str) -> list[str]:
    """The configured registries, or ConfigError saying what is wrong."""
    try:
        config = json.loads(config_json)
    except ValueError as e:
        raise ConfigError(f"config is not valid JSON ({e}); expected e.g. {CONFIG_EXAMPLE}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"config must be a JSON object, e.g. {CONFIG_EXAMPLE}")
    if "registries" not in config:
        raise ConfigError(f"config has no \"registries\": list the allowed registries, e.g. {CONFIG_EXAMPLE}")
    registries = config["registries"]
    if not isinstance(registries, list) or not all(isinstance(r, str) for r in registries):
        raise ConfigError(f"config \"registries\" must be a list of strings, e.g. {CONFIG_EXAMPLE}")
    if not registries:
        raise ConfigError(
            f"config \"registries\" is empty, which would deny every pod: list at least one registry, e.g. {CONFIG_EXAMPLE}"
        )
    return registries


def image_registry(image: str) -> str:
    """The registry an image reference names, the way Docker reads it."""
    first, slash, _ = image.partition("/")
    if not slash:
        return "docker.io"
    if "." in first or ":" in first or first == "localhost":
        return first
    return "docker.io"


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


def pod_violations(pod: Any, registries: list[str]) -> list[str]:
    """One sentence per container whose image comes from a registry not in `registries`."""
    spec = pod.get("spec") if isinstance(pod, dict) else None
    if not isinstance(spec, dict):
        return []
    violations = []
    for field in CONTAINER_FIELDS:
        containers = spec.get(field)
        if not isinstance(containers, list):
            continue
        for container in containers:
            if not isinstance(container, dict):
                continue
            name = _string(container.get("name"))
            image = _string(container.get("image"))
            registry = image_registry(image)
            if registry not in registries:
                violations.append(
                    f'container "{name}" uses image "{image}" from registry "{registry}", which is not allowed'
                )
    return violations


def denial_message(violations: list[str], registries: list[str]) -> str:
    return "; ".join(violations) + " (allowed registries: " + ", ".join(registries) + ")"


def check(kind: str, operation: str, object_json: Optional[str], registries: list[str]) -> Optional[str]:
    """None when the request is allowed, otherwise the denial message.

    `operation` is the WIT enum case name: create, update, delete or connect.
    Only Pods being created or updated are checked. A missing object, or one
    that is not a JSON object, raises InputError.
    """
    if kind != "Pod" or operation not in ("create", "update"):
        return None
    if object_json is None:
        raise InputError(f"the {operation.upper()} request carries no object")
    try:
        pod = json.loads(object_json)
    except ValueError as e:
        raise InputError(f"request.object is not a valid Pod: {e}") from None
    if not isinstance(pod, dict):
        raise InputError("request.object is not a valid Pod: not a JSON object")
    violations = pod_violations(pod, registries)
    if not violations:
        return None
    return denial_message(violations, registries)
