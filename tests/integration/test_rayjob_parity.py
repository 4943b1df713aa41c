"""RayJob behaviours taken from KubeRay, on the real control plane: `<rayjob>-head-svc`, the
bounded wait once the submitter Job finished while the dashboard cannot be reached, and a
RayJob without entrypoint run by its own submitter.

kwok leaves a submitter's pod running (tests/localkube/kwok-pod-complete.yaml); a test marks it
Succeeded, as the kubelet would when `ray job logs --follow` returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from raycluster_harness import OperatorProcess, wait_for
from rayjob_fixtures import job_operator  # noqa: F401 (this module's `operator` fixture)
from rayjob_harness import RayJobs, finished, point_map, rayjob

pytestmark = pytest.mark.integration

GRACE = "JobDeploymentStatusTransitionGracePeriodExceeded"


def submitter_complete(jobs: RayJobs, name: str) -> Any:
    job = jobs.submitter(name)
    conditions = {
        c["type"]: c["status"] for c in ((job or {}).get("status") or {}).get("conditions") or []
    }
    return job if conditions.get("Complete") == "True" else None


def submitter_running(jobs: RayJobs, name: str) -> bool:
    pods = jobs.core.list_namespaced_pod(
        jobs.namespace, label_selector=f"batch.kubernetes.io/job-name={name}"
    ).items
    return any(p.status.phase == "Running" for p in pods)


def test_a_finished_submitter_and_an_unreachable_dashboard_fail_the_attempt_then_retry(
    operator: OperatorProcess,
    jobs: RayJobs,
    namespace: str,
    dashboard_map: Path,
) -> None:
    point_map(dashboard_map, namespace, "http://127.0.0.1:9")  # nothing listens there
    jobs.create(rayjob("lost", entrypoint="echo lost", backoffLimit=1))
    running = wait_for("Running", lambda: jobs.in_state("lost", "Running"), timeout=120)
    first_cluster = running["rayClusterName"]

    # <rayjob>-head-svc selects the running cluster's head, headless as KubeRay builds it.
    service = wait_for("lost-head-svc", lambda: jobs.service("lost-head-svc"))
    assert service["spec"]["selector"] == {
        "ray.io/cluster": first_cluster,
        "ray.io/node-type": "head",
    }
    assert service["spec"]["clusterIP"] == "None"
    assert service["metadata"]["labels"]["ray.io/originated-from-cr-name"] == "lost"
    [owner] = service["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("RayJob", "lost")

    wait_for("the submitter pod to run", lambda: submitter_running(jobs, "lost"))
    jobs.finish_submitter_pod("lost")
    wait_for("the submitter Job to complete", lambda: submitter_complete(jobs, "lost"))
    waiting = wait_for(
        "the wait to be reported",
        lambda: jobs.events("lost", "RayJobSubmitterFinished"),
        timeout=60,
    )
    assert "the dashboard is unreachable" in waiting[0]["message"]
    wait_for(
        "the first attempt to fail", lambda: jobs.status("lost").get("failed") == 1, timeout=120
    )
    # The retry: a new cluster, a new submitter, which finishes too.
    wait_for(
        "the retry to run",
        lambda: (s := jobs.in_state("lost", "Running")) and s["rayClusterName"] != first_cluster,
        timeout=120,
    )
    wait_for("the retry's submitter pod to run", lambda: submitter_running(jobs, "lost"))
    jobs.finish_submitter_pod("lost")
    done = finished(jobs, "lost", timeout=240)
    assert (done["jobDeploymentStatus"], done["reason"], done["jobStatus"]) == (
        "Failed",
        GRACE,
        "FAILED",
    )
    assert "did not reach terminal state within 30s" in done["message"]
    assert done["failed"] == 2
    assert [a["reason"] for a in done["attemptHistory"]] == [GRACE, GRACE]
    # The retry ran on a new cluster, and the Service followed it.
    service = jobs.service("lost-head-svc")
    assert service is not None
    assert service["spec"]["selector"]["ray.io/cluster"] == done["rayClusterName"]
    assert done["rayClusterName"] != first_cluster


def test_a_rayjob_without_entrypoint_runs_its_own_submitter_command(
    operator: OperatorProcess, jobs: RayJobs
) -> None:
    template = {
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "my-custom-rayjob-submitter",
                    "image": "kuberay/submitter:nightly",
                    "command": ["/submitter"],
                    "args": ["--", "python", "/home/ray/samples/sample_code.py"],
                }
            ],
        }
    }
    jobs.create(rayjob("light", entrypoint=None, submitterPodTemplate=template))
    submitter = wait_for("the submitter Job", lambda: jobs.submitter("light"))
    container = submitter["spec"]["template"]["spec"]["containers"][0]
    assert (container["command"], container["args"]) == (
        ["/submitter"],
        template["spec"]["containers"][0]["args"],
    )
    assert jobs.status("light").get("jobDeploymentStatus") != "ValidationFailed"
    assert not jobs.events("light", "InvalidRayJobSpec")
