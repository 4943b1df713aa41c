"""The operator's own /metrics on the real Prometheus and Alertmanager.

A real ray-operator against the local control plane, scraped every second by a real
Prometheus that evaluates the shipped rules rendered through the chart contract (short
`for:`, and the work-queue threshold lowered below any depth so that the backlog alert's
expression and labels are proven on real series). One RayCluster names a ServiceAccount
that does not exist, so the apiserver refuses its pods: its controller's passes fail, and
RayOperatorReconcileErrors must reach Alertmanager's webhook for that controller alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e.stack import RATE_INTERVAL, substitute
from integration.raycluster_harness import OperatorProcess, Rays, sample
from kubernetes import client
from test_alerts import render_like_the_chart

from localkube.crds import apply_crds
from localkube.monitoring import Alertmanager, Prometheus, WebhookReceiver, wait_until

pytestmark = pytest.mark.e2e
DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "ray-operator-health.json"

JOB = "ray-operator"
RUNBOOKS = "https://runbooks.e2e.invalid/docs/runbooks.md"
# The three kinds' controllers and the sweeper of fault-tolerant clusters' Redis records.
CONTROLLERS = {"raycluster", "rayjob", "rayservice", "redis-cleanup"}


def chart_values() -> dict[str, Any]:
    return {
        "substitutions": {"runbookBaseURL": RUNBOOKS, "operatorJobSelector": f'job="{JOB}"'},
        "alerts": {
            "RayOperatorReconcileErrors": {"for": "5s"},
            "RayOperatorWorkQueueBacklog": {"for": "5s", "parameters": {"thresholdDepth": -1}},
        },
    }


@pytest.fixture
def monitored(
    kube_cluster: Any, namespace: str, tmp_path: Path
) -> Iterator[tuple[OperatorProcess, Prometheus, WebhookReceiver]]:
    apply_crds(kube_cluster.env())
    webhook = WebhookReceiver()
    alertmanager = Alertmanager(tmp_path / "alertmanager", webhook.url)
    rules = tmp_path / "ray-operator.rules.yaml"
    rules.write_text(render_like_the_chart(chart_values()), encoding="utf-8")
    try:
        with OperatorProcess(
            kube_cluster.env(), tmp_path / "operator.log", "--namespaces", namespace
        ) as operator:
            prometheus = Prometheus(
                tmp_path / "prometheus",
                targets={JOB: [f"127.0.0.1:{operator.port}"]},
                rule_files=[rules],
                alertmanager_url=alertmanager.url,
            )
            try:
                wait_until("Prometheus to scrape the operator", prometheus.targets_up)
                yield operator, prometheus, webhook
            finally:
                prometheus.stop()
    finally:
        alertmanager.stop()
        webhook.stop()


def values_by(prometheus: Prometheus, expr: str, label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in prometheus.query(expr)}


def firing(webhook: WebhookReceiver, alertname: str) -> list[dict[str, Any]]:
    return [a for a in webhook.alerts().values() if a["labels"]["alertname"] == alertname]


def test_a_failing_controller_alerts_and_the_operator_series_reach_prometheus(
    monitored: tuple[OperatorProcess, Prometheus, WebhookReceiver],
    api_client: client.ApiClient,
    namespace: str,
) -> None:
    _, prometheus, webhook = monitored
    rays = Rays(api_client, namespace)
    rays.create(sample("raycluster-minimal", namespace, new_name="healthy"))
    stuck = sample("raycluster-minimal", namespace, new_name="stuck")
    stuck["spec"]["headGroupSpec"]["template"]["spec"]["serviceAccountName"] = "not-there"
    rays.create(stuck)

    wait_until(
        "the failing controller's alert", lambda: firing(webhook, "RayOperatorReconcileErrors")
    )
    [alert] = firing(webhook, "RayOperatorReconcileErrors")
    assert alert["labels"]["controller"] == "raycluster"
    assert alert["labels"]["job"] == JOB
    assert alert["labels"]["severity"] == "warning"
    assert alert["annotations"]["runbook_url"] == f"{RUNBOOKS}#rayoperatorreconcileerrors"
    assert "keeps failing to reconcile raycluster objects" in alert["annotations"]["summary"]

    wait_until(
        "a backlog alert per work queue (threshold below any depth)",
        lambda: len(firing(webhook, "RayOperatorWorkQueueBacklog")) == len(CONTROLLERS),
    )
    queues = {a["labels"]["name"] for a in firing(webhook, "RayOperatorWorkQueueBacklog")}
    assert queues == CONTROLLERS

    wait_until("the healthy cluster ready", lambda: rays.status("healthy").get("state") == "ready")
    results = values_by(
        prometheus,
        "sum by (result) (controller_runtime_reconcile_total"
        f'{{job="{JOB}",controller="raycluster"}})',
        "result",
    )
    assert results["error"] > 0
    assert results["success"] + results["requeue_after"] > 0
    refused = values_by(
        prometheus,
        f'sum by (code) (rest_client_requests_total{{job="{JOB}",method="POST"}})',
        "code",
    )
    assert refused.get("403", 0) > 0, "the refused head pod creations"
    assert refused.get("201", 0) > 0, "the healthy cluster's pods and Service"
    leader = prometheus.query(f'leader_election_master_status{{job="{JOB}"}}')
    assert [float(r["value"][1]) for r in leader] == [1.0]
    workers = values_by(
        prometheus, f'controller_runtime_max_concurrent_reconciles{{job="{JOB}"}}', "controller"
    )
    assert set(workers) == CONTROLLERS
    assert all(value > 0 for value in workers.values())
    assert (
        values_by(
            prometheus,
            f'sum by (controller) (controller_runtime_reconcile_time_seconds_count{{job="{JOB}"}})',
            "controller",
        )["raycluster"]
        > 0
    )

    # Every panel of the operator-health dashboard, as Grafana would send it, has data.
    values = {"cluster": ".*", "job": JOB, "instance": ".*", "__rate_interval": RATE_INTERVAL}
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    empty = [
        (panel["title"], target["refId"])
        for top in board["panels"]
        for panel in (top, *top.get("panels", []))
        for target in panel.get("targets", [])
        if not prometheus.query(substitute(target["expr"], values))
    ]
    assert empty == []
