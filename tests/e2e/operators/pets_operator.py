"""A small kopf operator for the end-to-end suite (tests/e2e/test_kopf.py).

It serves the kind `Pet` (group from $PETS_GROUP, version v1, plural pets):

- create: kopf adds its finalizer (there is a delete handler); the handler
  creates a child ConfigMap `<name>-food` owned by the pet (kopf.adopt), with
  the pet's spec.food, and records status: the handler's return value lands
  in status.on_create, and status.phase is set to Fed.
- update of spec.food: the child ConfigMap follows; status.phase = Refed.
- delete: the child ConfigMap is deleted, a ConfigMap `<name>-farewell`
  (not owned, so it outlives the pet) records that the handler ran, and
  kopf then removes its finalizer so the pet goes.

Run: KUBECONFIG=... PETS_GROUP=... python -m kopf run --standalone --namespace NS pets_operator.py
"""

import os

import kopf
import kubernetes
from kubernetes.client.rest import ApiException

GROUP = os.environ.get("PETS_GROUP", "kopf.e2e.skiff.dev")
VERSION = "v1"
PLURAL = "pets"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_):
    kubernetes.config.load_kube_config()
    # Short server-side watch timeouts: a stuck watch recovers quickly in tests.
    settings.watching.server_timeout = 30
    settings.watching.client_timeout = 40
    settings.posting.level = 30  # logging.WARNING: keep the events the operator posts few


def core() -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api()


def child_name(name: str) -> str:
    return f"{name}-food"


@kopf.on.create(GROUP, VERSION, PLURAL)
def on_create(spec, name, namespace, patch, logger, **_):
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": child_name(name), "labels": {"pets.e2e/pet": name}},
        "data": {"food": spec.get("food", "")},
    }
    kopf.adopt(cm)
    core().create_namespaced_config_map(namespace, cm)
    patch.status["phase"] = "Fed"
    logger.info("created %s", child_name(name))
    return {"child": child_name(name)}


@kopf.on.update(GROUP, VERSION, PLURAL, field="spec.food")
def on_update(new, name, namespace, patch, logger, **_):
    core().patch_namespaced_config_map(child_name(name), namespace, {"data": {"food": new or ""}})
    patch.status["phase"] = "Refed"
    logger.info("updated %s", child_name(name))


@kopf.on.delete(GROUP, VERSION, PLURAL)
def on_delete(name, namespace, logger, **_):
    try:
        core().delete_namespaced_config_map(child_name(name), namespace)
    except ApiException as e:
        if e.status != 404:
            raise
    farewell = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-farewell"},
        "data": {"pet": name},
    }
    try:
        core().create_namespaced_config_map(namespace, farewell)
    except ApiException as e:
        if e.status != 409:
            raise
    logger.info("deleted %s", child_name(name))
