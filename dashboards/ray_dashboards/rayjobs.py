"""The "Ray / RayJob" dashboard: deployment status over time, jobs needing attention, attempts.

kuberay_job_execution_duration_seconds has one series per *finished* attempt (result
Retrying, Complete or Failed, with its retry_count); a running attempt has none. So the
"retried" table counts attempts that ended in Retrying, and duration percentiles are
`quantile()` over those per-attempt gauges.
"""

from __future__ import annotations

from .grafana import (
    BAD_ABOVE_ZERO,
    OK_ONLY,
    WARN_ABOVE_ZERO,
    Json,
    Section,
    Sized,
    dashboard,
    stat,
    table,
    target,
    timeseries,
)
from .overview import jobs_by_status
from .queries import OBJECT_COLUMNS, count_or_zero, object_variables, sel

STATUS = "kuberay_job_deployment_status"
ATTEMPTS = "kuberay_job_execution_duration_seconds"
FAILED = 'deployment_status=~"Failed|ValidationFailed"'
SUSPENDED = 'deployment_status=~"Suspended|Suspending"'
RETRIED = 'job_deployment_status="Retrying"'


def _summary() -> Section:
    def status_stat(title: str, description: str, matcher: str, steps: Json = OK_ONLY) -> Sized:
        query = target(count_or_zero(sel(STATUS, matcher)), instant=True)
        return Sized(stat(title, description, [query], steps=steps), 4, 4)

    total = target(count_or_zero(sel("kuberay_job_info")), instant=True)
    return Section(
        "Summary",
        [
            Sized(stat("RayJobs", "RayJobs that exist.", [total]), 4, 4),
            status_stat("Running", "Deployment status Running.", 'deployment_status="Running"'),
            status_stat("Complete", "Deployment status Complete.", 'deployment_status="Complete"'),
            status_stat(
                "Failed",
                "Deployment status Failed (retries exhausted) or ValidationFailed (invalid spec).",
                FAILED,
                BAD_ABOVE_ZERO,
            ),
            status_stat(
                "Retrying",
                "Deployment status Retrying: an attempt failed and spec.backoffLimit allows "
                "another.",
                'deployment_status="Retrying"',
                WARN_ABOVE_ZERO,
            ),
            status_stat("Suspended", "Deployment status Suspending or Suspended.", SUSPENDED),
        ],
    )


def _status_over_time() -> Section:
    return Section(
        "Deployment status",
        [
            Sized(
                timeseries(
                    "RayJobs by deployment status",
                    "status.jobDeploymentStatus of every RayJob over time; New is the empty "
                    "status of a RayJob the operator has not picked up yet.",
                    [target(jobs_by_status(), "{{deployment_status}}")],
                    stacked=True,
                ),
                24,
                8,
            )
        ],
    )


def _attention() -> Section:
    return Section(
        "RayJobs needing attention",
        [
            Sized(
                table(
                    "Failed RayJobs",
                    "RayJobs in Failed (backoffLimit exhausted) or ValidationFailed (spec "
                    "rejected). They stay until deleted (alert RayJobFailed).",
                    f"max by (namespace, name, uid, deployment_status) ({sel(STATUS, FAILED)})",
                    {
                        "namespace": "Namespace",
                        "name": "Name",
                        "deployment_status": "Status",
                        "uid": "UID",
                    },
                ),
                8,
                9,
            ),
            Sized(
                table(
                    "Retried RayJobs",
                    "RayJobs with at least one attempt that failed and was retried "
                    "(spec.backoffLimit), and how many.",
                    f"count by (namespace, name, uid) ({sel(ATTEMPTS, RETRIED)})",
                    OBJECT_COLUMNS,
                    value_column="Retried attempts",
                ),
                8,
                9,
            ),
            Sized(
                table(
                    "Suspended RayJobs",
                    "RayJobs with spec.suspend set: Suspending while their cluster is torn "
                    "down, then Suspended.",
                    f"max by (namespace, name, uid, deployment_status) ({sel(STATUS, SUSPENDED)})",
                    {
                        "namespace": "Namespace",
                        "name": "Name",
                        "deployment_status": "Status",
                        "uid": "UID",
                    },
                ),
                8,
                9,
            ),
        ],
    )


def _attempts() -> Section:
    attempts = sel(ATTEMPTS)
    return Section(
        "Execution duration",
        [
            Sized(
                table(
                    "Execution duration per attempt",
                    "One row per finished attempt: from Initializing to Retrying, Complete or "
                    "Failed. retry_count is how many attempts had failed before this one ended.",
                    f"max by (namespace, name, retry_count, job_deployment_status) ({attempts})",
                    {
                        "namespace": "Namespace",
                        "name": "Name",
                        "retry_count": "Retry count",
                        "job_deployment_status": "Result",
                    },
                    value_column="Duration",
                    unit="s",
                ),
                12,
                10,
            ),
            Sized(
                timeseries(
                    "Execution duration across attempts, by result",
                    "Median and 99th percentile (quantile() over the per-attempt gauge) of "
                    "finished attempts, by result.",
                    [
                        target(
                            f"quantile by (job_deployment_status) (0.5, {attempts})",
                            "p50 {{job_deployment_status}}",
                        ),
                        target(
                            f"quantile by (job_deployment_status) (0.99, {attempts})",
                            "p99 {{job_deployment_status}}",
                        ),
                    ],
                    unit="s",
                ),
                12,
                10,
            ),
        ],
    )


def rayjobs() -> Json:
    return dashboard(
        uid="ray-job",
        title="Ray / RayJob",
        description="RayJob deployment status over time, failed, retried and suspended jobs, "
        "and the execution duration of every finished attempt.",
        variables=object_variables(),
        sections=[_summary(), _status_over_time(), _attention(), _attempts()],
    )
