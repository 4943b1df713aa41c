"""Two operators with --leader-election: only the Lease holder reconciles. When the leader is
SIGKILLed the standby takes over once the Lease expires; when it is stopped with SIGTERM it
releases the Lease and the standby takes over at its next attempt. Both failover times are
printed; across both, no pod is created twice and the RayCluster's state never leaves ready."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from raycluster_harness import OperatorProcess, Rays, apply_crds, sample, wait_for

pytestmark = pytest.mark.integration
NAME = "raycluster-minimal"
LEASE = "ray-operator-leader"


def leader(operator: OperatorProcess) -> bool:
    url = f"http://127.0.0.1:{operator.port}/statz"
    with urllib.request.urlopen(url, timeout=5) as reply:
        return bool(json.loads(reply.read())["leader"])


class StateSampler(threading.Thread):
    """Records the RayCluster's status.state and its pod names every 100 ms."""

    def __init__(self, rays: Rays) -> None:
        super().__init__(daemon=True)
        self.rays = rays
        self.states: list[str | None] = []
        self.pod_names: set[str] = set()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            self.states.append(self.rays.status(NAME).get("state"))
            self.pod_names |= {p["metadata"]["name"] for p in self.rays.pods(NAME)}


def failover(new_leader: OperatorProcess, since: float) -> float:
    wait_for("the standby elected", lambda: leader(new_leader), timeout=120, interval=0.1)
    return time.monotonic() - since


def test_only_the_leader_reconciles_and_a_standby_takes_over(
    kube_cluster: Any, api_client: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    apply_crds(kube_cluster.env())
    rays = Rays(api_client, namespace)
    leases = client.CoordinationV1Api(api_client)
    flags = (
        "--namespaces",
        namespace,
        "--leader-election",
        "--leader-election-namespace",
        namespace,
    )

    def replica(identity: str) -> OperatorProcess:
        env = {**kube_cluster.env(), "POD_NAME": identity}
        return OperatorProcess(env, tmp_path / f"{identity}.log", *flags)

    first, second, third = replica("operator-a"), replica("operator-b"), replica("operator-c")
    with first, second, contextlib.ExitStack() as cleanup:
        cleanup.callback(third.stop)
        wait_for("one leader", lambda: leader(first) != leader(second))
        active, standby = (first, second) if leader(first) else (second, first)
        lease = leases.read_namespaced_lease(LEASE, namespace)
        assert lease.spec is not None
        assert lease.spec.holder_identity == ("operator-a" if active is first else "operator-b")

        rays.create(sample(NAME, namespace))
        wait_for("ready", lambda: rays.ready(NAME))
        assert standby.stats()["controllers"]["raycluster"]["reconciles"] == 0
        assert not leader(standby)
        pods_before = {p["metadata"]["name"] for p in rays.pods(NAME)}
        sampler = StateSampler(rays)
        sampler.start()

        killed_at = time.monotonic()
        active.kill()
        after_kill = failover(standby, killed_at)
        third.start()  # a replacement pod, which stays standby
        assert not leader(third)

        stopped_at = time.monotonic()
        standby.stop()
        after_release = failover(third, stopped_at)
        sampler.stop.set()
        sampler.join()
        print(
            f"\nfailover after SIGKILL of the leader: {after_kill:.1f}s (lease 15s, retry 5s); "
            f"after SIGTERM (lease released): {after_release:.1f}s; "
            f"{len(sampler.states)} status samples"
        )

        # No status flapping and no pod re-created while the leadership moved twice.
        assert set(sampler.states) == {"ready"}
        assert sampler.pod_names == pods_before
        holder = leases.read_namespaced_lease(LEASE, namespace).spec
        assert holder is not None
        assert holder.holder_identity == "operator-c"
        assert (holder.lease_transitions or 0) >= 2

        group = (rays.get(NAME) or {})["spec"]["workerGroupSpecs"][0]
        rays.patch(NAME, {"spec": {"workerGroupSpecs": [{**group, "replicas": 3}]}})
        wait_for(
            "the new leader scales the cluster",
            lambda: (rays.ready(NAME) or {}).get("readyWorkerReplicas") == 3,
        )
        assert third.stats()["controllers"]["raycluster"]["reconciles"] > 0
        assert rays.group_counts(NAME) == {"headgroup": 1, "workers": 3}
