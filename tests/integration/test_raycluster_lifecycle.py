"""A RayCluster's life on the real control plane: scaling, pod replacement, suspend/resume,
restart by annotation, deletion with garbage collection, and metadata the operator never
touches."""

from __future__ import annotations

from typing import Any

import pytest
from raycluster_harness import OperatorProcess, Rays, sample, wait_for

pytestmark = pytest.mark.integration
NAME = "raycluster-minimal"


def ready_with(rays: Rays, workers: int) -> list[dict[str, Any]]:
    wait_for(
        f"ready with {workers} workers",
        lambda: (rays.ready(NAME) or {}).get("readyWorkerReplicas") == workers,
    )
    pods: list[dict[str, Any]] = wait_for(
        f"exactly 1 head and {workers} workers",
        lambda: rays.all_running_ready(
            NAME, {"headgroup": 1, "workers": workers} if workers else {"headgroup": 1}
        ),
    )
    return pods


def worker_names(rays: Rays) -> set[str]:
    return {p["metadata"]["name"] for p in rays.pods(NAME, node_type="worker")}


def test_scale_up_down_with_workers_to_delete_and_clamping(
    operator: OperatorProcess, rays: Rays
) -> None:
    rays.create(sample(NAME, rays.namespace))
    ready_with(rays, 2)
    rays.patch(NAME, {"spec": {"workerGroupSpecs": [{**group(rays), "replicas": 4}]}})
    ready_with(rays, 4)
    assert rays.status(NAME)["desiredWorkerReplicas"] == 4

    victims = sorted(worker_names(rays))[:2]
    keep = set(worker_names(rays)) - set(victims)
    rays.patch(
        NAME,
        {
            "spec": {
                "workerGroupSpecs": [
                    {**group(rays), "replicas": 2, "scaleStrategy": {"workersToDelete": victims}}
                ]
            }
        },
    )
    ready_with(rays, 2)
    assert worker_names(rays) == keep, "the named workers go first on scale-down"
    deleted = {e["message"] for e in rays.events(NAME, "DeletedWorkerPod")}
    assert all(any(v in m and "workersToDelete" in m for m in deleted) for v in victims)

    rays.patch(
        NAME, {"spec": {"workerGroupSpecs": [{**group(rays), "replicas": 50, "scaleStrategy": {}}]}}
    )
    ready_with(rays, 5)
    assert rays.status(NAME)["desiredWorkerReplicas"] == 5, "replicas are clamped to maxReplicas"
    rays.patch(NAME, {"spec": {"workerGroupSpecs": [{**group(rays), "replicas": 0}]}})
    ready_with(rays, 1)
    assert rays.status(NAME)["desiredWorkerReplicas"] == 1, "replicas are clamped to minReplicas"


def group(rays: Rays) -> dict[str, Any]:
    cluster = rays.get(NAME)
    assert cluster is not None
    result: dict[str, Any] = cluster["spec"]["workerGroupSpecs"][0]
    return result


def test_deleted_and_failed_workers_are_replaced(operator: OperatorProcess, rays: Rays) -> None:
    rays.create(sample(NAME, rays.namespace))
    before = {
        p["metadata"]["name"]
        for p in ready_with(rays, 2)
        if p["metadata"]["labels"]["ray.io/node-type"] == "worker"
    }
    victim = sorted(before)[0]
    rays.core.delete_namespaced_pod(victim, rays.namespace, grace_period_seconds=0)
    wait_for(
        "a replacement worker",
        lambda: len(worker_names(rays) - before) == 1 and victim not in worker_names(rays),
    )
    ready_with(rays, 2)

    failed = sorted(worker_names(rays))[0]
    rays.core.patch_namespaced_pod_status(
        failed, rays.namespace, {"status": {"phase": "Failed", "reason": "OOMKilled"}}
    )
    wait_for(
        "the failed worker replaced",
        lambda: failed not in worker_names(rays) and len(worker_names(rays)) == 2,
    )
    ready_with(rays, 2)
    messages = [e["message"] for e in rays.events(NAME, "DeletedWorkerPod")]
    assert any(failed in m and "Failed" in m for m in messages)


def test_suspend_and_resume(operator: OperatorProcess, rays: Rays) -> None:
    rays.create(sample(NAME, rays.namespace))
    ready_with(rays, 2)
    rays.patch(NAME, {"spec": {"suspend": True}})
    status = wait_for(
        "suspended",
        lambda: rays.status(NAME) if rays.status(NAME).get("state") == "suspended" else None,
    )
    assert rays.pods(NAME, terminating=True) == []
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["RayClusterSuspended"] == "True"
    assert conditions["RayClusterSuspending"] == "False"
    assert rays.events(NAME, "DeletedPod")
    rays.patch(NAME, {"spec": {"suspend": False}})
    ready_with(rays, 2)
    conditions = {c["type"]: c["status"] for c in rays.status(NAME)["conditions"]}
    assert conditions["RayClusterSuspended"] == "False"
    assert conditions["RayClusterProvisioned"] == "True"


def test_restart_annotation_replaces_every_pod_head_first(
    operator: OperatorProcess, rays: Rays
) -> None:
    rays.create(sample(NAME, rays.namespace))
    old = {p["metadata"]["name"] for p in ready_with(rays, 2)}
    rays.patch(NAME, {"metadata": {"annotations": {"ray.io/restarted-at": "2024-06-01T00:00:00Z"}}})

    def all_new() -> list[dict[str, Any]] | None:
        pods = rays.all_running_ready(NAME, {"headgroup": 1, "workers": 2})
        return pods if pods and not {p["metadata"]["name"] for p in pods} & old else None

    pods = wait_for("all pods replaced", all_new)
    assert {p["metadata"]["annotations"]["ray.io/restarted-at"] for p in pods} == {
        "2024-06-01T00:00:00Z"
    }
    head = next(p for p in pods if p["metadata"]["labels"]["ray.io/node-type"] == "head")
    workers = [p for p in pods if p["metadata"]["labels"]["ray.io/node-type"] == "worker"]
    assert all(
        w["metadata"]["creationTimestamp"] >= head["metadata"]["creationTimestamp"] for w in workers
    )
    restarts = [
        line["msg"]
        for line in operator.log_lines()
        if line.get("name") == NAME and "restarting its pods" in line.get("msg", "")
    ]
    assert len(restarts) == 3
    assert restarts[0].startswith("Deleted head Pod"), "the head is replaced first"
    wait_for("ready after restart", lambda: rays.ready(NAME))


def test_deleting_the_cluster_lets_gc_remove_everything(
    operator: OperatorProcess, rays: Rays
) -> None:
    rays.create(sample(NAME, rays.namespace))
    ready_with(rays, 2)
    assert rays.service(f"{NAME}-head-svc") is not None
    rays.delete(NAME)
    wait_for("the RayCluster gone", lambda: rays.get(NAME) is None)
    wait_for("pods garbage-collected", lambda: rays.pods(NAME, terminating=True) == [], timeout=120)
    wait_for(
        "service garbage-collected", lambda: rays.service(f"{NAME}-head-svc") is None, timeout=120
    )


def test_operator_never_writes_spec_or_metadata(
    kube_cluster: Any, operator: OperatorProcess, rays: Rays
) -> None:
    body = sample(NAME, rays.namespace)
    body["metadata"]["annotations"] = {"example.com/note": "mine"}
    body["metadata"]["labels"] = {"team": "ml"}
    created = rays.create(body)
    before = created["metadata"]
    ready_with(rays, 2)
    spec_changes = 0
    rays.patch(NAME, {"spec": {"workerGroupSpecs": [{**group(rays), "replicas": 3}]}})
    spec_changes += 1
    ready_with(rays, 3)
    rays.core.delete_namespaced_pod(
        sorted(worker_names(rays))[0], rays.namespace, grace_period_seconds=0
    )
    ready_with(rays, 3)
    rays.patch(NAME, {"spec": {"suspend": True}})
    spec_changes += 1
    wait_for("suspended", lambda: rays.status(NAME).get("state") == "suspended")
    rays.patch(NAME, {"spec": {"suspend": False}})
    spec_changes += 1
    ready_with(rays, 3)
    operator.stop()
    operator.start()
    rays.patch(NAME, {"metadata": {"annotations": {"ray.io/restarted-at": "now"}}})
    wait_for(
        "restarted pods",
        lambda: (
            {p["metadata"]["annotations"].get("ray.io/restarted-at") for p in rays.pods(NAME)}
            == {"now"}
        ),
    )
    ready_with(rays, 3)

    after = (rays.get(NAME) or {})["metadata"]
    assert after["generation"] == before["generation"] + spec_changes
    assert after.get("finalizers") in (None, [])
    assert after["annotations"] == {**before["annotations"], "ray.io/restarted-at": "now"}
    assert after["labels"] == before["labels"]
    assert "ownerReferences" not in after
    writers = [
        (entry["manager"], entry.get("subresource"))
        for entry in after["managedFields"]
        if entry["manager"] == "ray-operator"
    ]
    assert writers == [("ray-operator", "status")], (
        "the operator writes the status subresource only"
    )
    assert "kopf" not in str(after["annotations"])
