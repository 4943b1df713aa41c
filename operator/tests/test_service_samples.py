"""The RayService samples pass the operator's checks and build what their comments promise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ray_operator.service.builders import desired_cluster, desired_serve_service
from ray_operator.service.serve import parse_serve_config
from ray_operator.service.spec import upgrade_type
from ray_operator.service.validation import validate_service

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def load(name: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text())
    body["metadata"].update({"namespace": "default", "uid": "u-1", "generation": 1})
    return body


@pytest.mark.parametrize("name", ["rayservice-sample", "rayservice-in-place"])
def test_sample_is_valid(name: str) -> None:
    service = load(name)
    assert validate_service(service) == []
    assert parse_serve_config(service["spec"]["serveConfigV2"])["applications"]
    cluster = desired_cluster(service, f"{name}-abcde")
    assert cluster["metadata"]["labels"]["ray.io/originated-from-cr-name"] == name


def test_zero_downtime_sample_serves_on_port_8000() -> None:
    service = load("rayservice-sample")
    assert upgrade_type(service) == "NewCluster"
    svc = desired_serve_service(service, "rayservice-sample-abcde")
    assert svc["metadata"]["name"] == "rayservice-sample-serve-svc"
    assert [(p["name"], p["port"]) for p in svc["spec"]["ports"]] == [("serve", 8000)]


def test_in_place_sample_uses_its_custom_service() -> None:
    service = load("rayservice-in-place")
    assert upgrade_type(service) == "None"
    svc = desired_serve_service(service, "rayservice-in-place-abcde")
    assert svc["metadata"]["name"] == "rayservice-in-place-public"
    assert svc["spec"]["type"] == "LoadBalancer"
