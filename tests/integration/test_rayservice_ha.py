"""RayService high availability on real Ray Serve with GCS fault tolerance on a real Redis:
the child cluster's head and worker pods run as Ray processes (gcsft_harness.py), the
operator deploys the Serve app through the head's dashboard, the replica and a Serve proxy
run on the worker. The head process is killed and its pod deleted; while there is no head,
Serve keeps answering through the worker's proxy; the operator replaces only the head and the
new head recovers Serve from Redis. The test prints the longest run of failed requests (the
gap, in seconds) and the Ready condition over time.

Ready here goes False while there is no head pod and comes back with the new head: the
operator labels a pod `ray.io/serve=true` when Serve's proxy on that pod's IP is healthy, and
the Ray processes run on this machine's address, not on the kwok pods' IPs, so only the head
pod (matched as the Serve controller's node) is labelled. The test checks that Ready
recovers; it does not claim Ready stays True (on a real cluster the worker pod's IP is its
Ray node's, which this test cannot reproduce).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from gcsft_harness import FaultTolerantCluster, ensure_secret
from kubernetes import client
from raycluster_harness import OperatorProcess, Rays, wait_for
from rayservice_harness import DashboardMap, Sampler, Services, condition, serve_config, write_app

from localkube.cluster import free_ports
from localkube.redis import RedisServer

pytestmark = pytest.mark.integration
READY_TIMEOUT = 300


@pytest.fixture
def ft(rays: Rays, redis: RedisServer, tmp_path: Path) -> Iterator[FaultTolerantCluster]:
    cluster = FaultTolerantCluster(rays, redis, "unknown-yet", tmp_path / "ray")
    yield cluster
    cluster.stop()


@pytest.fixture
def operator(
    kube_cluster: Any, crds: None, namespace: str, tmp_path: Path, ft: FaultTolerantCluster
) -> Iterator[OperatorProcess]:
    dashboards = DashboardMap(tmp_path / "dashboards.yaml")
    dashboards.write({f"{namespace}/*": ft.dashboard_url})
    args = ("--namespaces", namespace, "--dashboard-map", str(dashboards.path))
    with OperatorProcess(kube_cluster.env(), tmp_path / "operator.log", *args) as op:
        yield op


def get(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError as error:
        return 0, str(error)


def longest_gap(samples: list[dict[str, Any]]) -> float:
    """Seconds from the last answer before the longest run of failed requests to the first
    answer after it."""
    gap, last_ok = 0.0, None
    for sample in samples:
        if sample["http"] == 200:
            if last_ok is not None:
                gap = max(gap, sample["t"] - last_ok)
            last_ok = sample["t_end"]
    return gap


def test_serve_answers_through_a_head_failure(
    operator: OperatorProcess,
    rays: Rays,
    redis: RedisServer,
    ft: FaultTolerantCluster,
    api_client: client.ApiClient,
    tmp_path: Path,
) -> None:
    services = Services(api_client, rays.namespace)
    app = write_app(tmp_path / "app")
    serve_port = free_ports(("serve",))["serve"]
    spec = ft.body["spec"]
    for group in (spec["headGroupSpec"], spec["workerGroupSpecs"][0]):
        container = group["template"]["spec"]["containers"][0]
        container["env"] = [{"name": "PYTHONPATH", "value": str(app)}]
    config = yaml.safe_load(serve_config("ha"))
    config["http_options"] = {"host": "127.0.0.1", "port": serve_port}
    ensure_secret(rays, redis.password)
    services.create(
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayService",
            "metadata": {"name": "ha"},
            "spec": {"serveConfigV2": yaml.safe_dump(config), "rayClusterConfig": spec},
        }
    )
    ft.name = wait_for("the child RayCluster", lambda: next(iter(services.clusters("ha")), None))
    first = ft.head_pod()
    head = ft.start_head(first, "head-1")
    ft.start_workers()
    wait_for("Ready", lambda: services.ready("ha"), READY_TIMEOUT, 1)
    wait_for("the app's answer", lambda: get(serve_port) == (200, "ha"), READY_TIMEOUT, 1)
    workers_before = {p["metadata"]["uid"] for p in ft.worker_pods()}

    def observe() -> dict[str, Any]:
        status = services.status("ha")
        return {"http": get(serve_port)[0], "ready": condition(status, "Ready").get("status")}

    with Sampler(observe, interval=0.2) as sampler:
        time.sleep(3)
        killed_at = time.monotonic()
        head.kill()
        client.CoreV1Api(api_client).delete_namespaced_pod(
            first["metadata"]["name"], rays.namespace, grace_period_seconds=0
        )
        second = ft.head_pod(other_than=first["metadata"]["name"])
        ft.start_head(second, "head-2")
        head_back_at = time.monotonic()
        wait_for("Ready after the new head", lambda: services.ready("ha"), READY_TIMEOUT, 1)
        wait_for("the app after the new head", lambda: get(serve_port)[0] == 200, 120, 0.5)
        time.sleep(3)
    samples = sampler.samples
    headless = [s for s in samples if killed_at <= s["t"] and s["t_end"] <= head_back_at]
    answered = sum(1 for s in headless if s["http"] == 200)
    transitions = [
        (round(s["t"] - killed_at, 1), s["ready"])
        for i, s in enumerate(samples)
        if i == 0 or s["ready"] != samples[i - 1]["ready"]
    ]
    print(
        f"requests: {len(samples)}, failed: {sum(1 for s in samples if s['http'] != 200)}; "
        f"without a head ({head_back_at - killed_at:.1f} s): {answered}/{len(headless)} answered; "
        f"Serve gap: {longest_gap(samples):.2f} s; Ready (s after the kill, status): {transitions}"
    )
    assert {p["metadata"]["uid"] for p in ft.worker_pods()} == workers_before
    assert headless, "no request was made while the head was down"
    assert answered > 0, "Serve did not answer while the head was down"
    assert samples[-1]["http"] == 200
    assert samples[-1]["ready"] == "True"
