"""What the operator remembers about one custom resource between passes, keyed by its uid.

controller-runtime keeps this in several places (the rate limiter, expectations, the
controller's own fields); here it is one record per object in one table, dropped when the
object is deleted. A RayCluster deleted and created again under the same name is a new
object with a new uid, so it starts with no backoff and no expectations.

- `failures`, `not_before`: the backoff after failed actions (pod creations rejected, a
  Service that cannot be written): no new attempt before `not_before`.
- `problems`: what the last failed attempt reported, kept (same reason, same message) while
  the backoff withholds the next attempt, so the status does not flap between "failed" and
  "no state" while the cause persists.
- expectations: objects this operator created or deleted for the owner that its caches
  have not shown yet. While any is outstanding (at most `EXPECTATION_TIMEOUT` seconds), the
  owner's reconciler creates and deletes nothing, so a cache that lags behind the operator's
  own writes never causes a duplicate pod or a second deletion.
- `notes`: small kind-specific values (a RayJob's last submission error).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ray_operator.core.store import meta, owner_uids, uid_of

EXPECTATION_TIMEOUT = 30.0


def backoff_delay(failures: int, base: float, cap: float) -> float:
    return float(min(cap, base * 2 ** max(0, failures - 1)))


@dataclass
class Memory:
    uid: str
    failures: int = 0
    not_before: float = 0.0
    problems: tuple[tuple[str, str], ...] = ()  # (reason, message) of the last failed attempt
    creations: set[str] = field(default_factory=set)  # uids created, not yet seen in a cache
    deletions: set[str] = field(default_factory=set)  # uids deleted, still seen as live
    expected_until: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    def waiting(self, now: float) -> bool:
        """Whether writes of this pass are still outstanding in the caches."""
        if not (self.creations or self.deletions):
            return False
        if now >= self.expected_until:
            self.creations.clear()
            self.deletions.clear()
            return False
        return True

    def expect(self, now: float, created: Iterable[str] = (), deleted: Iterable[str] = ()) -> None:
        before = len(self.creations) + len(self.deletions)
        self.creations.update(created)
        self.deletions.update(deleted)
        if len(self.creations) + len(self.deletions) > before:
            self.expected_until = now + EXPECTATION_TIMEOUT

    def failed(self, now: float, problems: list[tuple[str, str]], base: float, cap: float) -> float:
        """Record a failed attempt; the delay until the next one."""
        self.failures += 1
        self.problems = tuple(problems)
        delay = backoff_delay(self.failures, base, cap)
        self.not_before = now + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self.not_before = 0.0
        self.problems = ()

    def may_act(self, now: float) -> bool:
        return now >= self.not_before


class Memories:
    """The table of `Memory` by uid. Caches report the objects they see (`observe`), which
    settles expectations; `drop` forgets a deleted object."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.monotonic = monotonic
        self._by_uid: dict[str, Memory] = {}

    def __len__(self) -> int:
        return len(self._by_uid)

    def of(self, uid: str) -> Memory:
        memory = self._by_uid.get(uid)
        if memory is None:
            memory = self._by_uid[uid] = Memory(uid)
        return memory

    def drop(self, uid: str) -> None:
        self._by_uid.pop(uid, None)

    def observe(self, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> None:
        """A cache changed: an owned object appeared, is terminating, or is gone."""
        obj = after if after is not None else before
        if obj is None:
            return
        uid = uid_of(obj)
        gone = after is None or bool(meta(after).get("deletionTimestamp"))
        for owner in owner_uids(obj):
            memory = self._by_uid.get(owner)
            if memory is None:
                continue
            if gone:
                memory.deletions.discard(uid)
                if after is None:
                    memory.creations.discard(uid)
            else:
                memory.creations.discard(uid)
