"""Fuzz: hostile RayClusters, RayJobs and RayServices through everything the reconcilers
compute before they touch the API (validation, plans, manifests, status).

Properties, for any input the apiserver could store:
- nothing raises: a bad object becomes problems (a Warning event and a status reason), never
  a crashed reconcile;
- every problem message is bounded and printable (it goes into an Event and a condition);
- a well-formed sample still validates after a JSON round trip, and what it computes is the
  same whether or not a hostile object was processed just before (no shared mutable state);
- the input body is not modified.

Deterministic (`derandomize`) and bounded, so it runs in the unit tier.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from fuzz_kinds import FUZZ, KINDS, NOW, dump, hostile_objects, run_hostile, well_formed
from hostile_json import hostile_values, sharp_values
from hypothesis import given, settings
from hypothesis import strategies as st
from job_factory import info, ready_cluster

from ray_operator.job.machine import decide
from ray_operator.job.observations import DashboardView, SubmitterView
from ray_operator.job.observations import Observed as JobObserved
from ray_operator.job.spec import JobSpec
from ray_operator.job.validation import validate_job

# -- properties ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_well_formed_samples_validate_after_a_json_round_trip(kind: str) -> None:
    process = KINDS[kind][0]
    for body in well_formed(kind):
        messages, _ = process(json.loads(json.dumps(body)))
        assert messages == [], (body["metadata"]["name"], messages)


@FUZZ
@given(hostile_objects("RayCluster"))
def test_hostile_rayclusters(body: dict[str, Any]) -> None:
    run_hostile("RayCluster", body)


@FUZZ
@given(hostile_objects("RayJob"))
def test_hostile_rayjobs(body: dict[str, Any]) -> None:
    run_hostile("RayJob", body)


@FUZZ
@given(hostile_objects("RayService"))
def test_hostile_rayservices(body: dict[str, Any]) -> None:
    run_hostile("RayService", body)


@settings(FUZZ, max_examples=40)
@given(st.sampled_from(sorted(KINDS)), hostile_values)
def test_a_hostile_spec_is_handled_and_leaves_the_next_object_alone(kind: str, spec: Any) -> None:
    process = KINDS[kind][0]
    expected = [process(body) for body in well_formed(kind)]
    body = well_formed(kind)[0]
    body["spec"] = spec
    run_hostile(kind, body)
    assert [process(body) for body in well_formed(kind)] == expected


# -- hostile status: anyone allowed to write the status subresource can put anything there --

STATUS_FIELDS = {
    "RayCluster": ["state", "conditions", "stateTransitionTimes", "reason", "observedGeneration"],
    "RayJob": [
        "jobDeploymentStatus",
        "jobStatus",
        "jobId",
        "rayClusterName",
        "startTime",
        "endTime",
        "failed",
        "succeeded",
        "attemptHistory",
        "observedGeneration",
    ],
    "RayService": [
        "conditions",
        "activeServiceStatus",
        "pendingServiceStatus",
        "observedGeneration",
    ],
}
DEPLOYMENTS = ["", "Initializing", "Running", "Retrying", "Complete", "Failed", "Suspending"]
JOB_OBSERVATIONS = [
    JobObserved(now=NOW),
    JobObserved(
        now=NOW,
        cluster=ready_cluster("job-abcde"),
        dashboard=DashboardView(asked=True, info=info("FAILED", "m")),
    ),
    JobObserved(
        now=NOW,
        cluster=ready_cluster("job-abcde"),
        submitter=SubmitterView(exists=True, failed=True, failure="x"),
        dashboard=DashboardView(asked=True, info=info("SUCCEEDED")),
    ),
]


@st.composite
def hostile_statuses(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(sorted(STATUS_FIELDS)))
    body = well_formed(kind)[0]
    status: dict[str, Any] = {"observedGeneration": 1}
    if kind == "RayJob":
        status.update(
            jobDeploymentStatus=draw(st.sampled_from(DEPLOYMENTS)),
            jobId="id",
            rayClusterName="job-abcde",
            startTime="2025-01-01T11:00:00Z",
        )
        body["spec"]["backoffLimit"] = draw(st.sampled_from([0, 2]))
        body["spec"]["shutdownAfterJobFinishes"] = True
        for field in ("ttlSecondsAfterFinished", "activeDeadlineSeconds"):
            body["spec"][field] = draw(st.sampled_from([None, 1, 2**31 - 1, 10**30]))
    for field in draw(st.lists(st.sampled_from(STATUS_FIELDS[kind]), min_size=1, max_size=3)):
        value = draw(sharp_values | hostile_values)
        if field in ("conditions", "attemptHistory"):
            value = [{"type": "Ready", "status": value, "lastTransitionTime": value}, value]
        elif field.endswith("ServiceStatus"):
            value = {"rayClusterName": "svc-abcde", "applicationStatuses": value}
        status[field] = value
    body["status"] = status
    return kind, body


@FUZZ
@given(hostile_statuses())
def test_hostile_status_never_breaks_a_reconcile(case: tuple[str, dict[str, Any]]) -> None:
    kind, body = case
    run_hostile(kind, body)
    if kind == "RayJob":
        problems = validate_job(JobSpec.of(body))
        for observed in JOB_OBSERVATIONS:
            decision = decide(body, replace(observed, problems=problems))
            dump(decision.status)
