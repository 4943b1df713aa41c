"""The work queue and controller: dedupe, ordering, one worker per key, backoff."""

from __future__ import annotations

import asyncio

import pytest

from ray_operator.controller import Controller, QueueClosedError, WorkQueue, backoff_delay


async def test_keys_are_deduplicated_and_ordered_by_due_time() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("late", 0.05)
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert len(queue) == 3
    got = [await queue.get() for _ in range(3)]
    assert got == ["a", "b", "late"]


async def test_an_earlier_add_moves_the_key_forward() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("x", 60)
    queue.add("y", 0.02)
    queue.add("x", 0)
    assert await queue.get() == "x"
    assert await queue.get() == "y"


async def test_a_key_is_not_handed_out_twice_while_processing() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("k")
    assert await queue.get() == "k"
    queue.add("k")
    queue.add("other")
    assert await queue.get() == "other"
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0.01)
    assert not waiter.done(), "k is dirty but still being processed"
    queue.done("k")
    assert await waiter == "k"


async def test_forget_and_close() -> None:
    queue: WorkQueue[str] = WorkQueue()
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

    controller: Controller[str] = Controller(
        "test", reconcile, workers=2, base_delay=0.01, max_delay=0.05
    )
    runner = asyncio.create_task(controller.run())
    controller.enqueue("broken")
    controller.enqueue("healthy")
    await asyncio.wait_for(healthy_done.wait(), 10)
    await asyncio.wait_for(recovered.wait(), 10)
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
        return 0.01 if key == "again" else None

    controller: Controller[str] = Controller("test", reconcile, workers=1)
    runner = asyncio.create_task(controller.run())
    controller.enqueue("again")
    await asyncio.wait_for(twice.wait(), 10)
    controller.forget("again")
    await asyncio.sleep(0.05)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert 2 <= len(seen) <= 3
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
        "raycluster", reconcile, workers=1, base_delay=60, kind="RayCluster"
    )
    runner = asyncio.create_task(controller.run())
    controller.enqueue(("ns", "demo"))
    await asyncio.wait_for(done.wait(), 10)
    await asyncio.sleep(0.05)
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

    controller: Controller[str] = Controller("test", reconcile, workers=1, resync_period=0.01)
    runner = asyncio.create_task(controller.run())
    controller.enqueue("busy")
    controller.enqueue("waiting")
    await asyncio.wait_for(started.wait(), 10)
    assert controller.in_flight == 1
    controller.shutdown()
    await asyncio.sleep(0.02)
    assert not runner.done(), "run() must wait for the reconcile in flight"
    release.set()
    await asyncio.wait_for(runner, 10)
    assert finished == ["busy"]
    assert controller.in_flight == 0
