"""The exporter's client-side rate limit of LIST and WATCH requests."""

from __future__ import annotations

import threading

import pytest

from ray_exporter.kube import RateLimiter
from ray_exporter.settings import load_settings


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_a_burst_then_one_request_per_tick() -> None:
    time = FakeTime()
    limiter = RateLimiter(4, 2, clock=time.clock, sleep=time.sleep)
    waits = [limiter.acquire() for _ in range(5)]
    assert waits[:2] == [0.0, 0.0]
    assert waits[2:] == pytest.approx([0.25, 0.25, 0.25])
    time.now += 100  # idle: the bucket refills to the burst, not beyond
    assert [limiter.acquire() for _ in range(3)] == pytest.approx([0.0, 0.0, 0.25])


def test_threads_share_one_budget_and_queue_behind_each_other() -> None:
    slept: list[float] = []
    limiter = RateLimiter(10, 3, clock=lambda: 0.0, sleep=slept.append)
    threads = [threading.Thread(target=limiter.acquire) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Three go at once; the other five reserved the next tokens: 0.1 s, 0.2 s, ... out.
    assert sorted(slept) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])


def test_flags_and_environment() -> None:
    settings = load_settings(["--kube-api-qps", "5"], {"RAY_EXPORTER_KUBE_API_BURST": "7"})
    assert (settings.kube_api_qps, settings.kube_api_burst) == (5.0, 7)
    assert (load_settings([], {}).kube_api_qps, load_settings([], {}).kube_api_burst) == (20.0, 40)
    for argv in (["--kube-api-qps", "0"], ["--kube-api-burst", "0"], ["--kube-api-qps", "x"]):
        with pytest.raises(SystemExit):
            load_settings(argv, {})
