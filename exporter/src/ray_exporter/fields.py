"""Reading fields out of a custom resource dict without trusting its shape.

Everything the exporter reports comes from objects that any user with write
access can fill with anything. These helpers read one field at a time and
answer either a value of the expected type or `None`, recording a `Problem`
when the field is present but unusable. A problem is a value, not an
exception: the family that needed the field skips its series, the others carry
on, and the watcher counts the problem in `ray_exporter_object_errors_total`.

Timestamps are parsed from RFC 3339 text (Kubernetes writes `metav1.Time` as
`2024-05-01T12:00:00Z`, `metav1.MicroTime` with a fraction) into integer
nanoseconds since the epoch, so a duration is an exact integer difference and
renders the same bytes on every machine.
"""

from __future__ import annotations

import calendar
import enum
import re
from collections.abc import Mapping
from typing import Any


class Problem(enum.StrEnum):
    """Why a series could not be computed. The value is the `reason` label."""

    METADATA_NOT_OBJECT = "metadata_not_object"
    MISSING_IDENTITY = "missing_identity"
    STATUS_NOT_OBJECT = "status_not_object"
    FIELD_WRONG_TYPE = "field_wrong_type"
    CONDITIONS_NOT_LIST = "conditions_not_list"
    CONDITION_NOT_OBJECT = "condition_not_object"
    MISSING_TIMESTAMP = "missing_timestamp"
    INVALID_TIMESTAMP = "invalid_timestamp"
    NEGATIVE_DURATION = "negative_duration"
    ATTEMPT_HISTORY_NOT_LIST = "attempt_history_not_list"
    ATTEMPT_NOT_OBJECT = "attempt_not_object"
    INVALID_ATTEMPT = "invalid_attempt"
    DUPLICATE_ATTEMPT = "duplicate_attempt"
    INVALID_GENERATION = "invalid_generation"
    SPEC_NOT_OBJECT = "spec_not_object"
    WORKER_GROUPS_NOT_LIST = "worker_groups_not_list"
    INVALID_WORKER_GROUP = "invalid_worker_group"
    DUPLICATE_WORKER_GROUP = "duplicate_worker_group"
    INVALID_REPLICAS = "invalid_replicas"
    INVALID_TEXT = "invalid_text"
    RENDER_FAILED = "render_failed"


class Problems:
    """An ordered set of problems found while rendering one object."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[Problem, None] = {}

    def add(self, problem: Problem) -> None:
        self._seen[problem] = None

    def as_tuple(self) -> tuple[Problem, ...]:
        return tuple(self._seen)


_EMPTY: Mapping[str, Any] = {}


def section(
    obj: Mapping[str, Any], key: str, problem: Problem, found: Problems
) -> Mapping[str, Any]:
    """`obj[key]` as a mapping: absent or null is empty, anything else is a problem."""
    value = obj.get(key)
    if value is None:
        return _EMPTY
    if isinstance(value, Mapping):
        return value
    found.add(problem)
    return _EMPTY


def text(
    obj: Mapping[str, Any], key: str, found: Problems, default: str | None = None
) -> str | None:
    """`obj[key]` as a string; absent or null gives `default`, another type is a problem."""
    value = obj.get(key)
    if value is None:
        return default
    if isinstance(value, str):
        return value
    found.add(Problem.FIELD_WRONG_TYPE)
    return None


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def integer(obj: Mapping[str, Any], key: str, found: Problems, problem: Problem) -> int | None:
    """`obj[key]` as an int64, as Kubernetes stores integers (booleans are not ints here, and
    Python's unbounded ints beyond int64 are a problem too); absent or null gives None."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX:
        return value
    found.add(problem)
    return None


def conditions(status: Mapping[str, Any], found: Problems) -> dict[str, Mapping[str, Any]]:
    """The `status.conditions` list keyed by type; the last entry of a type wins."""
    raw = status.get("conditions")
    if raw is None:
        return {}
    if not isinstance(raw, list):
        found.add(Problem.CONDITIONS_NOT_LIST)
        return {}
    by_type: dict[str, Mapping[str, Any]] = {}
    for item in raw:
        if not isinstance(item, Mapping):
            found.add(Problem.CONDITION_NOT_OBJECT)
            continue
        kind = item.get("type")
        if not isinstance(kind, str):
            found.add(Problem.CONDITION_NOT_OBJECT)
            continue
        by_type[kind] = item
    return by_type


def condition_is_true(by_type: Mapping[str, Mapping[str, Any]], kind: str) -> bool:
    """True only when the condition exists with status exactly "True"."""
    item = by_type.get(kind)
    return item is not None and item.get("status") == "True"


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def parse_rfc3339(value: str) -> int | None:
    """Nanoseconds since the epoch for an RFC 3339 date-time, or None if it is not one.

    Accepts `Z` or a numeric offset and up to nine fractional digits (Kubernetes
    MicroTime writes six). A leap second (`:60`) counts as the next second.
    """
    match = _RFC3339.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    if not (1 <= month <= 12 and hour <= 23 and minute <= 59 and second <= 60):
        return None
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    if match.group(9):
        off_hours, off_minutes = int(match.group(10)), int(match.group(11))
        if off_hours > 23 or off_minutes > 59:
            return None
        offset = off_hours * 3600 + off_minutes * 60
        seconds -= offset if match.group(9) == "+" else -offset
    fraction = match.group(7) or ""
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    return seconds * 1_000_000_000 + nanos


def timestamp(obj: Mapping[str, Any], key: str, found: Problems) -> int | None:
    """`obj[key]` parsed as RFC 3339 into epoch nanoseconds, recording why not."""
    value = obj.get(key)
    if value is None or value == "":
        found.add(Problem.MISSING_TIMESTAMP)
        return None
    if not isinstance(value, str):
        found.add(Problem.INVALID_TIMESTAMP)
        return None
    parsed = parse_rfc3339(value)
    if parsed is None:
        found.add(Problem.INVALID_TIMESTAMP)
    return parsed


def duration_seconds(start_ns: int | None, end_ns: int | None, found: Problems) -> float | None:
    """`end - start` in seconds, or None when either is unknown or the result is negative."""
    if start_ns is None or end_ns is None:
        return None
    if end_ns < start_ns:
        found.add(Problem.NEGATIVE_DURATION)
        return None
    return (end_ns - start_ns) / 1e9
