"""What each reconciler computes before it touches the API, for the fuzz tests: one
`process_*` function per kind (validation, plans, manifests, status), the well-formed samples,
and the checks every hostile input must pass (bounded printable messages, input untouched)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from hostile_json import mutated
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from job_factory import rayjob
from ray_cluster_factory import cluster as raycluster
from service_factory import service as rayservice

from ray_operator.cluster.plan import plan_pods
from ray_operator.cluster.service import desired_head_service
from ray_operator.cluster.spec import status_of
from ray_operator.cluster.status import Observed as ClusterObserved
from ray_operator.cluster.status import compute_status, finalize
from ray_operator.cluster.validation import validate_cluster
from ray_operator.job.builders import child_cluster, submission, submitter_job
from ray_operator.job.machine import decide
from ray_operator.job.observations import Observed as JobObserved
from ray_operator.job.spec import JobSpec
from ray_operator.job.validation import validate_job
from ray_operator.problems import blocking
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
