"""Redis cleanup without finalizers, on a real Redis: 10 fault-tolerant RayClusters with
GCS tables under their storage namespaces; 5 are deleted while the operator runs, 5 while it
is stopped; afterwards Redis holds no key of any of those namespaces, and no record or
cleanup Job is left.

Two of the clusters (one of each half) run their head for real (the pod's own command, real
Ray) until its GCS has written its tables; starting ten heads on one machine takes minutes,
so the other eight get the same tables written under their own namespaces (the table names
are taken from what the real GCS wrote, not listed here).

kwok stands in for the kubelet: it marks the cleanup Job's pod Succeeded; the test runs the
pod's container (Ray's `cleanup_redis_storage` with the pod's env, the Redis password from
the Secret) as each cleanup pod appears, so what empties Redis is the Job the operator made.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from gcsft_harness import FaultTolerantCluster
from kubernetes import client, watch
from raycluster_harness import OperatorProcess, Rays, wait_for
from urllib3.exceptions import ProtocolError

from localkube.redis import RedisServer

pytestmark = pytest.mark.integration

CLUSTERS = 10
REAL = (0, 5)  # the clusters whose heads run


class CleanupPods:
    """Runs the Ray container of every Redis cleanup pod created in the namespace."""

    def __init__(self, api_client: client.ApiClient, namespace: str, cluster: Any) -> None:
        self.api_client, self.namespace, self.cluster = api_client, namespace, cluster
        self.watch = watch.Watch()
        self.stopped = threading.Event()
        self.pool = ThreadPoolExecutor(4)
        self.runs: dict[str, Future[int]] = {}
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()

    def _follow(self) -> None:
        """Watches until stopped; a watch the apiserver ends is opened again (its first
        events list the pods that exist, and a pod already run is not run twice)."""
        core = client.CoreV1Api(self.api_client)
        while not self.stopped.is_set():
            with contextlib.suppress(ProtocolError):
                for event in self.watch.stream(
                    core.list_namespaced_pod,
                    self.namespace,
                    label_selector="ray.io/node-type=redis-cleanup",
                ):
                    pod = self.api_client.sanitize_for_serialization(event["object"])  # type: ignore[no-untyped-call]
                    name = pod["metadata"]["name"]
                    if event["type"] == "ADDED" and name not in self.runs:
                        self.runs[name] = self.pool.submit(self._run, pod)

    def _run(self, pod: dict[str, Any]) -> int:
        process = self.cluster.run(pod, f"cleanup-{pod['metadata']['name']}")
        return process.proc.wait(timeout=300)

    def stop(self) -> None:
        self.stopped.set()
        self.watch.stop()
        self.pool.shutdown(wait=True)


def test_deleted_clusters_leave_no_key_in_redis(
    operator: OperatorProcess,
    rays: Rays,
    redis: RedisServer,
    api_client: client.ApiClient,
    tmp_path: Path,
) -> None:
    clusters = [
        FaultTolerantCluster(rays, redis, f"ft-{i}", tmp_path / f"ray-{i}", replicas=0)
        for i in range(CLUSTERS)
    ]
    runner = CleanupPods(api_client, rays.namespace, clusters[0])
    try:
        for cluster in clusters:
            cluster.create()
        uids = {c.name: (rays.get(c.name) or {})["metadata"]["uid"] for c in clusters}
        heads = [(clusters[i], clusters[i].run(clusters[i].head_pod(), "head")) for i in REAL]
        for cluster, process in heads:
            uid = uids[cluster.name]
            wait_for(
                f"the GCS of {cluster.name} writing to Redis",
                lambda uid=uid: any("@NODE" in k for k in redis.scan(f"RAY{uid}@*")),
                timeout=240,
                interval=1,
            )
            process.kill()
        real_uid = uids[clusters[REAL[0]].name]
        tables = [k.split("@", 1)[1] for k in redis.scan(f"RAY{real_uid}@*")]
        print(f"tables the real GCS wrote: {tables}")
        for i, cluster in enumerate(clusters):
            if i not in REAL:
                for table in tables:
                    redis.cli("HSET", f"RAY{uids[cluster.name]}@{table}", "written-by", "test")
        before = {name: len(redis.scan(f"RAY{uid}@*")) for name, uid in uids.items()}
        print(f"keys per storage namespace before the deletions: {before}")
        records = client.CoreV1Api(api_client).list_namespaced_config_map(
            rays.namespace, label_selector="ray.io/redis-cleanup=record"
        )
        assert len(records.items) == CLUSTERS

        for cluster in clusters[:5]:
            rays.delete(cluster.name)
        operator.stop()
        for cluster in clusters[5:]:
            rays.delete(cluster.name)
        wait_for(
            "the RayClusters to be gone", lambda: all(rays.get(c.name) is None for c in clusters)
        )
        operator.start()

        def nothing_left() -> dict[str, int] | None:
            left = {name: len(redis.scan(f"RAY{uid}@*")) for name, uid in uids.items()}
            core = client.CoreV1Api(api_client)
            batch = client.BatchV1Api(api_client)
            rest = (
                core.list_namespaced_config_map(
                    rays.namespace, label_selector="ray.io/redis-cleanup=record"
                ).items
                + batch.list_namespaced_job(
                    rays.namespace, label_selector="ray.io/node-type=redis-cleanup"
                ).items
            )
            done = all(f.done() for f in runner.runs.values())
            return left if not any(left.values()) and not rest and done else None

        left = wait_for("every namespace cleaned and every record gone", nothing_left, 300, 1)
        codes = {name: f.result() for name, f in runner.runs.items()}
        print(f"cleanup pods run: {len(codes)}, exit codes: {sorted(set(codes.values()))}")
        print(f"keys left in Redis per storage namespace: {left} (total {sum(left.values())})")
        assert len(codes) == CLUSTERS
        assert set(codes.values()) == {0}
        assert sum(left.values()) == 0
        assert all(before.values())
    finally:
        runner.stop()
        for cluster in clusters:
            cluster.stop()
