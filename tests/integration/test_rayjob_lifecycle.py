"""RayJobs on the real control plane, run on a real Ray head on this machine.

The operator runs as a subprocess with `--dashboard-map` pointing each test's namespace at
the module's Ray head, so the dashboard API it polls and submits to is Ray's own. kwok does
not run containers: in K8sJobMode the test runs the submitter container's exact command line
itself (with the real `ray` CLI against the local head), which is what the pod would do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from exporter_harness import ExporterProcess, samples
from exporter_harness import value as metric_value
from raycluster_harness import OperatorProcess, wait_for
from rayjob_fixtures import job_operator  # noqa: F401 (this module's `operator` fixture)
from rayjob_harness import (
    RayJobs,
    finished,
    parse_time,
    ray_job,
    rayjob,
    run_submitter,
)

from localkube.ray import RayHead

pytestmark = pytest.mark.integration


def test_k8s_job_mode_submitter_command_runs_with_the_real_ray_cli(
    operator: OperatorProcess, jobs: RayJobs, ray_head: RayHead, tmp_path: Path
) -> None:
    jobs.create(
        rayjob(
            "hello",
            entrypoint="python -c 'import sys; print(\"hello from\", sys.argv[0])'",
            runtimeEnvYAML="env_vars:\n  GREETING: hi\n",
            entrypointNumCpus=0.5,
            submitterConfig={"backoffLimit": 1},
        )
    )
    submitter = wait_for("the submitter Job", lambda: jobs.submitter("hello"))
    # The status patch follows the Job's creation in the same reconcile pass.
    status = wait_for(
        "jobDeploymentStatus Running",
        lambda: (s := jobs.status("hello")).get("jobDeploymentStatus") == "Running" and s,
    )
    assert submitter["spec"]["backoffLimit"] == 1
    owner = submitter["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("RayJob", "hello")
    env = {
        e["name"]: e["value"] for e in submitter["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["RAY_JOB_SUBMISSION_ID"] == status["jobId"]
    assert env["RAY_DASHBOARD_ADDRESS"] == f"http://{status['dashboardURL']}"
    assert ray_job(ray_head, status["jobId"]) is None  # only the submitter submits

    first = run_submitter(submitter, ray_head, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "hello from -c" in first.stdout  # `ray job logs --follow` printed the job's output
    done = finished(jobs, "hello")
    assert done["jobDeploymentStatus"] == "Complete"
    assert done["jobStatus"] == "SUCCEEDED"
    info = ray_job(ray_head, done["jobId"])
    assert info is not None
    assert info["entrypoint"] == "python -c 'import sys; print(\"hello from\", sys.argv[0])'"
    assert info["runtime_env"]["env_vars"] == {"GREETING": "hi"}

    # A retried submitter pod runs the same command: it must not submit a second time.
    second = run_submitter(submitter, ray_head, tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already exists" not in second.stdout + second.stderr
    assert jobs.reasons("hello") >= {"CreatedRayCluster", "CreatedRayJobSubmitter"}
    history = done["attemptHistory"]
    assert [(e["result"], e["retryCount"], e["jobId"]) for e in history] == [
        ("Complete", 0, done["jobId"])
    ]


def fail_first(counter: Path, failures: int) -> str:
    """An entrypoint that fails its first `failures` runs (a counter file on this machine)."""
    return (
        f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; "
        f'echo "run $n"; test "$n" -gt {failures}'
    )


def test_http_mode_failure_and_garbage_collection(
    operator: OperatorProcess, jobs: RayJobs, ray_head: RayHead
) -> None:
    jobs.create(
        rayjob(
            "fails",
            submissionMode="HTTPMode",
            entrypoint="python -c 'import sys; print(\"about to fail\"); sys.exit(3)'",
        )
    )
    done = finished(jobs, "fails")
    assert done["jobDeploymentStatus"] == "Failed"
    assert done["jobStatus"] == "FAILED"
    assert done["reason"] == "AppFailed"
    assert "exit code 3" in done["message"]
    assert (done["failed"], done["succeeded"]) == (1, 0)
    assert done["endTime"] >= done["startTime"]
    [attempt] = done["attemptHistory"]
    assert (attempt["result"], attempt["retryCount"], attempt["reason"]) == (
        "Failed",
        0,
        "AppFailed",
    )
    info = ray_job(ray_head, done["jobId"])
    assert info is not None
    assert info["status"] == "FAILED"
    assert jobs.submitter("fails") is None  # HTTPMode: the operator submitted it
    [cluster] = jobs.clusters()
    assert cluster["metadata"]["name"] == done["rayClusterName"]
    labels = cluster["metadata"]["labels"]
    assert labels["ray.io/originated-from-crd"] == "RayJob"
    assert labels["ray.io/originated-from-cr-name"] == "fails"

    jobs.delete("fails")  # garbage collection removes the child cluster
    wait_for("the child cluster to be collected", lambda: not jobs.clusters(), timeout=120)


def test_backoff_limit_retries_on_new_clusters_and_the_exporter_reports_each_attempt(
    operator: OperatorProcess,
    jobs: RayJobs,
    ray_head: RayHead,
    kube_cluster: Any,
    tmp_path: Path,
) -> None:
    jobs.create(
        rayjob(
            "flaky",
            submissionMode="HTTPMode",
            backoffLimit=2,
            entrypoint=fail_first(tmp_path / "runs", 2),
        )
    )
    done = finished(jobs, "flaky", timeout=300)
    assert done["jobDeploymentStatus"] == "Complete"
    assert done["jobStatus"] == "SUCCEEDED"
    assert (done["failed"], done["succeeded"]) == (2, 1)
    history = done["attemptHistory"]
    assert [(e["result"], e["retryCount"]) for e in history] == [
        ("Retrying", 0),
        ("Retrying", 1),
        ("Complete", 2),
    ]
    job_ids = [e["jobId"] for e in history]
    assert len(set(job_ids)) == 3
    assert [ray_job(ray_head, j)["status"] for j in job_ids] == [  # type: ignore[index]
        "FAILED",
        "FAILED",
        "SUCCEEDED",
    ]
    created = [e["message"] for e in jobs.events("flaky", "CreatedRayCluster")]
    deleted = [e["message"] for e in jobs.events("flaky", "DeletedRayCluster")]
    assert len(created) == 3, created  # one new cluster per attempt
    assert len(deleted) == 2, deleted  # the failed attempts' clusters are gone
    assert [c["metadata"]["name"] for c in jobs.clusters()] == [done["rayClusterName"]]

    exporter = ExporterProcess(
        kube_cluster.env(), tmp_path / "exporter.log", "--namespaces", jobs.namespace
    )
    try:
        body = exporter.wait_metrics(
            "the attempt durations",
            lambda b: (
                b"kuberay_job_execution_duration_seconds{" in b
                and b'deployment_status="Complete"' in b
            ),
            timeout=120,
        )
    finally:
        exporter.stop()
    uid = jobs.get("flaky")["metadata"]["uid"]  # type: ignore[index]
    durations = {
        (labels["job_deployment_status"], labels["retry_count"]): value
        for name, label_pairs, value in samples(body, jobs.namespace)
        if name == "kuberay_job_execution_duration_seconds"
        for labels in [dict(label_pairs)]
    }
    expected = {
        (e["result"], str(e["retryCount"])): (
            parse_time(e["endTime"]) - parse_time(e["startTime"])
        ).total_seconds()
        for e in history
    }
    assert durations == expected
    assert all(seconds >= 0 for seconds in durations.values())
    assert (
        metric_value(body, "kuberay_job_deployment_status", uid=uid, deployment_status="Complete")
        == 1.0
    )
    assert metric_value(body, "kuberay_job_info", uid=uid, name="flaky") == 1.0


def test_active_deadline_fails_and_stops_the_ray_job(
    operator: OperatorProcess, jobs: RayJobs, ray_head: RayHead
) -> None:
    jobs.create(
        rayjob(
            "slow",
            submissionMode="HTTPMode",
            backoffLimit=3,
            activeDeadlineSeconds=45,
            entrypoint="sleep 600",
        )
    )
    running = wait_for(
        "the Ray job to run", lambda: jobs.status("slow").get("jobStatus") == "RUNNING", 120
    )
    assert running
    job_id = jobs.status("slow")["jobId"]
    done = finished(jobs, "slow")
    assert done["jobDeploymentStatus"] == "Failed"
    assert done["reason"] == "DeadlineExceeded"
    assert done["jobStatus"] == "STOPPED"
    assert done["failed"] == 1  # a deadline is not retried, whatever backoffLimit says
    assert [e["result"] for e in done["attemptHistory"]] == ["Failed"]
    elapsed = parse_time(done["endTime"]) - parse_time(done["startTime"])
    assert elapsed.total_seconds() >= 45
    wait_for(
        "Ray to stop the job",
        lambda: (ray_job(ray_head, job_id) or {}).get("status") == "STOPPED",
        timeout=60,
    )
