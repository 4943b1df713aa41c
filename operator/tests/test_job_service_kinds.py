"""The RayJob and RayService passes through the reconcile core against the in-memory
apiserver: the state machine's and the upgrade step's writes, and what a failure holds back."""

from __future__ import annotations

from typing import Any

import ray_cluster_factory as f
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


async def _running(rig: Rig, fake_api: FakeKubeApi, loop: Any, spec: dict[str, Any]) -> str:
    """Drive the RayJob to Running on a ready cluster; the cluster's name."""
    await rig.create(rayjob(**spec))
    for _ in range(4):
        await rig.sync()
        await loop.reconcile(("ns", "job"))
        name = rig.status("job", "rayjobs").get("rayClusterName")
        if name and fake_api.stored(f"{CLUSTERS}/{name}") is not None:
            fake_api.update_status(f"{CLUSTERS}/{name}", {"state": "ready"})
    assert rig.status("job", "rayjobs")["jobDeploymentStatus"] == "Running"
    return str(name)


async def test_a_running_rayjob_gets_its_head_service_selecting_its_clusters_head(
    fake_api: FakeKubeApi,
) -> None:
    rig = Rig(fake_api)
    loop = rig.other_loop("rayjobs")
    cluster = await _running(rig, fake_api, loop, {})
    await rig.sync()
    await loop.reconcile(("ns", "job"))
    services = {s["metadata"]["name"]: s for s in fake_api.objects("services", "ns")}
    service = services["job-head-svc"]
    assert service["spec"]["selector"] == {"ray.io/cluster": cluster, "ray.io/node-type": "head"}
    assert service["metadata"]["labels"] == {
        "ray.io/originated-from-crd": "RayJob",
        "ray.io/originated-from-cr-name": "job",
        "ray.io/node-type": "head",
        "ray.io/identifier": "job-head",
    }
    [owner] = service["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("RayJob", "job", True)
    assert "dashboard" in {p["name"] for p in service["spec"]["ports"]}
    assert rig.events("CreatedService")
    # Once there, it is not written again.
    before = len(fake_api.log)
    await rig.sync()
    await loop.reconcile(("ns", "job"))
    writes = [(m, p) for m, p in fake_api.log[before:] if m != "GET" and "/services" in p]
    assert writes == []


async def test_a_rayjob_on_a_selected_cluster_gets_no_head_service(fake_api: FakeKubeApi) -> None:
    rig = Rig(fake_api)
    loop = rig.other_loop("rayjobs")
    fake_api.put(f.cluster("shared"))
    fake_api.update_status(f"{CLUSTERS}/shared", {"state": "ready"})
    spec = {"clusterSelector": {"ray.io/cluster": "shared"}, "rayClusterSpec": None}
    await _running(rig, fake_api, loop, spec)
    await rig.sync()
    await loop.reconcile(("ns", "job"))
    assert [s["metadata"]["name"] for s in fake_api.objects("services", "ns")] == []
