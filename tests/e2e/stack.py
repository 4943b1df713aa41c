"""The monitoring stack of the dashboards/alerts e2e test, started and stopped as one unit.

`running_stack` applies the chart's CRDs, creates two namespaces, starts the real
ray-exporter (watching only those namespaces, so "All" is deterministic), a webhook
receiver, a real Alertmanager and a real Prometheus (job `ray-exporter`, 1 s scrape and
evaluation) loading the rule file rendered through the chart contract with short `for:`
durations, then creates the spread of Ray objects. Everything it started is stopped
when the block ends, whatever happened inside it, and every process it starts also dies
with the test process if that is killed.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e.world import MAIN, OTHER, SPREAD, World, create_world
from integration.exporter_harness import (
    EXPORTER,
    ExporterProcess,
    exporter_env,
)
from kubernetes import client
from test_alerts import render_like_the_chart
from test_alerts import rules as parse_rules

from localkube.cluster import _die_with_parent
from localkube.crds import apply_crds
from localkube.monitoring import Alertmanager, Prometheus, WebhookReceiver, free_port, wait_until

JOB = "ray-exporter"
SHORT_FOR = "5s"
"""Every non-zero `for:` becomes this: long enough that an object's first moments (created,
status not yet written) never fire anything, short enough for a quick test."""
EXPORTER_DOWN_FOR = "15s"
"""Longer for RayExporterDown: Prometheus applies new scrape targets up to 5 s after it
starts (its discovery update interval), so `absent(up{...})` holds for its first seconds."""
SLOW_PROVISIONING_SECONDS = 60
RUNBOOKS = "https://runbooks.e2e.invalid/docs/runbooks.md"
RATE_INTERVAL = "4s"
"""What Grafana makes of $__rate_interval with a 1 s scrape interval (4 x scrape)."""


def chart_values() -> dict[str, Any]:
    """Values as a chart user would set them: short `for:`, a lower slow-provisioning bar."""
    alerts: dict[str, Any] = {
        name: {"for": SHORT_FOR} for name, rule in parse_rules().items() if rule["for"] != "0s"
    }
    alerts["RayExporterDown"] = {"for": EXPORTER_DOWN_FOR}
    alerts.setdefault("RayClusterSlowProvisioning", {})["parameters"] = {
        "thresholdSeconds": SLOW_PROVISIONING_SECONDS
    }
    return {
        "substitutions": {"runbookBaseURL": RUNBOOKS, "exporterJobSelector": f'job="{JOB}"'},
        "alerts": alerts,
    }


class Exporter(ExporterProcess):
    """The harness's exporter process, made to die with the test process (PR_SET_PDEATHSIG)."""

    def __init__(self, env: dict[str, str], log_path: Path, *args: str) -> None:
        self.port = free_port()
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [str(EXPORTER), "--listen-address", f"127.0.0.1:{self.port}", *args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class Stack:
    prometheus: Prometheus
    alertmanager: Alertmanager
    webhook: WebhookReceiver
    exporter: Exporter
    world: World
    rules: dict[str, dict[str, Any]]
    """The rendered rules Prometheus loaded, by alert name."""
    started: float
    """Unix time just before the first object was created."""

    @property
    def main(self) -> str:
        return self.world.namespaces[MAIN]

    def label_values(self, label: str, selector: str) -> list[str]:
        """Grafana's label_values(selector, label), through the same HTTP API it uses."""
        values: list[str] = self.prometheus.api(f"label/{label}/values", **{"match[]": selector})
        return sorted(values)

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.prometheus.query(expr)

    def query_range(self, expr: str, start: float, end: float, step: float) -> Any:
        return self.prometheus.api(
            "query_range", query=expr, start=str(start), end=str(end), step=str(step)
        )


@contextlib.contextmanager
def fresh_namespaces(api: client.ApiClient, roles: list[str]) -> Iterator[dict[str, str]]:
    core = client.CoreV1Api(api)
    suffix = secrets.token_hex(3)
    names = {role: f"e2e-dash-{role}-{suffix}" for role in roles}
    try:
        for name in names.values():
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        yield names
    finally:
        for name in names.values():
            with contextlib.suppress(client.ApiException):
                core.delete_namespace(name, propagation_policy="Background")


def _info_series(prometheus: Prometheus, namespaces: list[str]) -> int:
    regex = "|".join(namespaces)
    selector = f'{{__name__=~"kuberay_(cluster|job|service)_info", namespace=~"{regex}"}}'
    result = prometheus.query(f"count({selector})")
    return int(result[0]["value"][1]) if result else 0


def scraped_after(prometheus: Prometheus, moment: float) -> bool:
    """Whether Prometheus has stored a scrape of the exporter that began after `moment`."""
    result = prometheus.query(f'timestamp(up{{job="{JOB}"}})')
    return bool(result) and float(result[0]["value"][1]) > moment


@contextlib.contextmanager
def running_stack(kube_cluster: Any, api: client.ApiClient, workdir: Path) -> Iterator[Stack]:
    with contextlib.ExitStack() as stop:
        namespaces = stop.enter_context(fresh_namespaces(api, [MAIN, OTHER]))
        apply_crds(kube_cluster.env())

        env = exporter_env(kube_cluster.env(), kube_cluster.kubeconfig)
        watched = ",".join(namespaces.values())
        exporter = Exporter(env, workdir / "exporter.log", "--namespaces", watched)
        stop.callback(exporter.stop)
        exporter.wait_ready()

        webhook = WebhookReceiver()
        stop.callback(webhook.stop)
        alertmanager = Alertmanager(workdir / "alertmanager", webhook.url)
        stop.callback(alertmanager.stop)

        rendered = render_like_the_chart(chart_values())
        rule_file = workdir / "ray-operator.rules.yaml"
        rule_file.write_text(rendered, encoding="utf-8")
        prometheus = Prometheus(
            workdir / "prometheus",
            targets={JOB: [exporter.address]},
            rule_files=[rule_file],
            alertmanager_url=alertmanager.url,
            interval="1s",
        )
        stop.callback(prometheus.stop)
        wait_until("Prometheus to scrape the exporter", prometheus.targets_up)

        started = time.time()

        def visible(world: World) -> None:
            """Pace the waves by what Prometheus has stored, so each shows as a step."""
            expected = len(world.objects)
            wait_until(
                f"{expected} Ray objects in Prometheus",
                lambda: _info_series(prometheus, list(namespaces.values())) == expected,
            )
            moment = time.time()
            wait_until("one more scrape", lambda: scraped_after(prometheus, moment + 1))

        world = create_world(api, namespaces, SPREAD, after_wave=visible)
        yield Stack(
            prometheus=prometheus,
            alertmanager=alertmanager,
            webhook=webhook,
            exporter=exporter,
            world=world,
            rules=parse_rules(rendered),
            started=started,
        )


def substitute(expr: str, values: dict[str, str]) -> str:
    """Put dashboard variable values into a query, as Grafana does before sending it."""
    # Longest names first, so $namespace is not read as $name + "space".
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace(f"${name}", values[name])
    assert "$" not in expr, expr
    return expr
