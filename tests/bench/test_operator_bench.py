"""Benchmark: ray-operator bringing up 200 RayClusters (1 head + 2 workers each) at once.

Opt-in (`pytest tests/bench/test_operator_bench.py -m bench -s`, `make bench-operator`).
It prints figures and asserts nothing about time.

1. Adds two extra kwok nodes (the default four hold 440 pods) and starts the real
   ray-operator, watching all namespaces.
2. Creates the RayClusters from 16 threads as fast as the apiserver takes them.
3. Polls until every cluster reports `state: ready` for its current generation, and
   prints the time until all are ready, the spread of per-cluster times (from each
   status' `stateTransitionTimes.ready`, whole seconds), the operator's peak RSS
   (VmHWM), its reconcile rate and API requests (from /statz), then how many
   reconciles and requests it makes in 15 s of steady state (nothing changes).

Size: OPERATOR_BENCH_CLUSTERS (default 200). The control plane, kwok, the load generator
and the operator share the machine's CPUs; the printed load average says how busy it was.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes import client

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from raycluster_harness import (
    GROUP,
    PLURAL,
    VERSION,
    OperatorProcess,
    Rays,
    apply_crds,
    sample,
    wait_for,
)

pytestmark = pytest.mark.bench
CLUSTERS = int(os.environ.get("OPERATOR_BENCH_CLUSTERS", "200"))
BENCH_NODES = ("bench-node-0", "bench-node-1")
STEADY_SECONDS = 15


def node(name: str) -> dict[str, Any]:  # the shape localkube gives its kwok nodes
    capacity = {"cpu": "64", "memory": "256Gi", "pods": "250"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"},
        },
        "status": {"allocatable": capacity, "capacity": capacity},
    }


@pytest.fixture
def extra_nodes(api_client: client.ApiClient) -> Iterator[None]:
    core = client.CoreV1Api(api_client)
    for name in BENCH_NODES:
        core.create_node(cast(Any, node(name)))
    yield
    for name in BENCH_NODES:
        core.delete_node(name)


def small_cluster(namespace: str, index: int) -> dict[str, Any]:
    body = sample("raycluster-minimal", namespace, new_name=f"bench-{index:03d}")
    small = {"cpu": "100m", "memory": "128Mi"}
    head = body["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    head["resources"] = {"requests": small, "limits": small}
    group = body["spec"]["workerGroupSpecs"][0]
    group.update(replicas=2, minReplicas=0, maxReplicas=2)
    group["template"]["spec"]["containers"][0]["resources"] = {"requests": small, "limits": small}
    return body


def ready_names(custom: client.CustomObjectsApi, namespace: str) -> dict[str, dict[str, Any]]:
    listing: Any = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    items: list[dict[str, Any]] = listing["items"]
    ready = {}
    for item in items:
        status = item.get("status") or {}
        if (
            status.get("state") == "ready"
            and status.get("observedGeneration") == item["metadata"]["generation"]
        ):
            ready[item["metadata"]["name"]] = item
    return ready


def ready_at(pod: Any) -> float:
    return seconds(
        next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")["lastTransitionTime"]
    )


def count(stats: dict[str, Any]) -> int:
    return int(stats["controllers"]["raycluster"]["reconciles"])


def seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_operator_brings_up_many_clusters(
    kube_cluster: Any,
    api_client: client.ApiClient,
    namespace: str,
    extra_nodes: None,
    tmp_path: Path,
) -> None:
    env = kube_cluster.env()
    apply_crds(env)
    rays = Rays(api_client, namespace)
    custom = client.CustomObjectsApi(api_client)
    bodies = [small_cluster(namespace, i) for i in range(CLUSTERS)]
    with OperatorProcess(env, tmp_path / "operator.log") as operator:
        before = operator.stats()
        start = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(rays.create, bodies))
        created = time.monotonic() - start
        ready: dict[str, dict[str, Any]] = {}

        def all_ready() -> bool:
            ready.update(ready_names(custom, namespace))
            return len(ready) == CLUSTERS

        wait_for(f"{CLUSTERS} clusters ready", all_ready, timeout=1800, interval=0.5)
        elapsed = time.monotonic() - start
        after = operator.stats()
        rss = operator.peak_rss_bytes()
        cpu = operator.cpu_seconds()
        time.sleep(STEADY_SECONDS)
        steady = operator.stats()
        load = os.getloadavg()

    listing = client.CoreV1Api(api_client).list_namespaced_pod(
        namespace, label_selector="ray.io/cluster"
    )
    pods: list[Any] = [
        api_client.sanitize_for_serialization(p)  # type: ignore[no-untyped-call]
        for p in listing.items
    ]
    per_cluster = sorted(
        seconds(item["status"]["stateTransitionTimes"]["ready"])
        - seconds(item["metadata"]["creationTimestamp"])
        for item in ready.values()
    )
    reconciles = (
        after["controllers"]["raycluster"]["reconciles"]
        - before["controllers"]["raycluster"]["reconciles"]
    )
    requests = after["apiRequests"] - before["apiRequests"]
    steady_reconciles = (
        steady["controllers"]["raycluster"]["reconciles"]
        - after["controllers"]["raycluster"]["reconciles"]
    )
    steady_requests = steady["apiRequests"] - after["apiRequests"]
    pod_ready = sorted(ready_at(p) - seconds(p["metadata"]["creationTimestamp"]) for p in pods)
    last_pod_ready = max(ready_at(p) for p in pods)
    last_cluster_ready = max(
        seconds(i["status"]["stateTransitionTimes"]["ready"]) for i in ready.values()
    )
    deciles = statistics.quantiles(per_cluster, n=10) if len(per_cluster) > 1 else per_cluster * 9
    rows = [
        ("pods running", f"{len(pods)}"),
        ("creates submitted in", f"{created:.1f} s"),
        ("all ready after", f"{elapsed:.1f} s (from the first create)"),
        (
            "per cluster, create->ready",
            f"p50 {statistics.median(per_cluster):.0f} s, p90 {deciles[8]:.0f} s, "
            f"max {per_cluster[-1]:.0f} s (whole seconds)",
        ),
        (
            "pod create->Ready (floor)",
            f"p50 {statistics.median(pod_ready):.0f} s, max {pod_ready[-1]:.0f} s "
            "(scheduler + kwok, whole seconds)",
        ),
        ("last pod Ready -> last cluster ready", f"{last_cluster_ready - last_pod_ready:.0f} s"),
        ("operator peak RSS", f"{rss / 2**20:.1f} MiB"),
        ("operator CPU until ready", f"{cpu:.1f} s"),
        (
            "reconciles until ready",
            f"{reconciles} ({reconciles / elapsed:.1f}/s, {reconciles / CLUSTERS:.1f} per cluster)",
        ),
        ("API requests until ready", f"{requests} ({requests / elapsed:.1f}/s)"),
        (
            f"steady state, {STEADY_SECONDS} s",
            f"{steady_reconciles} reconciles, {steady_requests} requests",
        ),
        ("load average", f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs"),
    ]
    print(f"\nray-operator bench: {CLUSTERS} RayClusters x (1 head + 2 workers)")
    for label, figure in rows:
        print(f"  {label:<30} {figure}")
    assert len(ready) == CLUSTERS

    custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    core = client.CoreV1Api(api_client)
    wait_for(
        "pods garbage-collected",
        lambda: not core.list_namespaced_pod(namespace, label_selector="ray.io/cluster").items,
        timeout=600,
        interval=1,
    )
