"""ray-exporter against the real apiserver: creates, updates and deletes reach /metrics.

Each step polls /metrics until the expected series appear (or vanish) and
records how long that took; the latencies are printed (run with -s), never
asserted against a clock.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from exporter_harness import (
    ExporterProcess,
    RayObjects,
    apply_crds,
    condition,
    exporter_env,
    exporter_running,
    raycluster,
    rayjob,
    rayservice,
    rfc3339,
    samples,
    value,
    wait_for,
)
from kubernetes import client

pytestmark = pytest.mark.integration
LATENCIES: list[tuple[str, float]] = []


@pytest.fixture(scope="module")
def crds(kube_cluster: Any) -> None:
    apply_crds(kube_cluster.env())


@pytest.fixture
def exporter(kube_cluster: Any, crds: None, tmp_path: Path) -> Iterator[ExporterProcess]:
    env = exporter_env(kube_cluster.env(), kube_cluster.kubeconfig)
    with exporter_running(env, tmp_path / "exporter.log") as exporter:
        yield exporter


@pytest.fixture(scope="module", autouse=True)
def _report_latencies() -> Iterator[None]:
    yield
    if LATENCIES:
        print("\nevent-to-/metrics latency (poll every 50 ms):")
        for what, seconds in LATENCIES:
            print(f"  {what:<44} {seconds * 1000:7.0f} ms")


def until(exporter: ExporterProcess, what: str, check: Any) -> bytes:
    """Poll /metrics until `check(body)` holds; record the time it took."""
    started = time.monotonic()
    body = wait_for(
        what, lambda: (lambda b: b if check(b) else None)(exporter.metrics()), timeout=60
    )
    LATENCIES.append((what, time.monotonic() - started))
    return body  # type: ignore[no-any-return]


def series_of(body: bytes, uid: str) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    return {s for s in samples(body) if dict(s[1]).get("uid") == uid}


def test_raycluster_lifecycle(
    exporter: ExporterProcess, api_client: client.ApiClient, namespace: str
) -> None:
    exporter.wait_ready()
    ray = RayObjects(api_client, namespace)
    created = ray.create("rayclusters", raycluster("c1", owner="RayService"))
    uid = created["metadata"]["uid"]
    until(
        exporter,
        "RayCluster created",
        lambda b: value(b, "kuberay_cluster_info", uid=uid, owner_kind="RayService") == 1,
    )

    created_at = calendar.timegm(
        time.strptime(created["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    )
    ray.patch_status(
        "rayclusters",
        "c1",
        {
            "observedGeneration": 1,
            "conditions": [condition("RayClusterProvisioned", "True", rfc3339(created_at + 42))],
        },
    )
    body = until(
        exporter,
        "RayCluster provisioned",
        lambda b: value(b, "kuberay_cluster_provisioned_duration_seconds", uid=uid) == 42,
    )
    labels = {"name": "c1", "namespace": namespace, "uid": uid}
    assert series_of(body, uid) == {
        (
            "kuberay_cluster_info",
            tuple(sorted({**labels, "owner_kind": "RayService"}.items())),
            1.0,
        ),
        (
            "kuberay_cluster_condition_provisioned",
            tuple(sorted({**labels, "condition": "true"}.items())),
            1.0,
        ),
        ("kuberay_cluster_provisioned_duration_seconds", tuple(sorted(labels.items())), 42.0),
        (
            "ray_resource_generation_lag",
            tuple(sorted({**labels, "resource": "rayclusters"}.items())),
            0.0,
        ),
    }

    ray.patch("rayclusters", "c1", {"spec": {"suspend": True}})
    until(
        exporter,
        "RayCluster spec change (generation lag 1)",
        lambda b: value(b, "ray_resource_generation_lag", uid=uid) == 1,
    )

    ray.delete("rayclusters", "c1")
    until(exporter, "RayCluster deleted", lambda b: not series_of(b, uid))


def test_rayjob_retries_show_one_series_per_attempt(
    exporter: ExporterProcess, api_client: client.ApiClient, namespace: str
) -> None:
    exporter.wait_ready()
    ray = RayObjects(api_client, namespace)
    uid = ray.create("rayjobs", rayjob("j1"))["metadata"]["uid"]
    until(
        exporter,
        'RayJob created (status "")',
        lambda b: value(b, "kuberay_job_deployment_status", uid=uid, deployment_status="") == 1,
    )

    ray.patch_status(
        "rayjobs", "j1", {"jobDeploymentStatus": "Running", "startTime": "2024-05-01T10:00:00Z"}
    )
    until(
        exporter,
        "RayJob running",
        lambda b: (
            value(b, "kuberay_job_deployment_status", uid=uid, deployment_status="Running") == 1
        ),
    )

    history = [
        {
            "retryCount": 0,
            "result": "Retrying",
            "startTime": "2024-05-01T10:00:00Z",
            "endTime": "2024-05-01T10:01:00Z",
            "jobId": "a",
        },
        {
            "retryCount": 1,
            "result": "Retrying",
            "startTime": "2024-05-01T10:02:00Z",
            "endTime": "2024-05-01T10:04:00Z",
            "jobId": "b",
        },
        {
            "retryCount": 2,
            "result": "Failed",
            "startTime": "2024-05-01T10:05:00Z",
            "endTime": "2024-05-01T10:08:00Z",
            "jobId": "c",
        },
    ]
    ray.patch_status(
        "rayjobs", "j1", {"jobDeploymentStatus": "Failed", "failed": 3, "attemptHistory": history}
    )
    body = until(
        exporter,
        "RayJob failed after 3 attempts",
        lambda b: (
            value(b, "kuberay_job_deployment_status", uid=uid, deployment_status="Failed") == 1
        ),
    )
    durations = {
        (dict(labels)["job_deployment_status"], dict(labels)["retry_count"]): v
        for name, labels, v in series_of(body, uid)
        if name == "kuberay_job_execution_duration_seconds"
    }
    assert durations == {("Retrying", "0"): 60.0, ("Retrying", "1"): 120.0, ("Failed", "2"): 180.0}
    statuses = [s for s in series_of(body, uid) if s[0] == "kuberay_job_deployment_status"]
    assert len(statuses) == 1

    ray.delete("rayjobs", "j1")
    until(exporter, "RayJob deleted", lambda b: not series_of(b, uid))


def test_rayservice_conditions(
    exporter: ExporterProcess, api_client: client.ApiClient, namespace: str
) -> None:
    exporter.wait_ready()
    ray = RayObjects(api_client, namespace)
    uid = ray.create("rayservices", rayservice("s1"))["metadata"]["uid"]
    until(
        exporter,
        "RayService created (not ready)",
        lambda b: value(b, "kuberay_service_condition_ready", uid=uid, condition="false") == 1,
    )
    now = rfc3339(time.time())
    ray.patch_status(
        "rayservices",
        "s1",
        {
            "numServeEndpoints": 1,
            "conditions": [
                condition("Ready", "True", now),
                condition("UpgradeInProgress", "True", now),
            ],
        },
    )
    body = until(
        exporter,
        "RayService ready and upgrading",
        lambda b: (
            value(b, "kuberay_service_condition_upgrade_in_progress", uid=uid, condition="true")
            == 1
        ),
    )
    assert value(body, "kuberay_service_condition_ready", uid=uid, condition="true") == 1
    assert value(body, "kuberay_service_condition_ready", uid=uid, condition="false") is None
    ray.delete("rayservices", "s1")
    until(exporter, "RayService deleted", lambda b: not series_of(b, uid))


def test_a_namespace_list_limits_what_is_served(
    kube_cluster: Any, crds: None, api_client: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    core = client.CoreV1Api(api_client)
    other = f"{namespace}-other"[:63]
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=other)))
    try:
        RayObjects(api_client, namespace).create("rayclusters", raycluster("mine"))
        RayObjects(api_client, other).create("rayclusters", raycluster("theirs"))
        env = exporter_env(kube_cluster.env(), kube_cluster.kubeconfig)
        with exporter_running(env, tmp_path / "scoped.log", "--namespaces", namespace) as exporter:
            exporter.wait_ready()
            body = exporter.metrics()
            names = {dict(s[1])["name"] for s in samples(body) if s[0] == "kuberay_cluster_info"}
            assert names == {"mine"}
    finally:
        core.delete_namespace(other)
