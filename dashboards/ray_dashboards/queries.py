"""PromQL fragments shared by the Ray dashboards: selectors scoped by the dashboard variables.

Panels of the object dashboards select `cluster=~"$cluster", namespace=~"$namespace"`;
the exporter-health dashboard selects its targets by `job` and `instance` instead, because
the exporter's own metrics describe the exporter pods, not the namespaces of Ray objects.
Tables aggregate with `max by (...)` over the object labels so that the exporter's target
labels (pod, instance) never split one object into several rows.
"""

from __future__ import annotations

from .grafana import Json, cluster_variable, query_variable

OBJECT_SCOPE = 'cluster=~"$cluster", namespace=~"$namespace"'
EXPORTER_SCOPE = 'cluster=~"$cluster", job=~"$job", instance=~"$instance"'

INFO_SERIES = '{__name__=~"kuberay_(cluster|job|service)_info"}'
"""Every Ray object has exactly one *_info series: the namespace variable draws from them."""


def sel(metric: str, *matchers: str, scope: str = OBJECT_SCOPE) -> str:
    """`metric{<scope>, <matchers>}`."""
    return f"{metric}{{{', '.join([scope, *matchers])}}}"


def count_or_zero(selector: str) -> str:
    """A count that reads 0, not "No data", when nothing matches."""
    return f"count({selector}) or vector(0)"


def object_variables() -> list[Json]:
    """cluster (hidden) and namespace (multi, include All), for the Ray object dashboards."""
    return [
        cluster_variable(INFO_SERIES),
        query_variable(
            "namespace",
            "Namespace",
            'label_values({__name__=~"kuberay_(cluster|job|service)_info", '
            'cluster=~"$cluster"}, namespace)',
            description="Namespaces that hold at least one RayCluster, RayJob or RayService.",
        ),
    ]


def exporter_variables() -> list[Json]:
    """cluster (hidden), job and instance, for the exporter-health dashboard."""
    return [
        cluster_variable("ray_exporter_build_info"),
        query_variable(
            "job",
            "Job",
            'label_values(ray_exporter_build_info{cluster=~"$cluster"}, job)',
            description="Prometheus scrape jobs that scrape a ray-exporter.",
        ),
        query_variable(
            "instance",
            "Instance",
            'label_values(ray_exporter_build_info{cluster=~"$cluster", job=~"$job"}, instance)',
            description="ray-exporter targets (one per pod, or per shard).",
        ),
    ]


OBJECT_COLUMNS = {"namespace": "Namespace", "name": "Name", "uid": "UID"}
