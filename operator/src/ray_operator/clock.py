"""Time as the Kubernetes API writes it: UTC, RFC 3339, whole seconds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_time(value: Any) -> datetime | None:
    """A timestamp read from a custom resource, or None when it is not an RFC 3339 time with
    a zone (anyone allowed to write a status or an annotation can put anything there)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = parse_rfc3339(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
