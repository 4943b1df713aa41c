"""RayJobs being steered, on the real control plane with a real Ray head: suspend and resume,
shutdown after a TTL, an existing cluster chosen by clusterSelector (and the Ray job stopped
when its RayJob is deleted), and specs the operator refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from raycluster_harness import OperatorProcess, wait_for
from rayjob_fixtures import job_operator  # noqa: F401 (this module's `operator` fixture)
from rayjob_harness import (
    RayJobs,
    cluster_spec,
    finished,
    parse_time,
    ray_job,
    ray_logs,
    rayjob,
    sample,
)

from localkube.ray import RayHead

pytestmark = pytest.mark.integration


def long_first_run(counter: Path) -> str:
    """An entrypoint whose first run lasts ten minutes and whose later runs succeed at once."""
    return (
        f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; "
        f'if [ "$n" -eq 1 ]; then sleep 600; fi; echo "run $n done"'
    )


def ray_status(head: RayHead, job_id: str) -> str | None:
    return (ray_job(head, job_id) or {}).get("status")


def running(jobs: RayJobs, name: str) -> dict[str, Any]:
    status: dict[str, Any] = wait_for(
        f"RayJob {name}'s Ray job to run",
        lambda: jobs.status(name) if jobs.status(name).get("jobStatus") == "RUNNING" else None,
        timeout=180,
    )
    return status


def test_suspend_stops_and_releases_then_resume_runs_a_new_attempt(
    operator: OperatorProcess, jobs: RayJobs, ray_head: RayHead, tmp_path: Path
) -> None:
    jobs.create(
        rayjob(
            "pausable",
            submissionMode="HTTPMode",
            shutdownAfterJobFinishes=True,
            entrypoint=long_first_run(tmp_path / "runs"),
        )
    )
    first = running(jobs, "pausable")
    jobs.patch("pausable", {"suspend": True})
    suspended = wait_for("Suspended", lambda: jobs.in_state("pausable", "Suspended"), timeout=120)
    assert suspended["jobStatus"] == ""
    assert "jobId" not in suspended
    assert "rayClusterName" not in suspended
    assert jobs.clusters() == []  # the compute is released
    wait_for(
        "Ray to stop the suspended job",
        lambda: ray_status(ray_head, first["jobId"]) == "STOPPED",
        timeout=60,
    )
    assert suspended.get("attemptHistory", []) == []  # a suspension is not a finished attempt

    jobs.patch("pausable", {"suspend": False})
    done = finished(jobs, "pausable")
    assert done["jobDeploymentStatus"] == "Complete"
    assert done["jobStatus"] == "SUCCEEDED"
    assert done["jobId"] != first["jobId"]
    assert done["rayClusterName"] != first["rayClusterName"]
    assert parse_time(done["startTime"]) > parse_time(first["startTime"])
    assert {"CreatedRayCluster", "DeletedRayCluster"} <= jobs.reasons("pausable")


def test_shutdown_after_the_ttl_deletes_the_child_cluster_and_keeps_the_status(
    operator: OperatorProcess, jobs: RayJobs, ray_head: RayHead
) -> None:
    jobs.create(
        rayjob(
            "brief",
            submissionMode="HTTPMode",
            shutdownAfterJobFinishes=True,
            ttlSecondsAfterFinished=15,
            entrypoint="echo short",
        )
    )
    done = finished(jobs, "brief")
    assert done["jobDeploymentStatus"] == "Complete"
    wait_for("the child cluster to be deleted", lambda: not jobs.clusters(), timeout=120)
    [deleted] = jobs.events("brief", "DeletedRayCluster")
    assert done["rayClusterName"] in deleted["message"]
    deleted_at = parse_time(deleted["firstTimestamp"])
    assert (deleted_at - parse_time(done["endTime"])).total_seconds() >= 15
    after = jobs.status("brief")
    assert after["jobDeploymentStatus"] == "Complete"
    assert after["attemptHistory"] == done["attemptHistory"]


def test_cluster_selector_uses_an_existing_cluster_and_never_deletes_it(
    operator: OperatorProcess, jobs: RayJobs, ray_head: RayHead
) -> None:
    selector = {"ray.io/cluster": "shared"}
    jobs.create(
        rayjob(
            "early",
            submissionMode="HTTPMode",
            clusterSelector=selector,
            rayClusterSpec=None,
            entrypoint="echo early",
        )
    )
    wait_for("RayClusterNotFound", lambda: jobs.events("early", "RayClusterNotFound"))
    wait_for("Initializing", lambda: jobs.in_state("early", "Initializing"))

    jobs.create(
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {"name": "shared"},
            "spec": cluster_spec(),
        },
        plural="rayclusters",
    )
    done = finished(jobs, "early")
    assert done["jobDeploymentStatus"] == "Complete"
    assert done["rayClusterName"] == "shared"

    jobs.create(
        rayjob(
            "selected",
            submissionMode="HTTPMode",
            clusterSelector=selector,
            rayClusterSpec=None,
            shutdownAfterJobFinishes=True,
            entrypoint="echo selected",
        )
    )
    done = finished(jobs, "selected")
    assert done["jobDeploymentStatus"] == "Complete"
    assert ray_status(ray_head, done["jobId"]) == "SUCCEEDED"

    # Deleting a RayJob stops its Ray job (best effort, no finalizer): the selected cluster
    # outlives it, so nothing else would.
    jobs.create(
        rayjob(
            "endless",
            submissionMode="HTTPMode",
            clusterSelector=selector,
            rayClusterSpec=None,
            entrypoint="sleep 600",
        )
    )
    job_id = running(jobs, "endless")["jobId"]
    jobs.delete("endless")
    wait_for(
        "Ray to stop the deleted RayJob's job",
        lambda: ray_status(ray_head, job_id) == "STOPPED",
        timeout=60,
    )
    assert [c["metadata"]["name"] for c in jobs.clusters()] == ["shared"]
    for name in ("early", "selected"):
        assert "CreatedRayCluster" not in jobs.reasons(name)
        assert "DeletedRayCluster" not in jobs.reasons(name)


def test_invalid_specs_are_refused_and_a_fixed_spec_runs(
    operator: OperatorProcess, jobs: RayJobs
) -> None:
    jobs.create(rayjob("refused", submissionMode="HTTPMode", suspend=True))
    refused = wait_for("ValidationFailed", lambda: jobs.in_state("refused", "ValidationFailed"))
    assert refused["reason"] == "ValidationFailed"
    assert "shutdownAfterJobFinishes" in refused["message"]
    assert refused["jobStatus"] == ""
    [event] = jobs.events("refused", "InvalidRayJobSpec")
    assert event["type"] == "Warning"
    assert event["source"]["component"] == "rayjob-controller"
    assert jobs.clusters() == []

    jobs.create(rayjob("r" * 50, submissionMode="HTTPMode"))
    wait_for("InvalidRayJobMetadata", lambda: jobs.events("r" * 50, "InvalidRayJobMetadata"))
    wait_for("ValidationFailed", lambda: jobs.in_state("r" * 50, "ValidationFailed"))

    # A submitter template the apiserver rejects: a Warning, and the RayJob keeps trying.
    bad_template = {"spec": {"containers": [{"name": "Not_A_DNS_Label", "image": "x"}]}}
    jobs.create(rayjob("unsubmittable", submitterPodTemplate=bad_template))
    [failed] = wait_for(
        "FailedToCreateRayJobSubmitter",
        lambda: jobs.events("unsubmittable", "FailedToCreateRayJobSubmitter"),
        timeout=120,
    )
    assert failed["type"] == "Warning"
    wait_for("Initializing", lambda: jobs.in_state("unsubmittable", "Initializing"))
    assert jobs.submitter("unsubmittable") is None

    jobs.patch("refused", {"suspend": False})
    done = wait_for(
        "the fixed RayJob to run", lambda: jobs.in_state("refused", "Complete", "Failed"), 180
    )
    assert done["jobDeploymentStatus"] == "Complete"
    assert done["observedGeneration"] == 2


def test_samples_run_real_ray_programs(
    operator: OperatorProcess, jobs: RayJobs, ray_head: RayHead
) -> None:
    jobs.create(sample("raycluster-minimal.yaml"), plural="rayclusters")
    for name in ("rayjob-http-retry.yaml", "rayjob-cluster-selector.yaml"):
        jobs.create(sample(name))
    retry = finished(jobs, "rayjob-http-retry")
    selector = finished(jobs, "rayjob-cluster-selector")
    assert (retry["jobDeploymentStatus"], selector["jobDeploymentStatus"]) == (
        "Complete",
        "Complete",
    )
    assert "285" in ray_logs(ray_head, retry["jobId"])  # sum of squares below 10, by Ray tasks
    assert "'Alive': True" in ray_logs(ray_head, selector["jobId"])  # ray.nodes()
    assert selector["rayClusterName"] == "raycluster-minimal"
    wait_for(
        "the retry sample's own cluster to be deleted (ttl 0)",
        lambda: [c["metadata"]["name"] for c in jobs.clusters()] == ["raycluster-minimal"],
        timeout=120,
    )
