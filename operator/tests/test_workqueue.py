"""The work queue and controller: dedupe, ordering, one worker per key, backoff. Time is a
FakeTimer: the tests advance it, and wait for nothing but the event loop."""

from __future__ import annotations

import asyncio

import pytest
from fake_timer import FakeTimer, settle

from ray_operator.controller import Controller, QueueClosedError, WorkQueue, backoff_delay


async def test_keys_are_deduplicated_and_ordered_by_due_time() -> None:
    timer = FakeTimer()
    queue: WorkQueue[str] = WorkQueue(timer)
    queue.add("late", 5)
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert len(queue) == 3
    assert [await queue.get(), await queue.get()] == ["a", "b"]
    late = asyncio.create_task(queue.get())
    await timer.advance(4.9)
    assert not late.done(), "not due yet"
    await timer.advance(0.1)
    assert late.done()
    assert late.result() == "late"


async def test_an_earlier_add_moves_the_key_forward() -> None:
    timer = FakeTimer()
    queue: WorkQueue[str] = WorkQueue(timer)
    queue.add("x", 60)
    queue.add("y", 2)
    queue.add("x", 0)
    assert await queue.get() == "x"
    y = asyncio.create_task(queue.get())
    await timer.advance(2)
    assert y.result() == "y"
    assert len(queue) == 0, "x's later due time was superseded, not kept"


async def test_a_key_is_not_handed_out_twice_while_processing() -> None:
    queue: WorkQueue[str] = WorkQueue(FakeTimer())
    queue.add("k")
    assert await queue.get() == "k"
    queue.add("k")
    queue.add("other")
    assert await queue.get() == "other"
    waiter = asyncio.create_task(queue.get())
    await settle()
    assert not waiter.done(), "k is dirty but still being processed"
    queue.done("k")
    assert await waiter == "k"


async def test_forget_and_close() -> None:
    queue: WorkQueue[str] = WorkQueue(FakeTimer())
    queue.add("gone")
    queue.forget("gone")
    queue.add("kept")
    assert await queue.get() == "kept"
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.close()
    with pytest.raises(QueueClosedError):
        await waiter


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff_delay(n, 1.0, 10.0) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


async def test_controller_retries_failures_with_backoff_and_isolates_keys() -> None:
    calls: list[str] = []
    healthy_done = asyncio.Event()
    recovered = asyncio.Event()

    async def reconcile(key: str) -> float | None:
        calls.append(key)
        if key == "healthy":
            healthy_done.set()
            return None
        if calls.count("broken") < 3:
            raise RuntimeError("transient")
        recovered.set()
        return None

    timer = FakeTimer()
    controller: Controller[str] = Controller(
        "test", reconcile, workers=2, base_delay=1, max_delay=5, timer=timer
    )
    runner = asyncio.create_task(controller.run())
    controller.enqueue("broken")
    controller.enqueue("healthy")
    await settle()
    assert healthy_done.is_set()
    assert calls.count("broken") == 1
    await timer.advance(0.9)
    assert calls.count("broken") == 1, "the first retry waits base_delay"
    await timer.advance(0.1)
    assert calls.count("broken") == 2
    await timer.advance(1.9)
    assert calls.count("broken") == 2, "the second retry waits twice as long"
    await timer.advance(0.1)
    assert recovered.is_set()
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert calls.count("broken") == 3
    assert calls.count("healthy") == 1
    assert controller.stats.errors == 2


async def test_controller_requeues_when_asked_and_forgets_deleted_keys() -> None:
    seen: list[str] = []
    twice = asyncio.Event()

    async def reconcile(key: str) -> float | None:
        seen.append(key)
        if len(seen) == 2:
            twice.set()
        return 10 if key == "again" else None

    timer = FakeTimer()
    controller: Controller[str] = Controller("test", reconcile, workers=1, timer=timer)
    runner = asyncio.create_task(controller.run())
    controller.enqueue("again")
    await settle()
    await timer.advance(10)
    assert twice.is_set()
    controller.forget("again")
    await timer.advance(10)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert seen == ["again", "again"], "a forgotten key is not requeued"
    assert "again" not in controller.known


async def test_failure_logs_name_the_object() -> None:
    from loguru import logger

    records: list[dict[str, object]] = []
    sink = logger.add(lambda message: records.append(dict(message.record["extra"])), level="ERROR")
    done = asyncio.Event()

    async def reconcile(key: tuple[str, str]) -> float | None:
        done.set()
        raise RuntimeError("boom")

    controller: Controller[tuple[str, str]] = Controller(
        "raycluster", reconcile, workers=1, base_delay=60, kind="RayCluster", timer=FakeTimer()
    )
    runner = asyncio.create_task(controller.run())
    controller.enqueue(("ns", "demo"))
    await settle()
    assert done.is_set()
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    logger.remove(sink)
    assert records[0]["kind"] == "RayCluster"
    assert (records[0]["namespace"], records[0]["name"]) == ("ns", "demo")


async def test_shutdown_lets_the_reconcile_in_flight_finish_and_starts_no_other() -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    async def reconcile(key: str) -> float | None:
        started.set()
        await release.wait()
        finished.append(key)
        return None

    timer = FakeTimer()
    controller: Controller[str] = Controller(
        "test", reconcile, workers=1, resync_period=1, timer=timer
    )
    runner = asyncio.create_task(controller.run())
    controller.enqueue("busy")
    controller.enqueue("waiting")
    await settle()
    assert started.is_set()
    assert controller.in_flight == 1
    controller.shutdown()
    await timer.advance(5)  # resyncs come due: they must not start "waiting" either
    assert not runner.done(), "run() must wait for the reconcile in flight"
    release.set()
    await settle()
    assert runner.done()
    assert finished == ["busy"]
    assert controller.in_flight == 0
