"""Keeping the store in step with the API: one LIST-then-WATCH loop per resource and scope.

Each `Watcher` runs in its own thread. Threads rather than asyncio because the
kubernetes client is synchronous and each loop spends its life blocked on one
socket; three to a few dozen streams are well within what threads handle, the
HTTP server is threaded too, and the per-event work (JSON decoding, rendering a
few lines) is short, so nothing gains from an event loop while blocking calls
would have to be pushed to executors anyway.

The loop, per resource (cluster-wide, or once per configured namespace):

1. LIST in pages (`limit`/`continue`). The store is then made to hold exactly
   the listed objects of that scope: objects deleted while the exporter was not
   watching disappear, nothing is held twice. An object whose resourceVersion
   the store already holds is not rendered again.
2. WATCH from the list's resourceVersion with bookmarks, applying each event
   as it arrives. When the server ends the watch (its timeout), watch again from
   the last resourceVersion seen; no relist is needed.
3. On 410 Gone, an ERROR event, or any transport error, go back to 1. Relists
   are retried with exponential backoff and jitter (tenacity); a watch that had
   been healthy resets the backoff, so one dropped connection costs one prompt
   relist, while an apiserver that stays down is polled ever more slowly up to
   `BACKOFF_MAX_SECONDS`.

Problems in an object are counted once per object version: an object is
rendered only when its resourceVersion is new to the store.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from typing import Any

import urllib3.exceptions
from kubernetes.client import ApiException
from loguru import logger
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    wait_exponential_jitter,
)

from ray_exporter.families import (
    Rendered,
    Resource,
    object_key,
    render,
    resource_version,
    unrenderable,
)
from ray_exporter.kube import KubeApi, ResourceExpiredError, Scope, WatchStreamError
from ray_exporter.selfmetrics import WATCH_EVENT_TYPES, SelfMetrics, SyncTracker
from ray_exporter.store import MetricsStore

PAGE_SIZE = 500
WATCH_TIMEOUT_SECONDS = (240, 300)
HEALTHY_AFTER_SECONDS = 10.0
BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 10.0


def error_reason(error: BaseException) -> str:
    """A short, bounded label value for why a LIST or WATCH failed."""
    if isinstance(error, ResourceExpiredError):
        return "expired"
    if isinstance(error, WatchStreamError):
        return error.reason
    if isinstance(error, ApiException):
        return f"http_{error.status}" if error.status else "http"
    if isinstance(error, urllib3.exceptions.TimeoutError | TimeoutError):
        return "timeout"
    if isinstance(error, urllib3.exceptions.HTTPError | ConnectionError | OSError):
        return "connection"
    return "other"


class HealthyWatchEndedError(Exception):
    """A watch that had been healthy ended and needs a relist; no backoff is due."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class Watcher(threading.Thread):
    """LIST then WATCH one resource in one scope, forever, into the store."""

    def __init__(
        self,
        resource: Resource,
        namespace: str | None,
        api: KubeApi,
        store: MetricsStore,
        tracker: SyncTracker,
        metrics: SelfMetrics,
        stop: threading.Event,
    ) -> None:
        scope_name = namespace or "*"
        super().__init__(name=f"watch-{resource.plural}-{scope_name}", daemon=True)
        self.resource = resource
        self.scope = Scope(resource.plural, namespace)
        self.stream = (resource.plural, namespace)
        self._api = api
        self._store = store
        self._tracker = tracker
        self._metrics = metrics
        self._stopping = stop
        self._listed_once = False
        self._log = logger.bind(
            kind=resource.kind, **({"namespace": namespace} if namespace else {})
        )

    def run(self) -> None:
        while not self._stopping.is_set():
            retrying = Retrying(
                retry=retry_if_exception(
                    lambda error: not isinstance(error, HealthyWatchEndedError)
                ),
                wait=wait_exponential_jitter(
                    initial=BACKOFF_INITIAL_SECONDS, max=BACKOFF_MAX_SECONDS, jitter=1.0
                ),
                stop=lambda _state: self._stopping.is_set(),
                sleep=self._sleep,
                before_sleep=self._failed,
                reraise=True,
            )
            try:
                retrying(self._list_and_watch)
            except HealthyWatchEndedError as ended:
                self._count_error(ended.cause)
            except Exception as error:  # only when stopping mid-retry
                if not self._stopping.is_set():
                    self._log.opt(exception=error).error("watch loop ended unexpectedly")

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _failed(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if error is not None:
            self._count_error(error)
        self._log.warning(
            "list/watch failed, retrying",
            reason=error_reason(error) if error else "",
            error=str(error),
            attempt=state.attempt_number,
            retry_in=round(state.upcoming_sleep, 2),
        )

    def _count_error(self, error: BaseException) -> None:
        self._tracker.down(self.stream)
        self._metrics.watch_errors.labels(self.resource.plural, error_reason(error)).inc()

    # -- one cycle -----------------------------------------------------------

    def _list_and_watch(self) -> None:
        version = self._relist()
        healthy_since: float | None = None
        try:
            while not self._stopping.is_set():
                timeout = random.randint(*WATCH_TIMEOUT_SECONDS)
                started = time.monotonic()
                events = self._api.watch(self.scope, version, timeout)
                self._tracker.watching(self.stream)
                for event in events:
                    version = self._apply(event, version)
                    if healthy_since is None:
                        healthy_since = started
                    if self._stopping.is_set():
                        return
                if healthy_since is None and time.monotonic() - started >= HEALTHY_AFTER_SECONDS:
                    healthy_since = started
        except Exception as error:
            if self._stopping.is_set():
                return
            self._tracker.down(self.stream)
            if healthy_since is not None:
                raise HealthyWatchEndedError(error) from error
            raise

    def _relist(self) -> str:
        scope = self.scope
        rendered: list[Rendered] = []
        token: str | None = None
        version = ""
        while True:
            page = self._api.list_page(scope, PAGE_SIZE, token)
            for item in page["items"]:
                if isinstance(item, Mapping):
                    current = self._render(item)
                    if current is not None:
                        rendered.append(current)
            metadata = page.get("metadata") or {}
            token = metadata.get("continue") or None
            version = metadata.get("resourceVersion") or version
            if token is None:
                break
        added, removed = self._store.replace(scope.plural, rendered, scope.namespace)
        if self._listed_once:
            self._metrics.relists.labels(scope.plural).inc()
        self._listed_once = True
        self._tracker.listed(self.stream)
        self._log.info(
            "listed",
            objects=len(rendered),
            changed=added,
            removed=removed,
            resource_version=version,
        )
        return str(version)

    def _render(self, obj: Mapping[str, Any]) -> Rendered | None:
        """The object's rendered lines, reusing the store's when its version is held."""
        key = object_key(obj)
        if not key or not self._store.owns(key):
            return None
        version = resource_version(obj)
        held = self._store.get(self.scope.plural, key)
        if held is not None and version and held.resource_version == version:
            return held
        started = time.perf_counter()
        try:
            current = render(self.resource, obj)
        except Exception:  # a bug must cost one object's series, never the stream
            self._log.exception("rendering failed", key=key, resource_version=version)
            current = unrenderable(self.resource, obj)
        self._metrics.render_duration.observe(time.perf_counter() - started)
        if current.problems:
            for problem in current.problems:
                self._metrics.object_errors.labels(self.scope.plural, problem.value).inc()
            logger.bind(
                kind=self.resource.kind, namespace=current.namespace, name=current.name
            ).warning(
                "skipped series of a malformed object",
                problems=[problem.value for problem in current.problems],
                resource_version=version,
            )
        return current

    def _apply(self, event: Mapping[str, Any], version: str) -> str:
        """Apply one watch event to the store; answer the resourceVersion to resume from."""
        kind = event.get("type")
        obj = event["object"]
        if kind in ("ADDED", "MODIFIED"):
            current = self._render(obj)
            if current is not None:
                self._store.put(self.scope.plural, current)
        elif kind == "DELETED":
            key = object_key(obj)
            if key:
                self._store.delete(self.scope.plural, key)
        elif kind != "BOOKMARK":
            raise WatchStreamError("decode", f"unknown watch event type {kind!r}")
        if kind in WATCH_EVENT_TYPES:
            self._metrics.watch_events.labels(self.scope.plural, kind).inc()
        self._tracker.event(self.stream)
        return resource_version(obj) or version
