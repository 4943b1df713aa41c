"""Golden text for the RayCluster families: CR dict in, exact exposition lines out."""

from __future__ import annotations

import pytest
from exporter_objects import condition, raycluster

from ray_exporter.families import render
from ray_exporter.fields import Problem
from ray_exporter.rayclusters import RAYCLUSTERS


def text(obj: dict[str, object]) -> str:
    return b"".join(render(RAYCLUSTERS, obj).lines).decode()


@pytest.mark.parametrize(
    ("labels", "owner"),
    [
        ({"ray.io/originated-from-crd": "RayJob"}, "RayJob"),
        ({"ray.io/originated-from-crd": "RayService"}, "RayService"),
        ({"app": "other"}, "None"),
        (None, "None"),
    ],
)
def test_info_carries_the_owner_kind_or_none(labels: dict[str, str] | None, owner: str) -> None:
    assert text(raycluster("c1", labels=labels)) == (
        f'kuberay_cluster_info{{name="c1",namespace="ns",owner_kind="{owner}",uid="uid-c1"}} 1\n'
        'kuberay_cluster_condition_provisioned{condition="false",name="c1",namespace="ns",'
        'uid="uid-c1"} 1\n'
        'ray_resource_generation_lag{name="c1",namespace="ns",resource="rayclusters",'
        'uid="uid-c1"} 1\n'
    )


def test_provisioned_cluster_reports_true_and_the_time_it_took() -> None:
    status = {
        "observedGeneration": 3,
        "conditions": [
            condition("HeadPodReady", "True"),
            condition("RayClusterProvisioned", "True", "2024-05-01T10:02:30Z"),
        ],
    }
    assert text(raycluster("c1", status=status, generation=3)) == (
        'kuberay_cluster_info{name="c1",namespace="ns",owner_kind="None",uid="uid-c1"} 1\n'
        'kuberay_cluster_condition_provisioned{condition="true",name="c1",namespace="ns",'
        'uid="uid-c1"} 1\n'
        'kuberay_cluster_provisioned_duration_seconds{name="c1",namespace="ns",uid="uid-c1"} 150\n'
        'ray_resource_generation_lag{name="c1",namespace="ns",resource="rayclusters",'
        'uid="uid-c1"} 0\n'
    )


@pytest.mark.parametrize("value", ["False", "Unknown", None])
def test_condition_not_true_is_false_and_has_no_duration(value: str | None) -> None:
    conditions = [] if value is None else [condition("RayClusterProvisioned", value)]
    rendered = render(RAYCLUSTERS, raycluster("c1", status={"conditions": conditions}))
    assert rendered.lines[1] == (
        b'kuberay_cluster_condition_provisioned{condition="false",name="c1",namespace="ns",'
        b'uid="uid-c1"} 1\n'
    )
    assert rendered.lines[2] == b""
    assert rendered.problems == ()


def test_duration_uses_fractional_seconds_and_offsets_exactly() -> None:
    status = {
        "conditions": [condition("RayClusterProvisioned", "True", "2024-05-01T12:00:01.25+02:00")]
    }
    obj = raycluster("c1", status=status, creationTimestamp="2024-05-01T10:00:00.000001Z")
    assert render(RAYCLUSTERS, obj).lines[2] == (
        b'kuberay_cluster_provisioned_duration_seconds{name="c1",namespace="ns",uid="uid-c1"}'
        b" 1.249999\n"
    )


def test_long_durations_are_written_like_client_golang() -> None:
    # 12 days, 3 h 46 min 40 s after creation: 1,050,400 s.
    status = {"conditions": [condition("RayClusterProvisioned", "True", "2024-05-13T13:46:40Z")]}
    line = render(RAYCLUSTERS, raycluster("c1", status=status)).lines[2]
    assert line.endswith(b"} 1.0504e+06\n")


def test_generation_lag_counts_missing_observed_generation_as_zero() -> None:
    assert render(RAYCLUSTERS, raycluster("c1", generation=4)).lines[3] == (
        b'ray_resource_generation_lag{name="c1",namespace="ns",resource="rayclusters",'
        b'uid="uid-c1"} 4\n'
    )
    lagging = raycluster("c1", generation=4, status={"observedGeneration": 2})
    assert render(RAYCLUSTERS, lagging).lines[3].endswith(b"} 2\n")


def test_provisioned_before_creation_is_skipped_and_reported() -> None:
    status = {"conditions": [condition("RayClusterProvisioned", "True", "2024-05-01T09:00:00Z")]}
    rendered = render(RAYCLUSTERS, raycluster("c1", status=status))
    assert rendered.lines[2] == b""
    assert rendered.lines[1].startswith(b'kuberay_cluster_condition_provisioned{condition="true"')
    assert rendered.problems == (Problem.NEGATIVE_DURATION,)
