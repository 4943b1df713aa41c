"""What a kind's `decide` asks for, as data: API writes and the Events that report them.

The executor (`core/executor.py`) carries them out, each idempotently: creating what exists
(409 AlreadyExists on a fixed name) and deleting what is gone (404) count as done, and a
`Correct` of an object that already matches writes nothing. Every write has the Event a
success or a failure is reported with; a failure also becomes a problem of the pass
(`Failure`), which the kind turns into its status.

`Parallel` runs its actions at once; `SlowStart` creates in batches of 1, 2, 4, ... and stops
at the first failure, so a template the apiserver rejects (or an exhausted quota) costs one
request per pass instead of one per pod. Other actions run in order. Kind-specific actions
(a call to Ray's dashboard) are any other object; the kind's `perform` carries them out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ray_operator.reasons import EventType, Reason

Json = dict[str, Any]
Diff = Callable[[Mapping[str, Any], Mapping[str, Any]], list[Json]]  # desired, actual -> ops


@dataclass(frozen=True)
class Report:
    """The Event of an outcome: `text` may name the object with `{name}`."""

    reason: Reason
    text: str


@dataclass(frozen=True)
class Create:
    collection: str  # API path of the collection
    manifest: Json
    done: Report
    failed: Report
    tag: str = ""  # the failure's condition reason (FailedCreateWorkerPod), for the status


@dataclass(frozen=True)
class Delete:
    path: str
    done: Report
    failed: Report
    tag: str = ""


@dataclass(frozen=True)
class Correct:
    """Make the object at `path` match `desired` where `diff` finds a difference (a JSON
    patch, guarded by the resourceVersion it was computed from), or create it if absent."""

    collection: str
    desired: Json
    actual: Json | None  # as the cache holds it
    diff: Diff
    created: Report
    updated: Report
    failed_create: Report
    failed_update: Report
    tag: str = ""


@dataclass(frozen=True)
class MergePatch:
    path: str
    patch: Json
    done: Report | None
    failed: Report | None  # None: a failure is a problem of the pass, but no Event
    missing_ok: bool = True  # a 404 is not a failure (the object is gone)
    tag: str = ""


@dataclass(frozen=True)
class Emit:
    type_: EventType
    reason: Reason
    message: str


@dataclass(frozen=True)
class Parallel:
    actions: tuple[Any, ...]


@dataclass(frozen=True)
class SlowStart:
    creates: tuple[Create, ...]


@dataclass(frozen=True)
class Failure:
    """A write that failed: the condition reason (FailedCreateWorkerPod, or the Event reason
    when the action names none) and the message of its Event."""

    reason: str
    message: str


@dataclass
class Outcome:
    failures: list[Failure] = field(default_factory=list)
    created: list[Json] = field(default_factory=list)  # objects the apiserver answered with
    deleted: list[str] = field(default_factory=list)  # paths deleted
    written: dict[str, Json] = field(default_factory=dict)  # path -> object after a write
    stopped: bool = False  # an action failed and the kind stops at the first failure

    def merge(self, other: Outcome) -> None:
        self.failures += other.failures
        self.created += other.created
        self.deleted += other.deleted
        self.written.update(other.written)
        self.stopped = self.stopped or other.stopped

    @property
    def ok(self) -> bool:
        return not self.failures and not self.stopped


@dataclass
class Decision:
    """A kind's `decide`: the status to write (None: leave it), actions, Events, requeue."""

    status: Json | None
    actions: list[Any] = field(default_factory=list)
    events: list[Emit] = field(default_factory=list)
    requeue: float | None = None
