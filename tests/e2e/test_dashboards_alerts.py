"""Every dashboard panel and every alert, against the real exporter, Prometheus and Alertmanager.

One stack per module (tests/e2e/stack.py): the local control plane, the real
ray-exporter, a real Prometheus (1 s scrape and evaluation) with the rule file rendered
through the chart contract (short `for:`, lower slow-provisioning threshold) and a real
Alertmanager delivering to a webhook in this process. The Ray objects (tests/e2e/world.py)
get their status written directly; no operator runs.

- every panel query, with the dashboard variables substituted as Grafana would, returns
  exactly the series the objects imply (tests/e2e/expectations.py), in the main
  namespace and with namespace = All;
- the variables' label_values() queries list the right values;
- exactly the expected alerts fire and reach the webhook with their labels and
  annotations; none other is ever notified;
- previews of each dashboard are drawn from the run's own data (tests/e2e/previews.py;
  WRITE_DASHBOARD_PREVIEWS=1 writes them to docs/img/);
- last, stopping the exporter fires RayExporterDown (the tests run in file order).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e.expectations import (
    Expected,
    Labels,
    as_series,
    exporter_expectations,
    object_expectations,
)
from e2e.expected_alerts import annotation_problems, expected_alerts
from e2e.previews import draw_dashboard
from e2e.stack import (
    JOB,
    RATE_INTERVAL,
    RUNBOOKS,
    SLOW_PROVISIONING_SECONDS,
    Stack,
    running_stack,
    substitute,
)
from e2e.world import SPREAD, Created, World, waves
from kubernetes import client

from localkube.monitoring import wait_until

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "dashboards"
PREVIEWS = REPO / "docs" / "img"
OBJECT_UIDS = ("ray-overview", "ray-cluster", "ray-job", "ray-service")
EXPORTER_UID = "ray-exporter-health"
CONVERGE_SECONDS = 30


def load(uid: str) -> dict[str, Any]:
    board: dict[str, Any] = json.loads((DASHBOARDS / f"{uid}.json").read_text(encoding="utf-8"))
    return board


def dashboard_targets(uid: str) -> dict[tuple[str, str, str], str]:
    """(uid, panel title, refId) -> expr; panels sharing a title must share their queries."""
    out: dict[tuple[str, str, str], str] = {}
    for panel in load(uid)["panels"]:
        for target in panel.get("targets", []):
            key = (uid, panel["title"], target["refId"])
            assert out.setdefault(key, target["expr"]) == target["expr"], key
    return out


OBJECT_TARGETS = {k: v for uid in OBJECT_UIDS for k, v in dashboard_targets(uid).items()}
EXPORTER_TARGETS = dashboard_targets(EXPORTER_UID)


def _id(key: tuple[str, str, str]) -> str:
    return "/".join(key).replace(" ", "_")


@pytest.fixture(scope="module")
def stack(
    kube_cluster: Any, api_client: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with running_stack(kube_cluster, api_client, tmp_path_factory.mktemp("dash-alerts")) as s:
        yield s


def object_variables(stack: Stack, scope: str) -> dict[str, str]:
    namespace = stack.main if scope == "main" else ".*"
    return {"cluster": ".*", "namespace": namespace, "__rate_interval": RATE_INTERVAL}


def exporter_variables(stack: Stack) -> dict[str, str]:
    return {
        "cluster": ".*",
        "job": JOB,
        "instance": stack.exporter.address,
        "__rate_interval": RATE_INTERVAL,
    }


def scoped_world(stack: Stack, scope: str) -> World:
    selected = [stack.main] if scope == "main" else list(stack.world.namespaces.values())
    return stack.world.select(selected)


def converge(
    what: str, problems: Callable[[], list[str]], timeout: float = CONVERGE_SECONDS
) -> None:
    """Poll until `problems()` is empty; fail with the last problems seen otherwise."""
    last = ["no answer from Prometheus"]

    def settled() -> bool:
        last[:] = problems()
        return not last

    with contextlib.suppress(AssertionError):
        wait_until(what, settled, timeout=timeout, every=0.5)
    if last:
        pytest.fail(f"{what}:\n  " + "\n  ".join(last))


def check_panel(stack: Stack, key: tuple[str, str, str], expr: str, expected: Expected) -> None:
    converge(f"{_id(key)}: {expr}", lambda: expected.problems(stack.prometheus.query(expr)))
    if expected.peaks:
        peak = peaks(stack, expr)
        flat = sorted(str(dict(k)) for k in expected.peaks if not peak.get(k, 0) > 0)
        assert flat == [], f"{_id(key)}: never above 0 during the run"


def peaks(stack: Stack, expr: str) -> dict[Labels, float]:
    """The highest value of each series of `expr` since the objects were created."""
    span = int(time.time() - stack.started) + 5
    return as_series(stack.prometheus.query(f"max_over_time(({expr})[{span}s:1s])"))


# -- static: every panel has an expectation and no expectation is stale ------------------


def test_every_panel_has_an_expectation() -> None:
    fake = World(namespaces={"main": "a", "other": "b"})
    for i, wave in enumerate(waves(SPREAD)):
        fake.objects += [Created(fake.namespaces[role], f"uid-{i}", spec) for role, spec in wave]
    assert set(object_expectations(fake)) == set(OBJECT_TARGETS)
    assert set(exporter_expectations(fake, "host:1", "0")) == set(EXPORTER_TARGETS)


# -- dashboards ------------------------------------------------------------------------


def test_variables_list_the_right_values(stack: Stack) -> None:
    want = {
        "cluster": [],  # a single-cluster Prometheus: hidden, and All (.*) matches everything
        "namespace": sorted(stack.world.namespaces.values()),
        "job": [JOB],
        "instance": [stack.exporter.address],
    }
    for uid in (*OBJECT_UIDS, EXPORTER_UID):
        for var in load(uid)["templating"]["list"]:
            if var["type"] == "query":
                check_variable(stack, uid, var, want[var["name"]])


def check_variable(stack: Stack, uid: str, var: dict[str, Any], want: list[str]) -> None:
    """label_values(selector, label) with the variables it depends on set to All / the job."""
    query = substitute(var["query"], {"cluster": ".*", "job": JOB})
    selector, label = query.removeprefix("label_values(").removesuffix(")").rsplit(", ", 1)
    assert label == var["name"], (uid, var["name"])
    converge(f"{uid} ${label}", lambda: _differs(stack, selector, label, want))


def _differs(stack: Stack, selector: str, label: str, want: list[str]) -> list[str]:
    got = stack.label_values(label, selector)
    return [] if got == want else [f"label_values({selector}, {label}) = {got}, want {want}"]


@pytest.mark.parametrize("scope", ["main", "all"])
@pytest.mark.parametrize("key", sorted(OBJECT_TARGETS), ids=_id)
def test_object_panel(stack: Stack, key: tuple[str, str, str], scope: str) -> None:
    expr = substitute(OBJECT_TARGETS[key], object_variables(stack, scope))
    expected = object_expectations(scoped_world(stack, scope))[key]
    check_panel(stack, key, expr, expected)


@pytest.mark.parametrize("key", sorted(EXPORTER_TARGETS), ids=_id)
def test_exporter_panel(stack: Stack, key: tuple[str, str, str]) -> None:
    expr = substitute(EXPORTER_TARGETS[key], exporter_variables(stack))
    version = {dict(k)["version"] for k in _series(stack, "ray_exporter_build_info")}
    assert len(version) == 1, version
    expected = exporter_expectations(stack.world, stack.exporter.address, version.pop())
    check_panel(stack, key, expr, expected[key])


def test_first_malformed_object_shows_in_the_errors_panel(stack: Stack) -> None:
    key = (EXPORTER_UID, "Malformed objects by reason", "A")
    expr = substitute(EXPORTER_TARGETS[key], exporter_variables(stack))
    assert stack.world.malformed_attempts()
    malformed = frozenset({"resource": "rayjobs", "reason": "negative_duration"}.items())
    assert peaks(stack, expr).get(malformed, 0) > 0


def _series(stack: Stack, expr: str) -> list[Labels]:
    return list(as_series(stack.prometheus.query(expr)))


# -- alerts ----------------------------------------------------------------------------


def _firing_at_webhook(stack: Stack) -> dict[Labels, dict[str, Any]]:
    return {frozenset(a["labels"].items()): a for a in stack.webhook.alerts("firing").values()}


def _ever_notified(stack: Stack) -> set[Labels]:
    return {
        frozenset(alert["labels"].items())
        for note in list(stack.webhook.notifications)
        for alert in note.get("alerts", [])
    }


def _active_in_prometheus(stack: Stack) -> dict[Labels, str]:
    return {frozenset(a["labels"].items()): a["state"] for a in stack.prometheus.alerts()}


def test_exactly_the_expected_alerts_fire_and_reach_the_webhook(stack: Stack) -> None:
    expected = expected_alerts(stack.world, stack.rules, SLOW_PROVISIONING_SECONDS)
    # The exporter's and the operator's alerts are about targets, not Ray objects.
    object_alerts = {n for n in stack.rules if not n.startswith(("RayExporter", "RayOperator"))}
    assert {dict(k)["alertname"] for k in expected} == object_alerts, "the spread must fire all"

    def delivered() -> list[str]:
        missing = set(expected) - set(_firing_at_webhook(stack))
        return [f"not at the webhook: {sorted(dict(k).items())}" for k in missing]

    converge("every expected alert at the webhook", delivered)
    # Every object alert has the same `for:` (or none), and every object has been in its
    # final state since before the first of them fired: one that should not fire would at
    # least be pending now. (RayExporterDown's `for:` is longer; the exporter is up.)
    active = _active_in_prometheus(stack)
    assert sorted(map(sorted, active)) == sorted(map(sorted, expected))
    assert set(active.values()) == {"firing"}
    assert sorted(map(sorted, _firing_at_webhook(stack))) == sorted(map(sorted, expected))
    assert sorted(map(sorted, _ever_notified(stack))) == sorted(map(sorted, expected))
    problems = [
        f"{dict(key)['alertname']} {obj.name}: {problem}"
        for key, alert in _firing_at_webhook(stack).items()
        for obj in [expected[key]]
        for problem in annotation_problems(alert, obj, RUNBOOKS)
    ]
    assert problems == []


# -- previews --------------------------------------------------------------------------


def test_dashboard_previews(stack: Stack, tmp_path: Path) -> None:
    """All five into docs/img/ with WRITE_DASHBOARD_PREVIEWS=1; else two into tmp_path.

    The two (every panel type between them) keep the drawing code working at little cost.
    Object dashboards are drawn with namespace = All, so both namespaces show.
    """
    write = os.environ.get("WRITE_DASHBOARD_PREVIEWS") == "1"
    out = PREVIEWS if write else tmp_path
    uids = (*OBJECT_UIDS, EXPORTER_UID) if write else ("ray-cluster", "ray-service")
    end = time.time()
    for uid in uids:
        variables = (
            exporter_variables(stack) if uid == EXPORTER_UID else object_variables(stack, "all")
        )
        path = draw_dashboard(load(uid), stack, variables, stack.started - 3, end, out)
        assert path == out / f"{uid}.png"
        assert path.read_bytes().startswith(b"\x89PNG"), path


# -- the exporter going away (must stay last: it stops the exporter) -----------------------


def test_exporter_down_fires_when_the_exporter_stops(stack: Stack) -> None:
    down = [k for k in _active_in_prometheus(stack) if dict(k)["alertname"] == "RayExporterDown"]
    assert down == []
    stack.exporter.stop()
    severity = stack.rules["RayExporterDown"]["labels"]["severity"]
    want = frozenset(
        {
            "alertname": "RayExporterDown",
            "severity": severity,
            "job": JOB,
            "instance": stack.exporter.address,
        }.items()
    )

    def only_exporter_down() -> list[str]:
        firing, active = _firing_at_webhook(stack), _active_in_prometheus(stack)
        problems = []
        if set(firing) != {want}:
            problems.append(f"firing at the webhook: {sorted(map(sorted, firing))}")
        if active != {want: "firing"}:
            problems.append(f"active in Prometheus: {active}")
        return problems

    # The Ray object series go stale with the failed scrapes, so their alerts resolve:
    # without the exporter every other Ray alert is blind, which is why this one exists.
    converge("RayExporterDown alone firing", only_exporter_down, timeout=2 * CONVERGE_SECONDS)
    alert = _firing_at_webhook(stack)[want]
    notes = alert["annotations"]
    assert stack.exporter.address in notes["summary"]
    assert stack.exporter.address in notes["description"]
    assert f"job {JOB}" in notes["description"]
    assert notes["runbook_url"] == f"{RUNBOOKS}#rayexporterdown"
    assert not any("<no value>" in text or "{{" in text for text in notes.values())
