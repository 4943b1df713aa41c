"""What every dashboard panel query must return, computed from the objects the test created.

Panels are keyed by (dashboard uid, panel title, target refId); panels that share a title
on one dashboard share their query too, and so their expectation. Object dashboards
are answered from a `World` restricted to the namespaces the `namespace` variable
selects; the exporter-health dashboard from the whole world (the exporter watches both
namespaces) plus the exporter's address and version. Values that depend on timing
(rates, ages, latencies) are checked by label set and a bound, and where the panel
would show activity, by a peak over the run (`Expected.peaks`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from e2e.groups import MAX_INT32, GroupSpec
from e2e.world import Created, World, cluster, job, prom_quantile, service

from ray_exporter.fields import Problem

Labels = frozenset[tuple[str, str]]
PanelKey = tuple[str, str, str]
"""(dashboard uid, panel title, target refId)."""

STALE_AFTER = 600.0
"""The default RayExporterStale threshold: a healthy exporter's sync age stays below it."""


def labels(**pairs: str) -> Labels:
    return frozenset(pairs.items())


NO_LABELS = labels()


def any_value(_: float) -> bool:
    return True


@dataclass(frozen=True)
class Expected:
    """The series a query must return now: exact values, or label sets with a value test."""

    series: dict[Labels, float]
    """Label sets with their exact value (compared to 1e-9 relative)."""
    shaped: frozenset[Labels] = frozenset()
    """Further label sets whose value need only satisfy `value_ok`."""
    value_ok: Callable[[float], bool] = any_value
    bound: str = ""
    """How `value_ok` reads, for failure messages."""
    peaks: frozenset[Labels] = field(default_factory=frozenset)
    """Label sets that must have been above 0 at some point of the run."""

    def problems(self, result: list[dict[str, Any]]) -> list[str]:
        got = as_series(result)
        wanted = set(self.series) | set(self.shaped)
        out = []
        if set(got) != wanted:
            out.append(
                f"label sets: missing {_fmt(wanted - set(got))}, extra {_fmt(set(got) - wanted)}"
            )
        for key, value in self.series.items():
            if key in got and not math.isclose(got[key], value, rel_tol=1e-9, abs_tol=1e-9):
                out.append(f"{dict(key)}: got {got[key]}, want {value}")
        for key in self.shaped:
            if key in got and not self.value_ok(got[key]):
                out.append(f"{dict(key)}: got {got[key]}, want {self.bound}")
        return out


def exact(series: dict[Labels, float]) -> Expected:
    return Expected(series)


def one(value: float) -> Expected:
    """A single series without labels (a stat, or one line of a graph)."""
    return Expected({NO_LABELS: float(value)})


def shaped(
    keys: Iterable[Labels],
    ok: Callable[[float], bool] = any_value,
    bound: str = "any value",
    peaks: Iterable[Labels] = (),
) -> Expected:
    return Expected({}, frozenset(keys), ok, bound, frozenset(peaks))


def as_series(result: list[dict[str, Any]]) -> dict[Labels, float]:
    """An instant-query vector as {label set: value} (NaN stays NaN)."""
    out: dict[Labels, float] = {}
    for item in result:
        key = frozenset(item["metric"].items())
        assert key not in out, f"duplicate series {dict(key)}"
        out[key] = float(item["value"][1])
    return out


def _fmt(keys: Iterable[Labels]) -> list[dict[str, str]]:
    return sorted((dict(k) for k in keys), key=lambda d: sorted(d.items()))


# -- object dashboards -------------------------------------------------------------------


def _count_by(objects: Iterable[Created], label: str, of: Callable[[Created], str]) -> Expected:
    counts = Counter(of(o) for o in objects)
    return exact({labels(**{label: k}): float(n) for k, n in counts.items()})


def _rows(objects: Iterable[Created], columns: Callable[[Created], dict[str, str]]) -> Expected:
    return exact({frozenset(columns(o).items()): 1.0 for o in objects})


def _ident(o: Created) -> dict[str, str]:
    return {"namespace": o.namespace, "name": o.name, "uid": o.uid}


def _status(o: Created) -> str:
    return job(o).deployment_status or ""


def _optional(values: list[float], compute: Callable[[list[float]], float]) -> Expected:
    """An aggregation over no series returns nothing at all."""
    return one(compute(values)) if values else exact({})


def _per_group(
    groups: Iterable[tuple[Created, GroupSpec]], value: Callable[[GroupSpec], int | None]
) -> Expected:
    """One series per group {namespace, name, group}; groups whose value is None have none."""
    return exact(
        {
            labels(namespace=o.namespace, name=o.name, group=g.name): float(v)
            for o, g in groups
            if (v := value(g)) is not None
        }
    )


def worker_group_expectations(w: World) -> dict[PanelKey, Expected]:
    """The Worker groups section of Ray / RayCluster."""
    groups, at_max = w.worker_groups(), w.groups_at_max()
    uid = "ray-cluster"

    def total(value: Callable[[GroupSpec], int | None]) -> Expected:
        return one(sum(v for _, g in groups if (v := value(g)) is not None))

    def row(o: Created, g: GroupSpec, **extra: str) -> Labels:
        return labels(namespace=o.namespace, name=o.name, uid=o.uid, group=g.name, **extra)

    def autoscaling(o: Created) -> str:
        return "true" if cluster(o).autoscaling else "false"

    return {
        (uid, "Worker groups", "A"): one(len(groups)),
        (uid, "Autoscaled worker groups", "A"): one(len(w.autoscaled_groups())),
        (uid, "Groups at maxReplicas", "A"): one(len(at_max)),
        (uid, "Desired worker pods", "A"): total(lambda g: g.desired_pods),
        (uid, "Ready worker pods", "A"): total(lambda g: g.ready),
        (uid, "Available worker pods", "A"): total(lambda g: g.available),
        (uid, "Worker groups and autoscaling", "A"): exact(
            {row(o, g, autoscaling=autoscaling(o)): float(g.desired_pods) for o, g in groups}
        ),
        (uid, "Autoscaled groups at maxReplicas", "A"): exact(
            {row(o, g): float(g.desired_pods) for o, g in at_max}
        ),
        (uid, "Desired worker pods per group", "A"): _per_group(groups, lambda g: g.desired_pods),
        (uid, "Ready worker pods per group", "A"): _per_group(groups, lambda g: g.ready),
        (uid, "Available worker pods per group", "A"): _per_group(groups, lambda g: g.available),
        (uid, "Worker pod bounds per group", "A"): _per_group(groups, lambda g: g.min_pods),
        (uid, "Worker pod bounds per group", "B"): _per_group(
            groups, lambda g: g.max_pods if g.max_pods < MAX_INT32 else None
        ),
    }


def object_expectations(w: World) -> dict[PanelKey, Expected]:
    """Every panel of the four object dashboards, for the objects in `w`."""
    clusters, jobs, services = w.clusters(), w.jobs(), w.services()
    durations = list(w.provisioning_seconds().values())
    attempts = w.attempts()
    failed = w.jobs_in("Failed", "ValidationFailed")
    suspended = w.jobs_in("Suspended", "Suspending")

    def owner(o: Created) -> str:
        return cluster(o).owner or "None"

    def status_or_new(o: Created) -> str:
        return _status(o) or "New"

    def namespace(o: Created) -> str:
        return o.namespace

    def durations_by_result(q: float) -> Expected:
        by_result: dict[str, list[float]] = {}
        for _, a in attempts:
            by_result.setdefault(a.result, []).append(float(a.seconds))
        series = {
            labels(job_deployment_status=r): prom_quantile(q, v) for r, v in by_result.items()
        }
        return exact(series)

    retried = Counter(o for o, a in attempts if a.result == "Retrying")
    average = _optional(durations, lambda v: sum(v) / len(v))
    p50 = _optional(durations, lambda v: prom_quantile(0.5, v))
    p99 = _optional(durations, lambda v: prom_quantile(0.99, v))
    counts = {
        "clusters": one(len(clusters)),
        "provisioned": one(len(w.provisioned())),
        "not provisioned": one(len(w.not_provisioned())),
        "jobs": one(len(jobs)),
        "failed jobs": one(len(failed)),
        "services": one(len(services)),
        "ready": one(len(w.ready_services())),
        "not ready": one(len(w.unready_services())),
        "upgrading": one(len(w.upgrading_services())),
    }
    owners = _count_by(clusters, "owner_kind", owner)
    by_status = _count_by(jobs, "deployment_status", status_or_new)
    return {
        # Ray / Overview
        ("ray-overview", "RayClusters", "A"): counts["clusters"],
        ("ray-overview", "Provisioned", "A"): counts["provisioned"],
        ("ray-overview", "Not provisioned", "A"): counts["not provisioned"],
        ("ray-overview", "RayJobs", "A"): counts["jobs"],
        ("ray-overview", "Failed RayJobs", "A"): counts["failed jobs"],
        ("ray-overview", "RayServices", "A"): counts["services"],
        ("ray-overview", "Services not ready", "A"): counts["not ready"],
        ("ray-overview", "Spec not observed", "A"): one(len(w.lagging())),
        ("ray-overview", "RayClusters by namespace", "A"): _count_by(
            clusters, "namespace", namespace
        ),
        ("ray-overview", "RayJobs by namespace", "A"): _count_by(jobs, "namespace", namespace),
        ("ray-overview", "RayServices by namespace", "A"): _count_by(
            services, "namespace", namespace
        ),
        ("ray-overview", "RayClusters by owner kind", "A"): owners,
        ("ray-overview", "RayClusters provisioned vs not", "A"): counts["provisioned"],
        ("ray-overview", "RayClusters provisioned vs not", "B"): counts["not provisioned"],
        ("ray-overview", "RayJobs by deployment status", "A"): by_status,
        ("ray-overview", "RayServices ready vs not", "A"): counts["ready"],
        ("ray-overview", "RayServices ready vs not", "B"): counts["not ready"],
        ("ray-overview", "Objects whose spec the operator has not observed", "A"): exact(
            {
                labels(resource=o.resource, namespace=o.namespace, name=o.name): float(
                    o.generation_lag
                )
                for o in w.lagging()
            }
        ),
        # Ray / RayCluster
        ("ray-cluster", "RayClusters", "A"): counts["clusters"],
        ("ray-cluster", "Provisioned", "A"): counts["provisioned"],
        ("ray-cluster", "Not provisioned", "A"): counts["not provisioned"],
        ("ray-cluster", "Average provisioning time", "A"): average,
        ("ray-cluster", "p50 provisioning time", "A"): p50,
        ("ray-cluster", "p99 provisioning time", "A"): p99,
        ("ray-cluster", "RayClusters not provisioned", "A"): _rows(
            w.not_provisioned(), lambda o: {**_ident(o), "owner_kind": owner(o)}
        ),
        ("ray-cluster", "Provisioning time per RayCluster", "A"): exact(
            {
                labels(namespace=o.namespace, name=o.name): seconds
                for o, seconds in w.provisioning_seconds().items()
            }
        ),
        ("ray-cluster", "Provisioning time across RayClusters", "A"): average,
        ("ray-cluster", "Provisioning time across RayClusters", "B"): p50,
        ("ray-cluster", "Provisioning time across RayClusters", "C"): p99,
        ("ray-cluster", "Provisioning time across RayClusters", "D"): _optional(durations, max),
        ("ray-cluster", "Provisioned vs not provisioned", "A"): counts["provisioned"],
        ("ray-cluster", "Provisioned vs not provisioned", "B"): counts["not provisioned"],
        ("ray-cluster", "RayClusters by owner kind", "A"): owners,
        # Ray / RayJob
        ("ray-job", "RayJobs", "A"): counts["jobs"],
        ("ray-job", "Running", "A"): one(len(w.jobs_in("Running"))),
        ("ray-job", "Complete", "A"): one(len(w.jobs_in("Complete"))),
        ("ray-job", "Failed", "A"): counts["failed jobs"],
        ("ray-job", "Retrying", "A"): one(len(w.jobs_in("Retrying"))),
        ("ray-job", "Suspended", "A"): one(len(suspended)),
        ("ray-job", "RayJobs by deployment status", "A"): by_status,
        ("ray-job", "Failed RayJobs", "A"): _rows(
            failed, lambda o: {**_ident(o), "deployment_status": _status(o)}
        ),
        ("ray-job", "Retried RayJobs", "A"): exact(
            {frozenset(_ident(o).items()): float(n) for o, n in retried.items()}
        ),
        ("ray-job", "Suspended RayJobs", "A"): _rows(
            suspended, lambda o: {**_ident(o), "deployment_status": _status(o)}
        ),
        ("ray-job", "Execution duration per attempt", "A"): exact(
            {
                labels(
                    namespace=o.namespace,
                    name=o.name,
                    retry_count=str(a.retry_count),
                    job_deployment_status=a.result,
                ): float(a.seconds)
                for o, a in attempts
            }
        ),
        ("ray-job", "Execution duration across attempts, by result", "A"): durations_by_result(0.5),
        ("ray-job", "Execution duration across attempts, by result", "B"): durations_by_result(
            0.99
        ),
        # Ray / RayService
        ("ray-service", "RayServices", "A"): counts["services"],
        ("ray-service", "Ready", "A"): counts["ready"],
        ("ray-service", "Not ready", "A"): counts["not ready"],
        ("ray-service", "Upgrades in progress", "A"): counts["upgrading"],
        ("ray-service", "Ready vs not ready", "A"): counts["ready"],
        ("ray-service", "Ready vs not ready", "B"): counts["not ready"],
        ("ray-service", "Readiness per RayService", "A"): exact(
            {
                labels(namespace=o.namespace, name=o.name): 1.0
                if service(o).ready == "True"
                else 0.0
                for o in services
            }
        ),
        ("ray-service", "RayServices not ready", "A"): _rows(w.unready_services(), _ident),
        ("ray-service", "RayServices upgrading", "A"): _rows(w.upgrading_services(), _ident),
        **worker_group_expectations(w),
    }


# -- exporter health -----------------------------------------------------------------------

RESOURCES = ("rayclusters", "rayjobs", "rayservices")
EVENT_TYPES = ("ADDED", "MODIFIED", "DELETED", "BOOKMARK")


def _fresh(age: float) -> bool:
    return 0 <= age < STALE_AFTER


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def exporter_expectations(w: World, instance: str, version: str) -> dict[PanelKey, Expected]:
    """Every panel of the exporter-health dashboard, while the exporter serves `w`."""
    uid = "ray-exporter-health"
    per_resource = [labels(resource=r) for r in RESOURCES]
    per_target = [labels(instance=instance, resource=r) for r in RESOURCES]
    held = Counter(o.resource for o in w.objects)
    # Every resource/reason pair exists from the exporter's start, at 0 until it happens.
    malformed = {
        labels(resource=resource, reason=problem.value)
        for resource in ("rayclusters", "rayjobs", "rayservices")
        for problem in Problem
    }
    assert w.malformed_attempts(), "the spread must hold a malformed object for this panel"
    scrape = shaped([NO_LABELS], _positive, "a positive duration")
    render = shaped([NO_LABELS], bound="any value (NaN while nothing renders)", peaks=[NO_LABELS])
    return {
        (uid, "Targets up", "A"): one(1),
        (uid, "Targets down", "A"): one(0),
        (uid, "Synced", "A"): one(1),
        (uid, "Watches down", "A"): one(0),
        (uid, "Oldest sync", "A"): shaped([NO_LABELS], _fresh, f"0 <= age < {STALE_AFTER}"),
        (uid, "Version", "A"): exact({labels(version=version): 1.0}),
        (uid, "Objects held", "A"): exact({labels(resource=r): float(held[r]) for r in RESOURCES}),
        (uid, "Time since last sync", "A"): shaped(per_target, _fresh, f"0 <= age < {STALE_AFTER}"),
        (uid, "Watch health", "A"): exact(dict.fromkeys(per_target, 1.0)),
        (uid, "Watch events", "A"): shaped(
            [labels(resource=r, type=t) for r in RESOURCES for t in EVENT_TYPES],
            lambda v: v >= 0,
            "a rate >= 0",
            peaks=[labels(resource=r, type=t) for r in RESOURCES for t in ("ADDED", "MODIFIED")],
        ),
        (uid, "Relists", "A"): shaped(per_resource, lambda v: v >= 0, "a rate >= 0"),
        (uid, "Watch errors by reason", "A"): exact({}),
        (uid, "Malformed objects by reason", "A"): shaped(
            malformed, lambda v: v >= 0, "a rate >= 0"
        ),
        (uid, "Scrape duration", "A"): scrape,
        (uid, "Scrape duration", "B"): scrape,
        (uid, "Scrape duration", "C"): scrape,
        (uid, "Render duration", "A"): render,
        (uid, "Render duration", "B"): render,
        (uid, "Render duration", "C"): render,
    }
