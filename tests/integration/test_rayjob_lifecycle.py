"""RayJobs on the real control plane, run on a real Ray head on this machine.

The operator runs as a subprocess with `--dashboard-map` pointing each test's namespace at
the module's Ray head, so the dashboard API it polls and submits to is Ray's own. kwok does
not run containers: in K8sJobMode the test runs the submitter container's exact command line
itself (with the real `ray` CLI against the local head), which is what the pod would do.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from exporter_harness import apply_crds
from kubernetes import client
from raycluster_harness import OperatorProcess, wait_for
from rayjob_harness import (
    RayJobs,
    point_map,
    ray_job,
    rayjob,
    run_submitter,
)

from localkube.ray import RayHead

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def crds(kube_cluster: Any) -> None:
    apply_crds(kube_cluster.env())


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayHead]:
    head = RayHead(tmp_path_factory.mktemp("ray-head"))
    try:
        yield head
    finally:
        head.stop()


@pytest.fixture(scope="module")
def dashboard_map(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dashboard-map") / "map.yaml"


@pytest.fixture
def jobs(api_client: client.ApiClient, namespace: str) -> RayJobs:
    return RayJobs(api_client, namespace)


@pytest.fixture
def operator(
    kube_cluster: Any,
    crds: None,
    namespace: str,
    tmp_path: Path,
    ray_head: RayHead,
    dashboard_map: Path,
) -> Iterator[OperatorProcess]:
    point_map(dashboard_map, namespace, ray_head.dashboard_url)
    with OperatorProcess(
        kube_cluster.env(),
        tmp_path / "operator.log",
        "--namespaces",
        namespace,
        "--dashboard-map",
        str(dashboard_map),
    ) as op:
        yield op


def finished(jobs: RayJobs, name: str, timeout: float = 180) -> dict[str, Any]:
    status: dict[str, Any] = wait_for(
        f"RayJob {name} to finish",
        lambda: jobs.in_state(name, "Complete", "Failed", "ValidationFailed"),
        timeout=timeout,
    )
    return status


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
    status = jobs.status("hello")
    assert status["jobDeploymentStatus"] == "Running"
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
