"""Which alerts the spread of Ray objects must raise, and what each must carry.

Each rule's condition is restated here from the objects (not from the rule's PromQL):
an alert is expected for exactly those objects, with the rule's severity and the
object's identity as labels, and annotations that name the namespace and the object
and link to the alert's runbook section.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from e2e.expectations import Labels
from e2e.groups import GroupSpec
from e2e.world import Created, World, cluster, job

Condition = Callable[[World], list[Created]]
GroupCondition = Callable[[World], list[tuple[Created, GroupSpec]]]

GROUP_ALERTS: dict[str, GroupCondition] = {"RayWorkerGroupAtMaxReplicas": World.groups_at_max}
"""Alerts about one worker group of a RayCluster: they carry its `group` label too."""


def _slow(threshold: float) -> Condition:
    return lambda w: [o for o, s in w.provisioning_seconds().items() if s > threshold]


def conditions(slow_threshold: float) -> dict[str, Condition]:
    """Alert name -> the objects it must fire for. Exporter and operator alerts must not fire
    at all."""
    return {
        "RayClusterProvisioningStuck": World.not_provisioned,
        "RayClusterSlowProvisioning": _slow(slow_threshold),
        "RayJobFailed": lambda w: w.jobs_in("Failed", "ValidationFailed"),
        "RayJobExecutionTimeout": lambda w: w.jobs_in("Running"),
        "RayServiceNotReady": World.unready_services,
        "RayServiceUpgradeStuck": World.upgrading_services,
        "RayReconciliationStalled": World.lagging,
        "RayExporterDown": lambda w: [],
        "RayExporterStale": lambda w: [],
        # No operator runs in this stack: its alerts have no series to fire on
        # (tests/e2e/test_operator_metrics.py runs one).
        "RayOperatorReconcileErrors": lambda w: [],
        "RayOperatorWorkQueueBacklog": lambda w: [],
    }


def alert_labels(alertname: str, severity: str, o: Created, group: str | None = None) -> Labels:
    extra: dict[str, str] = {} if group is None else {"group": group}
    if alertname == "RayJobFailed":
        extra["deployment_status"] = job(o).deployment_status or ""
    if alertname == "RayReconciliationStalled":
        extra["resource"] = o.resource
    pairs = {"alertname": alertname, "severity": severity, **extra}
    pairs |= {"namespace": o.namespace, "name": o.name, "uid": o.uid}
    return frozenset(pairs.items())


def expected_alerts(
    w: World, rules: dict[str, dict[str, Any]], slow_threshold: float
) -> dict[Labels, Created]:
    """The full label set of every alert that must fire, with the object it is about."""
    found = conditions(slow_threshold)
    stated = set(found) | set(GROUP_ALERTS)
    assert stated == set(rules), "every rule needs a statement of when it fires"
    out: dict[Labels, Created] = {}
    for name, condition in found.items():
        severity = rules[name]["labels"]["severity"]
        for o in condition(w):
            out[alert_labels(name, severity, o)] = o
    for name, group_condition in GROUP_ALERTS.items():
        severity = rules[name]["labels"]["severity"]
        for o, g in group_condition(w):
            out[alert_labels(name, severity, o, g.name)] = o
    return out


def annotation_problems(alert: dict[str, Any], o: Created, runbooks: str) -> list[str]:
    """What is wrong with a notified alert's annotations for object `o`."""
    name = alert["labels"]["alertname"]
    notes = alert["annotations"]
    problems = []
    if set(notes) != {"summary", "description", "runbook_url"}:
        problems.append(f"annotations {sorted(notes)}")
    if f"{o.namespace}/{o.name}" not in notes.get("summary", ""):
        problems.append(f"summary does not name {o.namespace}/{o.name}: {notes.get('summary')!r}")
    description = notes.get("description", "")
    if o.name not in description or f"namespace {o.namespace}" not in description:
        problems.append(f"description does not name {o.namespace}/{o.name}: {description!r}")
    for text in notes.values():
        if "{{" in text or "<no value>" in text:
            problems.append(f"unexpanded template: {text!r}")
    if notes.get("runbook_url") != f"{runbooks}#{name.lower()}":
        problems.append(f"runbook_url {notes.get('runbook_url')!r}")
    if (
        name == "RayReconciliationStalled"
        and f"{o.generation_lag} generation(s)" not in description
    ):
        problems.append(f"description does not give the lag {o.generation_lag}: {description!r}")
    if name in GROUP_ALERTS:
        problems += _group_problems(alert, o)
    if name == "RayClusterSlowProvisioning":
        took = _humanize(cluster(o).provisioned_after or 0)
        if took not in notes.get("summary", ""):
            problems.append(f"summary does not say {took!r}: {notes.get('summary')!r}")
    return problems


def _group_problems(alert: dict[str, Any], o: Created) -> list[str]:
    """A worker-group alert names its group and gives the group's maximum in pods."""
    group = alert["labels"].get("group")
    [spec] = [g for g in cluster(o).groups if g.name == group]
    summary, description = alert["annotations"]["summary"], alert["annotations"]["description"]
    problems = []
    if f"Worker group {group} of RayCluster" not in summary:
        problems.append(f"summary does not name group {group}: {summary!r}")
    if f"maximum of {spec.max_pods} worker pods" not in description:
        problems.append(f"description does not give {spec.max_pods} pods: {description!r}")
    return problems


def _humanize(seconds: int) -> str:
    """Prometheus' humanizeDuration for whole seconds under an hour: "1m 35s", "40s"."""
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m {rest}s" if minutes else f"{rest}s"
