"""A 30 s kube-apiserver outage: last data stays served, staleness shows, recovery is clean."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from exporter_harness import (
    ExporterProcess,
    RayObjects,
    apply_crds,
    condition,
    exporter_env,
    exporter_running,
    object_part,
    raycluster,
    rayjob,
    rayservice,
    rfc3339,
    samples,
    value,
    wait_for,
)
from kubernetes import client

from localkube import Cluster

pytestmark = pytest.mark.integration
RESOURCES = ("rayclusters", "rayjobs", "rayservices")
OUTAGE_SECONDS = 30


def health(exporter: ExporterProcess) -> dict[str, tuple[float | None, float | None]]:
    body = exporter.metrics()
    return {
        resource: (
            value(body, "ray_exporter_watch_up", resource=resource),
            value(body, "ray_exporter_last_sync_timestamp_seconds", resource=resource),
        )
        for resource in RESOURCES
    }


def assert_no_duplicates(body: bytes) -> None:
    keys = Counter((name, labels) for name, labels, _ in samples(object_part(body)))
    assert [key for key, count in keys.items() if count > 1] == []


def test_apiserver_outage_is_survived(
    local_cluster: Cluster, api_client: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    apply_crds(local_cluster.env())
    ray = RayObjects(api_client, namespace)
    ray.create("rayclusters", raycluster("c1"))
    ray.create("rayjobs", rayjob("j1"))
    ray.patch_status("rayjobs", "j1", {"jobDeploymentStatus": "Running"})
    ray.create("rayservices", rayservice("s1"))
    ray.create("rayservices", rayservice("s2"))
    env = exporter_env(local_cluster.env(), local_cluster.kubeconfig)

    with exporter_running(env, tmp_path / "exporter.log") as exporter:
        exporter.wait_ready()
        before = exporter.wait_metrics(
            "the objects",
            lambda b: value(b, "kuberay_service_info", name="s2", namespace=namespace),
        )
        mine_before = sorted(s for s in samples(before, namespace))
        local_cluster.stop_apiserver()
        try:
            stopped_at = time.monotonic()
            wait_for(
                "watch_up to drop to 0",
                lambda: all(up == 0 for up, _ in health(exporter).values()),
                timeout=OUTAGE_SECONDS,
            )
            stale = health(exporter)
            during = exporter.metrics()
            # The last known objects are still served, unchanged, and readiness holds.
            assert sorted(samples(during, namespace)) == mine_before
            assert exporter.get("/readyz")[0] == 200
            remaining = OUTAGE_SECONDS - (time.monotonic() - stopped_at)
            time.sleep(max(remaining, 0))
            # Nothing pretended to be in sync during the outage.
            assert health(exporter) == stale
            assert sorted(samples(exporter.metrics(), namespace)) == mine_before
        finally:
            local_cluster.start_apiserver()

        wait_for(
            "watches to recover",
            lambda: all(up == 1 for up, _ in health(exporter).values()),
            timeout=120,
        )
        recovered = health(exporter)
        for resource in RESOURCES:
            assert recovered[resource][1] > stale[resource][1]  # type: ignore[operator]
        # Catch up: changes after the outage show, nothing is lost or doubled.
        ray.create("rayclusters", raycluster("c2"))
        ray.patch_status(
            "rayjobs", "j1", {"jobDeploymentStatus": "Complete", "endTime": rfc3339(time.time())}
        )
        ray.patch_status(
            "rayservices", "s1", {"conditions": [condition("Ready", "True", rfc3339(time.time()))]}
        )
        ray.delete("rayservices", "s2")

        def caught_up(body: bytes) -> bool:
            return (
                value(body, "kuberay_cluster_info", name="c2", namespace=namespace) == 1
                and value(
                    body, "kuberay_job_deployment_status", name="j1", deployment_status="Complete"
                )
                == 1
                and value(body, "kuberay_service_condition_ready", name="s1", condition="true") == 1
                and value(body, "kuberay_service_info", name="s2", namespace=namespace) is None
            )

        after = exporter.wait_metrics("the exporter to catch up", caught_up)
        assert_no_duplicates(after)
        names = Counter(
            (name, dict(labels)["name"])
            for name, labels, _ in samples(after, namespace)
            if name.endswith("_info")
        )
        assert names == {
            ("kuberay_cluster_info", "c1"): 1,
            ("kuberay_cluster_info", "c2"): 1,
            ("kuberay_job_info", "j1"): 1,
            ("kuberay_service_info", "s1"): 1,
        }
        assert (
            value(after, "kuberay_job_deployment_status", name="j1", deployment_status="Running")
            is None
        )
        errors = sum(
            v for name, _, v in samples(after) if name == "ray_exporter_watch_errors_total"
        )
        assert errors >= 3


def test_an_exporter_started_before_the_apiserver_is_not_ready_until_it_syncs(
    local_cluster: Cluster, api_client: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    apply_crds(local_cluster.env())
    ray = RayObjects(api_client, namespace)
    ray.create("rayclusters", raycluster("early"))
    env = exporter_env(local_cluster.env(), local_cluster.kubeconfig)
    local_cluster.stop_apiserver()
    try:
        with exporter_running(env, tmp_path / "exporter.log") as exporter:
            wait_for("the health endpoint", lambda: _status(exporter, "/healthz") == 200)
            wait_for(
                "a failed list to be logged",
                lambda: (
                    '"level": "warning"' in exporter.logs() or '"level": "error"' in exporter.logs()
                ),
            )
            assert _status(exporter, "/readyz") == 503
            assert exporter.process.poll() is None
            local_cluster.start_apiserver()
            exporter.wait_ready(timeout=120)
            exporter.wait_metrics(
                "the object created before the start",
                lambda b: value(b, "kuberay_cluster_info", name="early", namespace=namespace),
            )
    finally:
        if not local_cluster.running():
            local_cluster.start_apiserver()


def _status(exporter: ExporterProcess, path: str) -> int | None:
    try:
        return exporter.get(path)[0]
    except OSError:
        return None
