"""The "Ray / Operator health" dashboard, from ray-operator's own metrics (controller-runtime's
and client-go's names, so the panels read like those of any Go controller's dashboard).

It answers "is the operator keeping up?": is a replica leading, how many passes succeed or
fail per controller, how long they take, how much work waits in each queue and for how long,
and what the apiserver answers, including time spent waiting for the client-side limiter.
"""

from __future__ import annotations

from .grafana import (
    BAD_ABOVE_ZERO,
    OK_ONLY,
    Json,
    Section,
    Sized,
    cluster_variable,
    dashboard,
    query_variable,
    stat,
    target,
    timeseries,
)
from .queries import EXPORTER_SCOPE, sel

SCOPE = EXPORTER_SCOPE  # cluster, job and instance, as for the exporter's own health


def op(metric: str, *matchers: str) -> str:
    return sel(metric, *matchers, scope=SCOPE)


def rate(metric: str, *matchers: str) -> str:
    return f"rate({op(metric, *matchers)}[$__rate_interval])"


def operator_variables() -> list[Json]:
    """cluster (hidden), job and instance of the operator's scrape targets."""
    return [
        cluster_variable("controller_runtime_reconcile_total"),
        query_variable(
            "job",
            "Job",
            'label_values(controller_runtime_reconcile_total{cluster=~"$cluster"}, job)',
            description="Prometheus scrape jobs that scrape a ray-operator.",
        ),
        query_variable(
            "instance",
            "Instance",
            'label_values(controller_runtime_reconcile_total{cluster=~"$cluster", '
            'job=~"$job"}, instance)',
            description="ray-operator replicas (targets of the selected jobs).",
        ),
    ]


def _status() -> Section:
    def status_stat(
        title: str, description: str, expr: str, *, unit: str = "none", steps: Json = OK_ONLY
    ) -> Sized:
        return Sized(
            stat(title, description, [target(expr, instant=True)], unit=unit, steps=steps), 6, 4
        )

    return Section(
        "Status",
        [
            status_stat(
                "Leaders",
                "Replicas running the controllers (leader_election_master_status summed): "
                "1 when healthy, 0 when no replica leads.",
                f"sum({op('leader_election_master_status')})",
                steps=OK_ONLY,
            ),
            status_stat(
                "Failing passes per second",
                "Reconcile errors per second, all controllers (alert RayOperatorReconcileErrors).",
                f"sum({rate('controller_runtime_reconcile_errors_total')}) or vector(0)",
                steps=BAD_ABOVE_ZERO,
                unit="ops",
            ),
            status_stat(
                "Waiting objects",
                "Objects due for a pass and waiting for a worker, all queues "
                "(alert RayOperatorWorkQueueBacklog).",
                f"sum({op('workqueue_depth')}) or vector(0)",
            ),
            status_stat(
                "Longest running pass",
                "The oldest pass in progress; minutes mean a stuck pass.",
                f"max({op('workqueue_longest_running_processor_seconds')}) or vector(0)",
                unit="s",
            ),
        ],
    )


def _reconciles() -> Section:
    quantile = (
        "histogram_quantile(0.99, sum by (le, controller) "
        f"({rate('controller_runtime_reconcile_time_seconds_bucket')}))"
    )
    return Section(
        "Reconciles",
        [
            Sized(
                timeseries(
                    "Passes by result",
                    "Reconcile passes per second by controller and result (success, error, "
                    "requeue, requeue_after).",
                    [
                        target(
                            "sum by (controller, result) "
                            f"({rate('controller_runtime_reconcile_total')})",
                            "{{controller}} {{result}}",
                        )
                    ],
                    unit="ops",
                ),
                12,
                8,
            ),
            Sized(
                timeseries(
                    "Pass duration p99",
                    "99th percentile of one pass's duration, API requests included.",
                    [target(quantile, "{{controller}}")],
                    unit="s",
                ),
                12,
                8,
            ),
        ],
    )


def _queues() -> Section:
    wait = (
        "histogram_quantile(0.99, sum by (le, name) "
        f"({rate('workqueue_queue_duration_seconds_bucket')}))"
    )
    return Section(
        "Work queues",
        [
            Sized(
                timeseries(
                    "Queue depth",
                    "Objects due and waiting for a worker, per queue (delayed ones not counted).",
                    [target(f"max by (name) ({op('workqueue_depth')})", "{{name}}")],
                ),
                8,
                8,
            ),
            Sized(
                timeseries(
                    "Queue wait p99",
                    "99th percentile of the time between an object being due and a worker "
                    "taking it.",
                    [target(wait, "{{name}}")],
                    unit="s",
                ),
                8,
                8,
            ),
            Sized(
                timeseries(
                    "Adds and retries",
                    "Objects added to each queue per second, and those requeued after an error.",
                    [
                        target(f"sum by (name) ({rate('workqueue_adds_total')})", "{{name}} adds"),
                        target(
                            f"sum by (name) ({rate('workqueue_retries_total')})", "{{name}} retries"
                        ),
                    ],
                    unit="ops",
                ),
                8,
                8,
            ),
        ],
    )


def _api() -> Section:
    return Section(
        "API requests",
        [
            Sized(
                timeseries(
                    "Requests by method and code",
                    "The operator's requests to the apiserver per second; code <error> is a "
                    "request that got no answer.",
                    [
                        target(
                            f"sum by (method, code) ({rate('rest_client_requests_total')})",
                            "{{method}} {{code}}",
                        )
                    ],
                    unit="reqps",
                ),
                12,
                8,
            ),
            Sized(
                timeseries(
                    "Client-side throttling",
                    "Seconds per second requests spent waiting for the client-side rate limiter "
                    "(--kube-api-qps, --kube-api-burst); near 1 means the limit holds the "
                    "operator back.",
                    [
                        target(
                            "sum by (verb) "
                            f"({rate('rest_client_rate_limiter_duration_seconds_sum')})",
                            "{{verb}}",
                        )
                    ],
                    unit="s",
                ),
                12,
                8,
            ),
        ],
    )


def operator_health() -> Json:
    return dashboard(
        uid="ray-operator-health",
        title="Ray / Operator health",
        description="ray-operator's own health: leadership, reconciles by result and "
        "duration, work-queue depth and waits, API requests and client-side throttling.",
        variables=operator_variables(),
        sections=[_status(), _reconciles(), _queues(), _api()],
    )
