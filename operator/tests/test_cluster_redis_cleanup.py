"""The Redis cleanup of fault-tolerant RayClusters without a finalizer: the record written
before the head pod, KubeRay's cleanup Job in it, and the sweeper's steps once the cluster is
gone (also when the operator was down: the record is all it needs)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import ray_cluster_factory as f
from core_rig import Rig
from fakeapi import FakeKubeApi

from ray_operator.cluster import redis_cleanup as rc
from ray_operator.cluster.sweeper import RECHECK_SECONDS, Sweeper
from ray_operator.kubeapi import namespaced

SECRET = {"valueFrom": {"secretKeyRef": {"name": "redis-password-secret", "key": "password"}}}
RECORDS = "/api/v1/namespaces/ns/configmaps"


def with_secret(rig: Rig) -> None:
    rig.api.put(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "redis-password-secret", "namespace": "ns"},
            "data": {"password": "cHc="},
        },
        plural="secrets",
    )


def fault_tolerant(name: str = "demo", **options: Any) -> dict[str, Any]:
    return f.cluster(
        name,
        gcsFaultToleranceOptions={"redisAddress": "redis:6379", "redisPassword": SECRET, **options},
    )


def test_the_record_holds_kuberays_cleanup_job() -> None:
    record = rc.record(fault_tolerant())
    assert record["metadata"]["name"] == "demo-redis-cleanup-11111111"
    assert record["metadata"]["labels"]["ray.io/redis-cleanup"] == "record"
    assert "ownerReferences" not in record["metadata"]  # it outlives the cluster
    data = record["data"]
    assert (data["cluster"], data["uid"], data["storageNamespace"]) == ("demo", f.UID, f.UID)
    job = json.loads(data["job"])
    assert (job["spec"]["backoffLimit"], job["spec"]["activeDeadlineSeconds"]) == (0, 300)
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (ray,) = pod["containers"]
    assert "livenessProbe" not in ray
    assert "readinessProbe" not in ray
    assert ray["command"] == ["/bin/bash", "-c", "--"]
    script = ray["args"][0]
    assert "from ray._private.gcs_utils import cleanup_redis_storage" in script
    assert "storage_namespace=os.getenv('RAY_external_storage_namespace')" in script
    assert "username=" not in script
    env = {e["name"]: e for e in ray["env"]}
    assert env["REDIS_PASSWORD"] == {"name": "REDIS_PASSWORD", **SECRET}
    assert env["RAY_REDIS_ADDRESS"]["value"] == "redis:6379"
    assert env["RAY_external_storage_namespace"]["value"] == f.UID
    assert env["RAY_redis_db_connect_retries"]["value"] == "120"
    assert env["RAY_redis_db_connect_wait_milliseconds"]["value"] == "500"
    assert "KUBERAY_GEN_RAY_START_CMD" not in env
    assert ray["resources"]["limits"] == {"cpu": "200m", "memory": "256Mi"}
    assert job["metadata"]["labels"]["ray.io/node-type"] == "redis-cleanup"
    named = rc.record(fault_tolerant(redisUsername={"value": "u"}, externalStorageNamespace="x"))
    assert named["data"]["storageNamespace"] == "x"
    assert "username=os.getenv('REDIS_USERNAME', parsed.username)" in named["data"]["job"]


def test_record_names_fit_and_differ_per_uid() -> None:
    long = fault_tolerant("c" * 53)
    assert len(rc.record_name(long)) <= 63
    other = fault_tolerant()
    other["metadata"]["uid"] = "99999999-0000"
    assert rc.record_name(other) != rc.record_name(fault_tolerant())


def job(condition: str | None) -> dict[str, Any]:
    conditions = [{"type": condition, "status": "True"}] if condition else []
    return {"status": {"conditions": conditions}}


@pytest.mark.parametrize(
    ("cluster_uid", "pods", "the_job", "shared", "step"),
    [
        (f.UID, 0, None, False, rc.Step.WAIT),  # the cluster lives
        (None, 2, None, False, rc.Step.WAIT),  # its pods are still going
        (None, 0, None, True, rc.Step.WAIT),  # a live cluster uses the same namespace
        (None, 0, None, False, rc.Step.START),
        ("another-uid", 0, None, False, rc.Step.START),  # recreated under the name
        (None, 0, job(None), False, rc.Step.RUNNING),
        (None, 0, job("Complete"), False, rc.Step.DONE),
        (None, 0, job("Failed"), False, rc.Step.FAILED),
    ],
)
def test_the_sweepers_steps(
    cluster_uid: str | None, pods: int, the_job: Any, shared: bool, step: rc.Step
) -> None:
    record = rc.record(fault_tolerant())
    found = rc.next_step(
        record, cluster_uid=cluster_uid, pods_left=pods, job=the_job, shared_with_live=shared
    )
    assert found is step


@pytest.fixture
def rig(fake_api: FakeKubeApi) -> Rig:
    return Rig(fake_api)


def sweeper(rig: Rig) -> Sweeper:
    caches = rig.caches
    return Sweeper(
        rig.api,  # type: ignore[arg-type]
        rig.recorder,
        caches.cleanup_records,
        caches.cleanup_jobs,
        caches.pods,
        caches.clusters,
    )


async def test_the_record_comes_before_the_pods_and_the_cleanup_after_them(rig: Rig) -> None:
    with_secret(rig)
    created = await rig.create(fault_tolerant())
    await rig.reconcile("demo")
    name = rc.record_name(created)
    record = rig.api.stored(f"{RECORDS}/{name}")
    assert record is not None
    assert record["data"]["uid"] == created["metadata"]["uid"]
    assert [e["type"] for e in rig.events("CreatedRedisCleanupRecord")] == ["Normal"]
    creates = [p for m, p in rig.api.log if m == "POST" and "rayclusters" not in p]
    assert creates[0].endswith("/configmaps"), creates  # before any pod
    sweep = sweeper(rig)
    await rig.sync()
    assert await sweep.reconcile(("ns", name)) is None  # the cluster lives
    assert rig.api.objects("jobs", "ns") == []

    # The cluster is deleted (the operator may be down: nothing but the record is needed).
    await rig.api.delete(namespaced("ray.io/v1", "rayclusters", "ns", "demo"))
    # The RayCluster is gone from the apiserver, its pods still in the cache.
    assert rig.caches.pods.owned_by(created["metadata"]["uid"])
    assert await sweep.reconcile(("ns", name)) == RECHECK_SECONDS
    assert rig.api.objects("jobs", "ns") == []
    rig.api.finish_deletions()  # garbage collection
    await rig.sync()
    assert await sweep.reconcile(("ns", name)) == RECHECK_SECONDS
    (cleanup,) = rig.api.objects("jobs", "ns")
    assert cleanup["metadata"]["ownerReferences"][0]["kind"] == "ConfigMap"
    assert [e["type"] for e in rig.events("CreatedRedisCleanupJob")] == ["Normal"]
    await rig.sync()
    assert await sweep.reconcile(("ns", name)) == RECHECK_SECONDS  # running

    rig.api.update_status(cleanup, {"conditions": [{"type": "Complete", "status": "True"}]})
    await rig.sync()
    assert await sweep.reconcile(("ns", name)) is None
    assert rig.api.stored(f"{RECORDS}/{name}") is None
    assert [e["type"] for e in rig.events("RedisCleanupCompleted")] == ["Normal"]


async def test_a_failed_cleanup_is_a_warning_and_keeps_the_record(rig: Rig) -> None:
    with_secret(rig)
    created = await rig.create(fault_tolerant())
    await rig.reconcile("demo")
    name = rc.record_name(created)
    await rig.api.delete(namespaced("ray.io/v1", "rayclusters", "ns", "demo"))
    for pod in rig.pods():
        await rig.api.delete(namespaced("v1", "pods", "ns", pod["metadata"]["name"]))
    rig.api.finish_deletions()
    await rig.sync()
    sweep = sweeper(rig)
    await sweep.reconcile(("ns", name))
    (cleanup,) = rig.api.objects("jobs", "ns")
    rig.api.update_status(cleanup, {"conditions": [{"type": "Failed", "status": "True"}]})
    await rig.sync()
    assert await sweep.reconcile(("ns", name)) is None
    assert rig.api.stored(f"{RECORDS}/{name}") is not None
    (warning,) = rig.events("RedisCleanupFailed")
    assert warning["type"] == "Warning"
    assert "delete the Job to try again" in warning["message"]


async def test_no_record_without_fault_tolerance(rig: Rig) -> None:
    await rig.create(f.cluster())
    await rig.reconcile("demo")
    assert rig.api.objects("configmaps", "ns") == []


async def test_a_missing_secret_holds_the_pods_back(rig: Rig) -> None:
    await rig.create(fault_tolerant())
    requeue, _ = await rig.reconcile("demo")
    assert requeue == 5.0  # Secrets are not watched: the operator looks again
    assert rig.pods() == []
    status = rig.status("demo")
    assert status["state"] == "unhealthy"
    assert "Secret ns/redis-password-secret, which does not exist" in status["reason"]
    (warning,) = rig.events("InvalidRayClusterSpec")
    assert warning["type"] == "Warning"
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "redis-password-secret"}}
    await rig.api.create("/api/v1/namespaces/ns/secrets", {**secret, "data": {"password": "cHc="}})
    await rig.reconcile("demo")
    assert len(rig.pods()) == 3
    assert "secrets/redis-password-secret" in " ".join(p for _, p in rig.api.log)
