"""Desired head and worker pods: the user's template kept, the operator's additions present."""

from __future__ import annotations

from typing import Any

import pytest
import ray_cluster_factory as f

from ray_operator.cluster.pods import desired_head_pod, desired_worker_pod, spec_hash
from ray_operator.cluster.spec import worker_groups


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_head_pod_labels_owner_and_name() -> None:
    pod = desired_head_pod(f.cluster())
    meta = pod["metadata"]
    assert meta["generateName"] == "demo-head-"
    assert meta["namespace"] == "ns"
    assert meta["labels"]["ray.io/cluster"] == "demo"
    assert meta["labels"]["ray.io/node-type"] == "head"
    assert meta["labels"]["ray.io/group"] == "headgroup"
    assert meta["labels"]["ray.io/is-ray-node"] == "yes"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "name": "demo",
            "uid": f.UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_head_container_runs_ray_start_and_has_env_and_ports() -> None:
    container = desired_head_pod(f.cluster())["spec"]["containers"][0]
    assert container["command"] == ["/bin/bash", "-c", "--"]
    (args,) = container["args"]
    assert args.startswith("ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}; ray start --head ")
    assert "--num-cpus=1" in args
    values = env(container)
    assert values["RAY_ADDRESS"] == "127.0.0.1:6379"
    assert values["RAY_PORT"] == "6379"
    assert values["KUBERAY_GEN_RAY_START_CMD"] in args
    assert values["RAY_CLUSTER_NAME"] == {
        "fieldRef": {"fieldPath": "metadata.labels['ray.io/cluster']"}
    }
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {
        "client": 10001,
        "dashboard": 8265,
        "gcs-server": 6379,
        "metrics": 8080,
        "serve": 8000,
    }
    assert "readinessProbe" in container
    assert "livenessProbe" in container


def test_worker_pod_points_at_the_head_service_and_waits_for_gcs() -> None:
    cluster = f.cluster()
    (group,) = worker_groups(cluster)
    pod = desired_worker_pod(cluster, group, cluster_domain="example.org")
    assert pod["metadata"]["generateName"] == "demo-small-worker-"
    assert pod["metadata"]["labels"]["ray.io/group"] == "small"
    container = pod["spec"]["containers"][0]
    values = env(container)
    address = "demo-head-svc.ns.svc.example.org:6379"
    assert values["RAY_ADDRESS"] == address
    assert values["FQ_RAY_IP"] == "demo-head-svc.ns.svc.example.org"
    assert values["RAY_IP"] == "demo-head-svc"
    assert f"--address={address}" in container["args"][0]
    init = pod["spec"]["initContainers"][0]
    assert init["name"] == "wait-gcs-ready"
    assert address in init["args"][0]
    assert init["image"] == container["image"]
    assert [p["name"] for p in container["ports"]] == ["metrics"]


def test_user_template_fields_are_kept() -> None:
    group = f.worker_group()
    template = group["template"]
    template["metadata"] = {
        "labels": {"team": "ml", "ray.io/cluster": "spoofed"},
        "annotations": {"a": "b"},
    }
    spec = template["spec"]
    spec["tolerations"] = [{"key": "gpu", "operator": "Exists"}]
    spec["volumes"] = [{"name": "data", "emptyDir": {}}]
    spec["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    spec["containers"][0]["env"] = [
        {"name": "RAY_ADDRESS", "value": "user"},
        {"name": "X", "value": "1"},
    ]
    spec["containers"].append({"name": "sidecar", "image": "busybox"})
    cluster = f.cluster(groups=[group])
    pod = desired_worker_pod(cluster, worker_groups(cluster)[0])
    assert pod["metadata"]["labels"]["team"] == "ml"
    assert pod["metadata"]["labels"]["ray.io/cluster"] == "demo", "reserved labels are ours"
    assert pod["metadata"]["annotations"]["a"] == "b"
    assert pod["spec"]["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["data", "shared-mem"]
    container = pod["spec"]["containers"][0]
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
    assert {"name": "shared-mem", "mountPath": "/dev/shm"} in container["volumeMounts"]
    names = [e["name"] for e in container["env"]]
    assert names.count("RAY_ADDRESS") == 1
    assert env(container)["RAY_ADDRESS"] == "user"
    assert env(container)["X"] == "1"
    assert pod["spec"]["containers"][1] == {"name": "sidecar", "image": "busybox"}
    assert group["template"]["spec"]["containers"][0].get("args") is None, "input not mutated"


def test_shared_memory_is_sized_from_the_memory_limit() -> None:
    pod = desired_head_pod(f.cluster())
    (shm,) = [v for v in pod["spec"]["volumes"] if v["name"] == "shared-mem"]
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "2Gi"}


def test_user_command_runs_before_ray_start_or_is_left_alone() -> None:
    cluster = f.cluster()
    head = cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    head["command"] = ["echo"]
    head["args"] = ["hello"]
    assert desired_head_pod(cluster)["spec"]["containers"][0]["args"][0].startswith(
        "echo hello && ulimit"
    )
    head["args"] = ["ray start --head --block"]
    container = desired_head_pod(cluster)["spec"]["containers"][0]
    assert container["command"] == ["echo"]
    assert container["args"] == ["ray start --head --block"]


def test_overwrite_annotation_keeps_the_command() -> None:
    cluster = f.cluster()
    template = cluster["spec"]["headGroupSpec"]["template"]
    template["metadata"] = {"annotations": {"ray.io/overwrite-container-cmd": "true"}}
    template["spec"]["containers"][0]["command"] = ["my-entrypoint"]
    container = desired_head_pod(cluster)["spec"]["containers"][0]
    assert container["command"] == ["my-entrypoint"]
    assert "args" not in container
    assert "ray start --head" in env(container)["KUBERAY_GEN_RAY_START_CMD"]


def test_pods_carry_restart_and_spec_stamps() -> None:
    cluster = f.cluster(annotations={"ray.io/restarted-at": "2024-05-01T00:00:00Z"})
    annotations = desired_head_pod(cluster)["metadata"]["annotations"]
    assert annotations["ray.io/restarted-at"] == "2024-05-01T00:00:00Z"
    assert annotations["ray.io/cluster-spec-hash"] == spec_hash(cluster)


def test_spec_hash_ignores_scaling_but_not_templates() -> None:
    base = f.cluster()
    scaled = f.cluster(
        groups=[f.worker_group(replicas=5, scaleStrategy={"workersToDelete": ["x"]})]
    )
    suspended = f.cluster(suspend=True)
    changed = f.cluster()
    changed["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["image"] = "other"
    assert spec_hash(base) == spec_hash(scaled) == spec_hash(suspended)
    assert spec_hash(base) != spec_hash(changed)


def test_custom_head_service_name_is_used_in_worker_addresses() -> None:
    cluster = f.cluster()
    cluster["spec"]["headGroupSpec"]["headService"] = {"metadata": {"name": "my-head"}}
    pod = desired_worker_pod(cluster, worker_groups(cluster)[0])
    assert env(pod["spec"]["containers"][0])["FQ_RAY_IP"] == "my-head.ns.svc.cluster.local"


SERVE_ENV = {
    "RAY_timeout_ms_task_wait_for_death_info": "0",
    "RAY_gcs_server_request_timeout_seconds": "5",
    "RAY_SERVE_KV_TIMEOUT_S": "5",
}
RAYLET = "wget --tries 1 -T 2 -q -O- http://localhost:52365/api/local_raylet_healthz | grep success"
GCS = "wget --tries 1 -T 10 -q -O- http://localhost:8265/api/gcs_healthz | grep success"


def originated(crd: str | None, **spec: Any) -> dict[str, Any]:
    cluster = f.cluster(**spec)
    if crd:
        cluster["metadata"].setdefault("labels", {})["ray.io/originated-from-crd"] = crd
    return cluster


def pods_of(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    (group,) = worker_groups(cluster)
    return [desired_head_pod(cluster), desired_worker_pod(cluster, group)]


def probe_of(pod: dict[str, Any], kind: str) -> dict[str, Any]:
    probe: dict[str, Any] = pod["spec"]["containers"][0][kind]
    return probe


@pytest.mark.parametrize("crd", ["RayService", "RayJob", None])
def test_a_rayservice_cluster_gets_kuberays_serve_env_on_every_ray_container(
    crd: str | None,
) -> None:
    for pod in pods_of(originated(crd)):
        values = env(pod["spec"]["containers"][0])
        present = {name: values.get(name) for name in SERVE_ENV if name in values}
        assert present == (SERVE_ENV if crd == "RayService" else {})


def test_the_serve_env_a_template_sets_is_kept() -> None:
    cluster = originated("RayService")
    worker = cluster["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    worker["env"] = [{"name": "RAY_SERVE_KV_TIMEOUT_S", "value": "30"}]
    (group,) = worker_groups(cluster)
    container = desired_worker_pod(cluster, group)["spec"]["containers"][0]
    names = [e["name"] for e in container["env"]]
    assert names.count("RAY_SERVE_KV_TIMEOUT_S") == 1
    assert env(container)["RAY_SERVE_KV_TIMEOUT_S"] == "30"
    assert env(container)["RAY_gcs_server_request_timeout_seconds"] == "5"


def test_probes_are_kuberays_on_head_and_worker() -> None:
    head, worker = pods_of(originated(None))
    assert probe_of(head, "readinessProbe") == {
        "exec": {"command": ["bash", "-c", f"{RAYLET} && {GCS}"]},
        "initialDelaySeconds": 10,
        "periodSeconds": 5,
        "successThreshold": 1,
        "timeoutSeconds": 5,
        "failureThreshold": 10,
    }
    assert probe_of(head, "livenessProbe") == {
        "exec": {"command": ["bash", "-c", f"{RAYLET} && {GCS}"]},
        "initialDelaySeconds": 30,
        "periodSeconds": 5,
        "successThreshold": 1,
        "timeoutSeconds": 5,
        "failureThreshold": 120,
    }
    assert probe_of(worker, "readinessProbe")["exec"]["command"] == ["bash", "-c", RAYLET]
    assert probe_of(worker, "readinessProbe")["failureThreshold"] == 10
    assert probe_of(worker, "livenessProbe")["timeoutSeconds"] == 2


@pytest.mark.parametrize(
    ("ports", "port"), [(None, 8000), ([{"name": "serve", "containerPort": 9000}], 9000)]
)
def test_rayservice_workers_are_ready_only_while_serve_answers(
    ports: list[dict[str, Any]] | None, port: int
) -> None:
    cluster = originated("RayService")
    if ports:
        worker = cluster["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
        worker["ports"] = ports
    head, worker_pod = pods_of(cluster)
    serve = f"wget --tries 1 -T 10 -q -O- http://localhost:{port}/-/healthz | grep success"
    readiness = probe_of(worker_pod, "readinessProbe")
    assert readiness["exec"]["command"] == ["bash", "-c", f"{RAYLET} && {serve}"]
    assert readiness["failureThreshold"] == 1
    # Liveness and the head's readiness do not depend on Serve (as in KubeRay).
    assert probe_of(worker_pod, "livenessProbe")["exec"]["command"] == ["bash", "-c", RAYLET]
    assert probe_of(head, "readinessProbe")["failureThreshold"] == 10
    assert "healthz | grep" in probe_of(head, "readinessProbe")["exec"]["command"][2]
    assert "-/healthz" not in probe_of(head, "readinessProbe")["exec"]["command"][2]


def test_a_probe_the_template_sets_is_kept() -> None:
    cluster = originated("RayService")
    worker = cluster["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    worker["readinessProbe"] = {"httpGet": {"path": "/", "port": 1}}
    (group,) = worker_groups(cluster)
    pod = desired_worker_pod(cluster, group)
    assert probe_of(pod, "readinessProbe") == {"httpGet": {"path": "/", "port": 1}}
