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

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hostile_json import HUGE, hostile_values, mutated, nest, sharp_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from job_factory import info, rayjob, ready_cluster
from ray_cluster_factory import cluster as raycluster
from service_factory import service as rayservice

from ray_operator.cluster.plan import plan_pods
from ray_operator.cluster.service import desired_head_service
from ray_operator.cluster.spec import status_of
from ray_operator.cluster.status import Observed as ClusterObserved
from ray_operator.cluster.status import compute_status, finalize
from ray_operator.cluster.validation import blocking, validate_cluster
from ray_operator.job.builders import child_cluster, submission, submitter_job
from ray_operator.job.machine import decide
from ray_operator.job.observations import DashboardView, SubmitterView
from ray_operator.job.observations import Observed as JobObserved
from ray_operator.job.spec import JobSpec
from ray_operator.job.validation import validate_job
from ray_operator.service import status as service_status
from ray_operator.service.actions import Observed as ServiceObserved
from ray_operator.service.builders import (
    desired_cluster,
    desired_head_service_for,
    desired_serve_service,
)
from ray_operator.service.spec import generation_of
from ray_operator.service.upgrade import step
from ray_operator.service.validation import validate_service

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
NOW_TEXT = "2025-01-01T12:00:00Z"
MAX_MESSAGE = 1024
FUZZ = settings(
    derandomize=True,
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def sample(name: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((SAMPLES / name).read_text())
    body["metadata"].update(namespace="default", uid=f"uid-{name}", generation=1)
    return body


def dump(value: Any) -> str:
    """A comparable form of any JSON value (nan != nan, so no == on the values)."""
    return json.dumps(value, sort_keys=True, default=repr)


# -- what each reconciler computes before touching the API ---------------------------------


def process_cluster(body: dict[str, Any]) -> tuple[list[str], str]:
    problems = validate_cluster(body)
    refused = blocking(problems)
    plan = service = None
    if not refused:
        plan = plan_pods(body, [], allow_create=True)
        service = desired_head_service(body)
    observed = ClusterObserved([], None, [p.message for p in refused], [], NOW_TEXT)
    status = compute_status(body, observed)
    patch = finalize(status_of(body), status, NOW_TEXT)
    computed = {"plan": repr(plan), "service": service, "status": status, "patch": patch}
    return [p.message for p in problems], dump(computed)


def process_job(body: dict[str, Any]) -> tuple[list[str], str]:
    spec = JobSpec.of(body)
    problems = validate_job(spec)
    decision = decide(body, JobObserved(now=NOW, problems=problems))
    computed: dict[str, Any] = {"decision": repr(decision)}
    if not problems:
        cluster = child_cluster(spec, f"{spec.name}-abcde")
        computed["cluster"] = cluster
        computed["submitter"] = submitter_job(spec, "id", "http://x:8265", cluster["spec"])
        computed["submission"] = repr(submission(spec, "id"))
    messages = [p.message for p in problems] + [e.message for e in decision.events]
    return messages, dump(computed)


def process_service(body: dict[str, Any]) -> tuple[list[str], str]:
    problems = validate_service(body)
    old = status_of(body)
    generation = generation_of(body)
    computed: dict[str, Any] = {}
    if problems:
        message = "; ".join(p.message for p in problems)
        computed["status"] = service_status.invalid(old, message, 0, NOW_TEXT, generation)
    else:
        name = f"{body['metadata']['name']}-abcde"
        computed["cluster"] = desired_cluster(body, name)
        computed["serve"] = desired_serve_service(body, name)
        computed["head"] = desired_head_service_for(body, name)
        observed = ServiceObserved({}, {}, {}, {}, None, 0, NOW, name)
        computed["step"] = repr(step(body, observed))
    return [p.message for p in problems], dump(computed)


KINDS = {
    "RayCluster": (
        process_cluster,
        [
            raycluster(),
            sample("raycluster-minimal.yaml"),
            sample("raycluster-complete.yaml"),
            sample("raycluster-heterogeneous.yaml"),
        ],
    ),
    "RayJob": (
        process_job,
        [rayjob(), sample("rayjob-sample.yaml"), sample("rayjob-http-retry.yaml")],
    ),
    "RayService": (
        process_service,
        [rayservice(), sample("rayservice-sample.yaml"), sample("rayservice-in-place.yaml")],
    ),
}


def well_formed(kind: str) -> list[dict[str, Any]]:
    return [copy.deepcopy(body) for body in KINDS[kind][1]]


def check_messages(messages: list[str]) -> None:
    for message in messages:
        assert isinstance(message, str)
        assert len(message) <= MAX_MESSAGE, message[:200]
        assert message.isprintable(), repr(message[:200])


# -- properties ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_well_formed_samples_validate_after_a_json_round_trip(kind: str) -> None:
    process = KINDS[kind][0]
    for body in well_formed(kind):
        messages, _ = process(json.loads(json.dumps(body)))
        assert messages == [], (body["metadata"]["name"], messages)


def hostile_objects(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(range(len(KINDS[kind][1]))).flatmap(
        lambda index: mutated(KINDS[kind][1][index])
    )


def run_hostile(kind: str, body: dict[str, Any]) -> None:
    process = KINDS[kind][0]
    before = dump(body)
    messages, _ = process(body)
    check_messages(messages)
    assert dump(body) == before, "processing modified its input"


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


# -- regressions the fuzzing found (each crashed or hung a reconcile before its fix) ------

YAML_BOMB = "\n".join(
    [f"a0: &a0 [{', '.join(['x'] * 9)}]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 7)]
)


def _with(kind: str, edit: Any) -> dict[str, Any]:
    body = well_formed(kind)[0]
    edit(body)
    return body


def _group(body: dict[str, Any]) -> dict[str, Any]:
    group: dict[str, Any] = body["spec"]["workerGroupSpecs"][0]
    return group


REGRESSIONS = {
    "workerGroupSpecs not a list": (
        "RayCluster",
        lambda b: b["spec"].update(workerGroupSpecs=True),
        "spec.workerGroupSpecs must be a list, not a boolean",
    ),
    "null worker group": (
        "RayCluster",
        lambda b: b["spec"].update(workerGroupSpecs=[None]),
        "spec.workerGroupSpecs[0] must be an object, not null",
    ),
    "container not an object": (
        "RayCluster",
        lambda b: _group(b)["template"]["spec"].update(containers=[[]]),
        "template.spec.containers[0] must be an object, not a list",
    ),
    "status not an object": ("RayCluster", lambda b: b.update(status=[1]), None),
    "failed = nan (int() raised) in a running job's status": (
        "RayJob",
        lambda b: b.update(status={"jobDeploymentStatus": "Running", "failed": float("nan")}),
        None,
    ),
    "applicationStatuses not objects in the old status": (
        "RayService",
        lambda b: b.update(
            status={"activeServiceStatus": {"rayClusterName": "c", "applicationStatuses": {"a": 1}}}
        ),
        None,
    ),
    "10**30 replicas (planned 10**30 pod creations)": (
        "RayCluster",
        lambda b: _group(b).update(replicas=10**30, maxReplicas=10**30),
        "replicas 1000000000000000000000000000000 is outside 0-2147483647",
    ),
    "superscript digit port (isdigit, then int() raised)": (
        "RayCluster",
        lambda b: _group(b).update(rayStartParams={"port": "²"}),
        "must be a port number (1-65535), got '²'",
    ),
    "5000-digit port (int() raised)": (
        "RayCluster",
        lambda b: _group(b).update(rayStartParams={"port": "9" * 5000}),
        "must be a port number",
    ),
    "nan CPUs": (
        "RayCluster",
        lambda b: _group(b).update(rayStartParams={"num-cpus": "nan"}),
        "rayStartParams.num-cpus must be a number, got 'nan'",
    ),
    "num-cpus 1e400 (float() gives inf)": (
        "RayCluster",
        lambda b: _group(b).update(rayStartParams={"num-cpus": "1e400"}),
        "rayStartParams.num-cpus must be a number, got '1e400'",
    ),
    "100k-character label in a message": (
        "RayCluster",
        lambda b: _group(b).update(labels={"k": "\u202e" * HUGE}),
        "is not a valid Kubernetes label",
    ),
    "template nested 600 deep": (
        "RayCluster",
        lambda b: _group(b)["template"].update(extra=nest(600, "list", 1)),
        "spec nests objects and lists more than 64 levels deep",
    ),
    "job status not an object": ("RayJob", lambda b: b.update(status=[]), None),
    "job spec not an object": (
        "RayJob",
        lambda b: b.update(spec=3),
        "spec must be an object, not a number",
    ),
    "runtimeEnvYAML alias bomb": (
        "RayJob",
        lambda b: b["spec"].update(runtimeEnvYAML=YAML_BOMB),
        "runtimeEnvYAML is too large or nests too deeply once parsed",
    ),
    "runtimeEnvYAML nested 400 deep by indentation": (
        "RayJob",
        lambda b: b["spec"].update(
            runtimeEnvYAML="".join(f"{' ' * i}k:\n" for i in range(400)) + " " * 400 + "v"
        ),
        "nests too deeply",
    ),
    "runtimeEnvYAML nested 5000 deep (slow, then RecursionError)": (
        "RayJob",
        lambda b: b["spec"].update(runtimeEnvYAML="[" * 5000 + "]" * 5000),
        "runtimeEnvYAML nests too deeply",
    ),
    "entrypointResources nested 100k deep (RecursionError)": (
        "RayJob",
        lambda b: b["spec"].update(entrypointResources="[" * HUGE + "]" * HUGE),
        "entrypointResources is not JSON",
    ),
    "service annotations not an object": (
        "RayService",
        lambda b: b["metadata"].update(annotations=[1]),
        "metadata.annotations must be an object, not a list",
    ),
    "service status conditions not objects": (
        "RayService",
        lambda b: b.update(status={"conditions": [["Ready"]]}),
        None,
    ),
}


@pytest.mark.parametrize("case", REGRESSIONS)
def test_regression(case: str) -> None:
    kind, edit, expected = REGRESSIONS[case]
    body = _with(kind, edit)
    run_hostile(kind, body)
    messages, _ = KINDS[kind][0](body)
    if expected is not None:
        assert any(expected in message for message in messages), messages


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
