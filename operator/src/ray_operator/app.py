"""The running operator: leader election, the informers, the controllers and kopf's watches
started in order and drained on SIGTERM (`wiring.py` builds them from the settings)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Awaitable
from typing import Any

import kopf
from kopf._cogs.structs.references import Insights  # kopf.operator(insights=...) takes one
from loguru import logger

from ray_operator.controller import Controller
from ray_operator.core.informer import Informer
from ray_operator.discovery import (
    ApiResource,
    describe,
    unresolved,
    wait_until_served,
    watched_resources,
)
from ray_operator.health import health_app, metrics_app, serve
from ray_operator.leader import LEASE_NAME, LeaderElector
from ray_operator.wiring import Runtime


async def _reconcile_when_elected(runtime: Runtime, stopping: asyncio.Event) -> None:
    """Campaign (with --leader-election), then run the controllers until `stopping` is set,
    then drain them. Returns after a graceful stop; raises when leadership is lost or a
    controller fails."""
    elector: LeaderElector | None = None
    tasks: list[asyncio.Task[None]] = []
    stop_waiter = asyncio.create_task(stopping.wait(), name="stop-waiter")
    try:
        if runtime.settings.leader_election:
            elector = LeaderElector(
                runtime.api,
                namespace=runtime.settings.leader_election_namespace,
                name=LEASE_NAME,
                identity=runtime.settings.identity,
            )
            campaign = asyncio.create_task(elector.run(), name="leader-election")
            tasks.append(campaign)
            elected = asyncio.create_task(elector.elected.wait(), name="elected")
            done, _ = await asyncio.wait(
                {campaign, elected, stop_waiter}, return_when=asyncio.FIRST_COMPLETED
            )
            elected.cancel()
            if stop_waiter in done:
                return
            if campaign in done:
                raise RuntimeError("leader election ended before leadership was acquired")
        # No reconcile before every owned-object cache holds a full listing (controller-runtime's
        # WaitForCacheSync): a partial view would create pods that already exist.
        if not await _unless_stopped(_synced(runtime.informers), stopping):
            return
        runtime.health.leader = True
        workers = [asyncio.create_task(c.run(), name=c.name) for c in runtime.controllers]
        tasks += workers
        done, _ = await asyncio.wait({*tasks, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
        if stop_waiter not in done:
            for task in done:
                task.result()
            raise RuntimeError("leadership lost")
        await _drain(runtime.controllers, workers, runtime.settings.shutdown_timeout)
    finally:
        stop_waiter.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, stop_waiter, return_exceptions=True)
        if elector is not None and runtime.health.leader:
            runtime.health.leader = False
            await elector.release()


async def _drain(
    controllers: list[Controller[Any]], workers: list[asyncio.Task[None]], grace: float
) -> None:
    """Let the reconciles in flight finish (up to `grace` seconds); the caller cancels the rest."""
    in_flight = sum(c.in_flight for c in controllers)
    for controller in controllers:
        controller.shutdown()
    _, pending = await asyncio.wait(workers, timeout=grace)
    left = sum(c.in_flight for c in controllers) if pending else 0
    logger.info(
        "drained: {done} of {in_flight} reconciles in flight finished",
        done=in_flight - left,
        in_flight=in_flight,
    )


async def run(runtime: Runtime) -> int:
    """Run until SIGTERM/SIGINT or a fatal error; the exit code.

    Start-up: the health endpoint answers at once (not ready); leader election campaigns;
    kopf starts only once the apiserver serves every watched resource (`discovery`), and
    the operator is ready once kopf has resolved them all.

    A signal first drains the reconcilers (up to --shutdown-timeout), releases the leader
    Lease, and only then stops kopf's watches: kopf's own handling would cancel the
    reconciles in flight five seconds after it stopped.
    """
    settings = runtime.settings
    stopping = asyncio.Event()
    registry = runtime.metrics.registry
    separate = settings.metrics_address
    runners = [
        await serve(
            health_app(runtime.health, None if separate else registry),
            settings.health_host,
            settings.health_port,
        )
    ]
    if separate:
        runners.append(await serve(metrics_app(registry), *separate))
    logger.info(
        "ray-operator starting: namespaces={namespaces} leader-election={le} health={host}:{port}"
        " metrics={metrics}",
        namespaces=",".join(settings.namespaces) or "*",
        le=settings.leader_election,
        host=settings.health_host,
        port=settings.health_port,
        metrics="{}:{}".format(*separate) if separate else "on the health address",
    )
    _handle_signals(runtime, stopping)
    informing = [
        asyncio.create_task(i.run(), name=f"informer-{i.resource.plural}")
        for i in runtime.informers
    ]
    reconciling = asyncio.create_task(
        _reconcile_when_elected(runtime, stopping), name="reconcilers"
    )
    kopf_stop = asyncio.Event()
    watching: asyncio.Task[None] | None = None
    exit_code = 0
    try:
        needed = watched_resources(runtime.registry)
        if await _unless_stopped(wait_until_served(runtime.api, needed), stopping):
            watching = asyncio.create_task(
                _watch(runtime, needed, kopf_stop, stopping), name="kopf"
            )
        stop_waiter = asyncio.create_task(stopping.wait())
        running = {t for t in (watching, reconciling, stop_waiter) if t is not None}
        done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        stop_waiter.cancel()
        for task in done - {stop_waiter}:
            if not task.cancelled() and task.exception():
                logger.opt(exception=task.exception()).error(
                    "stopping: {error}", error=task.exception()
                )
                exit_code = 1
    finally:
        # Not ready from here on; reconciles in flight finish; kopf stops watching.
        runtime.health.ready = False
        stopping.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(
                _quietly(asyncio.shield(reconciling)), settings.shutdown_timeout + 5
            )
        reconciling.cancel()
        await _quietly(asyncio.gather(reconciling, return_exceptions=True))
        kopf_stop.set()
        for task in informing:
            task.cancel()
        await asyncio.gather(*informing, return_exceptions=True)
        runtime.health.alive = False
        if watching is not None:
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(watching, timeout=10)
        for recorder in runtime.recorders:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(recorder.drain(), timeout=5)
        await runtime.dashboards.close()
        await runtime.api.close()
        await runtime.event_api.close()
        for runner in runners:
            await runner.cleanup()
    logger.info("ray-operator stopped")
    return exit_code


async def _watch(
    runtime: Runtime, needed: set[ApiResource], kopf_stop: asyncio.Event, stopping: asyncio.Event
) -> None:
    """Run kopf; mark the operator ready once kopf has started and resolved every resource."""
    settings = runtime.settings
    ready = asyncio.Event()
    insights = Insights()
    operator = asyncio.create_task(
        kopf.operator(
            registry=runtime.registry,
            settings=runtime.kopf_settings,
            clusterwide=settings.clusterwide,
            namespaces=settings.namespaces,
            standalone=True,
            insights=insights,
            ready_flag=ready,
            stop_flag=kopf_stop,
        ),
        name="kopf-operator",
    )
    started = asyncio.create_task(_all_set(ready, insights.ready_resources))
    done, _ = await asyncio.wait({operator, started}, return_when=asyncio.FIRST_COMPLETED)
    if started in done:
        # kopf installed its signal handlers while starting; ours replace them again.
        _handle_signals(runtime, stopping)
        missing = unresolved(needed, insights.watched_resources)
        if missing:
            kopf_stop.set()
            await _quietly(operator)
            raise RuntimeError(f"kopf could not resolve {describe(missing)}; restarting")
        runtime.health.ready = not stopping.is_set()
        logger.info("watching; ready")
    else:
        started.cancel()
    await operator


async def _synced(informers: list[Informer]) -> None:
    await _all_set(*(i.store.synced for i in informers))


async def _all_set(*events: asyncio.Event) -> None:
    for event in events:
        await event.wait()


async def _unless_stopped(work: Awaitable[None], stopping: asyncio.Event) -> bool:
    """Await `work` unless `stopping` is set first; whether the work finished."""
    task = asyncio.ensure_future(work)
    stop = asyncio.create_task(stopping.wait())
    await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, stop):
        pending.cancel()
    await asyncio.gather(task, stop, return_exceptions=True)
    return task.done() and not task.cancelled() and task.exception() is None


def _handle_signals(runtime: Runtime, stopping: asyncio.Event) -> None:
    """SIGTERM and SIGINT start the drain (only the main thread can install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def request_stop(signum: signal.Signals) -> None:
        logger.info("{signal} received; draining", signal=signum.name)
        runtime.health.ready = False
        stopping.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, request_stop, signum)


async def _quietly(awaitable: Awaitable[Any]) -> None:
    with contextlib.suppress(Exception):
        await awaitable
