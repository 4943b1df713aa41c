"""The "Ray / RayService" dashboard: readiness and zero-downtime upgrades of RayServices."""

from __future__ import annotations

from .grafana import (
    BAD_ABOVE_ZERO,
    GREEN,
    OK_ONLY,
    RED,
    WARN_ABOVE_ZERO,
    Json,
    Section,
    Sized,
    dashboard,
    stat,
    state_timeline,
    table,
    target,
    timeseries,
    value_mappings,
)
from .queries import OBJECT_COLUMNS, count_or_zero, object_variables, sel

READY = sel("kuberay_service_condition_ready", 'condition="true"')
NOT_READY = sel("kuberay_service_condition_ready", 'condition="false"')
UPGRADING = sel("kuberay_service_condition_upgrade_in_progress", 'condition="true"')


def readiness_per_service_expr() -> str:
    """1 while a RayService is ready, 0 while it is not: one line per service."""
    return f"max by (namespace, name) ({READY})\nor\n0 * max by (namespace, name) ({NOT_READY})"


def _summary() -> Section:
    def count_stat(title: str, description: str, selector: str, steps: Json = OK_ONLY) -> Sized:
        query = target(count_or_zero(selector), instant=True)
        return Sized(stat(title, description, [query], steps=steps), 6, 4)

    return Section(
        "Summary",
        [
            count_stat("RayServices", "RayServices that exist.", sel("kuberay_service_info")),
            count_stat("Ready", "Ready condition True: at least one serve endpoint.", READY),
            count_stat(
                "Not ready",
                "Ready condition not True: no serve endpoint, requests fail.",
                NOT_READY,
                BAD_ABOVE_ZERO,
            ),
            count_stat(
                "Upgrades in progress",
                "UpgradeInProgress condition True: a zero-downtime upgrade to a new "
                "RayCluster is under way.",
                UPGRADING,
                WARN_ABOVE_ZERO,
            ),
        ],
    )


def _readiness() -> Section:
    return Section(
        "Readiness",
        [
            Sized(
                timeseries(
                    "Ready vs not ready",
                    "RayServices over time by Ready condition.",
                    [
                        target(count_or_zero(READY), "ready"),
                        target(count_or_zero(NOT_READY), "not ready"),
                    ],
                    stacked=True,
                ),
                12,
                8,
            ),
            Sized(
                timeseries(
                    "Upgrades in progress",
                    "RayServices with a zero-downtime upgrade under way.",
                    [target(count_or_zero(UPGRADING), "upgrading")],
                ),
                12,
                8,
            ),
            Sized(
                state_timeline(
                    "Readiness per RayService",
                    "Each RayService's Ready condition over time.",
                    [target(readiness_per_service_expr(), "{{namespace}}/{{name}}")],
                    mappings=value_mappings({"1": ("Ready", GREEN), "0": ("Not ready", RED)}),
                ),
                24,
                8,
            ),
        ],
    )


def _attention() -> Section:
    return Section(
        "RayServices needing attention",
        [
            Sized(
                table(
                    "RayServices not ready",
                    "Ready condition not True (alert RayServiceNotReady after a while).",
                    f"max by (namespace, name, uid) ({NOT_READY})",
                    OBJECT_COLUMNS,
                ),
                12,
                8,
            ),
            Sized(
                table(
                    "RayServices upgrading",
                    "UpgradeInProgress condition True (alert RayServiceUpgradeStuck after a "
                    "while).",
                    f"max by (namespace, name, uid) ({UPGRADING})",
                    OBJECT_COLUMNS,
                ),
                12,
                8,
            ),
        ],
    )


def rayservices() -> Json:
    return dashboard(
        uid="ray-service",
        title="Ray / RayService",
        description="RayService readiness and zero-downtime upgrades, with the services that "
        "are not ready or upgrading.",
        variables=object_variables(),
        sections=[_summary(), _readiness(), _attention()],
    )
