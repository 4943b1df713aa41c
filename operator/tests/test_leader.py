"""Lease decisions of a leader-election candidate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ray_operator.leader import Decision, decide, micro_time

NOW = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)


def lease(holder: str | None, renewed: datetime | None, duration: int = 15) -> dict[str, Any]:
    spec: dict[str, Any] = {"leaseDurationSeconds": duration}
    if holder is not None:
        spec["holderIdentity"] = holder
    if renewed is not None:
        spec["renewTime"] = micro_time(renewed)
    return {"spec": spec}


def test_no_lease_is_created() -> None:
    assert decide(None, "me", NOW) is Decision.CREATE


def test_own_lease_is_renewed() -> None:
    assert decide(lease("me", NOW - timedelta(seconds=100)), "me", NOW) is Decision.RENEW


def test_fresh_foreign_lease_is_respected() -> None:
    assert decide(lease("other", NOW - timedelta(seconds=5)), "me", NOW) is Decision.WAIT


def test_expired_or_released_lease_is_taken_over() -> None:
    assert decide(lease("other", NOW - timedelta(seconds=16)), "me", NOW) is Decision.TAKE_OVER
    assert decide(lease(None, None), "me", NOW) is Decision.TAKE_OVER
    assert decide(lease("", NOW), "me", NOW) is Decision.TAKE_OVER


def test_micro_time_format() -> None:
    assert micro_time(NOW) == "2024-01-01T12:00:00.000000Z"
