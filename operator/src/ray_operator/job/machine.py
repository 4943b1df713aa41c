"""The RayJob state machine: (current status, observations) -> (new status, actions).

Pure: the reconciler observes (the cluster, the submitter Job, the dashboard's answer about
the Ray job), calls `decide`, performs the actions in order and writes the status only when
they all succeeded. Transitions follow KubeRay's `jobDeploymentStatus`:

    "" -> Initializing -> Running -> Complete | Failed
                     \\-> Waiting (InteractiveMode) -> Running
    Running/Initializing -> Suspending -> Suspended -> ""          (spec.suspend)
    Failed with retries left -> Retrying -> ""                       (spec.backoffLimit)
    "" -> ValidationFailed -> "" once a new generation validates

Each attempt starts at Initializing (`startTime`); its end (Retrying, Complete or Failed)
appends to `status.attemptHistory`. `activeDeadlineSeconds` counts from the attempt's start
and fails it with DeadlineExceeded (never retried). A retry runs on a new cluster: the old
one and the submitter are deleted first, then a new cluster name is drawn. Whenever the
deployment is finished the job status is terminal too (see `status.contradictions`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from ray_operator.clock import parse_time, rfc3339
from ray_operator.cluster.spec import status_of
from ray_operator.cluster.status import mirror_cluster_status
from ray_operator.dashboard.jobs import JobInfo
from ray_operator.dashboard.jobs import JobStatus as RayJobStatus
from ray_operator.job import builders
from ray_operator.job import constants as c
from ray_operator.job.actions import (
    Action,
    CreateCluster,
    CreateSubmitter,
    Decision,
    DeleteCluster,
    DeleteJobRecord,
    DeleteSubmitter,
    StopJob,
    SubmitJob,
)
from ray_operator.job.aftermath import await_terminal
from ray_operator.job.draft import Draft
from ray_operator.job.observations import ClusterView, Observed, Timing
from ray_operator.job.spec import JobSpec
from ray_operator.job.status import attempt_entry, count, with_attempt
from ray_operator.reasons import Reason

Body = Mapping[str, Any]
D = c.DeploymentStatus
J = c.JobStatus
MAX_SECONDS = 2**31 - 1  # the CRD's int32; larger values must not overflow a timedelta


def decide(job: Body, obs: Observed, timing: Timing | None = None) -> Decision:
    """The next status of `job` and what to do for it, given what was observed."""
    spec = JobSpec.of(job)
    draft = Draft(spec, status_of(job), obs, timing or Timing())
    step = _STEPS.get(draft.deployment)
    if step is None:
        if draft.spec_changed:
            draft.warn(
                Reason.INVALID_RAY_JOB_STATUS,
                f"The RayJob status is invalid: unknown jobDeploymentStatus {draft.deployment!r}",
            )
    else:
        running = draft.deployment not in (D.NEW, D.VALIDATION_FAILED)
        if running and not draft.valid and draft.spec_changed:
            # Reported once per generation; the job keeps running (suspend is not honoured).
            for problem in obs.problems:
                draft.warn(problem.reason, problem.message)
        step(draft)
    draft.set(observedGeneration=spec.generation)
    draft.status.setdefault("failed", 0)
    draft.status.setdefault("succeeded", 0)
    return Decision(draft.status, draft.actions, draft.events, draft.requeue)


def deletion_actions(job: Body) -> list[Action]:
    """On deletion of the RayJob: stop its Ray job if it may still run (best effort)."""
    status = status_of(job)
    job_id = str(status.get("jobId") or "")
    if job_id and status.get("jobStatus") not in c.TERMINAL_JOB_STATUSES:
        return [StopJob(job_id)]
    return []


# Steps, one per jobDeploymentStatus.


def _new(d: Draft) -> None:
    if not d.valid:
        _refuse(d)
        return
    spec, (cluster_suffix, job_suffix) = d.spec, d.obs.suffixes
    job_id = ""
    if spec.mode != c.SubmissionMode.INTERACTIVE:
        job_id = spec.job_id or builders.generated_name(spec.name, job_suffix)
    d.reset_attempt(D.INITIALIZING)
    d.set(
        jobId=job_id or None,
        rayClusterName=spec.selected_cluster or builders.generated_name(spec.name, cluster_suffix),
        startTime=d.now,
    )
    d.again(0)


def _refuse(d: Draft) -> None:
    for problem in d.obs.problems:
        d.warn(problem.reason, problem.message)
    d.reset_attempt(D.VALIDATION_FAILED)
    d.set(reason=c.FailureReason.VALIDATION_FAILED)
    d.message("; ".join(p.message for p in d.obs.problems))


def _validation_failed(d: Draft) -> None:
    if not d.spec_changed:
        return
    if d.valid:
        d.reset_attempt(D.NEW)
        d.again(0)
    else:
        _refuse(d)


def _suspend_requested(d: Draft) -> bool:
    if not (d.spec.suspend and d.valid):
        return False
    if d.job_status in c.ACTIVE_JOB_STATUSES:
        d.set(jobStatus=J.STOPPED)
    d.set(jobDeploymentStatus=D.SUSPENDING)
    d.again(0)
    return True


def _deadline_passed(d: Draft) -> bool:
    limit = d.spec.active_deadline_seconds
    start = parse_time(d.get("startTime"))
    if limit is None or limit <= 0 or start is None:
        return False
    deadline = start + timedelta(seconds=min(limit, MAX_SECONDS))
    if d.obs.now < deadline:
        d.again((deadline - d.obs.now).total_seconds())
        return False
    _fail(
        d,
        c.FailureReason.DEADLINE_EXCEEDED,
        f"The RayJob has passed the activeDeadlineSeconds. StartTime: {start}. "
        f"ActiveDeadlineSeconds: {limit}",
        job_status=J.STOPPED,
    )
    return True


def _initializing(d: Draft) -> None:
    if _suspend_requested(d) or _deadline_passed(d):
        return
    name = str(d.get("rayClusterName") or "")
    cluster = d.obs.cluster
    d.again(d.timing.wait_period)
    if cluster is None or not cluster.exists:
        if d.spec.uses_selector:
            text = f"RayCluster {d.spec.namespace}/{name} selected by clusterSelector not found"
            d.warn(Reason.RAY_CLUSTER_NOT_FOUND, text)
            d.message(text)
        else:
            d.actions.append(CreateCluster(builders.child_cluster(d.spec, name)))
            d.message(f"Waiting for RayCluster {name} to be ready")
        return
    d.set(rayClusterStatus=mirror_cluster_status(cluster.status))
    if cluster.deleting or not cluster.ready:
        d.message(f"Waiting for RayCluster {name} to be ready")
        return
    d.set(dashboardURL=d.obs.dashboard_address or None)
    d.message("")
    if d.spec.mode == c.SubmissionMode.INTERACTIVE:
        d.set(jobDeploymentStatus=D.WAITING)
        return
    if d.spec.mode == c.SubmissionMode.K8S_JOB:
        submitter = d.obs.submitter
        stale = (
            submitter is not None
            and submitter.exists
            and submitter.submission_id not in ("", d.get("jobId"))
        )
        if submitter is not None and (submitter.deleting or stale):
            if stale and not submitter.deleting:
                d.actions.append(DeleteSubmitter(d.spec.name))
            d.message(f"Waiting for the previous submitter Job {d.spec.name} to be deleted")
            return
        if submitter is None or not submitter.exists:
            d.actions.append(CreateSubmitter(_submitter(d, cluster)))
    d.set(jobDeploymentStatus=D.RUNNING)
    d.again(0)


def _submitter(d: Draft, cluster: ClusterView) -> dict[str, Any]:
    address = f"http://{d.get('dashboardURL') or d.obs.dashboard_address}"
    return builders.submitter_job(d.spec, str(d.get("jobId")), address, cluster.spec)


def _waiting(d: Draft) -> None:
    if _deadline_passed(d):
        return
    if not d.spec.job_id:
        d.again(d.timing.wait_period)
        return
    d.set(jobId=d.spec.job_id, jobDeploymentStatus=D.RUNNING)
    d.again(0)


def _running(d: Draft) -> None:
    if _suspend_requested(d) or _deadline_passed(d):
        return
    cluster = d.obs.cluster
    name = str(d.get("rayClusterName") or "")
    if cluster is None or not cluster.exists:
        text = f"RayCluster {d.spec.namespace}/{name} disappeared while the job was running"
        d.warn(Reason.RAY_CLUSTER_NOT_FOUND, text)
        _fail(d, c.FailureReason.CLUSTER_NOT_FOUND, text, job_status=J.FAILED, stop=False)
        return
    d.set(rayClusterStatus=mirror_cluster_status(cluster.status))
    d.again(d.timing.poll_period)
    answer = d.obs.dashboard
    if not answer.asked:
        return
    if answer.error is not None:
        d.status.setdefault("jobStatusCheckFailureStartTime", d.now)
        submitter = d.obs.submitter
        if d.spec.mode == c.SubmissionMode.K8S_JOB and submitter is not None and submitter.failed:
            # Ray cannot say it knows the job: the failed submitter decides, as in KubeRay.
            _submission_failed(d, submitter.failure)
        else:
            _await_terminal(d, f"the dashboard is unreachable: {answer.error}")
        return
    d.set(jobStatusCheckFailureStartTime=None)
    if answer.info is None:
        _not_submitted_yet(d, cluster)
        return
    _track(d, answer.info)
    if d.deployment == D.RUNNING:
        _await_terminal(d, f"the dashboard reports {answer.info.status}")


def _await_terminal(d: Draft, why: str) -> None:
    """KubeRay's bounded wait for a terminal Ray job status once the submitter finished."""
    failure = await_terminal(d, why)
    if failure is not None:
        _fail(d, c.FailureReason.GRACE_PERIOD_EXCEEDED, failure, job_status=J.FAILED)


def _submission_failed(d: Draft, failure: str) -> None:
    text = f"Job submission has failed. {failure}".strip()
    _fail(d, c.FailureReason.SUBMISSION_FAILED, text, job_status=J.FAILED)


def _not_submitted_yet(d: Draft, cluster: ClusterView) -> None:
    spec, job_id = d.spec, str(d.get("jobId"))
    if spec.mode == c.SubmissionMode.HTTP:
        if d.obs.submission_error:
            text = f"Job submission has failed: {d.obs.submission_error}"
            _fail(d, c.FailureReason.SUBMISSION_FAILED, text, job_status=J.FAILED)
        else:
            d.actions.append(SubmitJob(builders.submission(spec, job_id)))
        return
    if spec.mode == c.SubmissionMode.K8S_JOB:
        submitter = d.obs.submitter
        if submitter is not None and submitter.failed:
            _submission_failed(d, submitter.failure)
        elif submitter is not None and submitter.finished_at is not None:
            text = "Submitter completed but Ray job not found in RayCluster."
            _fail(d, c.FailureReason.APP_FAILED, text, job_status=J.FAILED)
        elif submitter is not None and not submitter.exists:
            d.actions.append(CreateSubmitter(_submitter(d, cluster)))


def _track(d: Draft, info: JobInfo) -> None:
    times = {
        "startTime": rfc3339(info.start_time) if info.start_time else None,
        "endTime": rfc3339(info.end_time) if info.end_time else None,
    }
    d.set(
        jobStatus=str(info.status),
        rayJobInfo={k: v for k, v in times.items() if v} or None,
    )
    d.message(info.message.strip())
    if info.status is RayJobStatus.FAILED:
        _finish(d, D.FAILED, c.FailureReason.APP_FAILED)
    elif info.status.terminal:
        _finish(d, D.COMPLETE, "")


def _fail(d: Draft, reason: str, message: str, *, job_status: str, stop: bool = True) -> None:
    if d.job_status not in c.TERMINAL_JOB_STATUSES:
        job_id = str(d.get("jobId") or "")
        if stop and job_id and d.deployment == D.RUNNING:
            d.actions.append(StopJob(job_id))
        d.set(jobStatus=job_status)
    d.message(message)
    _finish(d, D.FAILED, reason)


def _finish(d: Draft, result: str, reason: str) -> None:
    """The attempt ended: count it, record it, and retry it when the spec allows."""
    failed_before = count(d.status, "failed")
    failed = failed_before + (1 if result == D.FAILED else 0)
    succeeded = count(d.status, "succeeded")
    if result == D.COMPLETE and d.job_status == J.SUCCEEDED:
        succeeded += 1
    retry = (
        result == D.FAILED
        and reason != c.FailureReason.DEADLINE_EXCEEDED
        and failed < d.spec.backoff_limit + 1
    )
    outcome = D.RETRYING if retry else result
    entry = attempt_entry(
        retry_count=failed_before,
        result=outcome,
        start=str(d.get("startTime") or d.now),
        end=d.now,
        job_id=str(d.get("jobId") or ""),
        reason=reason,
    )
    d.set(
        jobDeploymentStatus=outcome,
        failed=failed,
        succeeded=succeeded,
        reason=reason or None,
        attemptHistory=with_attempt(d.get("attemptHistory"), entry),
        endTime=None if retry else d.now,
    )
    d.again(0)


def _release(d: Draft, *, stop_job: bool) -> bool:
    """Delete what the attempt used (its own cluster, the submitter); True once all gone."""
    cluster, submitter = d.obs.cluster, d.obs.submitter
    job_id = str(d.get("jobId") or "")
    cluster_gone = cluster is None or not cluster.exists or not d.spec.owns_cluster
    if stop_job and job_id and cluster is not None and cluster.exists and not cluster.deleting:
        d.actions.append(StopJob(job_id))
    if not cluster_gone and cluster is not None and not cluster.deleting:
        d.actions.append(DeleteCluster(cluster.name))
    submitter_gone = submitter is None or not submitter.exists
    if submitter is not None and submitter.exists and not submitter.deleting:
        d.actions.append(DeleteSubmitter(d.spec.name))
    if cluster_gone and submitter_gone:
        return True
    d.again(d.timing.wait_period)
    return False


def _retrying(d: Draft) -> None:
    job_id = str(d.get("jobId") or "")
    if d.spec.uses_selector and d.spec.job_id and job_id:
        d.actions.append(DeleteJobRecord(job_id))  # the same id is submitted again
    if _release(d, stop_job=False):
        d.reset_attempt(D.NEW)
        d.again(0)


def _suspending(d: Draft) -> None:
    if _release(d, stop_job=True):
        d.reset_attempt(D.SUSPENDED)


def _suspended(d: Draft) -> None:
    if not d.spec.suspend:
        d.reset_attempt(D.NEW)
        d.again(0)


def _finished(d: Draft) -> None:
    spec, cluster = d.spec, d.obs.cluster
    if not (spec.owns_cluster and spec.shutdown_after_job_finishes):
        return
    end = parse_time(d.get("endTime")) or d.obs.now
    due = end + timedelta(seconds=min(max(0, spec.ttl_seconds_after_finished), MAX_SECONDS))
    if d.obs.now < due:
        d.again((due - d.obs.now).total_seconds())
        return
    if cluster is not None and cluster.exists and not cluster.deleting:
        d.actions.append(DeleteCluster(cluster.name))


_STEPS: dict[str, Callable[[Draft], None]] = {
    D.NEW: _new,
    D.VALIDATION_FAILED: _validation_failed,
    D.INITIALIZING: _initializing,
    D.WAITING: _waiting,
    D.RUNNING: _running,
    D.RETRYING: _retrying,
    D.SUSPENDING: _suspending,
    D.SUSPENDED: _suspended,
    D.COMPLETE: _finished,
    D.FAILED: _finished,
}
