"""The official Python client (kubernetes 37.x) deserializes skiff's answers
into its typed models as it does kube-apiserver's: reads of pods, services
and every workload kind just created (status with the zero counters
Kubernetes always serializes), DELETE answers that are the object (pods and
services) or a Status (the others), graceful pod deletion, and error bodies
(404, 409, 422) shaped as Kubernetes writes them."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from conftest import unique

IMAGE = "127.0.0.1:5000/e2e/busybox:1.36"
# A scheduler nobody serves: the pods stay unbound, so no node acts on them.
NO_SCHEDULER = "e2e-nobody"
REQUEST_TIMEOUT = 30


@pytest.fixture(scope="module")
def api(skiff):
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(skiff.kubeconfig), client_configuration=cfg)
    api_client = client.ApiClient(cfg)
    yield api_client
    api_client.close()


@pytest.fixture(scope="module")
def core(api):
    return client.CoreV1Api(api)


@pytest.fixture(scope="module")
def apps(api):
    return client.AppsV1Api(api)


@pytest.fixture(scope="module")
def batch(api):
    return client.BatchV1Api(api)


def pod_template(app: str) -> dict:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {"schedulerName": NO_SCHEDULER, "containers": [{"name": "c", "image": IMAGE, "command": ["sleep", "3600"]}]},
    }


def workload(kind: str, name: str) -> dict:
    selector = {"matchLabels": {"app": name}}
    spec = {
        "Deployment": {"replicas": 1, "selector": selector, "template": pod_template(name)},
        "ReplicaSet": {"replicas": 1, "selector": selector, "template": pod_template(name)},
        "StatefulSet": {"replicas": 1, "selector": selector, "serviceName": name, "template": pod_template(name)},
        "DaemonSet": {"selector": selector, "template": pod_template(name)},
        "Job": {"template": {**pod_template(name), "spec": {**pod_template(name)["spec"], "restartPolicy": "Never"}}},
        "CronJob": {"schedule": "0 0 1 1 *", "jobTemplate": {"spec": {"template": {
            **pod_template(name), "spec": {**pod_template(name)["spec"], "restartPolicy": "Never"}}}}},
    }[kind]
    api_version = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, "spec": spec}


def create(skiff, namespace, obj):
    skiff.kubectl("-n", namespace, "create", "-f", "-", input=json.dumps(obj))


def raw_status(skiff, namespace, kind, name) -> dict:
    return skiff.kubectl_json("-n", namespace, "get", kind, name).get("status", {})


# --------------------------------------------------------------------------- workloads


def test_read_and_list_every_workload_kind(skiff, namespace, apps, batch):
    names = {kind: unique(kind.lower()) for kind in
             ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob")}
    for kind, name in names.items():
        create(skiff, namespace, workload(kind, name))

    # Each read deserializes into the typed model (a missing required status
    # counter would raise in the client).
    dep = apps.read_namespaced_deployment(names["Deployment"], namespace, _request_timeout=REQUEST_TIMEOUT)
    assert isinstance(dep, client.V1Deployment) and dep.spec.replicas == 1
    rs = apps.read_namespaced_replica_set(names["ReplicaSet"], namespace, _request_timeout=REQUEST_TIMEOUT)
    assert isinstance(rs, client.V1ReplicaSet) and isinstance(rs.status.replicas, int)
    sts = apps.read_namespaced_stateful_set(names["StatefulSet"], namespace, _request_timeout=REQUEST_TIMEOUT)
    assert isinstance(sts, client.V1StatefulSet) and isinstance(sts.status.replicas, int)
    ds = apps.read_namespaced_daemon_set(names["DaemonSet"], namespace, _request_timeout=REQUEST_TIMEOUT)
    assert isinstance(ds, client.V1DaemonSet)
    for counter in ("current_number_scheduled", "desired_number_scheduled", "number_misscheduled", "number_ready"):
        assert isinstance(getattr(ds.status, counter), int), counter
    job = batch.read_namespaced_job(names["Job"], namespace, _request_timeout=REQUEST_TIMEOUT)
    assert isinstance(job, client.V1Job) and job.spec.template.spec.restart_policy == "Never"
    cron = batch.read_namespaced_cron_job(names["CronJob"], namespace, _request_timeout=REQUEST_TIMEOUT)
    assert isinstance(cron, client.V1CronJob) and cron.spec.schedule == "0 0 1 1 *"

    # The wire format: the counters Kubernetes serializes even when zero.
    assert "replicas" in raw_status(skiff, namespace, "replicaset", names["ReplicaSet"])
    sts_status = raw_status(skiff, namespace, "statefulset", names["StatefulSet"])
    assert "replicas" in sts_status and "availableReplicas" in sts_status, sts_status
    ds_status = raw_status(skiff, namespace, "daemonset", names["DaemonSet"])
    for field in ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"):
        assert field in ds_status, ds_status

    # Lists and their typed items.
    assert names["Deployment"] in {d.metadata.name for d in apps.list_namespaced_deployment(namespace).items}
    assert names["ReplicaSet"] in {r.metadata.name for r in apps.list_namespaced_replica_set(namespace).items}
    assert names["StatefulSet"] in {s.metadata.name for s in apps.list_namespaced_stateful_set(namespace).items}
    assert names["DaemonSet"] in {d.metadata.name for d in apps.list_namespaced_daemon_set(namespace).items}
    assert names["Job"] in {j.metadata.name for j in batch.list_namespaced_job(namespace).items}
    assert names["CronJob"] in {c.metadata.name for c in batch.list_namespaced_cron_job(namespace).items}
    apps.list_replica_set_for_all_namespaces(_request_timeout=REQUEST_TIMEOUT)
    apps.list_stateful_set_for_all_namespaces(_request_timeout=REQUEST_TIMEOUT)
    apps.list_daemon_set_for_all_namespaces(_request_timeout=REQUEST_TIMEOUT)

    # Status subresource reads deserialize too.
    assert isinstance(apps.read_namespaced_replica_set_status(names["ReplicaSet"], namespace), client.V1ReplicaSet)
    assert isinstance(apps.read_namespaced_stateful_set_status(names["StatefulSet"], namespace), client.V1StatefulSet)
    assert isinstance(apps.read_namespaced_daemon_set_status(names["DaemonSet"], namespace), client.V1DaemonSet)
    scale = apps.read_namespaced_deployment_scale(names["Deployment"], namespace)
    assert isinstance(scale, client.V1Scale) and scale.spec.replicas == 1

    # Deleting workloads (background): Kubernetes answers with a Status.
    deletes = {
        "Deployment": (apps.delete_namespaced_deployment, "apps", "deployments"),
        "ReplicaSet": (apps.delete_namespaced_replica_set, "apps", "replicasets"),
        "StatefulSet": (apps.delete_namespaced_stateful_set, "apps", "statefulsets"),
        "DaemonSet": (apps.delete_namespaced_daemon_set, "apps", "daemonsets"),
        "Job": (batch.delete_namespaced_job, "batch", "jobs"),
        "CronJob": (batch.delete_namespaced_cron_job, "batch", "cronjobs"),
    }
    for kind, (delete, group, plural) in deletes.items():
        answer = delete(names[kind], namespace, propagation_policy="Background", _request_timeout=REQUEST_TIMEOUT)
        answer = answer if isinstance(answer, dict) else answer.to_dict()
        assert answer["kind"] == "Status" and answer["status"] == "Success", (kind, answer)
        assert answer["details"]["name"] == names[kind], (kind, answer)
        assert answer["details"]["group"] == group and answer["details"]["kind"] == plural, (kind, answer)


def test_fresh_workloads_carry_zero_counters(skiff, namespace, apps):
    """On objects no controller has touched yet, the counters are 0, not absent."""
    rs_name, sts_name, ds_name = unique("zrs"), unique("zsts"), unique("zds")
    create(skiff, namespace, {**workload("ReplicaSet", rs_name), "spec": {
        **workload("ReplicaSet", rs_name)["spec"], "replicas": 0}})
    create(skiff, namespace, {**workload("StatefulSet", sts_name), "spec": {
        **workload("StatefulSet", sts_name)["spec"], "replicas": 0}})
    # A DaemonSet whose pods fit no node: nothing is ever scheduled.
    ds = workload("DaemonSet", ds_name)
    ds["spec"]["template"]["spec"]["nodeSelector"] = {"e2e.skiff.dev/no-such-node": "true"}
    create(skiff, namespace, ds)

    assert apps.read_namespaced_replica_set(rs_name, namespace).status.replicas == 0
    sts = apps.read_namespaced_stateful_set(sts_name, namespace).status
    assert sts.replicas == 0 and sts.available_replicas == 0
    ds_status = apps.read_namespaced_daemon_set(ds_name, namespace).status
    assert (ds_status.current_number_scheduled, ds_status.desired_number_scheduled,
            ds_status.number_misscheduled, ds_status.number_ready) == (0, 0, 0, 0)


# --------------------------------------------------------------------------- pods and services


def pod_body(name, node_name=None) -> client.V1Pod:
    spec = client.V1PodSpec(containers=[client.V1Container(name="c", image=IMAGE, command=["sleep", "3600"])])
    if node_name:
        spec.node_name = node_name
    else:
        spec.scheduler_name = NO_SCHEDULER
    return client.V1Pod(metadata=client.V1ObjectMeta(name=name), spec=spec)


def test_read_and_delete_pod_returns_the_pod(core, namespace):
    name = unique("pod")
    created = core.create_namespaced_pod(namespace, pod_body(name), _request_timeout=REQUEST_TIMEOUT)
    assert isinstance(created, client.V1Pod) and created.metadata.uid
    got = core.read_namespaced_pod(name, namespace)
    assert got.status.phase == "Pending" and got.status.qos_class == "BestEffort"
    assert got.spec.termination_grace_period_seconds == 30
    assert isinstance(core.read_namespaced_pod_status(name, namespace), client.V1Pod)
    assert name in {p.metadata.name for p in core.list_namespaced_pod(namespace).items}

    # An unscheduled pod is deleted at once; the answer is the pod itself.
    deleted = core.delete_namespaced_pod(name, namespace, _request_timeout=REQUEST_TIMEOUT)
    assert isinstance(deleted, client.V1Pod), type(deleted)
    assert deleted.kind == "Pod" and deleted.metadata.name == name and deleted.metadata.uid == created.metadata.uid
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_pod(name, namespace)
    assert gone.value.status == 404


def test_graceful_pod_deletion_returns_the_pod_with_a_deletion_timestamp(core, namespace):
    name = unique("grace")
    # Bound to a registered node whose agent never comes: nothing finishes the
    # graceful deletion. (A pod bound to a node that does not exist goes at
    # once: Kubernetes' pod garbage collector removes those.)
    node = unique("e2e-ghost-node")
    core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name=node)))
    try:
        _graceful_then_forced(core, namespace, name, node)
    finally:
        core.delete_node(node)


def _graceful_then_forced(core, namespace, name, node):
    core.create_namespaced_pod(namespace, pod_body(name, node_name=node))
    deleted = core.delete_namespaced_pod(name, namespace, _request_timeout=REQUEST_TIMEOUT)
    assert isinstance(deleted, client.V1Pod)
    assert deleted.metadata.name == name
    assert deleted.metadata.deletion_timestamp is not None
    assert deleted.metadata.deletion_grace_period_seconds == 30
    still = core.read_namespaced_pod(name, namespace)
    assert still.metadata.deletion_timestamp is not None

    # Grace period 0 forces it.
    forced = core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
    assert isinstance(forced, client.V1Pod) and forced.metadata.name == name
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_pod(name, namespace)
    assert gone.value.status == 404


def test_read_and_delete_service_returns_the_service(core, namespace):
    name = unique("svc")
    body = client.V1Service(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1ServiceSpec(selector={"app": name}, ports=[client.V1ServicePort(port=80, target_port=8080)]))
    created = core.create_namespaced_service(namespace, body)
    assert created.spec.cluster_ip and created.spec.type == "ClusterIP"
    got = core.read_namespaced_service(name, namespace)
    assert isinstance(got, client.V1Service) and got.spec.ports[0].protocol == "TCP"
    deleted = core.delete_namespaced_service(name, namespace)
    assert isinstance(deleted, client.V1Service), type(deleted)
    assert deleted.kind == "Service" and deleted.metadata.name == name
    assert deleted.spec.cluster_ip == created.spec.cluster_ip
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_service(name, namespace)
    assert gone.value.status == 404


def test_delete_configmap_answers_with_a_status(core, namespace):
    name = unique("cm")
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name)))
    answer = core.delete_namespaced_config_map(name, namespace)
    assert answer["kind"] == "Status" and answer["apiVersion"] == "v1" and answer["status"] == "Success"
    assert answer["details"]["name"] == name and answer["details"]["kind"] == "configmaps"


# --------------------------------------------------------------------------- error bodies


def test_error_bodies_are_kubernetes_statuses(core, apps, namespace):
    missing = unique("missing")
    with pytest.raises(ApiException) as not_found:
        core.read_namespaced_pod(missing, namespace)
    e = not_found.value
    assert e.status == 404 and e.reason == "Not Found"
    assert e.headers["Content-Type"].startswith("application/json")
    body = json.loads(e.body)
    assert body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f'pods "{missing}" not found', "reason": "NotFound",
        "details": {"name": missing, "kind": "pods"}, "code": 404,
    }

    with pytest.raises(ApiException) as apps_not_found:
        apps.read_namespaced_deployment(missing, namespace)
    body = json.loads(apps_not_found.value.body)
    assert body["reason"] == "NotFound" and body["message"] == f'deployments.apps "{missing}" not found'
    assert body["details"] == {"name": missing, "group": "apps", "kind": "deployments"}

    name = unique("dup")
    core.create_namespaced_pod(namespace, pod_body(name))
    with pytest.raises(ApiException) as exists:
        core.create_namespaced_pod(namespace, pod_body(name))
    e = exists.value
    assert e.status == 409 and e.reason == "Conflict"
    body = json.loads(e.body)
    assert body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f'pods "{name}" already exists', "reason": "AlreadyExists",
        "details": {"name": name, "kind": "pods"}, "code": 409,
    }

    # A stale update: 409 Conflict with Kubernetes' wording.
    pod = core.read_namespaced_pod(name, namespace)
    pod.metadata.labels = {"a": "1"}
    core.replace_namespaced_pod(name, namespace, pod)
    pod.metadata.labels = {"a": "2"}
    with pytest.raises(ApiException) as stale:
        core.replace_namespaced_pod(name, namespace, pod)
    body = json.loads(stale.value.body)
    assert stale.value.status == 409 and body["reason"] == "Conflict"
    assert body["message"] == (f'Operation cannot be fulfilled on pods "{name}": the object has been modified; '
                               "please apply your changes to the latest version and try again")
    assert body["details"] == {"name": name, "kind": "pods"}

    # Invalid: 422 with causes.
    bad = pod_body(unique("bad"))
    bad.spec.containers[0].image = ""
    with pytest.raises(ApiException) as invalid:
        core.create_namespaced_pod(namespace, bad)
    body = json.loads(invalid.value.body)
    assert invalid.value.status == 422 and body["reason"] == "Invalid" and body["details"]["kind"] == "Pod"
    assert {"reason": "FieldValueRequired", "message": "Required value",
            "field": "spec.containers[0].image"} in body["details"]["causes"], body
