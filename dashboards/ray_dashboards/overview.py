"""The "Ray / Overview" dashboard: how many Ray objects exist, where, and how many need help."""

from __future__ import annotations

from .grafana import (
    BAD_ABOVE_ZERO,
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

FAILED_JOB = 'deployment_status=~"Failed|ValidationFailed"'

NEW_STATUS = 'label_replace({expr}, "deployment_status", "New", "deployment_status", "")'
"""A RayJob the operator has not picked up yet has deployment_status="": show it as New."""


def jobs_by_status() -> str:
    inner = f"count by (deployment_status) ({sel('kuberay_job_deployment_status')})"
    return NEW_STATUS.format(expr=inner)


def _totals() -> Section:
    def count_stat(title: str, description: str, selector: str, steps: Json = OK_ONLY) -> Sized:
        query = target(count_or_zero(selector), instant=True)
        return Sized(stat(title, description, [query], steps=steps), 3, 4)

    return Section(
        "Now",
        [
            count_stat("RayClusters", "RayClusters that exist.", sel("kuberay_cluster_info")),
            count_stat(
                "Provisioned",
                "RayClusters whose pods have all been running and ready at least once.",
                sel("kuberay_cluster_condition_provisioned", 'condition="true"'),
            ),
            count_stat(
                "Not provisioned",
                "RayClusters whose pods have never all been running and ready yet.",
                sel("kuberay_cluster_condition_provisioned", 'condition="false"'),
                WARN_ABOVE_ZERO,
            ),
            count_stat("RayJobs", "RayJobs that exist.", sel("kuberay_job_info")),
            count_stat(
                "Failed RayJobs",
                "RayJobs in deployment status Failed or ValidationFailed.",
                sel("kuberay_job_deployment_status", FAILED_JOB),
                BAD_ABOVE_ZERO,
            ),
            count_stat("RayServices", "RayServices that exist.", sel("kuberay_service_info")),
            count_stat(
                "Services not ready",
                "RayServices whose Ready condition is not True (no serve endpoint).",
                sel("kuberay_service_condition_ready", 'condition="false"'),
                BAD_ABOVE_ZERO,
            ),
            count_stat(
                "Spec not observed",
                "Ray objects whose latest spec generation the operator has not observed yet "
                "(ray_resource_generation_lag > 0).",
                f"{sel('ray_resource_generation_lag')} > 0",
                WARN_ABOVE_ZERO,
            ),
        ],
    )


def _by_namespace() -> Section:
    def per_namespace(kind: str, metric: str) -> Sized:
        return Sized(
            timeseries(
                f"{kind}s by namespace",
                f"How many {kind}s exist in each namespace.",
                [target(f"count by (namespace) ({sel(metric)})", "{{namespace}}")],
                stacked=True,
            ),
            8,
            8,
        )

    return Section(
        "By namespace",
        [
            per_namespace("RayCluster", "kuberay_cluster_info"),
            per_namespace("RayJob", "kuberay_job_info"),
            per_namespace("RayService", "kuberay_service_info"),
        ],
    )


def _breakdown() -> Section:
    provisioned = sel("kuberay_cluster_condition_provisioned", 'condition="true"')
    unprovisioned = sel("kuberay_cluster_condition_provisioned", 'condition="false"')
    ready = sel("kuberay_service_condition_ready", 'condition="true"')
    unready = sel("kuberay_service_condition_ready", 'condition="false"')
    return Section(
        "Breakdown",
        [
            Sized(
                bargauge(
                    "RayClusters by owner kind",
                    "Who created each RayCluster: None (created directly), RayJob or RayService "
                    "(label ray.io/originated-from-crd).",
                    [
                        target(
                            f"count by (owner_kind) ({sel('kuberay_cluster_info')})",
                            "{{owner_kind}}",
                            instant=True,
                        )
                    ],
                ),
                6,
                8,
            ),
            Sized(
                bargauge(
                    "RayClusters provisioned vs not",
                    "RayClusterProvisioned condition True versus not (yet) True.",
                    [
                        target(count_or_zero(provisioned), "provisioned", instant=True),
                        target(count_or_zero(unprovisioned), "not provisioned", instant=True),
                    ],
                ),
                6,
                8,
            ),
            Sized(
                bargauge(
                    "RayJobs by deployment status",
                    "status.jobDeploymentStatus of every RayJob; New means not picked up yet.",
                    [target(jobs_by_status(), "{{deployment_status}}", instant=True)],
                ),
                6,
                8,
            ),
            Sized(
                bargauge(
                    "RayServices ready vs not",
                    "Ready condition True (at least one serve endpoint) versus not.",
                    [
                        target(count_or_zero(ready), "ready", instant=True),
                        target(count_or_zero(unready), "not ready", instant=True),
                    ],
                ),
                6,
                8,
            ),
        ],
    )


def _over_time() -> Section:
    return Section(
        "Over time",
        [
            Sized(
                timeseries(
                    "RayClusters by owner kind",
                    "RayClusters over time, by who created them.",
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
            Sized(
                timeseries(
                    "RayJobs by deployment status",
                    "RayJobs over time, by deployment status.",
                    [target(jobs_by_status(), "{{deployment_status}}")],
                    stacked=True,
                ),
                12,
                8,
            ),
            Sized(
                table(
                    "Objects whose spec the operator has not observed",
                    "metadata.generation minus status.observedGeneration, per object. A value "
                    "that stays above 0 means reconciliation has stopped for that object "
                    "(alert RayReconciliationStalled).",
                    "max by (resource, namespace, name) "
                    f"({sel('ray_resource_generation_lag')}) > 0",
                    {"resource": "Resource", "namespace": "Namespace", "name": "Name"},
                    value_column="Generations behind",
                ),
                24,
                7,
            ),
        ],
    )


def overview() -> Json:
    return dashboard(
        uid="ray-overview",
        title="Ray / Overview",
        description="RayClusters, RayJobs and RayServices by namespace and state "
        "(ray-exporter's kuberay_* gauges).",
        variables=object_variables(),
        sections=[_totals(), _by_namespace(), _breakdown(), _over_time()],
    )
