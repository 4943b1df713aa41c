"""The RayJob state machine over every transition, one observation at a time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from job_factory import T0, UID, Run, info, rayjob, ready_cluster

from ray_operator.job.actions import (
    CreateCluster,
    CreateSubmitter,
    DeleteCluster,
    DeleteJobRecord,
    DeleteSubmitter,
    StopJob,
    SubmitJob,
)
from ray_operator.job.machine import deletion_actions
from ray_operator.job.observations import (
    ClusterView,
    DashboardView,
    SubmitterView,
    needs,
)
from ray_operator.job.status import contradictions

NOT_FOUND = DashboardView(asked=True, info=None)
SUBMITTER = SubmitterView(exists=True)


def answer(status: str, message: str = "") -> DashboardView:
    return DashboardView(asked=True, info=info(status, message))


def to_running(run: Run, submitter: SubmitterView | None = SUBMITTER) -> None:
    run.step()  # "" -> Initializing
    run.step(submitter=SubmitterView(exists=False))  # cluster ready: submitter, Running
    assert run.status["jobDeploymentStatus"] == "Running"


def kinds(actions: list[Any]) -> list[type]:
    return [type(a) for a in actions]


def test_new_job_initializes_names_and_start_time() -> None:
    run = Run(rayjob())
    decision = run.step()
    status = decision.status
    assert status["jobDeploymentStatus"] == "Initializing"
    assert status["jobStatus"] == ""
    assert status["rayClusterName"] == "job-c0001"
    assert status["jobId"] == "job-j0001"
    assert status["startTime"] == "2025-01-01T12:00:00Z"
    assert (status["failed"], status["succeeded"], status["observedGeneration"]) == (0, 0, 1)
    assert decision.actions == []
    assert decision.requeue == 0


def test_spec_job_id_selector_and_interactive_mode() -> None:
    status = Run(rayjob(jobId="my-id")).step().status
    assert status["jobId"] == "my-id"
    selector = rayjob(clusterSelector={"ray.io/cluster": "shared"}, rayClusterSpec=None)
    assert Run(selector).step().status["rayClusterName"] == "shared"
    interactive = Run(rayjob(submissionMode="InteractiveMode", entrypoint=None)).step().status
    assert "jobId" not in interactive
    assert interactive["jobDeploymentStatus"] == "Initializing"


def test_initializing_creates_the_child_cluster_once_missing() -> None:
    run = Run(rayjob())
    run.step()
    decision = run.step(cluster=ClusterView(name="job-c0001", exists=False))
    assert kinds(decision.actions) == [CreateCluster]
    action = decision.actions[0]
    assert isinstance(action, CreateCluster)
    meta = action.manifest["metadata"]
    assert meta["name"] == "job-c0001"
    assert meta["labels"]["ray.io/originated-from-crd"] == "RayJob"
    assert meta["labels"]["ray.io/originated-from-cr-name"] == "job"
    assert meta["labels"]["team"] == "a"
    assert meta["ownerReferences"][0]["uid"] == UID
    assert decision.status["jobDeploymentStatus"] == "Initializing"
    assert decision.requeue == 3.0


def test_initializing_waits_for_a_ready_cluster() -> None:
    run = Run(rayjob())
    run.step()
    not_ready = ClusterView(name="job-c0001", exists=True, status={"state": ""})
    decision = run.step(cluster=not_ready)
    assert decision.actions == []
    assert decision.status["jobDeploymentStatus"] == "Initializing"
    assert "to be ready" in decision.status["message"]
    assert "dashboardURL" not in decision.status


def test_k8s_job_mode_creates_the_submitter_and_runs() -> None:
    run = Run(rayjob())
    run.step()
    decision = run.step(submitter=SubmitterView(exists=False))
    assert kinds(decision.actions) == [CreateSubmitter]
    action = decision.actions[0]
    assert isinstance(action, CreateSubmitter)
    env = {
        e["name"]: e["value"]
        for e in action.manifest["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["RAY_JOB_SUBMISSION_ID"] == "job-j0001"
    assert env["RAY_DASHBOARD_ADDRESS"] == "http://job-c0001-head-svc.ns.svc.cluster.local:8265"
    assert decision.status["jobDeploymentStatus"] == "Running"
    assert decision.status["dashboardURL"] == "job-c0001-head-svc.ns.svc.cluster.local:8265"
    assert "message" not in decision.status


def test_a_submitter_of_a_previous_attempt_is_deleted_first() -> None:
    run = Run(rayjob())
    run.step()
    stale = SubmitterView(exists=True, submission_id="job-old")
    decision = run.step(submitter=stale)
    assert kinds(decision.actions) == [DeleteSubmitter]
    assert decision.status["jobDeploymentStatus"] == "Initializing"
    decision = run.step(submitter=SubmitterView(exists=True, deleting=True))
    assert decision.actions == []
    decision = run.step(submitter=SubmitterView(exists=False))
    assert kinds(decision.actions) == [CreateSubmitter]


def test_http_mode_submits_when_the_dashboard_does_not_know_the_job() -> None:
    run = Run(rayjob(submissionMode="HTTPMode", entrypointNumCpus=0.5))
    run.step()
    assert run.step().status["jobDeploymentStatus"] == "Running"
    decision = run.step(dashboard=NOT_FOUND)
    assert kinds(decision.actions) == [SubmitJob]
    action = decision.actions[0]
    assert isinstance(action, SubmitJob)
    assert action.submission.submission_id == "job-j0001"
    assert action.submission.entrypoint_num_cpus == 0.5
    decision = run.step(dashboard=NOT_FOUND, submission_error="runtime_env is invalid")
    assert decision.status["jobDeploymentStatus"] == "Failed"
    assert decision.status["reason"] == "SubmissionFailed"
    assert decision.status["jobStatus"] == "FAILED"
    assert "runtime_env is invalid" in decision.status["message"]


def test_interactive_mode_waits_for_a_job_id() -> None:
    run = Run(rayjob(submissionMode="InteractiveMode", entrypoint=None))
    run.step()
    assert run.step().status["jobDeploymentStatus"] == "Waiting"
    assert run.step().status["jobDeploymentStatus"] == "Waiting"
    run.bump_generation(jobId="typed-by-hand")
    decision = run.step()
    assert decision.status["jobDeploymentStatus"] == "Running"
    assert decision.status["jobId"] == "typed-by-hand"


def test_running_tracks_the_dashboard() -> None:
    run = Run(rayjob())
    to_running(run)
    decision = run.step(submitter=SUBMITTER, dashboard=NOT_FOUND)
    assert decision.actions == []
    assert decision.status["jobStatus"] == ""
    decision = run.step(submitter=SUBMITTER, dashboard=answer("PENDING", "waiting for resources"))
    assert decision.status["jobStatus"] == "PENDING"
    assert decision.status["message"] == "waiting for resources"
    decision = run.step(submitter=SUBMITTER, dashboard=answer("RUNNING"))
    assert decision.status["jobStatus"] == "RUNNING"
    assert decision.status["rayJobInfo"] == {"startTime": "2025-01-01T12:00:00Z"}
    assert decision.requeue == 3.0


def test_unreachable_dashboard_records_when_checks_started_failing() -> None:
    run = Run(rayjob())
    to_running(run)
    unreachable = DashboardView(asked=True, error="connection refused")
    run.step(submitter=SUBMITTER, dashboard=unreachable)
    assert run.status["jobStatusCheckFailureStartTime"] == "2025-01-01T12:00:00Z"
    run.later(30).step(submitter=SUBMITTER, dashboard=unreachable)
    assert run.status["jobStatusCheckFailureStartTime"] == "2025-01-01T12:00:00Z"
    assert run.status["jobDeploymentStatus"] == "Running"
    run.step(submitter=SUBMITTER, dashboard=answer("RUNNING"))
    assert "jobStatusCheckFailureStartTime" not in run.status


@pytest.mark.parametrize(
    ("ray_status", "deployment", "reason", "succeeded", "failed"),
    [
        ("SUCCEEDED", "Complete", None, 1, 0),
        ("STOPPED", "Complete", None, 0, 0),
        ("FAILED", "Failed", "AppFailed", 0, 1),
    ],
)
def test_terminal_ray_job_ends_the_attempt(
    ray_status: str, deployment: str, reason: str | None, succeeded: int, failed: int
) -> None:
    run = Run(rayjob())
    to_running(run)
    run.later(42)
    status = run.step(submitter=SUBMITTER, dashboard=answer(ray_status, "done")).status
    assert status["jobDeploymentStatus"] == deployment
    assert status["jobStatus"] == ray_status
    assert status.get("reason") == reason
    assert (status["succeeded"], status["failed"]) == (succeeded, failed)
    assert status["endTime"] == "2025-01-01T12:00:42Z"
    assert status["attemptHistory"] == [
        {
            "retryCount": 0,
            "result": deployment,
            "startTime": "2025-01-01T12:00:00Z",
            "endTime": "2025-01-01T12:00:42Z",
            "jobId": "job-j0001",
            **({"reason": reason} if reason else {}),
        }
    ]
    assert contradictions(status) == []


def test_submitter_failure_without_a_ray_job_is_a_submission_failure() -> None:
    run = Run(rayjob())
    to_running(run)
    failed = SubmitterView(exists=True, failed=True, failure="Reason: BackoffLimitExceeded.")
    status = run.step(submitter=failed, dashboard=NOT_FOUND).status
    assert status["jobDeploymentStatus"] == "Failed"
    assert status["reason"] == "SubmissionFailed"
    assert status["jobStatus"] == "FAILED"  # never RUNNING beside Failed (kuberay#2314)
    assert "BackoffLimitExceeded" in status["message"]


def test_a_ray_job_known_to_the_dashboard_outranks_a_failed_submitter() -> None:
    run = Run(rayjob())
    to_running(run)
    failed = SubmitterView(exists=True, failed=True, failure="Reason: BackoffLimitExceeded.")
    status = run.step(submitter=failed, dashboard=answer("RUNNING")).status
    assert (status["jobDeploymentStatus"], status["jobStatus"]) == ("Running", "RUNNING")


def test_a_deleted_submitter_is_created_again_while_the_job_is_unknown() -> None:
    run = Run(rayjob())
    to_running(run)
    decision = run.step(submitter=SubmitterView(exists=False), dashboard=NOT_FOUND)
    assert kinds(decision.actions) == [CreateSubmitter]


def test_backoff_limit_retries_each_attempt_on_a_new_cluster() -> None:
    run = Run(rayjob(backoffLimit=2))
    clusters = []
    for attempt in range(2):
        to_running(run)
        clusters.append(run.status["rayClusterName"])
        run.later(10)
        status = run.step(submitter=SUBMITTER, dashboard=answer("FAILED", "exit 1")).status
        assert status["jobDeploymentStatus"] == "Retrying"
        assert status["failed"] == attempt + 1
        assert "endTime" not in status
        assert contradictions(status) == []
        # Retrying: the cluster and the submitter are deleted, then the attempt is reset.
        decision = run.step(submitter=SUBMITTER)
        assert kinds(decision.actions) == [DeleteCluster, DeleteSubmitter]
        assert decision.status["jobDeploymentStatus"] == "Retrying"
        deleting = ClusterView(name=clusters[-1], exists=True, deleting=True)
        decision = run.step(cluster=deleting, submitter=SubmitterView(exists=False))
        assert decision.actions == []
        assert decision.status["jobDeploymentStatus"] == "Retrying"
        decision = run.later(5).step(cluster=None, submitter=SubmitterView(exists=False))
        assert decision.status["jobDeploymentStatus"] == ""
        assert "rayClusterName" not in decision.status
        assert decision.status["jobStatus"] == ""
    to_running(run)
    clusters.append(run.status["rayClusterName"])
    status = run.later(10).step(submitter=SUBMITTER, dashboard=answer("SUCCEEDED")).status
    assert len(set(clusters)) == 3
    assert status["jobDeploymentStatus"] == "Complete"
    assert (status["failed"], status["succeeded"]) == (2, 1)
    history = status["attemptHistory"]
    assert [(e["result"], e["retryCount"]) for e in history] == [
        ("Retrying", 0),
        ("Retrying", 1),
        ("Complete", 2),
    ]
    assert len({e["jobId"] for e in history}) == 3
    assert [e["startTime"] for e in history] == [
        "2025-01-01T12:00:00Z",
        "2025-01-01T12:00:15Z",
        "2025-01-01T12:00:30Z",
    ]
    assert contradictions(status) == []


def test_retries_stop_at_the_backoff_limit() -> None:
    run = Run(rayjob(backoffLimit=1))
    to_running(run)
    run.step(submitter=SUBMITTER, dashboard=answer("FAILED"))
    run.step(cluster=None, submitter=SubmitterView(exists=False))
    to_running(run)
    status = run.step(submitter=SUBMITTER, dashboard=answer("FAILED")).status
    assert status["jobDeploymentStatus"] == "Failed"
    assert [e["result"] for e in status["attemptHistory"]] == ["Retrying", "Failed"]


def test_retry_on_a_selected_cluster_keeps_it_and_frees_a_fixed_job_id() -> None:
    body = rayjob(
        backoffLimit=1,
        jobId="fixed",
        clusterSelector={"ray.io/cluster": "shared"},
        rayClusterSpec=None,
    )
    run = Run(body)
    to_running(run)
    run.step(submitter=SUBMITTER, dashboard=answer("FAILED"))
    decision = run.step(submitter=SubmitterView(exists=False))
    assert kinds(decision.actions) == [DeleteJobRecord]
    assert decision.status["jobDeploymentStatus"] == ""


def test_deadline_while_initializing_fails_without_retry() -> None:
    run = Run(rayjob(activeDeadlineSeconds=60, backoffLimit=3))
    run.step()
    not_ready = ClusterView(name="job-c0001", exists=True, status={"state": ""})
    decision = run.later(10).step(cluster=not_ready)
    assert decision.requeue == 3.0  # the wait period is shorter than the 50 s left
    status = run.later(50).step(cluster=not_ready).status
    assert status["jobDeploymentStatus"] == "Failed"
    assert status["reason"] == "DeadlineExceeded"
    assert status["jobStatus"] == "STOPPED"
    assert status["attemptHistory"][-1]["result"] == "Failed"
    assert contradictions(status) == []


def test_deadline_while_running_stops_the_ray_job() -> None:
    run = Run(rayjob(activeDeadlineSeconds=30))
    to_running(run)
    run.step(submitter=SUBMITTER, dashboard=answer("RUNNING"))
    decision = run.later(31).step(submitter=SUBMITTER, dashboard=answer("RUNNING"))
    assert decision.actions == [StopJob("job-j0001")]
    assert decision.status["jobDeploymentStatus"] == "Failed"
    assert decision.status["jobStatus"] == "STOPPED"
    assert contradictions(decision.status) == []


def test_suspend_and_resume() -> None:
    run = Run(rayjob(shutdownAfterJobFinishes=True))
    to_running(run)
    first_cluster = run.status["rayClusterName"]
    run.step(submitter=SUBMITTER, dashboard=answer("RUNNING"))
    run.bump_generation(suspend=True)
    status = run.step(submitter=SUBMITTER, dashboard=answer("RUNNING")).status
    assert (status["jobDeploymentStatus"], status["jobStatus"]) == ("Suspending", "STOPPED")
    decision = run.step(submitter=SUBMITTER)
    assert kinds(decision.actions) == [StopJob, DeleteCluster, DeleteSubmitter]
    assert decision.status["jobDeploymentStatus"] == "Suspending"
    decision = run.step(cluster=None, submitter=SubmitterView(exists=False))
    assert decision.status["jobDeploymentStatus"] == "Suspended"
    assert decision.status["jobStatus"] == ""
    assert "rayClusterName" not in decision.status
    assert "jobId" not in decision.status
    assert run.step().status["jobDeploymentStatus"] == "Suspended"
    run.bump_generation(suspend=False)
    assert run.step().status["jobDeploymentStatus"] == ""
    status = run.later(100).step().status
    assert status["jobDeploymentStatus"] == "Initializing"
    assert status["startTime"] == "2025-01-01T12:01:40Z"
    assert status["rayClusterName"] not in ("", first_cluster)


def test_suspend_while_initializing_and_created_suspended() -> None:
    run = Run(rayjob(shutdownAfterJobFinishes=True, suspend=True))
    run.step()
    assert run.step().status["jobDeploymentStatus"] == "Suspending"
    decision = run.step(cluster=None, submitter=SubmitterView(exists=False))
    assert decision.status["jobDeploymentStatus"] == "Suspended"


def test_shutdown_after_ttl_deletes_only_an_owned_cluster() -> None:
    run = Run(rayjob(shutdownAfterJobFinishes=True, ttlSecondsAfterFinished=10))
    to_running(run)
    run.step(submitter=SUBMITTER, dashboard=answer("SUCCEEDED"))
    name = run.status["rayClusterName"]
    decision = run.later(4).step()
    assert decision.actions == []
    assert decision.requeue == 6.0
    decision = run.later(6).step()
    assert decision.actions == [DeleteCluster(name)]
    assert run.step(cluster=ClusterView(name=name, exists=False)).actions == []
    selector = rayjob(
        shutdownAfterJobFinishes=True,
        clusterSelector={"ray.io/cluster": "shared"},
        rayClusterSpec=None,
    )
    run = Run(selector)
    to_running(run)
    run.step(submitter=SUBMITTER, dashboard=answer("SUCCEEDED"))
    assert run.later(3600).step().actions == []
    assert needs(run.body).cluster is False


def test_a_missing_selected_cluster_is_reported_and_awaited() -> None:
    run = Run(rayjob(clusterSelector={"ray.io/cluster": "shared"}, rayClusterSpec=None))
    run.step()
    decision = run.step(cluster=ClusterView(name="shared", exists=False))
    assert decision.actions == []
    assert [(e.type, e.reason) for e in decision.events] == [("Warning", "RayClusterNotFound")]
    assert decision.status["jobDeploymentStatus"] == "Initializing"
    assert run.step().status["jobDeploymentStatus"] == "Running"


def test_a_cluster_lost_while_running_fails_the_attempt() -> None:
    run = Run(rayjob(backoffLimit=1))
    to_running(run)
    decision = run.step(cluster=None, submitter=SUBMITTER)
    assert decision.status["jobDeploymentStatus"] == "Retrying"
    assert decision.status["reason"] == "RayClusterNotFound"
    assert decision.status["jobStatus"] == "FAILED"
    assert decision.actions == []  # no Ray job to stop on a cluster that is gone


def test_invalid_spec_fails_validation_until_a_valid_generation() -> None:
    run = Run(rayjob(suspend=True, shutdownAfterJobFinishes=False))
    decision = run.step()
    assert decision.status["jobDeploymentStatus"] == "ValidationFailed"
    assert decision.status["reason"] == "ValidationFailed"
    assert "shutdownAfterJobFinishes" in decision.status["message"]
    assert [e.reason for e in decision.events] == ["InvalidRayJobSpec"]
    again = run.step()
    assert again.events == []
    assert again.actions == []
    assert again.status == decision.status
    run.bump_generation(suspend=False)
    assert run.step().status["jobDeploymentStatus"] == ""
    assert run.step().status["jobDeploymentStatus"] == "Initializing"


def test_an_invalid_change_while_running_is_reported_once_and_not_acted_upon() -> None:
    run = Run(rayjob())
    to_running(run)
    run.bump_generation(suspend=True)  # without shutdownAfterJobFinishes: refused
    decision = run.step(submitter=SUBMITTER, dashboard=answer("RUNNING"))
    assert [e.reason for e in decision.events] == ["InvalidRayJobSpec"]
    assert decision.status["jobDeploymentStatus"] == "Running"
    assert run.step(submitter=SUBMITTER, dashboard=answer("RUNNING")).events == []


def test_unknown_deployment_status_is_reported_and_left_alone() -> None:
    body = rayjob()
    body["status"] = {"jobDeploymentStatus": "Scheduled"}
    run = Run(body)
    decision = run.step()
    assert [e.reason for e in decision.events] == ["InvalidRayJobStatus"]
    assert decision.actions == []
    assert decision.status["jobDeploymentStatus"] == "Scheduled"


def test_deletion_stops_a_job_that_may_still_run() -> None:
    body = rayjob()
    body["status"] = {"jobId": "j", "jobStatus": "RUNNING"}
    assert deletion_actions(body) == [StopJob("j")]
    body["status"]["jobStatus"] = ""
    assert deletion_actions(body) == [StopJob("j")]
    body["status"]["jobStatus"] = "SUCCEEDED"
    assert deletion_actions(body) == []
    assert deletion_actions(rayjob()) == []


def test_needs_follow_the_state() -> None:
    run = Run(rayjob(submissionMode="HTTPMode"))
    assert needs(run.body) == needs(rayjob())
    assert needs(run.body).cluster is False
    run.step()
    assert (needs(run.body).cluster, needs(run.body).submitter) == (True, False)
    run.step()
    assert needs(run.body).dashboard is True
    k8s = Run(rayjob())
    k8s.step()
    assert needs(k8s.body).submitter is True


def test_every_decision_time_is_the_observation_time() -> None:
    run = Run(rayjob(), now=T0)
    to_running(run)
    status = run.later(7).step(submitter=SUBMITTER, dashboard=answer("SUCCEEDED")).status
    assert status["endTime"] == "2025-01-01T12:00:07Z"
    assert ready_cluster("x").ready


def finished_submitter(
    seconds_after_t0: float = 0, *, failed: bool = False, exists: bool = True
) -> SubmitterView:
    return SubmitterView(
        exists=exists,
        failed=failed,
        failure="Reason: BackoffLimitExceeded." if failed else "",
        finished_at=T0 + timedelta(seconds=seconds_after_t0),
    )


UNREACHABLE = DashboardView(asked=True, error="connection refused")
GRACE = "JobDeploymentStatusTransitionGracePeriodExceeded"


@pytest.mark.parametrize("dashboard", [UNREACHABLE, answer("RUNNING")])
def test_a_finished_submitter_bounds_the_wait_for_the_job_status(
    dashboard: DashboardView,
) -> None:
    run = Run(rayjob())
    to_running(run)
    submitter = finished_submitter(10)
    run.later(15)
    decision = run.step(submitter=submitter, dashboard=dashboard)
    assert decision.status["jobDeploymentStatus"] == "Running"
    assert decision.status["message"].startswith(
        "The submitter Job finished at 2025-01-01T12:00:10Z; waiting until 2025-01-01T12:00:40Z"
    )
    assert [(e.type, e.reason) for e in decision.events] == [("Warning", "RayJobSubmitterFinished")]
    assert decision.requeue == 3.0  # the status is still polled
    # The Event is emitted once per wait, not on every pass; the end of the wait is a requeue.
    decision = run.later(23).step(submitter=submitter, dashboard=dashboard)
    assert decision.status["jobDeploymentStatus"] == "Running"
    assert decision.events == []
    assert decision.requeue == 2.0
    decision = run.later(2).step(submitter=submitter, dashboard=dashboard)
    status = decision.status
    assert (status["jobDeploymentStatus"], status["reason"], status["jobStatus"]) == (
        "Failed",
        GRACE,
        "FAILED",
    )
    assert status["message"] == (
        "The RayJob submitter finished at 2025-01-01 12:00:10 but the ray job did not reach "
        "terminal state within 30s"
    )
    assert status["failed"] == 1
    assert contradictions(status) == []


def test_the_grace_period_failure_is_retried_per_backoff_limit() -> None:
    run = Run(rayjob(backoffLimit=1))
    to_running(run)
    status = run.later(31).step(submitter=finished_submitter(0), dashboard=UNREACHABLE).status
    assert status["jobDeploymentStatus"] == "Retrying"
    assert status["attemptHistory"][-1]["reason"] == GRACE


def test_a_terminal_status_within_the_grace_period_ends_the_attempt_normally() -> None:
    run = Run(rayjob())
    to_running(run)
    submitter = finished_submitter(0)
    run.later(5).step(submitter=submitter, dashboard=UNREACHABLE)
    status = run.later(5).step(submitter=submitter, dashboard=answer("SUCCEEDED")).status
    assert (status["jobDeploymentStatus"], status.get("reason")) == ("Complete", None)


def test_a_running_submitter_never_times_out() -> None:
    run = Run(rayjob())
    to_running(run)
    decision = run.later(3600).step(submitter=SUBMITTER, dashboard=UNREACHABLE)
    assert decision.status["jobDeploymentStatus"] == "Running"
    assert decision.events == []


def test_a_failed_submitter_with_the_dashboard_unreachable_is_a_submission_failure() -> None:
    run = Run(rayjob())
    to_running(run)
    status = run.step(submitter=finished_submitter(0, failed=True), dashboard=UNREACHABLE).status
    assert (status["jobDeploymentStatus"], status["reason"]) == ("Failed", "SubmissionFailed")
    assert "BackoffLimitExceeded" in status["message"]


def test_a_completed_submitter_whose_job_ray_does_not_know_fails_the_attempt() -> None:
    run = Run(rayjob())
    to_running(run)
    status = run.step(submitter=finished_submitter(0), dashboard=NOT_FOUND).status
    assert (status["jobDeploymentStatus"], status["reason"]) == ("Failed", "AppFailed")
    assert status["message"] == "Submitter completed but Ray job not found in RayCluster."


def test_http_mode_has_no_submitter_to_wait_for() -> None:
    run = Run(rayjob(submissionMode="HTTPMode"))
    run.step()
    run.step()
    assert run.status["jobDeploymentStatus"] == "Running"
    decision = run.later(3600).step(submitter=finished_submitter(0), dashboard=UNREACHABLE)
    assert decision.status["jobDeploymentStatus"] == "Running"
