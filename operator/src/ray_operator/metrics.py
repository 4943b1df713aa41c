"""The operator's own metrics at /metrics, under the names controller-runtime and client-go
give them, so that dashboards and alerts written for controller-runtime operators (KubeRay's
among them) work unchanged. docs/metrics.md lists every series.

The reconcile path only increments counters and observes histograms (a lock and an add
each). What describes a moment (queue depth, unfinished work, workers busy, leadership) is
read from the queues and controllers when Prometheus scrapes, by `StateCollector`; nothing is
kept up to date for it between scrapes.

Every instrument lives on a registry built in `wiring.build_runtime` (never the global one),
so each test gets a fresh one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

RESULTS = ("success", "error", "requeue", "requeue_after")
# controller-runtime's reconcile_time_seconds buckets.
RECONCILE_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7),
    *(0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0),
    *(10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0),
)
# client-go's workqueue buckets: 10 ns to 10 s, by factors of ten.
QUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(10))
# client-go's rate limiter latency buckets.
LIMITER_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)


class QueueState(Protocol):
    """What a work queue tells a scrape (`controller.WorkQueue`)."""

    def depth(self) -> int: ...
    def running_for(self) -> list[float]: ...


class ControllerState(Protocol):
    name: str
    workers: int

    @property
    def in_flight(self) -> int: ...
    @property
    def queue(self) -> QueueState: ...


@dataclass(frozen=True)
class QueueMetrics:
    """One work queue's instruments, bound to its labels (controller-runtime names the queue
    after its controller and labels it with both)."""

    adds: Callable[[], None]
    retries: Callable[[], None]
    queued: Callable[[float], None]  # seconds between due and taken
    worked: Callable[[float], None]  # seconds between taken and done


@dataclass(frozen=True)
class ReconcileMetrics:
    """One controller's reconcile instruments."""

    result: Callable[[str], None]  # one of RESULTS
    took: Callable[[float], None]


def discard(*_: object) -> None:
    """The instrument of a queue or controller built without metrics."""


NO_QUEUE_METRICS = QueueMetrics(discard, discard, discard, discard)
NO_RECONCILE_METRICS = ReconcileMetrics(discard, discard)


class OperatorMetrics:
    def __init__(self, registry: CollectorRegistry, host: str, lease: str) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series
        self.registry = registry
        self.host = host
        self.lease = lease
        self._reconciles = Counter(
            "controller_runtime_reconcile_total",
            "Total number of reconciliations per controller",
            ["controller", "result"],
            registry=registry,
        )
        self._errors = Counter(
            "controller_runtime_reconcile_errors_total",
            "Total number of reconciliation errors per controller",
            ["controller"],
            registry=registry,
        )
        self._reconcile_time = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            ["controller"],
            buckets=RECONCILE_BUCKETS,
            registry=registry,
        )
        queue_labels = ["controller", "name"]
        self._adds = Counter(
            "workqueue_adds_total",
            "Total number of adds handled by workqueue",
            queue_labels,
            registry=registry,
        )
        self._retries = Counter(
            "workqueue_retries_total",
            "Total number of retries handled by workqueue",
            queue_labels,
            registry=registry,
        )
        self._queue_duration = Histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            queue_labels,
            buckets=QUEUE_BUCKETS,
            registry=registry,
        )
        self._work_duration = Histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes",
            queue_labels,
            buckets=QUEUE_BUCKETS,
            registry=registry,
        )
        self._requests = Counter(
            "rest_client_requests",
            "Number of HTTP requests, partitioned by status code, method, and host",
            ["code", "host", "method"],
            registry=registry,
        )
        self._limiter = Histogram(
            "rest_client_rate_limiter_duration_seconds",
            "Client side rate limiter latency in seconds, by verb and host",
            ["host", "verb"],
            buckets=LIMITER_BUCKETS,
            registry=registry,
        )
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)

    def queue(self, controller: str) -> QueueMetrics:
        labels = {"controller": controller, "name": controller}
        return QueueMetrics(
            adds=self._adds.labels(**labels).inc,
            retries=self._retries.labels(**labels).inc,
            queued=self._queue_duration.labels(**labels).observe,
            worked=self._work_duration.labels(**labels).observe,
        )

    def reconciles(self, controller: str) -> ReconcileMetrics:
        by_result = {r: self._reconciles.labels(controller=controller, result=r) for r in RESULTS}
        errors = self._errors.labels(controller=controller)

        def result(outcome: str) -> None:
            by_result[outcome].inc()
            if outcome == "error":
                errors.inc()

        return ReconcileMetrics(result, self._reconcile_time.labels(controller=controller).observe)

    def request(self, method: str, code: str) -> None:
        """One request's answer: its status code, or `<error>` when none came (client-go)."""
        self._requests.labels(code=code, host=self.host, method=method).inc()

    def throttled(self, verb: str, seconds: float) -> None:
        self._limiter.labels(host=self.host, verb=verb).observe(seconds)

    def watch(self, controllers: Sequence[ControllerState], leader: Callable[[], bool]) -> None:
        """Read the controllers' queues and the leadership at each scrape."""
        self.registry.register(StateCollector(controllers, leader, self.lease))


class StateCollector(Collector):
    def __init__(
        self,
        controllers: Sequence[ControllerState],
        leader: Callable[[], bool],
        lease: str,
    ) -> None:
        self._controllers = controllers
        self._leader = leader
        self._lease = lease

    def collect(self) -> Iterator[Metric]:
        queue_labels = ["controller", "name"]
        depth = GaugeMetricFamily(
            "workqueue_depth", "Current depth of workqueue", labels=queue_labels
        )
        unfinished = GaugeMetricFamily(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been "
            "observed by work_duration. Large values indicate stuck threads.",
            labels=queue_labels,
        )
        longest = GaugeMetricFamily(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            labels=queue_labels,
        )
        workers = GaugeMetricFamily(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            labels=["controller"],
        )
        active = GaugeMetricFamily(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            labels=["controller"],
        )
        for controller in self._controllers:
            name = controller.name
            running = controller.queue.running_for()
            depth.add_metric([name, name], controller.queue.depth())
            unfinished.add_metric([name, name], sum(running))
            longest.add_metric([name, name], max(running, default=0.0))
            workers.add_metric([name], controller.workers)
            active.add_metric([name], controller.in_flight)
        leader = GaugeMetricFamily(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates "
            "backup, 1 indicates master. 'name' is the string used to identify the lease.",
            labels=["name"],
        )
        leader.add_metric([self._lease], 1.0 if self._leader() else 0.0)
        yield from (depth, unfinished, longest, workers, active, leader)
