"""A `controller.Timer` whose time moves only when a test advances it: queue and controller
tests wait for nothing but the event loop."""

from __future__ import annotations

import asyncio


class FakeTimer:
    def __init__(self, start: float = 1000.0) -> None:
        self.time = start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.time + seconds, future))
        try:
            await future
        finally:
            self._sleepers = [(d, f) for d, f in self._sleepers if f is not future]

    async def wait(self, event: asyncio.Event, limit: float | None) -> None:
        waiters = {asyncio.ensure_future(event.wait())}
        if limit is not None:
            waiters.add(asyncio.ensure_future(self.sleep(limit)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    async def advance(self, seconds: float) -> None:
        """Move time on, wake whoever is due, and let the event loop run what that starts."""
        self.time += seconds
        for deadline, future in list(self._sleepers):
            if deadline <= self.time and not future.done():
                future.set_result(None)
        await settle()


async def settle(rounds: int = 50) -> None:
    """Let every task that can run, run (the event loop's turns, not time)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
