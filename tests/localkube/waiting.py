"""Polling with a deadline, for every harness and test: tests never assert on elapsed time,
they wait (generously) for a state and fail naming what they waited for."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(
    what: str,
    check: Callable[[], Any],
    timeout: float = 90,
    interval: float = 0.2,
    ignore: tuple[type[Exception], ...] = (),
) -> Any:
    """Poll `check` until it returns something truthy and return that; exceptions of the
    `ignore` types count as "not yet". Raise AssertionError naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except ignore as error:
            last = error
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last seen: {last!r}")
