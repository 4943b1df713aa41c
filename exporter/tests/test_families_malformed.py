"""Malformed custom resources: the series that can be computed render, the rest are problems."""

from __future__ import annotations

from typing import Any

import pytest
from exporter_objects import condition, raycluster, rayjob, rayservice

from ray_exporter.families import render
from ray_exporter.fields import Problem
from ray_exporter.rayclusters import RAYCLUSTERS
from ray_exporter.rayjobs import RAYJOBS
from ray_exporter.rayservices import RAYSERVICES

INFO_LINE = b'kuberay_cluster_info{name="c1",namespace="ns",owner_kind="None",uid="uid-c1"} 1\n'


@pytest.mark.parametrize("status", [[], "Ready", 3, True])
def test_status_that_is_not_an_object(status: Any) -> None:
    rendered = render(RAYJOBS, rayjob("j1", status=status))
    assert rendered.lines == (
        b'kuberay_job_info{name="j1",namespace="ns",uid="uid-j1"} 1\n',
        b"",
        b"",
        b"",
    )
    assert rendered.problems == (Problem.STATUS_NOT_OBJECT,)


def test_unparseable_creation_timestamp_drops_only_the_duration() -> None:
    status = {"conditions": [condition("RayClusterProvisioned", "True")]}
    rendered = render(RAYCLUSTERS, raycluster("c1", status=status, creationTimestamp="yesterday"))
    assert rendered.lines[0] == INFO_LINE
    assert rendered.lines[1].startswith(b'kuberay_cluster_condition_provisioned{condition="true"')
    assert rendered.lines[2] == b""
    assert rendered.problems == (Problem.INVALID_TIMESTAMP,)


@pytest.mark.parametrize(
    ("conditions", "problem"),
    [
        ({"type": "RayClusterProvisioned", "status": "True"}, Problem.CONDITIONS_NOT_LIST),
        ("RayClusterProvisioned", Problem.CONDITIONS_NOT_LIST),
        (["RayClusterProvisioned"], Problem.CONDITION_NOT_OBJECT),
        ([{"status": "True"}], Problem.CONDITION_NOT_OBJECT),
    ],
)
def test_conditions_of_the_wrong_shape_count_as_missing(conditions: Any, problem: Problem) -> None:
    rendered = render(RAYCLUSTERS, raycluster("c1", status={"conditions": conditions}))
    assert rendered.lines[0] == INFO_LINE
    assert rendered.lines[1].startswith(b'kuberay_cluster_condition_provisioned{condition="false"')
    assert rendered.lines[2] == b""
    assert rendered.problems == (problem,)


def test_condition_timestamp_of_the_wrong_type() -> None:
    provisioned = condition("RayClusterProvisioned", "True")
    provisioned["lastTransitionTime"] = 1714557750
    rendered = render(RAYCLUSTERS, raycluster("c1", status={"conditions": [provisioned]}))
    assert rendered.lines[2] == b""
    assert rendered.problems == (Problem.INVALID_TIMESTAMP,)


@pytest.mark.parametrize(
    ("generation", "observed"), [("3", 1), (3.0, 1), (True, 1), (3, "1"), (None, 1)]
)
def test_generations_of_the_wrong_type_drop_the_lag(generation: Any, observed: Any) -> None:
    obj = rayservice("s1", status={"observedGeneration": observed})
    obj["metadata"]["generation"] = generation
    rendered = render(RAYSERVICES, obj)
    assert rendered.lines[3] == b""
    assert rendered.lines[0]
    assert rendered.lines[1]
    assert rendered.lines[2]
    assert rendered.problems == (Problem.INVALID_GENERATION,)


def test_labels_of_the_wrong_type_give_owner_none() -> None:
    rendered = render(RAYCLUSTERS, raycluster("c1", labels=["ray.io/originated-from-crd"]))  # type: ignore[arg-type]
    assert rendered.lines[0] == INFO_LINE
    assert rendered.problems == (Problem.FIELD_WRONG_TYPE,)


def test_a_five_megabyte_annotation_changes_nothing() -> None:
    plain = render(RAYCLUSTERS, raycluster("c1"))
    huge = render(RAYCLUSTERS, raycluster("c1", annotations={"note": "x" * (5 * 1024 * 1024)}))
    assert huge.lines == plain.lines
    assert huge.problems == ()
    assert sum(len(line) for line in huge.lines) < 1024


@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"metadata": None},
        {"metadata": "c1"},
        {"metadata": {"name": "c1", "namespace": "ns"}},
        {"metadata": {"uid": "u", "namespace": "ns"}},
        {"metadata": {"name": 5, "uid": "u"}},
    ],
)
def test_objects_without_identity_render_nothing(obj: dict[str, Any]) -> None:
    rendered = render(RAYCLUSTERS, obj)
    assert rendered.lines == (b"",) * len(RAYCLUSTERS.families)
    assert Problem.MISSING_IDENTITY in rendered.problems


def test_label_values_are_escaped() -> None:
    obj = raycluster("c1", labels={"ray.io/originated-from-crd": 'a\\b"c\nd'})
    assert render(RAYCLUSTERS, obj).lines[0] == (
        b'kuberay_cluster_info{name="c1",namespace="ns",owner_kind="a\\\\b\\"c\\nd",'
        b'uid="uid-c1"} 1\n'
    )


def test_label_values_keep_utf8() -> None:
    obj = rayjob("j1", status={"jobDeploymentStatus": "Läuft ✓"})
    assert (
        render(RAYJOBS, obj).lines[1]
        == (
            'kuberay_job_deployment_status{deployment_status="Läuft ✓",name="j1",namespace="ns",'
            'uid="uid-j1"} 1\n'
        ).encode()
    )


def test_text_that_cannot_be_utf8_is_replaced_and_reported() -> None:
    obj = rayjob("j1", status={"jobDeploymentStatus": "bad\ud800"})
    rendered = render(RAYJOBS, obj)
    assert b'deployment_status="bad?"' in rendered.lines[1]
    assert rendered.problems == (Problem.INVALID_TEXT,)
