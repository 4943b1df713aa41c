"""Golden text for the RayJob families: deployment status and per-attempt durations."""

from __future__ import annotations

import pytest
from exporter_objects import attempt, rayjob

from ray_exporter.families import render
from ray_exporter.fields import Problem
from ray_exporter.rayjobs import RAYJOBS

DEPLOYMENT_STATUSES = [
    "",
    "Initializing",
    "Running",
    "Complete",
    "Failed",
    "ValidationFailed",
    "Suspending",
    "Suspended",
    "Retrying",
    "Waiting",
]


def text(obj: dict[str, object]) -> str:
    return b"".join(render(RAYJOBS, obj).lines).decode()


@pytest.mark.parametrize("status", DEPLOYMENT_STATUSES)
def test_deployment_status_is_reported_verbatim(status: str) -> None:
    obj = rayjob("j1", status={"jobDeploymentStatus": status, "observedGeneration": 1})
    assert text(obj) == (
        'kuberay_job_info{name="j1",namespace="ns",uid="uid-j1"} 1\n'
        f'kuberay_job_deployment_status{{deployment_status="{status}",name="j1",namespace="ns",'
        'uid="uid-j1"} 1\n'
        'ray_resource_generation_lag{name="j1",namespace="ns",resource="rayjobs",uid="uid-j1"} 0\n'
    )


def test_a_new_job_without_status_reports_the_empty_status() -> None:
    rendered = render(RAYJOBS, rayjob("j1"))
    assert rendered.lines[1] == (
        b'kuberay_job_deployment_status{deployment_status="",name="j1",namespace="ns",'
        b'uid="uid-j1"} 1\n'
    )
    assert rendered.lines[2] == b""
    assert rendered.problems == ()


def test_backoff_limit_two_failing_three_times_reports_each_attempt() -> None:
    history = [
        attempt("Retrying", 0, "2024-05-01T10:00:00Z", "2024-05-01T10:01:00Z"),
        attempt("Retrying", 1, "2024-05-01T10:02:00Z", "2024-05-01T10:04:30Z"),
        attempt("Failed", 2, "2024-05-01T10:05:00Z", "2024-05-01T10:05:00.5Z"),
    ]
    obj = rayjob(
        "j1", status={"jobDeploymentStatus": "Failed", "failed": 3, "attemptHistory": history}
    )
    assert render(RAYJOBS, obj).lines[2].decode() == (
        'kuberay_job_execution_duration_seconds{job_deployment_status="Retrying",name="j1",'
        'namespace="ns",retry_count="0",uid="uid-j1"} 60\n'
        'kuberay_job_execution_duration_seconds{job_deployment_status="Retrying",name="j1",'
        'namespace="ns",retry_count="1",uid="uid-j1"} 150\n'
        'kuberay_job_execution_duration_seconds{job_deployment_status="Failed",name="j1",'
        'namespace="ns",retry_count="2",uid="uid-j1"} 0.5\n'
    )


def test_a_job_that_completed_first_time_has_one_complete_attempt() -> None:
    history = [attempt("Complete", 0, "2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z")]
    obj = rayjob("j1", status={"jobDeploymentStatus": "Complete", "attemptHistory": history})
    assert render(RAYJOBS, obj).lines[2] == (
        b'kuberay_job_execution_duration_seconds{job_deployment_status="Complete",name="j1",'
        b'namespace="ns",retry_count="0",uid="uid-j1"} 3600\n'
    )


def test_a_malformed_attempt_is_skipped_and_the_others_render() -> None:
    history = [
        attempt("Retrying", 0, "2024-05-01T10:00:00Z", "not a time"),
        "garbage",
        {"retryCount": "1", "result": "Retrying"},
        attempt("Exploded", 1, "2024-05-01T10:00:00Z", "2024-05-01T10:00:01Z"),
        attempt("Retrying", 1, "2024-05-01T10:02:00Z", None),  # type: ignore[arg-type]
        attempt("Failed", 2, "2024-05-01T10:05:00Z", "2024-05-01T10:06:00Z"),
    ]
    rendered = render(RAYJOBS, rayjob("j1", status={"attemptHistory": history}))
    assert rendered.lines[2] == (
        b'kuberay_job_execution_duration_seconds{job_deployment_status="Failed",name="j1",'
        b'namespace="ns",retry_count="2",uid="uid-j1"} 60\n'
    )
    assert set(rendered.problems) == {
        Problem.INVALID_TIMESTAMP,
        Problem.ATTEMPT_NOT_OBJECT,
        Problem.INVALID_ATTEMPT,
        Problem.MISSING_TIMESTAMP,
    }


def test_duplicate_attempts_keep_the_later_entry_once() -> None:
    history = [
        attempt("Retrying", 0, "2024-05-01T10:00:00Z", "2024-05-01T10:00:10Z"),
        attempt("Retrying", 0, "2024-05-01T10:00:00Z", "2024-05-01T10:00:20Z"),
    ]
    rendered = render(RAYJOBS, rayjob("j1", status={"attemptHistory": history}))
    assert rendered.lines[2].count(b"\n") == 1
    assert rendered.lines[2].endswith(b"} 20\n")
    assert rendered.problems == (Problem.DUPLICATE_ATTEMPT,)


def test_attempt_history_that_is_not_a_list_only_drops_the_durations() -> None:
    rendered = render(
        RAYJOBS, rayjob("j1", status={"jobDeploymentStatus": "Running", "attemptHistory": {}})
    )
    assert rendered.lines[0]
    assert rendered.lines[1]
    assert rendered.lines[3]
    assert rendered.lines[2] == b""
    assert rendered.problems == (Problem.ATTEMPT_HISTORY_NOT_LIST,)


def test_deployment_status_of_a_wrong_type_is_skipped() -> None:
    rendered = render(RAYJOBS, rayjob("j1", status={"jobDeploymentStatus": 7}))
    assert rendered.lines[1] == b""
    assert rendered.lines[0].startswith(b"kuberay_job_info{")
    assert rendered.problems == (Problem.FIELD_WRONG_TYPE,)
