"""A small asyncio Kubernetes API client: JSON dicts over aiohttp, with the credentials
`kubeconfig.load_connection` finds (a kubeconfig, or the pod's service account).

Only what the operator needs: get, list and watch (the informers in `core/informer.py`),
create, merge and JSON patch, replace and delete on namespaced paths. Transient failures
(connection errors, 429, 5xx) are retried briefly, except for a create that may already have
reached the apiserver. Every attempt first takes a token from the client-side rate limiter
(`throttle`). Each attempt's answer and wait for a token are reported to `Recorder` (the
operator's metrics, `metrics.py`).
"""

from __future__ import annotations

import asyncio
import builtins
import json
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp

from ray_operator.throttle import TokenBucket

Json = dict[str, Any]
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "ray-operator"


class Recorder(Protocol):
    """Where a request's outcome goes (`metrics.OperatorMetrics`)."""

    def request(self, method: str, code: str) -> None: ...
    def throttled(self, verb: str, seconds: float) -> None: ...


class Unrecorded:
    def request(self, method: str, code: str) -> None:
        pass

    def throttled(self, verb: str, seconds: float) -> None:
        pass


NO_ANSWER = "<error>"  # the code of a request that got no answer (client-go's label value)


class ApiError(Exception):
    """A non-2xx answer of the apiserver."""

    def __init__(self, status: int, reason: str, message: str, body: Json | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def already_exists(self) -> bool:
        return self.status == 409 and self.reason == "AlreadyExists"


@dataclass(frozen=True)
class Connection:
    """Where the apiserver is and how to authenticate to it."""

    server: str
    ca_path: str | None
    cert_path: str | None
    key_path: str | None
    verify: bool
    authorization: Callable[[], str | None]  # the Authorization header value, refreshed


def ssl_context(connection: Connection) -> ssl.SSLContext | bool:
    if not connection.server.startswith("https"):
        return False
    context = ssl.create_default_context(cafile=connection.ca_path)
    if connection.cert_path and connection.key_path:
        context.load_cert_chain(connection.cert_path, connection.key_path)
    if not connection.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def namespaced(
    group_version: str, plural: str, namespace: str, name: str | None = None, sub: str | None = None
) -> str:
    """API path of a namespaced resource: group_version is "v1" (core) or "group/version"."""
    root = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    path = f"{root}/namespaces/{quote(namespace)}/{plural}"
    if name is not None:
        path += f"/{quote(name)}"
    if sub is not None:
        path += f"/{sub}"
    return path


METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


def answer(status: int, reason: str | None, text: str) -> Json:
    """The JSON body of an answer, or the ApiError it means (status 400 and above)."""
    payload: Json = {}
    if text:
        try:
            payload = json.loads(text)
        except ValueError:
            payload = {"message": text}
    if status >= 400:
        raise ApiError(
            status,
            str(payload.get("reason") or reason or ""),
            str(payload.get("message") or text),
            payload,
        )
    return payload


class KubeApi:
    """JSON requests to the apiserver over one pooled aiohttp session."""

    def __init__(
        self,
        connection: Connection,
        *,
        timeout: float = 30,
        max_connections: int = 32,
        qps: float = 50,
        burst: int = 100,
        recorder: Recorder | None = None,
    ):
        self._connection = connection
        self.limiter = TokenBucket(qps, burst)
        self.recorder: Recorder = recorder or Unrecorded()
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                ssl=ssl_context(self._connection), limit=self._max_connections
            )
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> Json:
        retry_unsent_only = method == "POST"
        for delay in (*RETRY_DELAYS, None):
            try:
                return await self._once(method, path, params, body, content_type, accept)
            except ApiError as error:
                if delay is None or error.status not in RETRYABLE_STATUS:
                    raise
                if retry_unsent_only and error.status != 429:
                    raise
            except aiohttp.ClientConnectorError:
                if delay is None:
                    raise
            except (TimeoutError, aiohttp.ClientError):
                if delay is None or retry_unsent_only:
                    raise
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Any,
        content_type: str,
        accept: str = "application/json",
    ) -> Json:
        headers = {**self._headers(), "Accept": accept}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        await self._take_token(method)
        code = NO_ANSWER
        try:
            async with self._client().request(
                method, self._connection.server + path, params=params, data=data, headers=headers
            ) as response:
                code = str(response.status)
                text = await response.text()
        finally:
            self.recorder.request(method, code)
        return answer(response.status, response.reason, text)

    async def _take_token(self, method: str) -> None:
        self.recorder.throttled(method, await self.limiter.acquire())
        self.requests += 1

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        token = self._connection.authorization()
        if token:
            headers["Authorization"] = token
        return headers

    async def get(self, path: str) -> Json:
        return await self.request("GET", path)

    async def metadata(self, path: str) -> Json:
        """The object's metadata only (a PartialObjectMetadata): what a Secret's existence
        check needs, without its data ever reaching the operator."""
        return await self.request("GET", path, accept=METADATA_ONLY)

    async def list(self, path: str, *, label_selector: str | None = None) -> list[Json]:
        params = {"labelSelector": label_selector} if label_selector else None
        items: list[Json] = (await self.request("GET", path, params=params)).get("items") or []
        return items

    async def create(self, path: str, body: Json) -> Json:
        return await self.request("POST", path, body=body)

    async def merge_patch(self, path: str, patch: Json) -> Json:
        return await self.request(
            "PATCH", path, body=patch, content_type="application/merge-patch+json"
        )

    async def delete(self, path: str, *, propagation: str = "Background") -> Json:
        return await self.request(
            "DELETE", path, body={"kind": "DeleteOptions", "propagationPolicy": propagation}
        )

    async def list_with_version(
        self, path: str, *, label_selector: str | None = None
    ) -> tuple[builtins.list[Json], str]:
        """The items and the list's resourceVersion, to start a watch from."""
        params = {"labelSelector": label_selector} if label_selector else None
        listed = await self.request("GET", path, params=params)
        items: builtins.list[Json] = listed.get("items") or []
        return items, str((listed.get("metadata") or {}).get("resourceVersion") or "")

    async def watch(
        self,
        path: str,
        *,
        resource_version: str,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[Json]:
        """Watch events after `resource_version` ({"type", "object"}), with bookmarks, until the
        server ends the stream (after about `timeout_seconds`). An expired version arrives as
        an ERROR event carrying a Status with code 410, as the apiserver sends it."""
        params = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        if label_selector:
            params["labelSelector"] = label_selector
        headers = self._headers()
        await self._take_token("GET")
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=timeout_seconds + 30)
        recorded = False
        try:
            async with self._client().get(
                self._connection.server + path, params=params, headers=headers, timeout=timeout
            ) as response:
                self.recorder.request("GET", str(response.status))
                recorded = True
                if response.status >= 400:
                    answer(response.status, response.reason, await response.text())
                buffer = b""
                async for chunk in response.content.iter_any():
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield json.loads(line)
                if buffer.strip():
                    yield json.loads(buffer)
        except (TimeoutError, aiohttp.ClientError):
            if not recorded:
                self.recorder.request("GET", NO_ANSWER)
            raise

    async def json_patch(self, path: str, operations: builtins.list[Json]) -> Json:
        """An RFC 6902 patch: it can remove keys, and a `test` operation makes it conditional."""
        return await self.request(
            "PATCH", path, body=operations, content_type="application/json-patch+json"
        )

    async def replace(self, path: str, body: Json) -> Json:
        return await self.request("PUT", path, body=body)
