"""The client-side rate limiter and kopf's retry delays."""

from __future__ import annotations

import asyncio
import random

import pytest

from ray_operator.throttle import RetryDelays, TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_a_burst_goes_out_at_once_then_requests_are_paced_at_qps() -> None:
    time = FakeTime()
    bucket = TokenBucket(10, 5, clock=time.clock, sleep=time.sleep)
    for _ in range(5):
        await bucket.acquire()
    assert time.slept == []
    for _ in range(5):
        await bucket.acquire()
    assert time.now - 100.0 == pytest.approx(0.5)
    assert bucket.waited_seconds == pytest.approx(0.5)


async def test_idle_time_refills_up_to_the_burst_only() -> None:
    time = FakeTime()
    bucket = TokenBucket(10, 3, clock=time.clock, sleep=time.sleep)
    for _ in range(3):
        await bucket.acquire()
    time.now += 3600  # an hour idle buys a burst of 3, not 36000 requests
    for _ in range(4):
        await bucket.acquire()
    assert bucket.waited_seconds == pytest.approx(0.1)


async def test_waiters_are_served_in_arrival_order() -> None:
    bucket = TokenBucket(1000, 1)
    order: list[int] = []

    async def request(n: int) -> None:
        await bucket.acquire()
        order.append(n)

    await asyncio.gather(*(request(n) for n in range(6)))
    assert order == list(range(6))


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="qps"):
        TokenBucket(0, 1)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(1, 0)


def test_retry_delays_double_to_the_cap_with_jitter_and_can_be_reused() -> None:
    delays = RetryDelays(first=1, cap=30, attempts=40, jitter=0.5, rng=random.Random(7))
    first, second = list(delays), list(delays)
    assert len(delays) == 40
    assert len(first) == 40
    assert first != second, "each use draws new jitter"
    for attempt, delay in enumerate(first):
        nominal = min(30, 2**attempt)
        assert 0.5 * nominal <= delay <= 1.5 * nominal
    assert sum(first) > 10 * 60, "an apiserver outage of ten minutes is waited out"
