"""A RayJob's status as a whole: the attempt history, the mirrored cluster status, and the
rules that keep it free of contradictions.

`status.attemptHistory` (an extension to KubeRay's API, read by the exporter for
`kuberay_job_execution_duration_seconds`) holds one entry per finished attempt, most recent
last, at most 50: `{retryCount, result, startTime, endTime, jobId, reason}` where
`retryCount` is `status.failed` before the attempt ended and `result` is `Retrying`,
`Complete` or `Failed`.

`contradictions` lists every way a status disagrees with itself (kuberay#2314 reported
`jobStatus: RUNNING` beside `jobDeploymentStatus: Failed`). The state machine's tests check
that no sequence of observations ever produces one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ray_operator.clock import parse_rfc3339
from ray_operator.job import constants as c

Status = dict[str, Any]
D = c.DeploymentStatus
J = c.JobStatus

ATTEMPT_RESULTS = frozenset({D.RETRYING, D.COMPLETE, D.FAILED})


def attempt_entry(
    *,
    retry_count: int,
    result: str,
    start: str,
    end: str,
    job_id: str,
    reason: str = "",
) -> Status:
    entry: Status = {
        "retryCount": retry_count,
        "result": str(result),
        "startTime": start,
        "endTime": end,
        "jobId": job_id,
    }
    if reason:
        entry["reason"] = str(reason)
    return entry


def with_attempt(history: Any, entry: Status) -> list[Status]:
    previous = (
        [dict(e) for e in history if isinstance(e, Mapping)] if isinstance(history, list) else []
    )
    return [*previous, entry][-c.MAX_ATTEMPT_HISTORY :]


def count(status: Mapping[str, Any], field: str) -> int:
    """A counter of the status (`failed`, `succeeded`): 0 unless an int32 >= 0 (the status
    can be written by others, and what the operator writes back must fit the CRD)."""
    value = status.get(field)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31:
        return value
    return 0


def contradictions(status: Mapping[str, Any]) -> list[str]:
    """Every way `status` disagrees with itself; empty for a consistent status."""
    found: list[str] = []
    deployment = status.get("jobDeploymentStatus", "")
    job = status.get("jobStatus", "")
    end = status.get("endTime")
    start = status.get("startTime")
    if deployment not in set(D):
        found.append(f"unknown jobDeploymentStatus {deployment!r}")
    if job not in set(J):
        found.append(f"unknown jobStatus {job!r}")
    if job in c.ACTIVE_JOB_STATUSES and deployment != D.RUNNING:
        found.append(f"jobStatus {job} while jobDeploymentStatus is {deployment or 'new'}")
    if deployment == D.COMPLETE and job not in (J.SUCCEEDED, J.STOPPED):
        found.append(f"Complete with jobStatus {job or 'new'}")
    if deployment in (D.FAILED, D.RETRYING) and job not in (J.FAILED, J.STOPPED):
        found.append(f"{deployment} with jobStatus {job or 'new'}")
    if deployment in (D.FAILED, D.RETRYING) and not status.get("reason"):
        found.append(f"{deployment} without a reason")
    if deployment in (D.NEW, D.INITIALIZING, D.WAITING, D.SUSPENDED, D.VALIDATION_FAILED) and job:
        found.append(f"jobStatus {job} while jobDeploymentStatus is {deployment or 'new'}")
    if (end is not None) != (deployment in c.FINISHED):
        found.append(f"endTime {'set' if end else 'missing'} while {deployment or 'new'}")
    if end and start and parse_rfc3339(str(end)) < parse_rfc3339(str(start)):
        found.append("endTime before startTime")
    if deployment in (D.RUNNING, D.WAITING) and not status.get("rayClusterName"):
        found.append(f"{deployment} without a rayClusterName")
    if deployment == D.RUNNING and not status.get("jobId"):
        found.append("Running without a jobId")
    found += _history_contradictions(status)
    return found


def _history_contradictions(status: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    history: Sequence[Mapping[str, Any]] = status.get("attemptHistory") or []
    failed, succeeded = count(status, "failed"), count(status, "succeeded")
    if len(history) > c.MAX_ATTEMPT_HISTORY:
        found.append("attemptHistory longer than 50")
    for index, entry in enumerate(history):
        if entry.get("result") not in ATTEMPT_RESULTS:
            found.append(f"attempt {index} has result {entry.get('result')!r}")
        if parse_rfc3339(entry["endTime"]) < parse_rfc3339(entry["startTime"]):
            found.append(f"attempt {index} ends before it starts")
    retry_counts = [int(e.get("retryCount", -1)) for e in history]
    if retry_counts != sorted(retry_counts) or any(r > failed for r in retry_counts):
        found.append("attemptHistory retry counts out of order or above status.failed")
    failures = sum(1 for e in history if e.get("result") in (D.RETRYING, D.FAILED))
    if len(history) < c.MAX_ATTEMPT_HISTORY and failures != failed:
        found.append(f"{failures} failed attempts in the history but status.failed is {failed}")
    if succeeded > 1 or (succeeded and status.get("jobDeploymentStatus") != D.COMPLETE):
        found.append(f"succeeded is {succeeded} while {status.get('jobDeploymentStatus')}")
    deployment = status.get("jobDeploymentStatus")
    if deployment in (*c.FINISHED, D.RETRYING) and (
        not history or history[-1].get("result") != deployment
    ):
        found.append(f"{deployment} but the last attempt does not say so")
    return found
