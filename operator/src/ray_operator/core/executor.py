"""Carries out a decision's actions against the apiserver, idempotently, and reports them.

Every write goes through here: its Event (success or failure), its log line, and the
expectation it leaves for the owner (a created object until a cache shows it, a deleted one
until a cache shows it terminating or gone; see `core/memory.py`). Failures are collected
in the `Outcome`, never raised, except when the kind stops at the first failure (a RayJob
writes no status after a failed action, so its next pass retries the same step).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger

from ray_operator.core.actions import (
    Correct,
    Create,
    Delete,
    Emit,
    Failure,
    MergePatch,
    Outcome,
    Parallel,
    Report,
    SlowStart,
)
from ray_operator.core.memory import Memory
from ray_operator.core.store import Store, meta, uid_of
from ray_operator.events import EventRecorder, ObjectRef
from ray_operator.kubeapi import ApiError, Json, KubeApi
from ray_operator.reasons import EventType

Perform = Callable[[Any, "Executor", Outcome], Awaitable[None]]


class StopError(Exception):
    """An action failed and the kind stops at the first failure."""


def without_generated_name(message: str, generate_name: str) -> str:
    """The apiserver names the would-be object ("c-workers-worker-x7k2p") in its errors; drop
    the random suffix so repeated failures read the same and aggregate into one Event."""
    if not generate_name:
        return message
    return re.sub(re.escape(generate_name) + r"[a-z0-9]{5}\b", generate_name, message)


@dataclass
class Executor:
    api: KubeApi
    events: EventRecorder
    ref: ObjectRef
    memory: Memory
    stores: Sequence[Store]  # the caches created objects show up in
    now: float
    log: Any = logger
    perform: Perform | None = None
    stop_at_failure: bool = False

    async def run(self, actions: Sequence[Any]) -> Outcome:
        outcome = Outcome()
        try:
            for action in actions:
                await self._one(action, outcome)
        except StopError:
            outcome.stopped = True
        return outcome

    async def _one(self, action: Any, outcome: Outcome) -> None:
        if isinstance(action, Parallel):
            # Each branch records into its own outcome, merged in the declared order, so the
            # first failure reported is the same from one pass to the next.
            branches = [Outcome() for _ in action.actions]
            results = await asyncio.gather(
                *(self._one(a, o) for a, o in zip(action.actions, branches, strict=True)),
                return_exceptions=True,
            )
            for branch in branches:
                outcome.merge(branch)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        elif isinstance(action, SlowStart):
            await self._slow_start(action.creates, outcome)
        elif isinstance(action, Create):
            await self.create(action, outcome)
        elif isinstance(action, Delete):
            await self.delete(action, outcome)
        elif isinstance(action, Correct):
            await self.correct(action, outcome)
        elif isinstance(action, MergePatch):
            await self.merge_patch(action, outcome)
        elif isinstance(action, Emit):
            await self.emit(action.type_, action.reason, action.message)
        elif self.perform is not None:
            await self.perform(action, self, outcome)
        else:  # pragma: no cover - a kind that returns actions it cannot perform
            raise TypeError(f"no way to perform {action!r}")

    async def emit(self, type_: EventType, reason: str, message: str) -> None:
        await self.events.emit(self.ref, type_, reason, message)
        (self.log.warning if type_ is EventType.WARNING else self.log.info)(message)

    async def done(self, report: Report | None, name: str) -> None:
        if report is not None:
            await self.emit(EventType.NORMAL, report.reason, report.text.format(name=name))

    async def fail(
        self, outcome: Outcome, report: Report | None, tag: str, name: str, error: ApiError
    ) -> None:
        text = report.text.format(name=name) if report else f"Failed to write {name}"
        message = f"{text}: {error.message}"
        outcome.failures.append(Failure(tag or (report.reason if report else ""), message))
        if report is not None:
            await self.emit(EventType.WARNING, report.reason, message)
        else:
            self.log.warning(message)
        if self.stop_at_failure:
            raise StopError

    def _seen(self, uid: str) -> bool:
        return any(store.by_uid(uid) is not None for store in self.stores)

    async def _slow_start(self, creates: Sequence[Create], outcome: Outcome) -> None:
        size, index = 1, 0
        while index < len(creates):
            batch = creates[index : index + size]
            before = len(outcome.failures)
            await asyncio.gather(*(self.create(c, outcome) for c in batch))
            if len(outcome.failures) > before:
                return
            index += len(batch)
            size *= 2

    async def create(self, action: Create, outcome: Outcome) -> Json | None:
        m = action.manifest.get("metadata") or {}
        prefix = str(m.get("generateName") or "")
        try:
            created = await self.api.create(action.collection, action.manifest)
        except ApiError as error:
            if error.already_exists and m.get("name"):
                return None  # made by an earlier pass whose answer was lost
            error.message = without_generated_name(error.message, prefix)
            await self.fail(outcome, action.failed, action.tag, str(m.get("name") or prefix), error)
            return None
        uid = uid_of(created)
        if uid and not self._seen(uid):
            self.memory.expect(self.now, created=[uid])
        outcome.created.append(created)
        await self.done(action.done, str(meta(created).get("name", "")))
        return created

    async def delete(self, action: Delete, outcome: Outcome) -> None:
        name = action.path.rsplit("/", 1)[-1]
        try:
            answer = await self.api.delete(action.path)
        except ApiError as error:
            if error.not_found:
                return
            await self.fail(outcome, action.failed, action.tag, name, error)
            return
        uid = uid_of(answer) if answer.get("kind") != "Status" else ""
        uid = uid or str((answer.get("details") or {}).get("uid") or "")
        if uid and any(
            (held := store.by_uid(uid)) is not None and not meta(held).get("deletionTimestamp")
            for store in self.stores
        ):
            self.memory.expect(self.now, deleted=[uid])
        outcome.deleted.append(action.path)
        await self.done(action.done, name)

    async def correct(self, action: Correct, outcome: Outcome) -> None:
        name = str(action.desired["metadata"]["name"])
        if action.actual is None:
            create = Create(
                action.collection,
                action.desired,
                action.created,
                action.failed_create,
                action.tag or str(action.failed_create.reason),
            )
            created = await self.create(create, outcome)
            if created is not None:
                outcome.written[f"{action.collection}/{name}"] = created
            return
        operations = action.diff(action.desired, action.actual)
        if not operations:
            return
        version = meta(action.actual).get("resourceVersion")
        guard = [{"op": "test", "path": "/metadata/resourceVersion", "value": version}]
        path = f"{action.collection}/{name}"
        try:
            written = await self.api.json_patch(path, guard + operations if version else operations)
        except ApiError as error:
            await self.fail(outcome, action.failed_update, action.tag, name, error)
            return
        outcome.written[path] = written
        await self.done(action.updated, name)

    async def merge_patch(self, action: MergePatch, outcome: Outcome) -> None:
        name = action.path.rsplit("/", 1)[-1]
        try:
            written = await self.api.merge_patch(action.path, action.patch)
        except ApiError as error:
            if error.not_found and action.missing_ok:
                return
            await self.fail(outcome, action.failed, action.tag, name, error)
            return
        outcome.written[action.path] = written
        await self.done(action.done, name)
