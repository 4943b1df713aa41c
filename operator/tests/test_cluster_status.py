"""Status computation: pods in, status out, with the lastTransitionTime rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ray_cluster_factory as f

from ray_operator.cluster.status import (
    Failure,
    Observed,
    compute_status,
    desired_resources,
    finalize,
)
from ray_operator.conditions import find_condition

T0 = "2024-01-01T00:00:00Z"
T1 = "2024-01-01T00:01:00Z"
T2 = "2024-01-01T00:02:00Z"
SERVICE = {
    "metadata": {"name": "demo-head-svc"},
    "spec": {
        "clusterIP": "10.96.0.10",
        "ports": [{"name": "dashboard", "port": 8265, "targetPort": 8265}],
    },
}


def observe(
    pods: Sequence[dict[str, Any]],
    now: str = T0,
    *,
    problems: Sequence[str] = (),
    failures: Sequence[Failure] = (),
    service: dict[str, Any] | None = SERVICE,
) -> Observed:
    return Observed(pods=pods, service=service, problems=problems, failures=failures, now=now)


def ready_pods() -> list[dict[str, Any]]:
    return [f.head(ip="10.0.0.9"), f.pod("w1"), f.pod("w2")]


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    found = find_condition(status["conditions"], type_)
    assert found is not None, type_
    return found


def test_new_cluster_with_pending_pods_is_provisioning() -> None:
    pods = [f.head(phase="Pending", ready=False), f.pod("w1", phase="Pending", ready=False)]
    status = compute_status(f.cluster(), observe(pods))
    assert "state" not in status
    assert condition(status, "RayClusterProvisioned")["status"] == "False"
    assert condition(status, "RayClusterProvisioned")["reason"] == "RayClusterPodsProvisioning"
    assert condition(status, "HeadPodReady")["status"] == "False"
    assert status["desiredWorkerReplicas"] == 2
    assert status["readyWorkerReplicas"] == 0


def test_all_pods_ready_makes_the_cluster_ready_and_provisioned() -> None:
    status = compute_status(f.cluster(), observe(ready_pods(), T1))
    assert status["state"] == "ready"
    assert "reason" not in status
    provisioned = condition(status, "RayClusterProvisioned")
    assert provisioned == {
        "type": "RayClusterProvisioned",
        "status": "True",
        "reason": "AllPodRunningAndReadyFirstTime",
        "message": "All Ray Pods are ready for the first time",
        "lastTransitionTime": T1,
    }
    assert condition(status, "HeadPodReady")["reason"] == "HeadPodRunningAndReady"
    assert status["head"] == {
        "podName": "demo-head-abcde",
        "podIP": "10.0.0.9",
        "serviceName": "demo-head-svc",
        "serviceIP": "10.96.0.10",
    }
    assert status["endpoints"] == {"dashboard": "8265"}
    assert status["readyWorkerReplicas"] == status["availableWorkerReplicas"] == 2
    assert status["observedGeneration"] == 1
    assert status["stateTransitionTimes"] == {"ready": T1}


def test_transition_times_move_only_when_a_condition_status_changes() -> None:
    pending = [f.head(phase="Pending", ready=False)]
    first = compute_status(f.cluster(), observe(pending, T0))
    second = compute_status(f.cluster(status=first), observe(pending, T1))
    assert condition(second, "RayClusterProvisioned")["lastTransitionTime"] == T0
    assert condition(second, "HeadPodReady")["lastTransitionTime"] == T0
    third = compute_status(f.cluster(status=second), observe(ready_pods(), T2))
    assert condition(third, "RayClusterProvisioned")["lastTransitionTime"] == T2
    assert condition(third, "HeadPodReady")["lastTransitionTime"] == T2
    assert condition(third, "RayClusterSuspended")["lastTransitionTime"] == T0


def test_provisioned_stays_true_and_ready_is_sticky_while_a_worker_is_replaced() -> None:
    ready = compute_status(f.cluster(), observe(ready_pods(), T0))
    degraded = compute_status(
        f.cluster(status=ready),
        observe([f.head(), f.pod("w1"), f.pod("w3", phase="Pending", ready=False)], T1),
    )
    assert degraded["state"] == "ready"
    assert degraded["readyWorkerReplicas"] == 1
    assert condition(degraded, "RayClusterProvisioned")["status"] == "True"
    assert condition(degraded, "RayClusterProvisioned")["lastTransitionTime"] == T0


def test_spec_problems_make_it_unhealthy_with_the_reason() -> None:
    status = compute_status(f.cluster(), observe([], problems=["bad a", "bad b"]))
    assert status["state"] == "unhealthy"
    assert status["reason"] == "bad a; bad b"


def test_api_failures_make_it_failed_with_a_replica_failure_condition() -> None:
    failure = Failure("FailedCreateWorkerPod", "Failed to create worker Pod: quota exceeded")
    status = compute_status(f.cluster(), observe([f.head()], failures=[failure]))
    assert status["state"] == "failed"
    assert status["reason"] == "Failed to create worker Pod: quota exceeded"
    replica = condition(status, "ReplicaFailure")
    assert (replica["status"], replica["reason"]) == ("True", "FailedCreateWorkerPod")
    healed = compute_status(f.cluster(status=status), observe(ready_pods(), T1))
    assert find_condition(healed["conditions"], "ReplicaFailure") is None
    assert healed["state"] == "ready"
    assert healed["stateTransitionTimes"] == {"failed": T0, "ready": T1}


def test_pods_that_cannot_start_make_it_failed() -> None:
    pods = [f.head(phase="Pending", ready=False, waiting="ImagePullBackOff"), f.pod("w1")]
    status = compute_status(f.cluster(), observe(pods))
    assert status["state"] == "failed"
    assert "ImagePullBackOff" in status["reason"]
    assert condition(status, "HeadPodReady")["reason"] == "ImagePullBackOff"


def test_problem_state_is_cleared_when_provisioning_resumes() -> None:
    broken = compute_status(f.cluster(), observe([], problems=["bad"]))
    fixed = compute_status(
        f.cluster(status=broken), observe([f.head(phase="Pending", ready=False)], T1)
    )
    assert "state" not in fixed
    assert "reason" not in fixed
    assert fixed["stateTransitionTimes"] == {"unhealthy": T0}


def test_suspension_sequence() -> None:
    requested = compute_status(f.cluster(suspend=True), observe(ready_pods(), T0))
    assert condition(requested, "RayClusterSuspending")["status"] == "True"
    assert condition(requested, "RayClusterSuspended")["status"] == "False"
    deleting = compute_status(
        f.cluster(suspend=True, status=requested), observe([f.pod("w1", terminating=True)], T1)
    )
    assert condition(deleting, "RayClusterSuspending")["status"] == "True"
    assert deleting.get("state") != "suspended"
    done = compute_status(f.cluster(suspend=True, status=deleting), observe([], T2))
    assert done["state"] == "suspended"
    assert condition(done, "RayClusterSuspending")["status"] == "False"
    suspended = condition(done, "RayClusterSuspended")
    assert (suspended["status"], suspended["lastTransitionTime"]) == ("True", T2)
    assert condition(done, "RayClusterProvisioned")["status"] == "False"
    resumed = compute_status(f.cluster(suspend=False, status=done), observe([], T2))
    assert condition(resumed, "RayClusterSuspended")["status"] == "False"
    assert "state" not in resumed
    again = compute_status(f.cluster(status=resumed), observe(ready_pods(), T2))
    assert again["state"] == "ready"
    assert condition(again, "RayClusterProvisioned")["status"] == "True"


def test_desired_resources_sum_head_and_clamped_workers() -> None:
    gpu = f.worker_group("gpu", replicas=5, max_replicas=2)
    gpu["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "4", "nvidia.com/gpu": "1"},
    }
    cluster = f.cluster(groups=[f.worker_group(replicas=1), gpu])
    assert desired_resources(cluster) == {
        "desiredCPU": "4",
        "desiredMemory": "8Gi",
        "desiredGPU": "2",
        "desiredTPU": "0",
    }


def test_finalize_writes_only_real_changes_and_keeps_kopf_bookkeeping() -> None:
    status = compute_status(f.cluster(), observe(ready_pods(), T0))
    stored = {**status, "lastUpdateTime": T0, "kopf": {"progress": {}}}
    same = compute_status(f.cluster(status=stored), observe(ready_pods(), T1))
    assert finalize(stored, same, T1) is None
    fewer = compute_status(f.cluster(status=stored), observe([f.head(), f.pod("w1")], T1))
    patch = finalize(stored, fewer, T1)
    assert patch is not None
    assert patch["lastUpdateTime"] == T1
    assert patch["readyWorkerReplicas"] == 1
    assert "kopf" not in patch
