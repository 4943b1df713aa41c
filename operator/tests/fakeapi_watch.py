"""Watch streams of the fake apiserver (`fakeapi.py`): the history of changes, one asyncio
queue per open watch, and the apiserver's rule for what each watcher sees.

The rule is the watch cache's: a change is compared against the watcher's filter
(namespace, name, label selector) before and after. Passing both is MODIFIED; passing only
after is ADDED (an object relabelled into the selector); passing only before is DELETED,
carrying the previous state with the change's resourceVersion (relabelled out, or removed).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from fakeapi_paths import Json, Key, Target, status_body
from fakeapi_selectors import Requirement, selects


@dataclass(frozen=True)
class Change:
    resource_version: int
    type: str  # ADDED, MODIFIED or DELETED
    key: Key
    object: Json  # the state after; for DELETED the last state, with the deletion's version
    previous: Json | None


@dataclass(eq=False)
class Watcher:
    target: Target
    requirements: list[Requirement]
    queue: asyncio.Queue[Json | None] = field(default_factory=asyncio.Queue)

    def covers(self, key: Key) -> bool:
        group, plural, namespace, name = key
        target = self.target
        return (
            (group, plural) == (target.group, target.plural)
            and (target.namespace is None or namespace == target.namespace)
            and (target.name is None or name == target.name)
        )

    def passes(self, obj: Json | None) -> bool:
        return obj is not None and selects(self.requirements, obj["metadata"].get("labels"))

    def event(self, change: Change) -> Json | None:
        if not self.covers(change.key):
            return None
        now = change.type != "DELETED" and self.passes(change.object)
        before = self.passes(change.previous)
        if now:
            return {"type": "MODIFIED" if before else "ADDED", "object": change.object}
        if before:
            assert change.previous is not None
            gone = copy.deepcopy(change.previous)
            gone["metadata"]["resourceVersion"] = str(change.resource_version)
            return {"type": "DELETED", "object": gone}
        return None


def expired_event(since: int, oldest: int) -> Json:
    message = f"too old resource version: {since} ({oldest})"
    return {"type": "ERROR", "object": status_body(410, "Expired", message)}


class WatchHub:
    def __init__(self) -> None:
        self.history: list[Change] = []
        self.compacted = 0  # versions at or below this one are gone from the history
        self._watchers: set[Watcher] = set()

    @property
    def open_watches(self) -> int:
        return len(self._watchers)

    def record(self, change: Change) -> None:
        self.history.append(change)
        for watcher in self._watchers:
            event = watcher.event(change)
            if event is not None:
                watcher.queue.put_nowait(event)

    def compact(self, resource_version: int) -> None:
        self.history = [c for c in self.history if c.resource_version > resource_version]
        self.compacted = max(self.compacted, resource_version)

    def open(self, watcher: Watcher, since: int) -> list[Json]:
        """Registers `watcher`; returns the events after `since` it has to see first."""
        self._watchers.add(watcher)
        backlog = (watcher.event(c) for c in self.history if c.resource_version > since)
        return [event for event in backlog if event is not None]

    async def events(
        self, watcher: Watcher, backlog: list[Json], timeout_seconds: float
    ) -> AsyncIterator[Json]:
        """The backlog, then live events until `end_all`, or `timeout_seconds` of loop time
        (the apiserver closes a watch after its timeoutSeconds), or the consumer stops."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds
        try:
            for event in backlog:
                yield copy.deepcopy(event)
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), remaining)
                except TimeoutError:
                    return
                if event is None:
                    return
                yield copy.deepcopy(event)
        finally:
            self._watchers.discard(watcher)

    def bookmark(self, resource_version: int) -> None:
        for watcher in self._watchers:
            bookmark = {
                "kind": watcher.target.kind,
                "apiVersion": watcher.target.api_version,
                "metadata": {"resourceVersion": str(resource_version)},
            }
            watcher.queue.put_nowait({"type": "BOOKMARK", "object": bookmark})

    def end_all(self, last_event: Json | None = None) -> None:
        for watcher in self._watchers:
            if last_event is not None:
                watcher.queue.put_nowait(last_event)
            watcher.queue.put_nowait(None)
