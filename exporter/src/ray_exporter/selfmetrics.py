"""The exporter's own metrics (prefix `ray_exporter_`) and the sync state behind them.

`SyncTracker` records, per watch stream (a resource, in one namespace or in all),
whether its first LIST finished, whether its WATCH is healthy and when it last
knew it was in sync. Readiness, `ray_exporter_synced`, `ray_exporter_watch_up`
and `ray_exporter_last_sync_timestamp_seconds` are all read from it, so they
cannot disagree. A resource watched in several namespaces is up only when all
its streams are, and its last sync time is the stalest of them.

`SelfMetrics` builds every instrument on a registry it is given (built in
`main()`, never the global one), so tests get a fresh registry each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, Info
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ray_exporter.auth import Decision
from ray_exporter.fields import Problem

WATCH_EVENT_TYPES = ("ADDED", "MODIFIED", "DELETED", "BOOKMARK")
RENDER_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25)
SCRAPE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class _Stream:
    resource: str
    synced: bool = False
    up: bool = False
    last_sync: float = 0.0


class SyncTracker:
    """Thread-safe sync state of every watch stream, keyed by (resource, namespace)."""

    def __init__(
        self, streams: Iterable[tuple[str, str | None]], clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._streams = {stream: _Stream(stream[0]) for stream in streams}

    def listed(self, stream: tuple[str, str | None]) -> None:
        """A full LIST succeeded: the stream's objects are in the store."""
        with self._lock:
            state = self._streams[stream]
            state.synced = True
            state.last_sync = self._clock()

    def watching(self, stream: tuple[str, str | None]) -> None:
        """A WATCH was (re)established."""
        with self._lock:
            state = self._streams[stream]
            state.up = True
            state.last_sync = self._clock()

    def event(self, stream: tuple[str, str | None]) -> None:
        """A watch event (bookmarks included) arrived."""
        with self._lock:
            self._streams[stream].last_sync = self._clock()

    def down(self, stream: tuple[str, str | None]) -> None:
        """The WATCH failed or ended with an error; the stream is stale until relisted."""
        with self._lock:
            self._streams[stream].up = False

    def ready(self) -> bool:
        """Whether every stream finished its first LIST."""
        with self._lock:
            return all(state.synced for state in self._streams.values())

    def by_resource(self) -> dict[str, tuple[bool, float]]:
        """Per resource: all streams up, and the stalest last-sync time."""
        result: dict[str, tuple[bool, float]] = {}
        with self._lock:
            for state in self._streams.values():
                up, last = result.get(state.resource, (True, float("inf")))
                result[state.resource] = (up and state.up, min(last, state.last_sync))
        return result


class StateCollector(Collector):
    """Gauges read at scrape time from the sync tracker and the store's object counts."""

    def __init__(self, tracker: SyncTracker, count: Callable[[str], int]) -> None:
        self._tracker = tracker
        self._count = count

    def collect(self) -> Iterable[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "ray_exporter_watch_up",
            "1 while the watch stream of the resource is healthy, else 0",
            labels=["resource"],
        )
        last = GaugeMetricFamily(
            "ray_exporter_last_sync_timestamp_seconds",
            "Last time (Unix seconds) the exporter knew it was in sync with the resource:"
            " a successful list, an established watch or a watch event",
            labels=["resource"],
        )
        objects = GaugeMetricFamily(
            "ray_exporter_objects", "Objects of the resource held in the store", labels=["resource"]
        )
        for resource, (healthy, last_sync) in sorted(self._tracker.by_resource().items()):
            up.add_metric([resource], 1.0 if healthy else 0.0)
            last.add_metric([resource], last_sync)
            objects.add_metric([resource], float(self._count(resource)))
        synced = GaugeMetricFamily(
            "ray_exporter_synced",
            "1 once the first full list of all three resources has finished, else 0",
            value=1.0 if self._tracker.ready() else 0.0,
        )
        return [up, last, objects, synced]


class SelfMetrics:
    """The exporter's counters and histograms, registered on the given registry."""

    def __init__(self, registry: CollectorRegistry, resources: Iterable[str], version: str) -> None:
        self.registry = registry
        self.watch_events = Counter(
            "ray_exporter_watch_events",
            "Watch events received, by resource and event type",
            ["resource", "type"],
            registry=registry,
        )
        self.relists = Counter(
            "ray_exporter_relists",
            "Full lists after the initial one (watch expired or failed), by resource",
            ["resource"],
            registry=registry,
        )
        self.watch_errors = Counter(
            "ray_exporter_watch_errors",
            "Failed lists and watches, by resource and reason",
            ["resource", "reason"],
            registry=registry,
        )
        self.object_errors = Counter(
            "ray_exporter_object_errors",
            "Object versions with a malformed field whose series were skipped, by reason",
            ["resource", "reason"],
            registry=registry,
        )
        self.render_duration = Histogram(
            "ray_exporter_render_duration_seconds",
            "Time to render one object's series after a watch event or list",
            buckets=RENDER_BUCKETS,
            registry=registry,
        )
        self.scrape_duration = Histogram(
            "ray_exporter_scrape_duration_seconds",
            "Time to build a /metrics response",
            buckets=SCRAPE_BUCKETS,
            registry=registry,
        )
        self.metrics_auth = Counter(
            "ray_exporter_metrics_auth",
            "Requests for /metrics checked by --metrics-auth, by result:"
            " allowed, unauthenticated, forbidden or error",
            ["result"],
            registry=registry,
        )
        build = Info("ray_exporter_build", "Build information of the exporter", registry=registry)
        build.info({"version": version})
        for resource in resources:
            self.relists.labels(resource)
            for event_type in WATCH_EVENT_TYPES:
                self.watch_events.labels(resource, event_type)
            # Every reason starts at 0, so rate() sees the first malformed object too.
            for problem in Problem:
                self.object_errors.labels(resource, problem.value)

    def start_metrics_auth(self) -> None:
        """With --metrics-auth: every result starts at 0, so rate() sees the first refusal."""
        for decision in Decision:
            self.metrics_auth.labels(decision.name.lower())

    def count_auth(self, decision: Decision) -> None:
        """Count one /metrics request checked by --metrics-auth."""
        self.metrics_auth.labels(decision.name.lower()).inc()
