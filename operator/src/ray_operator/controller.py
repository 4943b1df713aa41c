"""A level-triggered control loop: a deduplicating work queue, workers and a periodic resync.

Watch events (from kopf handlers) only enqueue an object's key; a worker then reconciles the
object from its current state. A key is processed by one worker at a time; adding a key
that is queued keeps the earlier due time, adding a key that is being processed queues it
again once the worker is done. A failing reconcile is retried with exponential backoff for
that key alone, so one broken object never slows down the others.

A reconcile returns None (done), a delay after which to look again, or `Retry` (its actions
failed and it chose when to try again itself); `metrics.py` counts each result under
controller-runtime's names, and the queue reports its adds, retries and waits.

Shutdown drains: `shutdown()` closes the queue, idle workers return at once, busy ones finish
the reconcile they are in (so no create or status patch is cut in half) and then return.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from loguru import logger

from ray_operator.metrics import (
    NO_QUEUE_METRICS,
    NO_RECONCILE_METRICS,
    QueueMetrics,
    ReconcileMetrics,
)

K = TypeVar("K", bound=Hashable)


class Timer(Protocol):
    """The queue's and the controller's time: a clock, a wait that an event cuts short, and a
    sleep. Tests pass one whose time moves only when they advance it."""

    def now(self) -> float: ...
    async def wait(self, event: asyncio.Event, limit: float | None) -> None: ...
    async def sleep(self, seconds: float) -> None: ...


class MonotonicTimer:
    def now(self) -> float:
        return time.monotonic()

    async def wait(self, event: asyncio.Event, limit: float | None) -> None:
        """Until `event` is set or `limit` seconds have passed (None: no limit)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), limit)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


MONOTONIC = MonotonicTimer()


@dataclass(frozen=True)
class Retry:
    """A reconcile whose actions failed: an error for the metrics, looked at again after
    `delay` (the per-object backoff the reconcile applied), not after the queue's own."""

    delay: float | None


Reconcile = Callable[[K], Awaitable[float | Retry | None]]


class QueueClosedError(Exception):
    """The queue was closed while waiting for a key."""


class WorkQueue(Generic[K]):
    def __init__(
        self,
        timer: Timer = MONOTONIC,
        metrics: QueueMetrics = NO_QUEUE_METRICS,
    ) -> None:
        self._clock = timer.now
        self._timer = timer
        self._metrics = metrics
        self._due: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._processing: dict[K, float] = {}  # key -> when a worker took it
        self._dirty: dict[K, float] = {}
        self._sequence = itertools.count()
        self._wakeup = asyncio.Event()
        self._closed = False

    def __len__(self) -> int:
        return len(self._due)

    @property
    def processing(self) -> int:
        return len(self._processing)

    def depth(self) -> int:
        """Keys due now and waiting for a worker (client-go's depth: delayed keys not counted)."""
        now = self._clock()
        return sum(1 for due in self._due.values() if due <= now)

    def running_for(self) -> list[float]:
        """How long each key being processed has been."""
        now = self._clock()
        return [now - taken for taken in self._processing.values()]

    def add(self, key: K, delay: float = 0.0) -> None:
        due = self._clock() + max(0.0, delay)
        if key in self._processing:
            self._dirty[key] = min(due, self._dirty.get(key, due))
            return
        self._schedule(key, due)

    def _schedule(self, key: K, due: float) -> None:
        current = self._due.get(key)
        if current is not None and current <= due:
            return
        if current is None:
            self._metrics.adds()
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._sequence), key))
        self._wakeup.set()

    async def get(self) -> K:
        while True:
            if self._closed:
                raise QueueClosedError
            now = self._clock()
            while self._heap:
                due, _, key = self._heap[0]
                if self._due.get(key) != due:
                    heapq.heappop(self._heap)  # superseded by an earlier due time, or forgotten
                    continue
                if due > now:
                    break
                heapq.heappop(self._heap)
                del self._due[key]
                self._processing[key] = now
                self._metrics.queued(now - due)
                return key
            timeout = self._heap[0][0] - now if self._heap else None
            self._wakeup.clear()
            await self._timer.wait(self._wakeup, timeout)

    def done(self, key: K) -> None:
        taken = self._processing.pop(key, None)
        if taken is not None:
            self._metrics.worked(self._clock() - taken)
        due = self._dirty.pop(key, None)
        if due is not None:
            self._schedule(key, due)

    def forget(self, key: K) -> None:
        self._due.pop(key, None)
        self._dirty.pop(key, None)

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()


@dataclass
class Stats:
    reconciles: int = 0
    errors: int = 0
    started: float = field(default_factory=time.monotonic)


def backoff_delay(failures: int, base: float, cap: float) -> float:
    return float(min(cap, base * 2 ** max(0, failures - 1)))


class Controller(Generic[K]):
    """Runs `reconcile(key)` for enqueued keys; its result is an optional requeue delay, or
    `Retry`."""

    def __init__(
        self,
        name: str,
        reconcile: Reconcile[K],
        *,
        workers: int = 4,
        resync_period: float = 60.0,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        kind: str | None = None,
        timer: Timer = MONOTONIC,
        metrics: ReconcileMetrics = NO_RECONCILE_METRICS,
        queue_metrics: QueueMetrics = NO_QUEUE_METRICS,
    ) -> None:
        self.name = name
        self.kind = kind
        self._reconcile = reconcile
        self.workers = workers
        self._resync_period = resync_period
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._timer = timer
        self._metrics = metrics
        self._queue_metrics = queue_metrics
        self.queue: WorkQueue[K] = WorkQueue(timer, queue_metrics)
        self.known: set[K] = set()
        self._failures: dict[K, int] = {}
        self.stats = Stats()

    def enqueue(self, key: K, delay: float = 0.0) -> None:
        self.known.add(key)
        self.queue.add(key, delay)

    def forget(self, key: K) -> None:
        self.known.discard(key)
        self.queue.forget(key)
        self._failures.pop(key, None)

    @property
    def in_flight(self) -> int:
        """Keys being reconciled right now."""
        return self.queue.processing

    def shutdown(self) -> None:
        """Stop taking keys; run() returns once the reconciles in flight are done."""
        self.queue.close()

    async def run(self) -> None:
        """Work until shutdown() (after in-flight reconciles end) or cancellation."""
        workers = [
            asyncio.create_task(self._work(), name=f"{self.name}-worker-{i}")
            for i in range(self.workers)
        ]
        resync = asyncio.create_task(self._resync(), name=f"{self.name}-resync")
        try:
            await asyncio.gather(*workers)
        finally:
            self.queue.close()
            for task in (*workers, resync):
                task.cancel()
            await asyncio.gather(*workers, resync, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except QueueClosedError:
                return
            started = self._timer.now()
            try:
                result = await self._reconcile(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                delay = backoff_delay(failures, self._base_delay, self._max_delay)
                logger.opt(exception=True).bind(**self._describe(key)).error(
                    "reconcile failed; retrying in {delay:.0f}s", delay=delay
                )
                self._finish("error")
                self._retry(key, delay)
            else:
                self._failures.pop(key, None)
                if isinstance(result, Retry):
                    self._finish("error")
                    self._retry(key, result.delay)
                else:
                    self._finish(
                        "success" if result is None else "requeue_after" if result else "requeue"
                    )
                    if result is not None and key in self.known:
                        self.queue.add(key, result)
            finally:
                self._metrics.took(self._timer.now() - started)
                self.queue.done(key)
            # A pass that never awaits, requeued at once, must not starve the event loop.
            await asyncio.sleep(0)

    def _finish(self, result: str) -> None:
        self.stats.reconciles += 1
        if result == "error":
            self.stats.errors += 1
        self._metrics.result(result)

    def _retry(self, key: K, delay: float | None) -> None:
        if key in self.known and delay is not None:
            self._queue_metrics.retries()
            self.queue.add(key, delay)

    def _describe(self, key: K) -> dict[str, str]:
        """Log fields naming the object: kind/namespace/name for (namespace, name) keys."""
        fields = {"controller": self.name}
        if isinstance(key, tuple) and len(key) == 2:
            fields.update(namespace=str(key[0]), name=str(key[1]))
            if self.kind:
                fields["kind"] = self.kind
        else:
            fields["key"] = str(key)
        return fields

    async def _resync(self) -> None:
        while True:
            await self._timer.sleep(self._resync_period)
            spread = min(5.0, self._resync_period / 4)
            for key in list(self.known):
                self.queue.add(key, random.uniform(0.0, spread))
