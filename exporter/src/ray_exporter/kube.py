"""The module that reads the Kubernetes API: client setup, LIST pages, WATCH streams.

(The only other API calls are the scrape-auth reviews of `reviews`, made only with
`--metrics-auth`.)

Read-only by construction: it issues `list` and `watch` requests (and nothing
else) on `rayclusters`, `rayjobs` and `rayservices` in `ray.io/v1`, cluster-wide
or in one namespace, which is exactly what `get/list/watch` RBAC allows.

Responses are read raw (`_preload_content=False`) and decoded with `json`: the
custom objects stay plain dicts, and a watch stream is split into events as its
chunks arrive, so an event is handled as soon as the apiserver flushes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config

from ray_exporter.resources import GROUP, VERSION

CONNECT_TIMEOUT_SECONDS = 10.0


def api_client(connections: int) -> Any:
    """An ApiClient from KUBECONFIG when set, else from the in-cluster service account.

    `connections` sizes the HTTP pool: one per watch stream plus room for lists.
    """
    configuration = client.Configuration()
    if os.environ.get("KUBECONFIG"):
        config.load_kube_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration, persist_config=False
        )
    else:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    configuration.connection_pool_maxsize = max(connections, 4)
    configuration.retries = False  # the watch loop owns retrying, with backoff and counting
    return client.ApiClient(configuration)


@dataclass(frozen=True)
class Scope:
    """One resource, cluster-wide (`namespace=None`) or in one namespace."""

    plural: str
    namespace: str | None = None


class ResourceExpiredError(Exception):
    """The resourceVersion to watch from is too old (HTTP 410 Gone): relist."""


class WatchStreamError(Exception):
    """The watch stream sent an ERROR event or a line that is not an event."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class RateLimiter:
    """A token bucket shared by the watch threads: `burst` requests at once, then `qps`.

    A caller reserves the next token under the lock (the balance may go negative) and then
    sleeps outside it until that token is due, so callers leave in arrival order.
    """

    def __init__(
        self,
        qps: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError(f"need qps > 0 and burst >= 1, got qps={qps} burst={burst}")
        self._qps = qps
        self._burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for a token; answer the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._qps)
            self._updated = now
            self._tokens -= 1
            delay = -self._tokens / self._qps if self._tokens < 0 else 0.0
        if delay:
            self._sleep(delay)
        return delay


class KubeApi:
    """LIST and WATCH on the Ray custom resources through one ApiClient."""

    def __init__(self, api: Any, limiter: RateLimiter | None = None) -> None:
        self._objects = client.CustomObjectsApi(api)
        self._limiter = limiter
        self._lock = threading.Lock()
        self._open: set[Any] = set()

    def _request(self, scope: Scope, timeout: Any, **params: Any) -> Any:
        if self._limiter is not None:
            self._limiter.acquire()
        if scope.namespace is None:
            return self._objects.list_cluster_custom_object(
                GROUP,
                VERSION,
                scope.plural,
                _preload_content=False,
                _request_timeout=timeout,
                **params,
            )
        return self._objects.list_namespaced_custom_object(
            GROUP,
            VERSION,
            scope.namespace,
            scope.plural,
            _preload_content=False,
            _request_timeout=timeout,
            **params,
        )

    def list_page(
        self, scope: Scope, limit: int, continue_token: str | None, read_timeout: float = 60.0
    ) -> dict[str, Any]:
        """One page of a paginated LIST, decoded: `items` and `metadata` (`continue`, RV)."""
        params: dict[str, Any] = {"limit": limit}
        if continue_token:
            params["_continue"] = continue_token
        response = self._request(scope, (CONNECT_TIMEOUT_SECONDS, read_timeout), **params)
        try:
            page = json.loads(response.read())
        finally:
            response.release_conn()
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            raise WatchStreamError("decode", "LIST response is not an object list")
        return page

    def watch(
        self, scope: Scope, resource_version: str, timeout_seconds: int
    ) -> Iterator[dict[str, Any]]:
        """Open a WATCH after `resource_version` (bookmarks on); iterate its events.

        The request is made before this returns, so an error opening the stream
        is raised here: `ResourceExpiredError` on 410 Gone, else the client's
        error. Iterating raises `ResourceExpiredError` or `WatchStreamError` on an
        ERROR event or an undecodable line, and transport errors as urllib3 errors.
        The iteration ends when the server ends the watch (`timeout_seconds`).
        """
        try:
            response = self._request(
                scope,
                (CONNECT_TIMEOUT_SECONDS, timeout_seconds + 30.0),
                watch=True,
                allow_watch_bookmarks=True,
                resource_version=resource_version,
                timeout_seconds=timeout_seconds,
            )
        except client.ApiException as error:
            if error.status == 410:
                raise ResourceExpiredError(str(error.reason)) from error
            raise
        with self._lock:
            self._open.add(response)
        return self._read(response)

    def _read(self, response: Any) -> Iterator[dict[str, Any]]:
        completed = False
        try:
            yield from _events(response.stream(65536))
            completed = True
        finally:
            with self._lock:
                self._open.discard(response)
            if not completed:  # broken or abandoned mid-stream: the connection is unusable
                response.close()
            response.release_conn()

    def close_streams(self) -> None:
        """Shut down every open watch stream (on exit), waking the threads reading them."""
        with self._lock:
            streams = list(self._open)
        for response in streams:
            with contextlib.suppress(OSError, RuntimeError, ValueError):  # already ended
                response.shutdown()


def _events(chunks: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    """Split a watch response into decoded events (one JSON object per line)."""
    parts: list[bytes] = []
    for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            parts.append(chunk[start:end])
            line = b"".join(parts)
            parts.clear()
            start = end + 1
            if line.strip():
                yield _event(line)
        if start < len(chunk):
            parts.append(chunk[start:])
    line = b"".join(parts)
    if line.strip():
        yield _event(line)


def _event(line: bytes) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError as error:
        raise WatchStreamError("decode", f"undecodable watch event: {error}") from error
    if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
        raise WatchStreamError("decode", "watch event without an object")
    if event.get("type") == "ERROR":
        status = event["object"]
        if status.get("code") == 410:
            raise ResourceExpiredError(str(status.get("message", "resource version too old")))
        raise WatchStreamError("stream_error", str(status.get("message", status)))
    return event
