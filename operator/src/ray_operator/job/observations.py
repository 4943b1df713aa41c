"""What the RayJob reconciler observes before each decision, and what it should read.

`needs(job)` says which objects matter in the job's current state (its cluster, the
submitter Job, the dashboard's view of the Ray job); the reconciler reads those into an
`Observed` for the state machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ray_operator.clock import parse_time
from ray_operator.cluster.spec import status_of
from ray_operator.dashboard.jobs import JobInfo
from ray_operator.job import constants as c
from ray_operator.job.spec import JobSpec
from ray_operator.problems import Problem

Body = Mapping[str, Any]
Json = dict[str, Any]
D = c.DeploymentStatus


@dataclass(frozen=True)
class ClusterView:
    """The RayCluster the job runs on, as read this pass."""

    name: str
    exists: bool
    deleting: bool = False
    ready: bool = False
    status: Mapping[str, Any] = field(default_factory=dict)
    spec: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SubmitterView:
    """The submitter batch Job (K8sJobMode)."""

    exists: bool
    deleting: bool = False
    failed: bool = False
    failure: str = ""
    submission_id: str = ""  # its RAY_JOB_SUBMISSION_ID, to recognise a previous attempt's
    finished_at: datetime | None = None  # when its Complete or Failed condition became True


@dataclass(frozen=True)
class DashboardView:
    """The dashboard's answer about the Ray job: not asked, unreachable, unknown or known."""

    asked: bool = False
    info: JobInfo | None = None
    error: str | None = None


@dataclass(frozen=True)
class Observed:
    now: datetime
    cluster: ClusterView | None = None
    submitter: SubmitterView | None = None
    dashboard: DashboardView = field(default_factory=DashboardView)
    dashboard_address: str = ""  # host:port of the head service's dashboard (in-cluster)
    problems: Sequence[Problem] = ()
    suffixes: tuple[str, str] = ("aaaaa", "bbbbb")  # fresh name suffixes: cluster, job id
    submission_error: str | None = None  # HTTPMode: the dashboard refused the submission


@dataclass(frozen=True)
class Timing:
    poll_period: float = 3.0  # how often a running job's status is asked
    wait_period: float = 3.0  # how often a waiting job looks again (watch events come sooner)


@dataclass(frozen=True)
class Needs:
    """What the reconciler should read before deciding."""

    cluster: bool
    submitter: bool
    dashboard: bool


def needs(job: Body) -> Needs:
    spec = JobSpec.of(job)
    status = status_of(job)
    deployment = status.get("jobDeploymentStatus") or ""
    active = deployment in (D.INITIALIZING, D.RUNNING, D.RETRYING, D.SUSPENDING)
    cleanup = deployment in c.FINISHED and spec.owns_cluster and spec.shutdown_after_job_finishes
    return Needs(
        cluster=bool(status.get("rayClusterName")) and (active or cleanup),
        submitter=active and spec.mode == c.SubmissionMode.K8S_JOB,
        dashboard=deployment == D.RUNNING and bool(status.get("jobId")),
    )


def cluster_view(name: str, cluster: Json | None, owner_uid: str | None) -> ClusterView:
    if cluster is None:
        return ClusterView(name=name, exists=False)
    meta = cluster.get("metadata") or {}
    if owner_uid is not None:
        owners = {o.get("uid") for o in meta.get("ownerReferences") or []}
        if owner_uid not in owners:
            return ClusterView(name=name, exists=False)
    status = cluster.get("status") or {}
    return ClusterView(
        name=name,
        exists=True,
        deleting=bool(meta.get("deletionTimestamp")),
        ready=status.get("state") == "ready",
        status=status,
        spec=cluster.get("spec") or {},
    )


def submitter_view(job: Json | None) -> SubmitterView:
    if job is None:
        return SubmitterView(exists=False)
    failure = ""
    finished_at = None
    for condition in status_of(job).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Failed":
            failure = (
                f"Reason: {condition.get('reason', '')}. Message: {condition.get('message', '')}"
            )
        if condition.get("type") in ("Complete", "Failed"):
            finished_at = parse_time(condition.get("lastTransitionTime")) or finished_at
    containers = ((job.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers")
    env = (containers or [{}])[0].get("env") or []
    submission_id = next(
        (e.get("value", "") for e in env if e.get("name") == c.ENV_SUBMISSION_ID), ""
    )
    return SubmitterView(
        exists=True,
        deleting=bool((job.get("metadata") or {}).get("deletionTimestamp")),
        failed=bool(failure),
        failure=failure,
        submission_id=str(submission_id),
        finished_at=finished_at,
    )
