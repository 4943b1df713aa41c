"""The "Worker groups" section of the RayCluster dashboard: how each group scales over time.

The `ray_worker_group_*` gauges count pods (replicas x numOfHosts). Desired, min and max
come from the spec, so they exist for every RayCluster; ready and available come from
`status.workerGroups`, which only this operator's CRD keeps, so on KubeRay's CRDs those
panels stay empty. "At maxReplicas" is the condition of alert RayWorkerGroupAtMaxReplicas
without its `for:`: an autoscaled group whose desired pods have reached a non-zero max.
"""

from __future__ import annotations

from .grafana import OK_ONLY, WARN_ABOVE_ZERO, Json, Section, Sized, stat, table, target, timeseries
from .queries import count_or_zero, sel

GROUP = "namespace, name, uid, group"
LEGEND = "{{namespace}}/{{name}} {{group}}"
UNBOUNDED = 2147483647
"""`maxReplicas` left at its default: drawn as a bound it would flatten every other line."""


def per_group(metric: str, *matchers: str) -> str:
    """One series per worker group, whatever the exporter's target labels."""
    return f"max by ({GROUP}) ({sel(metric, *matchers)})"


def at_max_expr() -> str:
    """Autoscaled groups whose desired pods have reached their (non-zero) maximum."""
    desired = per_group("ray_worker_group_desired_replicas")
    maximum = f"max by ({GROUP}) ({sel('ray_worker_group_max_replicas')} > 0)"
    autoscaled = per_group("ray_worker_group_info", 'autoscaling="true"')
    return f"{desired}\n>= on ({GROUP}) {maximum}\nand on ({GROUP}) {autoscaled}"


def groups_table_expr() -> str:
    """Every group with its desired pods, carrying `autoscaling` from the info series."""
    info = f"max by ({GROUP}, autoscaling) ({sel('ray_worker_group_info')})"
    desired = per_group("ray_worker_group_desired_replicas")
    return f"{desired}\n* on ({GROUP}) group_left (autoscaling)\n{info}"


def _sum(metric: str) -> str:
    return f"sum({per_group(metric)}) or vector(0)"


def _stat(title: str, description: str, expr: str, steps: Json = OK_ONLY) -> Sized:
    return Sized(stat(title, description, [target(expr, instant=True)], steps=steps), 4, 4)


def _over_time(title: str, description: str, metric: str) -> Sized:
    expr = f"max by (namespace, name, group) ({sel(metric)})"
    return Sized(timeseries(title, description, [target(expr, LEGEND)]), 12, 8)


COLUMNS = {"namespace": "Namespace", "name": "Name", "group": "Group"}


def worker_groups_section() -> Section:
    bounds = [
        target(
            f"max by (namespace, name, group) ({sel('ray_worker_group_min_replicas')})",
            f"{LEGEND} min",
        ),
        target(
            "max by (namespace, name, group) "
            f"({sel('ray_worker_group_max_replicas')} < {UNBOUNDED})",
            f"{LEGEND} max",
        ),
    ]
    return Section(
        "Worker groups",
        [
            _stat(
                "Worker groups",
                "Worker groups of the RayClusters (entries of spec.workerGroupSpecs).",
                count_or_zero(sel("ray_worker_group_info")),
            ),
            _stat(
                "Autoscaled worker groups",
                "Worker groups of RayClusters with enableInTreeAutoscaling: Ray's autoscaler "
                "sets their replicas.",
                count_or_zero(sel("ray_worker_group_info", 'autoscaling="true"')),
            ),
            _stat(
                "Groups at maxReplicas",
                "Autoscaled worker groups that want as many pods as maxReplicas allows (see "
                "alert RayWorkerGroupAtMaxReplicas).",
                f"count({at_max_expr()}) or vector(0)",
                steps=WARN_ABOVE_ZERO,
            ),
            _stat(
                "Desired worker pods",
                "Worker pods the specs ask for: replicas within min..max, times numOfHosts.",
                _sum("ray_worker_group_desired_replicas"),
            ),
            _stat(
                "Ready worker pods",
                "Worker pods running and ready, as the operator reports them per group "
                "(status.workerGroups; absent on KubeRay's CRDs).",
                _sum("ray_worker_group_ready_replicas"),
            ),
            _stat(
                "Available worker pods",
                "Worker pods available, as the operator reports them per group.",
                _sum("ray_worker_group_available_replicas"),
            ),
            Sized(
                table(
                    "Worker groups and autoscaling",
                    "Every worker group, whether Ray's autoscaler drives it, and the pods it "
                    "wants now.",
                    groups_table_expr(),
                    {**COLUMNS, "autoscaling": "Autoscaling", "uid": "UID"},
                    value_column="Desired pods",
                ),
                12,
                8,
            ),
            Sized(
                table(
                    "Autoscaled groups at maxReplicas",
                    "Autoscaled worker groups whose desired pods equal their maximum: the "
                    "autoscaler would add workers if the limit allowed (alert "
                    "RayWorkerGroupAtMaxReplicas after 1h by default).",
                    at_max_expr(),
                    {**COLUMNS, "uid": "UID"},
                    value_column="Desired pods",
                ),
                12,
                8,
            ),
            _over_time(
                "Desired worker pods per group",
                "Pods each group's spec asks for over time; with autoscaling, what Ray's "
                "autoscaler last asked for.",
                "ray_worker_group_desired_replicas",
            ),
            _over_time(
                "Ready worker pods per group",
                "Pods of each group running and ready over time (status.workerGroups, "
                "written by this operator).",
                "ray_worker_group_ready_replicas",
            ),
            _over_time(
                "Available worker pods per group",
                "Pods of each group available over time (status.workerGroups).",
                "ray_worker_group_available_replicas",
            ),
            Sized(
                timeseries(
                    "Worker pod bounds per group",
                    "minReplicas and maxReplicas of each group, in pods; groups without a "
                    "maxReplicas (unbounded) draw only their minimum.",
                    bounds,
                ),
                12,
                8,
            ),
        ],
    )
