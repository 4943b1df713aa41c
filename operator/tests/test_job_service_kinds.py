"""The RayJob and RayService passes through the reconcile core against the in-memory
apiserver: the state machine's and the upgrade step's writes, and what a failure holds back."""

from __future__ import annotations

from core_rig import Rig
from fakeapi import FakeKubeApi
from job_factory import rayjob
from service_factory import service

from ray_operator.controller import Retry
from ray_operator.kubeapi import ApiError, namespaced

CLUSTERS = namespaced("ray.io/v1", "rayclusters", "ns")


async def test_a_rayjob_gets_its_cluster_then_a_failed_creation_writes_no_status(
    fake_api: FakeKubeApi,
) -> None:
    rig = Rig(fake_api)
    loop = rig.other_loop("rayjobs")
    await rig.create(rayjob())
    await rig.sync()
    await loop.reconcile(("ns", "job"))
    status = rig.status("job", "rayjobs")
    assert status["jobDeploymentStatus"] == "Initializing"
    name = status["rayClusterName"]
    fake_api.fail_next("POST", CLUSTERS, ApiError(403, "Forbidden", "quota"))
    await rig.sync()
    requeue = await loop.reconcile(("ns", "job"))
    assert requeue == Retry(3.0), "an error, looked at again after the first failure's backoff"
    assert fake_api.objects("rayclusters", "ns") == []
    assert rig.events("FailedToCreateRayCluster")
    await rig.sync()
    await loop.reconcile(("ns", "job"))
    [created] = fake_api.objects("rayclusters", "ns")
    assert created["metadata"]["name"] == name
    assert created["metadata"]["labels"]["ray.io/originated-from-crd"] == "RayJob"
    assert created["metadata"]["ownerReferences"][0]["kind"] == "RayJob"


async def test_a_rayservice_prepares_one_pending_cluster(fake_api: FakeKubeApi) -> None:
    rig = Rig(fake_api)
    loop = rig.other_loop("rayservices")
    await rig.create(service())
    for _ in range(3):
        await rig.sync()
        await loop.reconcile(("ns", "svc"))
    [child] = fake_api.objects("rayclusters", "ns")
    status = rig.status("svc", "rayservices")
    assert status["pendingServiceStatus"]["rayClusterName"] == child["metadata"]["name"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert [e["reason"] for e in fake_api.objects("events", "ns")] == ["CreatedRayCluster"]
