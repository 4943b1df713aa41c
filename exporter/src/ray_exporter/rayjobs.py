"""RayJob families: info, deployment status and the duration of each finished attempt.

- `kuberay_job_deployment_status{deployment_status}`: `status.jobDeploymentStatus`
  verbatim; a new RayJob without status reports `""`.
- `kuberay_job_execution_duration_seconds{job_deployment_status,retry_count}`:
  one series per entry of `status.attemptHistory` (most recent last, at most 50
  kept by the operator), each `{retryCount, result, startTime, endTime, jobId,
  reason}`. `job_deployment_status` is the entry's `result` (`Retrying`,
  `Complete` or `Failed`), `retry_count` its `retryCount` (the value of
  `status.failed` before that attempt ended), the value `endTime - startTime`.
  A job with `backoffLimit: 2` that failed three times therefore shows
  `{Retrying,"0"}`, `{Retrying,"1"}` and `{Failed,"2"}`.

A malformed entry is skipped on its own; the other entries still render. Two
entries with the same result and retry count would be one series twice, which
the formats forbid: the later entry wins and the duplicate is reported.
"""

from __future__ import annotations

from collections.abc import Mapping

from ray_exporter import fields
from ray_exporter.exposition import sample
from ray_exporter.families import (
    JOB_DEPLOYMENT_STATUS,
    JOB_EXECUTION_DURATION_SECONDS,
    JOB_INFO,
    RESOURCE_GENERATION_LAG,
    Resource,
    View,
    generation_lag,
    info,
)
from ray_exporter.fields import Problem

ATTEMPT_RESULTS = frozenset({"Retrying", "Complete", "Failed"})


def job_deployment_status(view: View) -> str:
    """One series per job carrying `status.jobDeploymentStatus` verbatim ("" when new)."""
    if not view.status_valid:
        return ""
    status = fields.text(view.status, "jobDeploymentStatus", view.problems, default="")
    if status is None:
        return ""
    return sample(JOB_DEPLOYMENT_STATUS.name, view.labels(deployment_status=status), 1)


def _attempt_line(view: View, entry: object) -> tuple[tuple[str, int], str] | None:
    if not isinstance(entry, Mapping):
        view.problems.add(Problem.ATTEMPT_NOT_OBJECT)
        return None
    result = entry.get("result")
    retry_count = fields.integer(entry, "retryCount", view.problems, Problem.INVALID_ATTEMPT)
    valid_result = isinstance(result, str) and result in ATTEMPT_RESULTS  # a dict is unhashable
    if not valid_result or retry_count is None or retry_count < 0:
        view.problems.add(Problem.INVALID_ATTEMPT)
        return None
    assert isinstance(result, str)
    start = fields.timestamp(entry, "startTime", view.problems)
    end = fields.timestamp(entry, "endTime", view.problems)
    seconds = fields.duration_seconds(start, end, view.problems)
    if seconds is None:
        return None
    labels = view.labels(job_deployment_status=result, retry_count=str(retry_count))
    return (result, retry_count), sample(JOB_EXECUTION_DURATION_SECONDS.name, labels, seconds)


def job_execution_duration_seconds(view: View) -> str:
    """One series per finished attempt recorded in `status.attemptHistory`."""
    history = view.status.get("attemptHistory")
    if history is None:
        return ""
    if not isinstance(history, list):
        view.problems.add(Problem.ATTEMPT_HISTORY_NOT_LIST)
        return ""
    lines: dict[tuple[str, int], str] = {}
    for entry in history:
        rendered = _attempt_line(view, entry)
        if rendered is None:
            continue
        key, line = rendered
        if key in lines:
            view.problems.add(Problem.DUPLICATE_ATTEMPT)
            del lines[key]
        lines[key] = line
    return "".join(lines.values())


RAYJOBS = Resource(
    plural="rayjobs",
    kind="RayJob",
    families=(
        (JOB_INFO, info(JOB_INFO)),
        (JOB_DEPLOYMENT_STATUS, job_deployment_status),
        (JOB_EXECUTION_DURATION_SECONDS, job_execution_duration_seconds),
        (RESOURCE_GENERATION_LAG, generation_lag),
    ),
)
