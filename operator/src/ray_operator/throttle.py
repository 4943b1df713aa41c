"""Easing the pressure on the apiserver: a token bucket for our requests (--kube-api-qps,
--kube-api-burst), and jittered retry delays for kopf's watches.

Up to `burst` requests go out at once; beyond that, requests wait so that no more than `qps`
per second leave on average. Waiters are served in arrival order. The same idea as
client-go's default limiter: a flood of work (a resync of thousands of objects, every watch
reconnecting after an apiserver restart) becomes a steady stream instead of a storm.

`RetryDelays` is what kopf waits between attempts of a failed request (its watch streams
included): doubling up to a cap, each delay scaled by a random factor so that replicas and
streams do not retry in lockstep, and long enough in total (about 18 minutes by default)
that an apiserver which is not up yet, or restarting, is waited for rather than fatal.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator


class TokenBucket:
    def __init__(
        self,
        qps: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError(f"need qps > 0 and burst >= 1, got qps={qps} burst={burst}")
        self._qps = qps
        self._burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self.waited_seconds = 0.0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._qps)
        self._updated = now

    async def acquire(self) -> float:
        """Wait until a request may go out; how long that was, in seconds.

        Each caller reserves the next token at once (the balance may go negative) and sleeps
        until it is due, so callers leave in arrival order and no loop spins on rounding.
        """
        self._refill()
        self._tokens -= 1
        if self._tokens >= 0:
            return 0.0
        delay = -self._tokens / self._qps
        self.waited_seconds += delay
        await self._sleep(delay)
        return delay


class RetryDelays:
    """A re-iterable, sized sequence of jittered exponential delays (kopf's error_backoffs)."""

    def __init__(
        self,
        *,
        first: float = 1.0,
        cap: float = 30.0,
        attempts: int = 40,
        jitter: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        self._first = first
        self._cap = cap
        self._attempts = attempts
        self._jitter = jitter
        self._rng = rng or random.Random()

    def __len__(self) -> int:
        return self._attempts

    def __iter__(self) -> Iterator[float]:
        for attempt in range(self._attempts):
            delay = min(self._cap, self._first * 2**attempt)
            yield delay * self._rng.uniform(1 - self._jitter, 1 + self._jitter)
