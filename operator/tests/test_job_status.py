"""The consistency rules of a RayJob status, the attempt history and the cluster mirror."""

from __future__ import annotations

from typing import Any

import pytest

from ray_operator.cluster.status import mirror_cluster_status
from ray_operator.job.status import (
    attempt_entry,
    contradictions,
    with_attempt,
)


def entry(result: str, retry: int, start: str = "2025-01-01T00:00:00Z") -> dict[str, Any]:
    return attempt_entry(
        retry_count=retry, result=result, start=start, end="2025-01-01T00:01:00Z", job_id="j"
    )


COMPLETE: dict[str, Any] = {
    "jobDeploymentStatus": "Complete",
    "jobStatus": "SUCCEEDED",
    "jobId": "j",
    "rayClusterName": "c",
    "startTime": "2025-01-01T00:00:00Z",
    "endTime": "2025-01-01T00:01:00Z",
    "failed": 1,
    "succeeded": 1,
    "attemptHistory": [entry("Retrying", 0), entry("Complete", 1)],
}


def test_a_consistent_status_has_no_contradictions() -> None:
    assert contradictions(COMPLETE) == []
    assert contradictions({}) == []
    running = {
        "jobDeploymentStatus": "Running",
        "jobStatus": "RUNNING",
        "jobId": "j",
        "rayClusterName": "c",
        "startTime": "2025-01-01T00:00:00Z",
    }
    assert contradictions(running) == []


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"jobDeploymentStatus": "Failed", "jobStatus": "RUNNING"}, "jobStatus RUNNING"),
        ({"jobStatus": "FAILED"}, "Complete with jobStatus FAILED"),
        ({"jobDeploymentStatus": "Initializing", "endTime": None}, "jobStatus SUCCEEDED while"),
        ({"endTime": None}, "endTime missing"),
        ({"endTime": "2024-12-31T00:00:00Z"}, "endTime before startTime"),
        ({"jobDeploymentStatus": "Bogus"}, "unknown jobDeploymentStatus"),
        ({"jobStatus": "WEIRD"}, "unknown jobStatus"),
        ({"failed": 2}, "status.failed is 2"),
        ({"succeeded": 2}, "succeeded is 2"),
        ({"attemptHistory": [entry("Retrying", 0)]}, "last attempt"),
        ({"attemptHistory": [entry("Complete", 1), entry("Retrying", 0)]}, "out of order"),
        ({"attemptHistory": [entry("Running", 0)]}, "has result 'Running'"),
    ],
)
def test_each_contradiction_is_found(change: dict[str, Any], needle: str) -> None:
    status = {**COMPLETE, **change}
    status = {k: v for k, v in status.items() if v is not None}
    found = contradictions(status)
    assert any(needle in message for message in found), found


def test_failed_needs_a_reason_and_running_needs_a_job_id() -> None:
    failed = {
        "jobDeploymentStatus": "Failed",
        "jobStatus": "FAILED",
        "startTime": "2025-01-01T00:00:00Z",
        "endTime": "2025-01-01T00:01:00Z",
        "failed": 1,
        "attemptHistory": [entry("Failed", 0)],
    }
    assert contradictions(failed) == ["Failed without a reason"]
    assert contradictions({"jobDeploymentStatus": "Running", "rayClusterName": "c"}) == [
        "Running without a jobId"
    ]


def test_history_keeps_the_last_fifty() -> None:
    history: list[dict[str, Any]] = []
    for retry in range(60):
        history = with_attempt(history, entry("Retrying", retry))
    assert len(history) == 50
    assert [e["retryCount"] for e in history] == list(range(10, 60))
    assert with_attempt("garbage", entry("Failed", 0)) == [entry("Failed", 0)]


def test_mirror_keeps_only_fields_the_rayjob_crd_stores() -> None:
    status = {"state": "ready", "readyWorkerReplicas": 2, "kopf": {"x": 1}, "other": 3}
    assert mirror_cluster_status(status) == {"state": "ready", "readyWorkerReplicas": 2}
