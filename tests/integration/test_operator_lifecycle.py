"""The operator's lifecycle against the real control plane: a SIGTERM drains the reconciles in
flight and exits cleanly, and an operator started while kube-apiserver is down waits for it."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from raycluster_harness import OperatorProcess, Rays, apply_crds, sample, wait_for

from localkube import Cluster

pytestmark = pytest.mark.integration
SHUTDOWN_TIMEOUT = 15


def expected_pods(body: dict[str, Any]) -> dict[str, int]:
    counts = {"headgroup": 1}
    for group in body["spec"]["workerGroupSpecs"]:
        counts[group["groupName"]] = group["replicas"] * group.get("numOfHosts", 1)
    return counts


def error_lines(operator: OperatorProcess) -> list[dict[str, Any]]:
    """Error lines (kopf's retried requests are warnings; only giving up is an error)."""
    return [line for line in operator.log_lines() if line.get("level") in ("error", "critical")]


def test_sigterm_drains_in_flight_reconciles_and_a_successor_finds_nothing_to_repair(
    kube_cluster: Any, api_client: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    apply_crds(kube_cluster.env())
    rays = Rays(api_client, namespace)
    flags = ("--namespaces", namespace, "--shutdown-timeout", str(SHUTDOWN_TIMEOUT))
    names = [f"drain-{i}" for i in range(8)]
    first = OperatorProcess(kube_cluster.env(), tmp_path / "first.log", *flags)
    first.start()
    try:
        for name in names:
            rays.create(sample("raycluster-minimal", namespace, name))
        wait_for("reconciles under way", lambda: first.stats()["apiRequests"] > 20)
        assert first.process is not None
        first.process.send_signal(signal.SIGTERM)
        # The pod's grace period: kubelet would SIGKILL after it.
        code = first.process.wait(timeout=SHUTDOWN_TIMEOUT + 15)
    finally:
        first.stop()
    assert code == 0, first.log_tail()
    messages = [line.get("msg", "") for line in first.log_lines()]
    drained = [m for m in messages if m.startswith("drained:")]
    assert drained, first.log_tail()
    assert "ray-operator stopped" in messages
    assert error_lines(first) == [], first.log_tail()

    with OperatorProcess(kube_cluster.env(), tmp_path / "second.log", *flags) as second:
        for name in names:
            wait_for(f"{name} ready", lambda name=name: rays.ready(name))
            want = expected_pods(sample("raycluster-minimal", namespace, name))
            wait_for(f"{name} pods", lambda n=name, w=want: rays.all_running_ready(n, w))
        assert error_lines(second) == [], second.log_tail()
    # Exactly the specified pods: nothing created twice across the restart.
    for name in names:
        assert rays.group_counts(name) == {"headgroup": 1, "workers": 2}


def test_an_operator_started_before_the_apiserver_waits_for_it(
    local_cluster: Cluster, api_client: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    apply_crds(local_cluster.env())
    rays = Rays(api_client, namespace)
    operator = OperatorProcess(
        local_cluster.env(),
        tmp_path / "early.log",
        "--namespaces",
        namespace,
        "--leader-election",
        "--leader-election-namespace",
        namespace,
    )
    local_cluster.stop_apiserver()
    try:
        operator.start(wait_ready=False)
        wait_for("the health endpoint", lambda: operator.probe("/healthz") == 200)
        # It keeps trying (kopf's watches and the Lease) instead of exiting.
        wait_for(
            "a retry against the unreachable apiserver",
            lambda: any(
                "Request attempt" in line.get("msg", "") or "leader election" in line.get("msg", "")
                for line in operator.log_lines()
            ),
            timeout=60,
        )
        assert operator.process is not None
        assert operator.process.poll() is None, operator.log_tail()
        assert operator.stats()["leader"] is False
    finally:
        local_cluster.start_apiserver()
    try:
        wait_for("ready once the apiserver is back", operator.ready, timeout=120)
        wait_for("elected", lambda: operator.stats()["leader"], timeout=60)
        rays.create(sample("raycluster-minimal", namespace))
        wait_for("reconciled", lambda: rays.ready("raycluster-minimal"), timeout=120)
        assert rays.group_counts("raycluster-minimal") == {"headgroup": 1, "workers": 2}
    finally:
        operator.stop()
