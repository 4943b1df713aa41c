"""The health endpoint (--health-address): /healthz, /readyz, /statz and /metrics.

/healthz answers 200 while the operator's loops run; /readyz answers 200 once the watches
are established (kopf's ready flag); /statz shows reconcile counters as JSON, for humans and
the benchmark; /metrics is the Prometheus text format of `metrics.py`'s registry, unless
--metrics-address serves it on an address of its own (`metrics_app`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


@dataclass
class HealthState:
    alive: bool = True
    ready: bool = False
    leader: bool = False
    stats: Callable[[], dict[str, Any]] = field(default=lambda: {})
    started: float = field(default_factory=time.monotonic)


def metrics_route(app: web.Application, registry: CollectorRegistry) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app.router.add_get("/metrics", metrics)
    return app


def metrics_app(registry: CollectorRegistry) -> web.Application:
    return metrics_route(web.Application(), registry)


def health_app(state: HealthState, metrics: CollectorRegistry | None = None) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(
            text="ok" if state.alive else "stopping", status=200 if state.alive else 500
        )

    async def readyz(_: web.Request) -> web.Response:
        ok = state.alive and state.ready
        return web.Response(text="ok" if ok else "not ready", status=200 if ok else 503)

    async def statz(_: web.Request) -> web.Response:
        body = {
            "uptimeSeconds": round(time.monotonic() - state.started, 3),
            "ready": state.ready,
            "leader": state.leader,
            **state.stats(),
        }
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/statz", statz)
    return app if metrics is None else metrics_route(app, metrics)


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
