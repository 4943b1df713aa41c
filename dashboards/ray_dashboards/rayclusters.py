"""The "Ray / RayCluster" dashboard: provisioning state and time, and worker-group scaling.

kuberay_cluster_provisioned_duration_seconds is a gauge, one series per cluster, not a
histogram: percentiles across clusters are `quantile(φ, gauge)`. (histogram_quantile() on
it, as one source suggests, would return nothing: there are no `le` buckets.)
"""

from __future__ import annotations

from .grafana import (
    OK_ONLY,
    WARN_ABOVE_ZERO,
    Json,
    Section,
    Sized,
    bargauge,
    dashboard,
    stat,
    table,
    target,
    timeseries,
)
from .queries import count_or_zero, object_variables, sel
from .workergroups import worker_groups_section

DURATION = "kuberay_cluster_provisioned_duration_seconds"


def not_provisioned_table_expr() -> str:
    """One row per RayCluster not provisioned, carrying owner_kind from kuberay_cluster_info."""
    condition = sel("kuberay_cluster_condition_provisioned", 'condition="false"')
    info = sel("kuberay_cluster_info")
    return (
        f"max by (namespace, name, uid) ({condition})\n"
        "* on (namespace, name, uid) group_left (owner_kind)\n"
        f"max by (namespace, name, uid, owner_kind) ({info})"
    )


def _summary() -> Section:
    def summary_stat(
        title: str, description: str, expr: str, unit: str = "none", steps: Json = OK_ONLY
    ) -> Sized:
        query = target(expr, instant=True)
        return Sized(stat(title, description, [query], unit=unit, steps=steps), 4, 4)

    duration = sel(DURATION)
    return Section(
        "Summary",
        [
            summary_stat(
                "RayClusters", "RayClusters that exist.", count_or_zero(sel("kuberay_cluster_info"))
            ),
            summary_stat(
                "Provisioned",
                "RayClusters whose pods have all been running and ready at least once.",
                count_or_zero(sel("kuberay_cluster_condition_provisioned", 'condition="true"')),
            ),
            summary_stat(
                "Not provisioned",
                "RayClusters whose pods have never all been running and ready yet.",
                count_or_zero(sel("kuberay_cluster_condition_provisioned", 'condition="false"')),
                steps=WARN_ABOVE_ZERO,
            ),
            summary_stat(
                "Average provisioning time",
                "Mean, across provisioned RayClusters, of creation-to-provisioned time.",
                f"avg({duration})",
                unit="s",
            ),
            summary_stat(
                "p50 provisioning time",
                "Median across provisioned RayClusters: quantile(0.5) over the per-cluster gauge.",
                f"quantile(0.5, {duration})",
                unit="s",
            ),
            summary_stat(
                "p99 provisioning time",
                "99th percentile across provisioned RayClusters: quantile(0.99) over the "
                "per-cluster gauge.",
                f"quantile(0.99, {duration})",
                unit="s",
            ),
        ],
    )


def _provisioning() -> Section:
    duration = sel(DURATION)
    return Section(
        "Provisioning",
        [
            Sized(
                table(
                    "RayClusters not provisioned",
                    "RayClusters whose RayClusterProvisioned condition is not True: pods not "
                    "all running and ready yet (see alert RayClusterProvisioningStuck).",
                    not_provisioned_table_expr(),
                    {
                        "namespace": "Namespace",
                        "name": "Name",
                        "owner_kind": "Owner kind",
                        "uid": "UID",
                    },
                ),
                12,
                9,
            ),
            Sized(
                bargauge(
                    "Provisioning time per RayCluster",
                    "Seconds from creation until all pods were first running and ready.",
                    [
                        target(
                            f"sort_desc(max by (namespace, name) ({duration}))",
                            "{{namespace}}/{{name}}",
                            instant=True,
                        )
                    ],
                    unit="s",
                ),
                12,
                9,
            ),
            Sized(
                timeseries(
                    "Provisioning time across RayClusters",
                    "Average, median, 99th percentile and maximum of the per-cluster "
                    "provisioning time, over the clusters that exist at each moment.",
                    [
                        target(f"avg({duration})", "average"),
                        target(f"quantile(0.5, {duration})", "p50"),
                        target(f"quantile(0.99, {duration})", "p99"),
                        target(f"max({duration})", "max"),
                    ],
                    unit="s",
                ),
                24,
                8,
            ),
        ],
    )


def _inventory() -> Section:
    provisioned = sel("kuberay_cluster_condition_provisioned", 'condition="true"')
    unprovisioned = sel("kuberay_cluster_condition_provisioned", 'condition="false"')
    return Section(
        "Inventory",
        [
            Sized(
                timeseries(
                    "Provisioned vs not provisioned",
                    "RayClusters over time by RayClusterProvisioned condition.",
                    [
                        target(count_or_zero(provisioned), "provisioned"),
                        target(count_or_zero(unprovisioned), "not provisioned"),
                    ],
                    stacked=True,
                ),
                12,
                8,
            ),
            Sized(
                timeseries(
                    "RayClusters by owner kind",
                    "None: created directly; RayJob / RayService: created for one of those.",
                    [
                        target(
                            f"count by (owner_kind) ({sel('kuberay_cluster_info')})",
                            "{{owner_kind}}",
                        )
                    ],
                    stacked=True,
                ),
                12,
                8,
            ),
        ],
    )


def rayclusters() -> Json:
    return dashboard(
        uid="ray-cluster",
        title="Ray / RayCluster",
        description="RayCluster provisioning: clusters not provisioned, provisioning time per "
        "cluster and its average and percentiles across clusters; worker groups: desired, "
        "min, max, ready and available pods over time, and which autoscaled groups are at "
        "their maximum.",
        variables=object_variables(),
        sections=[_summary(), _provisioning(), _inventory(), worker_groups_section()],
    )
