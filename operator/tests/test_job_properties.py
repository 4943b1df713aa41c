"""Property: whatever the dashboard, the cluster and the submitter answer, in any order and
at any pace, the RayJob status never contradicts itself (kuberay#2314), its attempt history
stays consistent with its counters, and a finished job stays finished."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from job_factory import Run, info, rayjob

from ray_operator.job.observations import ClusterView, DashboardView, SubmitterView
from ray_operator.job.status import contradictions

RAY_STATUSES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "STOPPED")


@st.composite
def job_specs(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "submissionMode": draw(st.sampled_from(["K8sJobMode", "HTTPMode", "InteractiveMode"])),
        "backoffLimit": draw(st.integers(0, 3)),
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": draw(st.integers(0, 60)),
    }
    if fields["submissionMode"] == "InteractiveMode":
        fields["backoffLimit"] = 0
        fields["entrypoint"] = None
    if draw(st.booleans()):
        fields["activeDeadlineSeconds"] = draw(st.integers(1, 300))
    if draw(st.booleans()):
        fields["clusterSelector"] = {"ray.io/cluster": "shared"}
        fields["rayClusterSpec"] = None
    return fields


def clusters(name: str) -> st.SearchStrategy[ClusterView | None]:
    ready = ClusterView(name=name, exists=True, ready=True, status={"state": "ready"})
    return st.sampled_from(
        [
            None,
            ClusterView(name=name, exists=False),
            ClusterView(name=name, exists=True, status={"state": ""}),
            ClusterView(name=name, exists=True, deleting=True),
            *[ready] * 6,  # mostly a healthy cluster, so runs get far
        ]
    )


SUBMITTERS = st.sampled_from(
    [
        None,
        SubmitterView(exists=False),
        SubmitterView(exists=True),
        SubmitterView(exists=True, failed=True, failure="Reason: BackoffLimitExceeded."),
        SubmitterView(exists=True, deleting=True),
        SubmitterView(exists=True, submission_id="someone-else"),
    ]
)


@st.composite
def dashboards(draw: st.DrawFn) -> DashboardView:
    kind = draw(st.sampled_from(["not-asked", "error", "unknown", "known", "known"]))
    if kind == "not-asked":
        return DashboardView()
    if kind == "error":
        return DashboardView(asked=True, error="connection refused")
    if kind == "unknown":
        return DashboardView(asked=True, info=None)
    return DashboardView(asked=True, info=info(draw(st.sampled_from(RAY_STATUSES)), "m"))


@st.composite
def steps(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "advance": draw(st.sampled_from([0, 1, 5, 30, 120, 600])),
        "cluster": draw(clusters("any")),
        "submitter": draw(SUBMITTERS),
        "dashboard": draw(dashboards()),
        "submission_error": draw(st.sampled_from([None, None, "runtime_env invalid"])),
        "toggle": draw(st.sampled_from([None, None, None, "suspend", "resume", "job-id"])),
    }


def _view(cluster: ClusterView | None, name: str) -> ClusterView | None:
    if cluster is None:
        return None
    return ClusterView(
        name=name,
        exists=cluster.exists,
        deleting=cluster.deleting,
        ready=cluster.ready,
        status=cluster.status,
    )


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(spec=job_specs(), sequence=st.lists(steps(), min_size=1, max_size=40))
def test_no_sequence_of_answers_yields_a_contradictory_status(
    spec: dict[str, Any], sequence: list[dict[str, Any]]
) -> None:
    run = Run(rayjob(**spec))
    finished_as: tuple[str, str] | None = None
    for step in sequence:
        if step["toggle"] == "suspend" and "clusterSelector" not in spec:
            run.bump_generation(suspend=True)
        elif step["toggle"] == "resume":
            run.bump_generation(suspend=False)
        elif step["toggle"] == "job-id":
            run.bump_generation(jobId="typed")
        name = str(run.status.get("rayClusterName") or "any")
        decision = run.later(step["advance"]).step(
            cluster=_view(step["cluster"], name),
            submitter=step["submitter"],
            dashboard=step["dashboard"],
            submission_error=step["submission_error"],
        )
        status = decision.status
        assert contradictions(status) == [], (status, step)
        assert decision.requeue is None or decision.requeue >= 0
        deployment = status["jobDeploymentStatus"]
        event(f"reached {deployment or 'new'}")
        if finished_as is not None:
            # Complete and Failed are final: neither the status nor the history moves on.
            assert (deployment, status["jobStatus"]) == finished_as
        elif deployment in ("Complete", "Failed"):
            finished_as = (deployment, status["jobStatus"])
        history = status.get("attemptHistory") or []
        assert len(history) <= spec["backoffLimit"] + 1
        assert status["failed"] <= spec["backoffLimit"] + 1
