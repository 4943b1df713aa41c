"""Dashboard address resolution: head service by default, the dashboard map when it says so."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ray_operator.dashboard.addresses import (
    DashboardMapError,
    DashboardResolver,
    parse_dashboard_map,
)


def cluster(name: str, namespace: str = "ns", **head: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "ray-head", "image": "rayproject/ray:2.9.0"}
    if "ports" in head:
        container["ports"] = head.pop("ports")
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": namespace, "uid": "u"},
        "spec": {"headGroupSpec": {"template": {"spec": {"containers": [container]}}, **head}},
    }


def test_default_is_the_head_service() -> None:
    resolver = DashboardResolver(cluster_domain="example.org")
    assert resolver.for_cluster(cluster("c")) == "http://c-head-svc.ns.svc.example.org:8265"
    assert resolver.url("ns", "c") == "http://c-head-svc.ns.svc.example.org:8265"


def test_custom_service_name_and_dashboard_port() -> None:
    body = cluster(
        "c",
        headService={"metadata": {"name": "my-head"}},
        ports=[{"name": "dashboard", "containerPort": 9000}, {"name": "gcs", "containerPort": 1}],
    )
    resolver = DashboardResolver()
    assert resolver.for_cluster(body) == "http://my-head.ns.svc.cluster.local:9000"


def test_map_exact_key_beats_namespace_wildcard(tmp_path: Path) -> None:
    path = tmp_path / "map.yaml"
    path.write_text("ns/c: http://127.0.0.1:1111/\nns/*: http://127.0.0.1:2222\n")
    resolver = DashboardResolver(path)
    assert resolver.for_cluster(cluster("c")) == "http://127.0.0.1:1111"
    assert resolver.for_cluster(cluster("other")) == "http://127.0.0.1:2222"
    assert resolver.for_cluster(cluster("c", "elsewhere")).startswith("http://c-head-svc.")
    assert resolver.in_cluster_url(cluster("c")) == "http://c-head-svc.ns.svc.cluster.local:8265"


def test_map_is_read_again_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_text('{"ns/c": "http://127.0.0.1:1111"}')
    resolver = DashboardResolver(path)
    assert resolver.url("ns", "c") == "http://127.0.0.1:1111"
    path.write_text('{"ns/c": "http://127.0.0.1:3333", "ns/d": "http://127.0.0.1:4444"}')
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert resolver.url("ns", "c") == "http://127.0.0.1:3333"
    assert resolver.url("ns", "d") == "http://127.0.0.1:4444"


def test_broken_or_missing_file_keeps_the_previous_mapping(tmp_path: Path) -> None:
    path = tmp_path / "map.yaml"
    path.write_text("ns/c: http://127.0.0.1:1111\n")
    resolver = DashboardResolver(path)
    assert resolver.url("ns", "c") == "http://127.0.0.1:1111"
    path.write_text("ns/c: [unterminated\n")
    assert resolver.url("ns", "c") == "http://127.0.0.1:1111"
    path.unlink()
    assert resolver.url("ns", "c") == "http://127.0.0.1:1111"
    path.write_text("ns/c: http://127.0.0.1:5555\n")
    assert resolver.url("ns", "c") == "http://127.0.0.1:5555"


def test_no_file_yet_means_head_services(tmp_path: Path) -> None:
    resolver = DashboardResolver(tmp_path / "absent.yaml")
    assert resolver.url("ns", "c") == "http://c-head-svc.ns.svc.cluster.local:8265"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- a\n- b\n", "mapping"),
        ("c: http://x\n", "namespace/name"),
        ("ns/a/b: http://x\n", "namespace/name"),
        ("ns/c: 127.0.0.1:8265\n", "URL"),
        ("ns/c: 8265\n", "URL"),
    ],
)
def test_invalid_maps_are_refused(text: str, problem: str) -> None:
    with pytest.raises(DashboardMapError, match=problem):
        parse_dashboard_map(text)


def test_empty_file_is_an_empty_map() -> None:
    assert parse_dashboard_map("") == {}
