"""Checks the schema cannot express, and KubeRay fields this operator does not implement."""

from __future__ import annotations

import pytest
import ray_cluster_factory as f

from ray_operator.cluster.validation import validate_cluster
from ray_operator.problems import blocking
from ray_operator.reasons import Reason


def messages(cluster: dict[str, object]) -> list[str]:
    return [p.message for p in validate_cluster(cluster)]


def test_a_plain_cluster_has_no_problems() -> None:
    assert validate_cluster(f.cluster()) == []


@pytest.mark.parametrize("name", ["Upper", "1abc", "x" * 54, "a_b"])
def test_bad_names_are_metadata_problems(name: str) -> None:
    problems = validate_cluster(f.cluster(name=name))
    assert problems
    assert {p.reason for p in problems} == {Reason.INVALID_RAY_CLUSTER_METADATA}
    assert all(p.blocking for p in problems)


def test_min_above_max_and_duplicate_groups_are_reported() -> None:
    cluster = f.cluster(
        groups=[f.worker_group("a", min_replicas=5, max_replicas=2), f.worker_group("a")]
    )
    text = " | ".join(messages(cluster))
    assert "minReplicas 5 is greater than maxReplicas 2" in text
    assert "duplicate groupName" in text


def test_group_names_must_fit_labels_and_pod_names() -> None:
    assert any(
        "groupName must be" in m for m in messages(f.cluster(groups=[f.worker_group("bad_name")]))
    )


def test_resources_in_two_places_conflict() -> None:
    group = f.worker_group(resources={"CPU": "1"}, rayStartParams={"num-cpus": "2"})
    assert any(
        "both in rayStartParams and in resources" in m for m in messages(f.cluster(groups=[group]))
    )


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"num-cpus": "lots"}, "rayStartParams.num-cpus must be a number"),
        ({"dashboard-port": "99999"}, "rayStartParams.dashboard-port must be a port"),
        ({"bad flag": "1"}, "is not a `ray start` flag name"),
        ({"temp-dir": "/tmp\nrm -rf /"}, "contains a line break"),
        ({"labels": "a=b"}, "rayStartParams.labels is not supported"),
    ],
)
def test_ray_start_param_problems_are_blocking(params: dict[str, str], fragment: str) -> None:
    cluster = f.cluster()
    cluster["spec"]["headGroupSpec"]["rayStartParams"] = params
    problems = validate_cluster(cluster)
    assert any(fragment in p.message for p in problems), problems
    assert all(p.reason == Reason.INVALID_RAY_CLUSTER_SPEC and p.blocking for p in problems)


def test_missing_containers_are_reported() -> None:
    cluster = f.cluster()
    cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"] = []
    assert "spec.headGroupSpec.template must have at least one container" in messages(cluster)


def test_invalid_group_labels_are_reported() -> None:
    group = f.worker_group(labels={"bad key!": "v", "ok": "x" * 64})
    assert (
        sum("is not a valid Kubernetes label" in m for m in messages(f.cluster(groups=[group])))
        == 2
    )


def test_security_features_are_refused_and_autoscaling_is_supported() -> None:
    refused = f.cluster(tlsOptions={"enabled": True}, authOptions={})
    problems = blocking(validate_cluster(refused))
    assert [p.message.split(" ")[0] for p in problems] == [
        "spec.tlsOptions.enabled",
        "spec.authOptions",
    ]
    assert validate_cluster(f.cluster(authOptions={"mode": "disabled"})) == []

    scaled = f.cluster(
        enableInTreeAutoscaling=True,
        autoscalerOptions={"upscalingMode": "Default", "idleTimeoutSeconds": 60},
    )
    scaled["spec"]["workerGroupSpecs"][0]["idleTimeoutSeconds"] = 30
    assert validate_cluster(scaled) == []


def test_priority_zero_as_kuberay_crds_default_it_is_not_reported() -> None:
    groups = [f.worker_group("a", priority=0), f.worker_group("b", priority=0)]
    assert validate_cluster(f.cluster(groups=groups)) == []


def test_a_nonzero_priority_is_reported_as_ignored_without_blocking() -> None:
    groups = [f.worker_group("a", priority=0), f.worker_group("b", priority=3)]
    problems = validate_cluster(f.cluster(groups=groups))
    assert [p.blocking for p in problems] == [False]
    assert "spec.workerGroupSpecs[1].priority" in problems[0].message
    assert "workerGroupSpecs[0]" not in problems[0].message
