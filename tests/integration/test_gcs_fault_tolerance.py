"""GCS fault tolerance on real Ray and a real Redis: the operator's pods of a fault-tolerant
RayCluster run as Ray processes (gcsft_harness.py); the head is killed and its pod deleted;
the operator replaces only the head; the new head, started from the new pod, recovers the
cluster from Redis, and a detached actor on the worker is the same process with its state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gcsft_harness import FaultTolerantCluster, driver
from kubernetes import client
from raycluster_harness import OperatorProcess, Rays, wait_for

from localkube.redis import RedisServer

pytestmark = pytest.mark.integration

ACTOR = """
import json, os, ray
ray.init(address=ADDRESS, namespace="ft", logging_level="ERROR")

@ray.remote(num_cpus=1)
class Counter:
    def __init__(self):
        self.count = 0
    def incr(self):
        self.count += 1
        node = ray.get_runtime_context().get_node_id()
        return {"count": self.count, "pid": os.getpid(), "node": node}

ACTION
"""
CREATE = (
    'actor = Counter.options(name="survivor", lifetime="detached").remote()\n'
    "ray.get(actor.incr.remote())\n"
    "print(json.dumps(ray.get(actor.incr.remote())))"
)
AGAIN = 'print(json.dumps(ray.get(ray.get_actor("survivor").incr.remote())))'


@pytest.fixture
def cluster(rays: Rays, redis: RedisServer, tmp_path: Path) -> Iterator[FaultTolerantCluster]:
    ft = FaultTolerantCluster(rays, redis, "ft-actor", tmp_path / "ray")
    yield ft
    ft.stop()


def test_a_new_head_recovers_the_cluster_from_redis(
    operator: OperatorProcess,
    rays: Rays,
    redis: RedisServer,
    cluster: FaultTolerantCluster,
    api_client: client.ApiClient,
) -> None:
    cluster.create()
    first = cluster.head_pod()
    uid = (rays.get(cluster.name) or {})["metadata"]["uid"]
    assert first["metadata"]["annotations"]["ray.io/external-storage-namespace"] == uid
    head = cluster.start_head(first, "head-1")
    cluster.start_workers()
    workers_before = {p["metadata"]["uid"] for p in cluster.worker_pods()}
    before = driver(cluster.gcs_address, ACTOR.replace("ACTION", CREATE))
    stored = [k for k in redis.scan() if uid in k]
    print(f"detached actor before the crash: {before}; Redis keys of namespace {uid}: {stored}")
    assert before["count"] == 2
    assert stored, "the GCS wrote nothing to Redis under the cluster's storage namespace"

    head.kill()
    client.CoreV1Api(api_client).delete_namespaced_pod(
        first["metadata"]["name"], rays.namespace, grace_period_seconds=0
    )
    second = cluster.head_pod(other_than=first["metadata"]["name"])
    cluster.start_head(second, "head-2")
    workers_after = {p["metadata"]["uid"] for p in cluster.worker_pods()}
    assert workers_after == workers_before, "the workers were replaced with the head"
    assert rays.events(cluster.name, "DeletedWorkerPod") == []

    after = wait_for(
        "the detached actor through the new head",
        lambda: driver(cluster.gcs_address, ACTOR.replace("ACTION", AGAIN)),
        timeout=300,
        interval=2,
        ignore=(AssertionError,),
    )
    print(f"detached actor after the new head: {after}")
    assert after["count"] == before["count"] + 1, "the actor lost its state"
    assert (after["pid"], after["node"]) == (before["pid"], before["node"])
    nodes = cluster.alive_nodes()
    print(f"alive Ray nodes after recovery: {len(nodes)}")
    assert len(nodes) == 2
