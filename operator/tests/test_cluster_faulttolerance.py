"""GCS fault tolerance as KubeRay v1.5 configures it: the head's and workers' env, `ray start`
flags and annotations, the validation KubeRay does, and a head replaced without the workers.

The golden values are what KubeRay's `configureGCSFaultTolerance` produces (see also
tests/integration/test_kuberay_parity_faulttolerance.py, which compares with its real
operator)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import ray_cluster_factory as f
import yaml

from ray_operator.cluster import faulttolerance as ft
from ray_operator.cluster.plan import plan_pods
from ray_operator.cluster.pods import desired_head_pod, desired_worker_pod, spec_hash
from ray_operator.cluster.spec import worker_groups
from ray_operator.cluster.validation import validate_cluster

SAMPLES = Path(__file__).parents[2] / "tests" / "integration" / "kuberay_samples"
SECRET = {"valueFrom": {"secretKeyRef": {"name": "redis-password-secret", "key": "password"}}}
OPERATOR_ENV = {
    "RAY_CLUSTER_NAME",
    "RAY_CLUSTER_NAMESPACE",
    "RAY_CLOUD_INSTANCE_ID",
    "RAY_NODE_TYPE_NAME",
    "KUBERAY_GEN_RAY_START_CMD",
    "RAY_PORT",
    "RAY_ADDRESS",
    "RAY_USAGE_STATS_KUBERAY_IN_USE",
    "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE",
    "FQ_RAY_IP",
    "RAY_IP",
}


def fault_tolerant(annotations: dict[str, str] | None = None, **options: Any) -> dict[str, Any]:
    return f.cluster(
        annotations=annotations,
        gcsFaultToleranceOptions={"redisAddress": "redis:6379", **options},
    )


def ray_env(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """The Ray container's env without the entries every pod gets."""
    env = pod["spec"]["containers"][0].get("env") or []
    return [e for e in env if e["name"] not in OPERATOR_ENV]


def ray_args(pod: dict[str, Any]) -> str:
    return str(pod["spec"]["containers"][0]["args"][0])


def messages(cluster: dict[str, Any], *, blocking: bool = True) -> list[str]:
    return [p.message for p in validate_cluster(cluster) if p.blocking is blocking]


def test_every_head_says_whether_fault_tolerance_is_on() -> None:
    plain = desired_head_pod(f.cluster())
    assert plain["metadata"]["annotations"]["ray.io/ft-enabled"] == "false"
    assert "ray.io/external-storage-namespace" not in plain["metadata"]["annotations"]
    assert ray_env(plain) == []
    worker = desired_worker_pod(f.cluster(), worker_groups(f.cluster())[0])
    assert "ray.io/ft-enabled" not in worker["metadata"]["annotations"]
    assert ray_env(worker) == []


def test_the_head_gets_the_redis_address_and_the_secret_by_reference() -> None:
    pod = desired_head_pod(fault_tolerant(redisPassword=SECRET))
    annotations = pod["metadata"]["annotations"]
    assert annotations["ray.io/ft-enabled"] == "true"
    assert annotations["ray.io/external-storage-namespace"] == f.UID
    assert ray_env(pod) == [
        {"name": "RAY_external_storage_namespace", "value": f.UID},
        {"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"},
        {"name": "REDIS_PASSWORD", **SECRET},
    ]
    assert ray_args(pod).endswith(" --redis-password=$REDIS_PASSWORD")
    assert "redis-username" not in ray_args(pod)


def test_username_namespace_and_plain_values() -> None:
    cluster = fault_tolerant(
        redisUsername={"value": "ray"},
        redisPassword={"value": "s3cret"},
        externalStorageNamespace="shared-ns",
    )
    pod = desired_head_pod(cluster)
    assert pod["metadata"]["annotations"]["ray.io/external-storage-namespace"] == "shared-ns"
    assert ray_env(pod) == [
        {"name": "RAY_external_storage_namespace", "value": "shared-ns"},
        {"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"},
        {"name": "REDIS_USERNAME", "value": "ray"},
        {"name": "REDIS_PASSWORD", "value": "s3cret"},
    ]
    args = ray_args(pod)
    assert "--redis-password=$REDIS_PASSWORD" in args
    assert "--redis-username=$REDIS_USERNAME" in args
    assert "s3cret" not in args  # the shell expands the variable; the value is not in the command


def test_a_user_storage_namespace_env_is_kept() -> None:
    cluster = fault_tolerant()
    head = cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    head["env"] = [{"name": "RAY_external_storage_namespace", "value": "mine"}]
    pod = desired_head_pod(cluster)
    names = [e["name"] for e in ray_env(pod)]
    assert names.count("RAY_external_storage_namespace") == 1
    assert ray_env(pod)[0] == {"name": "RAY_external_storage_namespace", "value": "mine"}
    # The annotation still says what KubeRay computes (it does not read the env).
    assert pod["metadata"]["annotations"]["ray.io/external-storage-namespace"] == f.UID


def test_workers_wait_600_seconds_for_a_new_head() -> None:
    cluster = fault_tolerant(redisPassword=SECRET)
    worker = desired_worker_pod(cluster, worker_groups(cluster)[0])
    assert ray_env(worker) == [{"name": "RAY_gcs_rpc_server_reconnect_timeout_s", "value": "600"}]
    assert "ray.io/ft-enabled" not in worker["metadata"]["annotations"]
    assert "redis" not in ray_args(worker)
    group = cluster["spec"]["workerGroupSpecs"][0]
    group["template"]["spec"]["containers"][0]["env"] = [
        {"name": "RAY_gcs_rpc_server_reconnect_timeout_s", "value": "30"}
    ]
    worker = desired_worker_pod(cluster, worker_groups(cluster)[0])
    assert ray_env(worker) == [{"name": "RAY_gcs_rpc_server_reconnect_timeout_s", "value": "30"}]


def legacy(params: dict[str, str] | None = None, **annotations: str) -> dict[str, Any]:
    cluster = f.cluster(annotations={"ray.io/ft-enabled": "true", **annotations})
    head = cluster["spec"]["headGroupSpec"]
    head["template"]["spec"]["containers"][0]["env"] = [
        {"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"}
    ]
    head["rayStartParams"] = dict(params or {})
    return cluster


def test_the_legacy_annotation_form() -> None:
    pod = desired_head_pod(legacy({"redis-password": "pw"}))
    assert pod["metadata"]["annotations"]["ray.io/ft-enabled"] == "true"
    assert ray_env(pod) == [
        {"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"},
        {"name": "RAY_external_storage_namespace", "value": f.UID},
        {"name": "REDIS_PASSWORD", "value": "pw"},
    ]
    assert "--redis-password=pw" in ray_args(pod)
    named = desired_head_pod(legacy(**{"ray.io/external-storage-namespace": "old"}))
    assert named["metadata"]["annotations"]["ray.io/external-storage-namespace"] == "old"
    assert {"name": "RAY_external_storage_namespace", "value": "old"} in ray_env(named)
    assert messages(legacy()) == []
    assert messages(legacy(), blocking=False) == []


def test_annotation_false_or_other_values_leave_it_off() -> None:
    for value in ("false", "yes", ""):
        cluster = f.cluster(annotations={"ray.io/ft-enabled": value})
        assert not ft.enabled(cluster)
        assert desired_head_pod(cluster)["metadata"]["annotations"]["ray.io/ft-enabled"] == "false"
    assert ft.enabled(f.cluster(annotations={"ray.io/ft-enabled": "TRUE"}))


def with_head(cluster: dict[str, Any], *, env: list[Any] | None = None, **params: str) -> Any:
    head = cluster["spec"]["headGroupSpec"]
    head["rayStartParams"].update(params)
    if env is not None:
        head["template"]["spec"]["containers"][0]["env"] = env
    return cluster


@pytest.mark.parametrize(
    ("cluster", "expected"),
    [
        (
            fault_tolerant({"ray.io/ft-enabled": "true"}),
            "ray.io/ft-enabled annotation and GcsFaultToleranceOptions are both set",
        ),
        (
            with_head(f.cluster(), env=[{"name": "RAY_REDIS_ADDRESS", "value": "r:6379"}]),
            "RAY_REDIS_ADDRESS is set which implicitly enables GCS fault tolerance",
        ),
        (
            with_head(fault_tolerant(), **{"redis-password": "pw"}),
            "cannot set `redis-password` in rayStartParams",
        ),
        (
            with_head(fault_tolerant(), env=[{"name": "REDIS_PASSWORD", "value": "pw"}]),
            "cannot set `REDIS_PASSWORD` env var in head Pod",
        ),
        (
            with_head(fault_tolerant(), env=[{"name": "RAY_REDIS_ADDRESS", "value": "r"}]),
            "cannot set `RAY_REDIS_ADDRESS` env var in head Pod",
        ),
        (
            fault_tolerant({"ray.io/external-storage-namespace": "x"}),
            "cannot set `ray.io/external-storage-namespace` annotation",
        ),
        (
            with_head(f.cluster(), **{"redis-username": "u"}),
            "cannot set redis username in rayStartParams or environment variables",
        ),
        (
            with_head(fault_tolerant(), env=[{"name": "REDIS_USERNAME", "value": "u"}]),
            "cannot set redis username in rayStartParams or environment variables",
        ),
        (
            f.cluster(gcsFaultToleranceOptions={"redisAddress": " "}),
            "spec.gcsFaultToleranceOptions.redisAddress must name a Redis server",
        ),
    ],
)
def test_kuberays_checks_block_the_cluster(cluster: dict[str, Any], expected: str) -> None:
    (found,) = messages(cluster)
    assert found.startswith(expected), found


def test_the_annotation_without_an_address_runs_with_a_warning() -> None:
    cluster = f.cluster(annotations={"ray.io/ft-enabled": "true"})
    assert messages(cluster) == []
    (warning,) = messages(cluster, blocking=False)
    assert "has no RAY_REDIS_ADDRESS" in warning


@pytest.mark.parametrize(
    "name",
    [
        "ray-cluster.external-redis.yaml",
        "ray-cluster.external-redis-uri.yaml",
        "ray-cluster.persistent-redis.yaml",
        "ray-service.high-availability.yaml",
    ],
)
def test_kuberays_samples_are_accepted(name: str) -> None:
    documents = list(yaml.safe_load_all((SAMPLES / name).read_text()))
    body = next(d for d in documents if d and d["kind"] in ("RayCluster", "RayService"))
    if body["kind"] == "RayService":
        body = {"metadata": {"name": "svc", "uid": f.UID}, "spec": body["spec"]["rayClusterConfig"]}
    body["metadata"].setdefault("uid", f.UID)
    assert messages(body) == []
    assert messages(body, blocking=False) == []
    pod = desired_head_pod(body)
    assert pod["metadata"]["annotations"]["ray.io/ft-enabled"] == "true"
    assert {"name": "REDIS_PASSWORD", **SECRET} in ray_env(pod)


def test_a_lost_head_is_replaced_alone() -> None:
    cluster = fault_tolerant(redisPassword=SECRET)
    stamp = spec_hash(cluster)
    workers = [f.pod(f"demo-small-worker-{i}", spec_hash=stamp) for i in range(2)]
    plan = plan_pods(cluster, workers)
    assert [(p.node_type, p.group) for p in plan.creates] == [("head", "headgroup")]
    assert plan.deletes == []
    failed = f.head(phase="Failed", spec_hash=stamp)
    plan = plan_pods(cluster, [failed, *workers])
    assert [d.name for d in plan.deletes] == ["demo-head-abcde"]
    assert [p.node_type for p in plan.creates] == ["head"]
