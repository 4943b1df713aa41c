"""Two operators with --leader-election: only the Lease holder reconciles; when it is killed,
the other takes over."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from raycluster_harness import OperatorProcess, Rays, apply_crds, sample, wait_for

pytestmark = pytest.mark.integration
NAME = "raycluster-minimal"


def leader(operator: OperatorProcess) -> bool:
    url = f"http://127.0.0.1:{operator.port}/statz"
    with urllib.request.urlopen(url, timeout=5) as reply:
        return bool(json.loads(reply.read())["leader"])


def test_only_the_leader_reconciles_and_a_standby_takes_over(
    kube_cluster: Any, api_client: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    apply_crds(kube_cluster.env())
    rays = Rays(api_client, namespace)
    flags = (
        "--namespaces",
        namespace,
        "--leader-election",
        "--leader-election-namespace",
        namespace,
    )
    first_env = {**kube_cluster.env(), "POD_NAME": "operator-a"}
    second_env = {**kube_cluster.env(), "POD_NAME": "operator-b"}
    with (
        OperatorProcess(first_env, tmp_path / "a.log", *flags) as first,
        OperatorProcess(second_env, tmp_path / "b.log", *flags) as second,
    ):
        wait_for("one leader", lambda: leader(first) != leader(second))
        active, standby = (first, second) if leader(first) else (second, first)
        lease = client.CoordinationV1Api(api_client).read_namespaced_lease(
            "ray-operator-leader", namespace
        )
        assert lease.spec is not None
        assert lease.spec.holder_identity == ("operator-a" if active is first else "operator-b")

        rays.create(sample(NAME, namespace))
        wait_for("ready", lambda: rays.ready(NAME))
        assert standby.stats()["controllers"]["raycluster"]["reconciles"] == 0
        assert not leader(standby)

        active.kill()
        wait_for("the standby elected", lambda: leader(standby), timeout=120)
        group = (rays.get(NAME) or {})["spec"]["workerGroupSpecs"][0]
        rays.patch(NAME, {"spec": {"workerGroupSpecs": [{**group, "replicas": 3}]}})
        wait_for(
            "the new leader scales the cluster",
            lambda: (rays.ready(NAME) or {}).get("readyWorkerReplicas") == 3,
        )
        assert standby.stats()["controllers"]["raycluster"]["reconciles"] > 0
