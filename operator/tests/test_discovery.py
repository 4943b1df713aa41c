"""Waiting until the apiserver serves what the handlers watch (against a local HTTP server)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import kopf
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ray_operator.discovery import (
    missing_resources,
    unresolved,
    wait_until_served,
    watched_resources,
)
from ray_operator.kubeapi import Connection, KubeApi

NEEDED = {("ray.io", "v1", "rayclusters"), ("", "v1", "pods"), ("batch", "v1", "jobs")}


class Discovery:
    def __init__(self) -> None:
        self.served: dict[str, list[str]] = {"/api/v1": ["pods", "pods/status", "services"]}
        self.hits = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        names = self.served.get(request.path)
        if names is None:
            return web.json_response({"reason": "NotFound", "message": "no"}, status=404)
        return web.json_response({"resources": [{"name": n} for n in names]})


@pytest.fixture
async def discovery() -> AsyncIterator[tuple[Discovery, KubeApi]]:
    state = Discovery()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", state.handle)
    server = TestServer(app)
    await server.start_server()
    connection = Connection(
        server=str(server.make_url("")).rstrip("/"),
        ca_path=None,
        cert_path=None,
        key_path=None,
        verify=True,
        authorization=lambda: None,
    )
    api = KubeApi(connection)
    yield state, api
    await api.close()
    await server.close()


async def test_missing_resources_are_named_per_group_version(
    discovery: tuple[Discovery, KubeApi],
) -> None:
    state, api = discovery
    assert await missing_resources(api, NEEDED) == {
        ("ray.io", "v1", "rayclusters"),
        ("batch", "v1", "jobs"),
    }
    state.served["/apis/batch/v1"] = ["jobs"]
    state.served["/apis/ray.io/v1"] = ["rayjobs"]
    assert await missing_resources(api, NEEDED) == {("ray.io", "v1", "rayclusters")}


async def test_waiting_ends_once_everything_is_served(
    discovery: tuple[Discovery, KubeApi],
) -> None:
    state, api = discovery
    waiting = asyncio.create_task(wait_until_served(api, NEEDED, rng=random.Random(1)))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    state.served["/apis/batch/v1"] = ["jobs"]
    state.served["/apis/ray.io/v1"] = ["rayclusters"]
    await asyncio.wait_for(waiting, 30)
    assert state.hits > 3


def test_watched_resources_come_from_the_registered_event_handlers() -> None:
    registry = kopf.OperatorRegistry()

    async def handler(**_: Any) -> None:
        return None

    kopf.on.event("ray.io", "v1", "rayclusters", registry=registry)(handler)
    kopf.on.event("v1", "pods", registry=registry, id="pods")(handler)
    assert watched_resources(registry) == {("ray.io", "v1", "rayclusters"), ("", "v1", "pods")}


def test_unresolved_compares_with_what_kopf_resolved() -> None:
    class Resource:
        def __init__(self, group: str, version: str, plural: str) -> None:
            self.group, self.version, self.plural = group, version, plural

    resolved = [Resource("", "v1", "pods"), Resource("batch", "v1", "jobs")]
    assert unresolved(NEEDED, resolved) == {("ray.io", "v1", "rayclusters")}
