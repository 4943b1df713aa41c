"""The RayCluster pass through the reconcile core against the in-memory apiserver: what it
writes, what it does not write again, and the three regressions of the per-kind reconciler
(an inherited backoff, a flapping failure, a foreign selector key that was never removed)."""

from __future__ import annotations

import pytest
from core_rig import Rig
from fakeapi import FakeKubeApi
from ray_cluster_factory import cluster

from ray_operator.kubeapi import ApiError, namespaced

PODS = namespaced("v1", "pods", "ns")
FORBIDDEN = ApiError(403, "Forbidden", 'pods "demo-head-" is forbidden: no ServiceAccount "x"')


@pytest.fixture
def rig(fake_api: FakeKubeApi) -> Rig:
    return Rig(fake_api)


async def test_a_new_cluster_gets_its_pods_and_service_then_a_steady_state_writes_nothing(
    rig: Rig,
) -> None:
    await rig.create(cluster())
    await rig.reconcile("demo")
    kinds = sorted(p["metadata"]["labels"]["ray.io/node-type"] for p in rig.pods())
    assert kinds == ["head", "worker", "worker"]
    assert rig.api.stored(namespaced("v1", "services", "ns", "demo-head-svc")) is not None
    rig.ready_pods()
    await rig.reconcile("demo")
    assert rig.status("demo")["state"] == "ready"
    _, requests = await rig.reconcile("demo")
    assert requests == 0, rig.api.log[-5:]


async def test_no_more_pods_before_the_cache_shows_the_ones_created(rig: Rig) -> None:
    await rig.create(cluster())
    await rig.reconcile("demo")
    created = len(rig.pods())
    rig.caches.pods.replace([])  # the pods' watch events have not arrived yet
    await rig.reconcile("demo", sync=False)
    assert len(rig.pods()) == created, "expectations held the second pass back"
    rig.clock.now += 31  # they never arrive: the expectation times out
    await rig.reconcile("demo", sync=False)
    assert len(rig.pods()) > created


async def test_a_recreated_cluster_does_not_inherit_the_backoff(rig: Rig) -> None:
    rig.api.fail_next("POST", PODS, FORBIDDEN, times=None)
    old = await rig.create(cluster())
    for _ in range(6):
        await rig.reconcile("demo")
        rig.clock.now += 0.5
    assert not rig.pods()
    await rig.api.delete(namespaced("ray.io/v1", "rayclusters", "ns", "demo"))
    rig.deleted(old)
    rig.api.failures.clear()
    await rig.create(cluster())
    await rig.reconcile("demo")
    assert len(rig.pods()) == 3, "the new uid has no backoff"


async def test_the_failure_holds_while_the_backoff_withholds_creations(rig: Rig) -> None:
    rig.api.fail_next("POST", PODS, FORBIDDEN, times=None)
    await rig.create(cluster())
    seen = []
    for _ in range(8):
        await rig.reconcile("demo")
        status = rig.status("demo")
        failure = next(c for c in status["conditions"] if c["type"] == "ReplicaFailure")
        seen.append((status.get("state"), failure["reason"], status["reason"]))
        rig.clock.now += 1.0
    assert len(set(seen)) == 1, seen
    assert seen[0][:2] == ("failed", "FailedCreateHeadPod")
    rig.api.failures.clear()
    rig.clock.now += 300
    await rig.reconcile("demo")
    assert rig.status("demo").get("state") != "failed", "cleared once the cause is gone"


async def test_a_foreign_selector_key_is_removed_once(rig: Rig) -> None:
    await rig.create(cluster())
    await rig.reconcile("demo")
    path = namespaced("v1", "services", "ns", "demo-head-svc")
    desired = rig.api.stored(path)["spec"]["selector"]  # type: ignore[index]
    await rig.api.merge_patch(
        path, {"spec": {"selector": {"app.kubernetes.io/created-by": "kuberay-operator"}}}
    )
    await rig.reconcile("demo")
    assert rig.api.stored(path)["spec"]["selector"] == desired  # type: ignore[index]
    _, requests = await rig.reconcile("demo")
    assert requests == 0
    assert [e["count"] for e in rig.events("UpdatedService")] == [1]


async def test_a_correction_from_a_stale_copy_is_refused_not_applied(rig: Rig) -> None:
    await rig.create(cluster())
    await rig.reconcile("demo")
    path = namespaced("v1", "services", "ns", "demo-head-svc")
    await rig.sync()
    await rig.api.merge_patch(path, {"spec": {"type": "NodePort"}})  # the cache misses this
    await rig.api.merge_patch(path, {"metadata": {"labels": {"team": "a"}}})
    await rig.reconcile("demo", sync=False)  # sees its stale copy as NodePort-free
    assert rig.api.stored(path)["spec"]["type"] == "NodePort"  # type: ignore[index]
    await rig.reconcile("demo")
    assert rig.api.stored(path)["spec"]["type"] == "ClusterIP"  # type: ignore[index]
    assert rig.api.stored(path)["metadata"]["labels"]["team"] == "a"  # type: ignore[index]


async def test_a_deletion_the_watch_missed_creates_nothing(rig: Rig) -> None:
    await rig.create(cluster())
    await rig.sync()
    await rig.api.delete(namespaced("ray.io/v1", "rayclusters", "ns", "demo"))
    await rig.loop.reconcile(("ns", "demo"))  # the store still holds the deleted cluster
    assert rig.pods() == []
    assert rig.caches.clusters.get("ns", "demo") is None


async def test_a_status_write_on_a_moved_object_is_retried(rig: Rig) -> None:
    await rig.create(cluster())
    await rig.reconcile("demo")
    await rig.sync()
    rig.ready_pods()
    await rig.sync(rig.caches.pods)
    await rig.api.merge_patch(
        namespaced("ray.io/v1", "rayclusters", "ns", "demo"), {"metadata": {"labels": {"a": "b"}}}
    )
    requeue, _ = await rig.reconcile("demo", sync=False)
    assert requeue == 0.2
    assert rig.status("demo").get("state") != "ready"
    await rig.reconcile("demo")
    assert rig.status("demo")["state"] == "ready"
