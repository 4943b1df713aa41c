"""Golden text for the RayService families: the Ready and UpgradeInProgress flags."""

from __future__ import annotations

import pytest
from exporter_objects import condition, rayservice

from ray_exporter.families import render
from ray_exporter.rayservices import RAYSERVICES


def test_ready_service_without_upgrade() -> None:
    status = {
        "numServeEndpoints": 2,
        "observedGeneration": 1,
        "conditions": [condition("Ready", "True"), condition("UpgradeInProgress", "False")],
    }
    assert b"".join(render(RAYSERVICES, rayservice("s1", status=status)).lines).decode() == (
        'kuberay_service_info{name="s1",namespace="ns",uid="uid-s1"} 1\n'
        'kuberay_service_condition_ready{condition="true",name="s1",namespace="ns",'
        'uid="uid-s1"} 1\n'
        'kuberay_service_condition_upgrade_in_progress{condition="false",name="s1",'
        'namespace="ns",uid="uid-s1"} 1\n'
        'ray_resource_generation_lag{name="s1",namespace="ns",resource="rayservices",'
        'uid="uid-s1"} 0\n'
    )


@pytest.mark.parametrize(
    ("conditions", "ready", "upgrading"),
    [
        ([condition("Ready", "False"), condition("UpgradeInProgress", "True")], "false", "true"),
        (
            [condition("Ready", "Unknown"), condition("UpgradeInProgress", "Unknown")],
            "false",
            "false",
        ),
        ([condition("Ready", "True")], "true", "false"),
        ([], "false", "false"),
        (None, "false", "false"),
    ],
)
def test_flags_are_true_only_for_a_true_condition(
    conditions: list[dict[str, str]] | None, ready: str, upgrading: str
) -> None:
    status = {} if conditions is None else {"conditions": conditions}
    lines = render(RAYSERVICES, rayservice("s1", status=status)).lines
    assert (
        lines[1]
        == (
            f'kuberay_service_condition_ready{{condition="{ready}",name="s1",namespace="ns",'
            'uid="uid-s1"} 1\n'
        ).encode()
    )
    assert (
        lines[2]
        == (
            f'kuberay_service_condition_upgrade_in_progress{{condition="{upgrading}",name="s1",'
            'namespace="ns",uid="uid-s1"} 1\n'
        ).encode()
    )
