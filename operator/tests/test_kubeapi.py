"""The API client against a local HTTP server: JSON in and out, errors, retries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ray_operator.kubeapi import ApiError, Connection, KubeApi, namespaced
from ray_operator.throttle import TokenBucket


class Server:
    def __init__(self) -> None:
        self.hits: list[tuple[str, str, dict[str, Any] | None, dict[str, str]]] = []
        self.failures_left = 0
        self.failure_status = 503

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.hits.append((request.method, request.path_qs, body, dict(request.headers)))
        if self.failures_left:
            self.failures_left -= 1
            return web.json_response(
                {"reason": "ServiceUnavailable", "message": "busy"}, status=self.failure_status
            )
        if request.path.endswith("/missing"):
            return web.json_response(
                {"reason": "NotFound", "message": 'pods "missing" not found'}, status=404
            )
        return web.json_response({"items": [{"n": 1}], "echo": body})


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, KubeApi]]:
    state = Server()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    test_server = TestServer(app)
    await test_server.start_server()
    connection = Connection(
        server=str(test_server.make_url("")).rstrip("/"),
        ca_path=None,
        cert_path=None,
        key_path=None,
        verify=True,
        authorization=lambda: "Bearer secret",
    )
    api = KubeApi(connection)
    yield state, api
    await api.close()
    await test_server.close()


def test_paths() -> None:
    assert namespaced("v1", "pods", "ns") == "/api/v1/namespaces/ns/pods"
    assert namespaced("ray.io/v1", "rayclusters", "ns", "c", "status") == (
        "/apis/ray.io/v1/namespaces/ns/rayclusters/c/status"
    )


async def test_requests_send_json_token_and_selector(server: tuple[Server, KubeApi]) -> None:
    state, api = server
    items = await api.list("/api/v1/namespaces/ns/pods", label_selector="ray.io/cluster=c")
    assert items == [{"n": 1}]
    result = await api.merge_patch("/api/v1/namespaces/ns/pods/p", {"a": 1})
    assert result["echo"] == {"a": 1}
    (method, path, _, headers), (patch_method, _, _, patch_headers) = state.hits
    assert (method, path) == ("GET", "/api/v1/namespaces/ns/pods?labelSelector=ray.io/cluster%3Dc")
    assert headers["Authorization"] == "Bearer secret"
    assert patch_method == "PATCH"
    assert patch_headers["Content-Type"] == "application/merge-patch+json"


async def test_errors_carry_status_reason_and_message(server: tuple[Server, KubeApi]) -> None:
    _, api = server
    with pytest.raises(ApiError) as error:
        await api.get("/api/v1/namespaces/ns/pods/missing")
    assert error.value.not_found
    assert error.value.reason == "NotFound"
    assert error.value.message == 'pods "missing" not found'


async def test_reads_are_retried_on_transient_errors(server: tuple[Server, KubeApi]) -> None:
    state, api = server
    state.failures_left = 2
    assert (await api.get("/api/v1/namespaces/ns/pods/p"))["items"] == [{"n": 1}]
    assert len(state.hits) == 3


async def test_creates_are_not_retried_after_a_server_error(server: tuple[Server, KubeApi]) -> None:
    state, api = server
    state.failures_left = 1
    state.failure_status = 500
    with pytest.raises(ApiError):
        await api.create("/api/v1/namespaces/ns/pods", {"kind": "Pod"})
    assert len(state.hits) == 1


async def test_creates_are_retried_when_throttled(server: tuple[Server, KubeApi]) -> None:
    state, api = server
    state.failures_left = 1
    state.failure_status = 429
    await api.create("/api/v1/namespaces/ns/pods", {"kind": "Pod"})
    assert len(state.hits) == 2


async def test_requests_beyond_the_burst_wait_for_the_limiter(
    server: tuple[Server, KubeApi],
) -> None:
    state, api = server
    api.limiter = TokenBucket(50, 2)
    for _ in range(4):
        await api.get(namespaced("v1", "pods", "ns", "p"))
    assert len(state.hits) == 4
    assert api.limiter.waited_seconds > 0
