"""The one reconcile pass every kind plugs into.

    guards   the object is gone (nothing to do), being deleted (the kind's `deleting`), or
             managed by another controller (`spec.managedBy`): no further step.
    observe  the object as its watch delivered it (the primary store) and what it owns (the
             informers' stores); a kind may add what only Ray's dashboard knows.
    decide   pure: the desired status, the actions, the Events and when to look again.
    execute  `core/executor.py`, idempotent writes only, each reported by an Event.
    settle   pure: the status after the actions' outcome (a failed creation is a problem).
    write    one conditional merge patch of `status` when it differs from the stored one
             (409: the object moved on, look again shortly; 404: it is gone).

A pass whose actions failed returns `controller.Retry`: the work queue counts it as an error
and looks again when the pass said (after the object's own backoff), not on its own schedule.

Per-object memory (backoff, problems of the last failed attempt, expectations) lives in
`Memories` by uid. A pass makes API requests only to change something: a steady state (all
ready, nothing changing) makes none.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from loguru import logger

from ray_operator.clock import Clock, rfc3339, utc_now
from ray_operator.controller import Retry
from ray_operator.core.actions import Correct, Create, Decision, Outcome, Parallel, SlowStart
from ray_operator.core.executor import Executor, Perform
from ray_operator.core.memory import Memories, Memory
from ray_operator.core.store import Store, meta, uid_of
from ray_operator.events import EventRecorder, ObjectRef
from ray_operator.kubeapi import ApiError, Json, KubeApi, namespaced
from ray_operator.patches import merge_diff

Key = tuple[str, str]
CONFLICT_RETRY = 0.2  # seconds: the object changed while we looked; look again


@dataclass(frozen=True)
class Pass:
    """What one pass of one object knows besides the object itself."""

    body: Json
    memory: Memory
    now: datetime  # wall clock, for status timestamps
    monotonic: float  # for backoff and expectations
    log: Any

    @property
    def waiting(self) -> bool:
        """Writes of an earlier pass are not in the caches yet: create and delete nothing."""
        return self.memory.waiting(self.monotonic)


class Kind(Protocol):
    api_version: str
    plural: str
    kind: str
    stop_at_failure: bool  # a failed action ends the pass and the status is not written

    def manager(self, body: Mapping[str, Any]) -> str:
        """Another controller named by `spec.managedBy` ("" when it is ours)."""
        ...

    async def deleting(self, body: Json) -> None: ...

    async def observe(self, ctx: Pass) -> Any: ...

    def decide(self, ctx: Pass, observed: Any) -> Decision: ...

    def settle(
        self, ctx: Pass, observed: Any, decision: Decision, outcome: Outcome
    ) -> tuple[Json | None, float | None]:
        """The status to write after the actions, and when to look again."""
        ...

    def perform(self, ctx: Pass, observed: Any) -> Perform | None:
        """How this kind carries out its own (non-API) actions, if it has any."""
        ...


def creates(actions: Sequence[Any]) -> bool:
    """Whether any of `actions` (nested in Parallel or SlowStart) creates an object."""
    for action in actions:
        if isinstance(action, Create):
            return True
        if isinstance(action, Parallel) and creates(action.actions):
            return True
        if isinstance(action, SlowStart) and action.creates:
            return True
        if isinstance(action, Correct) and action.actual is None:
            return True
    return False


def status_patch(old: Mapping[str, Any], new: Mapping[str, Any], now: str) -> Json | None:
    """The merge patch of `status`, with lastUpdateTime, or None when only the time would
    change. kopf's bookkeeping (`status.kopf`) is left alone."""
    current = {k: v for k, v in old.items() if k not in ("lastUpdateTime", "kopf")}
    patch = merge_diff(current, {k: v for k, v in new.items() if k != "lastUpdateTime"})
    if not patch:
        return None
    patch["lastUpdateTime"] = now
    return patch


@dataclass
class Loop:
    kind: Kind
    api: KubeApi
    events: EventRecorder
    primary: Store
    owned: Sequence[Store]  # where the objects this kind creates show up
    memories: Memories
    clock: Clock = utc_now
    monotonic: Callable[[], float] = time.monotonic
    stamps_update_time: bool = True
    log_status: Callable[[Any, Json, Json], None] = field(default=lambda log, old, new: None)

    async def reconcile(self, key: Key) -> float | Retry | None:
        namespace, name = key
        log = logger.bind(kind=self.kind.kind, namespace=namespace, name=name)
        body = self.primary.get(namespace, name)
        if body is None:
            return None
        if meta(body).get("deletionTimestamp"):
            await self.kind.deleting(body)
            return None  # garbage collection removes the owned objects
        manager = self.kind.manager(body)
        if manager:
            log.debug("managed by {manager}; skipped", manager=manager)
            return None
        ctx = Pass(body, self.memories.of(uid_of(body)), self.clock(), self.monotonic(), log)
        observed = await self.kind.observe(ctx)
        decision = self.kind.decide(ctx, observed)
        if creates(decision.actions) and not await self._still_current(body):
            return CONFLICT_RETRY
        executor = Executor(
            self.api,
            self.events,
            ObjectRef.of(body),
            ctx.memory,
            self.owned,
            ctx.monotonic,
            log,
            self.kind.perform(ctx, observed),
            self.kind.stop_at_failure,
        )
        outcome = await executor.run(decision.actions)
        for written in outcome.written.values():
            for store in self.owned:
                if store.by_uid(uid_of(written)) is not None:
                    store.put(written)
        status, requeue = self.kind.settle(ctx, observed, decision, outcome)
        if status is not None and not outcome.stopped:
            requeue = await self._write(body, status, requeue, log)
        for event in decision.events:
            await executor.emit(event.type_, event.reason, event.message)
        if ctx.memory.creations or ctx.memory.deletions:
            left = max(0.0, ctx.memory.expected_until - ctx.monotonic)
            requeue = left if requeue is None else min(requeue, left)
        return requeue if outcome.ok else Retry(requeue)

    async def _still_current(self, body: Json) -> bool:
        """Before creating anything for `body`, one read of it from the apiserver: a watch can
        miss a deletion (a relist after 410 reports none), and children created for an owner
        that no longer exists would only be garbage collected again. False (after updating the
        store) when the object is gone or has moved on."""
        m = meta(body)
        path = namespaced(
            self.kind.api_version, self.kind.plural, str(m["namespace"]), str(m["name"])
        )
        try:
            fresh = await self.api.get(path)
        except ApiError as error:
            if not error.not_found:
                raise
            self.primary.delete(body)
            self.memories.drop(uid_of(body))
            return False
        if uid_of(fresh) != uid_of(body):
            self.primary.delete(body)
            self.memories.drop(uid_of(body))
            self.primary.put(fresh)
            return False
        if meta(fresh).get("resourceVersion") != m.get("resourceVersion"):
            self.primary.put(fresh)
            return False
        return True

    async def _write(
        self, body: Json, status: Json, requeue: float | None, log: Any
    ) -> float | None:
        old = body.get("status") if isinstance(body.get("status"), Mapping) else {}
        patch = status_patch(old or {}, status, rfc3339(self.clock()))
        if patch is None:
            return requeue
        if not self.stamps_update_time:
            patch.pop("lastUpdateTime", None)
            if not patch:
                return requeue
        m = meta(body)
        body_patch: Json = {"status": patch}
        if m.get("resourceVersion"):
            body_patch["metadata"] = {"resourceVersion": m["resourceVersion"]}
        path = namespaced(
            self.kind.api_version, self.kind.plural, str(m["namespace"]), str(m["name"]), "status"
        )
        try:
            written = await self.api.merge_patch(path, body_patch)
        except ApiError as error:
            if error.conflict:
                return CONFLICT_RETRY
            if error.not_found:
                return None
            raise
        self.primary.put(written)
        self.log_status(log, dict(old or {}), status)
        return requeue
