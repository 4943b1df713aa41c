"""An async client for a Ray dashboard's job and Serve APIs, with timeouts and retries.

`DashboardHttp` owns one pooled aiohttp session for every dashboard the operator talks to,
and the retry policy: connection errors, timeouts and 5xx answers are retried a few times
with exponential backoff (tenacity); 4xx answers are not. `DashboardHttp.client(url)` gives
a `DashboardClient` bound to one dashboard.

Every call is safe to repeat. A submission always carries its submission id, so a retried
submit whose first attempt did reach Ray answers "already exists", which surfaces as
`JobAlreadyExistsError` for the caller to treat as success.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from ray_operator.dashboard.jobs import JobInfo, JobSubmission, error_text

Json = dict[str, Any]
USER_AGENT = "ray-operator"
TRANSIENT_STATUS = frozenset({500, 502, 503, 504})


class DashboardError(Exception):
    """A request to a Ray dashboard failed: no answer (status None) or a non-2xx answer."""

    def __init__(self, url: str, status: int | None, message: str) -> None:
        super().__init__(f"{url}: {status or 'no answer'}: {message}")
        self.url = url
        self.status = status
        self.message = message

    @property
    def transient(self) -> bool:
        return self.status is None or self.status in TRANSIENT_STATUS


class JobAlreadyExistsError(DashboardError):
    """A job with this submission id exists already."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    initial_delay: float = 0.25
    max_delay: float = 2.0


class DashboardHttp:
    """The HTTP side: one session, timeouts, retries. Build it in main(); close it on exit."""

    def __init__(
        self,
        *,
        timeout: float = 15.0,
        connect_timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        max_connections: int = 64,
    ) -> None:
        self.timeout = timeout
        self._connect_timeout = connect_timeout
        self._retry = retry or RetryPolicy()
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0

    def client(self, base_url: str) -> DashboardClient:
        return DashboardClient(self, base_url)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self, method: str, url: str, *, body: Any = None, time_limit: float | None = None
    ) -> Any:
        """The decoded JSON answer (or the text when it is not JSON), retried when transient."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry.attempts),
            wait=wait_exponential(multiplier=self._retry.initial_delay, max=self._retry.max_delay),
            retry=retry_if_exception(
                lambda e: (
                    isinstance(e, DashboardError)
                    and not isinstance(e, JobAlreadyExistsError)
                    and e.transient
                )
            ),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._once(method, url, body, time_limit or self.timeout)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, method: str, url: str, body: Any, time_limit: float) -> Any:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body)
        limits = aiohttp.ClientTimeout(total=time_limit, connect=self._connect_timeout)
        self.requests += 1
        try:
            async with self._client().request(
                method, url, data=data, headers=headers, timeout=limits
            ) as response:
                text = await response.text()
                status = response.status
        except TimeoutError:
            raise DashboardError(url, None, f"timed out after {time_limit:g}s") from None
        except aiohttp.ClientError as error:
            raise DashboardError(url, None, str(error) or type(error).__name__) from None
        if status >= 400:
            message = error_text(text) or f"HTTP {status}"
            if "already exists" in text:
                raise JobAlreadyExistsError(url, status, message)
            raise DashboardError(url, status, message)
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text


class DashboardClient:
    """One Ray dashboard (e.g. http://c-head-svc.ns.svc.cluster.local:8265)."""

    def __init__(self, http: DashboardHttp, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    def _url(self, path: str) -> str:
        return self.base_url + path

    @staticmethod
    def _job_path(job_id: str, suffix: str = "") -> str:
        return f"/api/jobs/{quote(job_id, safe='')}{suffix}"

    async def version(self) -> Json:
        answer = await self.http.request("GET", self._url("/api/version"))
        return answer if isinstance(answer, dict) else {}

    # Jobs

    async def submit_job(self, submission: JobSubmission) -> str:
        """Submit a job; its submission id. JobAlreadyExistsError when that id is taken."""
        answer = await self.http.request("POST", self._url("/api/jobs/"), body=submission.body())
        if isinstance(answer, dict) and answer.get("submission_id"):
            return str(answer["submission_id"])
        return submission.submission_id

    async def job_info(self, job_id: str) -> JobInfo | None:
        """The job's details; None when the dashboard does not know the job."""
        try:
            answer = await self.http.request("GET", self._url(self._job_path(job_id)))
        except DashboardError as error:
            if error.status == 404:
                return None
            raise
        if not isinstance(answer, dict):
            raise DashboardError(self._url(self._job_path(job_id)), 200, "not a JSON object")
        try:
            return JobInfo.parse(answer)
        except ValueError:
            status = answer.get("status")
            raise DashboardError(
                self._url(self._job_path(job_id)), 200, f"unknown job status {status!r}"
            ) from None

    async def stop_job(self, job_id: str) -> bool:
        """Ask Ray to stop the job; False when it is unknown or had already ended."""
        try:
            answer = await self.http.request("POST", self._url(self._job_path(job_id, "/stop")))
        except DashboardError as error:
            if error.status == 404:
                return False
            raise
        return bool(isinstance(answer, dict) and answer.get("stopped"))

    async def delete_job(self, job_id: str) -> bool:
        """Delete a finished job's record; False when it is unknown."""
        try:
            answer = await self.http.request("DELETE", self._url(self._job_path(job_id)))
        except DashboardError as error:
            if error.status == 404:
                return False
            raise
        return bool(isinstance(answer, dict) and answer.get("deleted"))

    async def job_logs(self, job_id: str) -> str:
        answer = await self.http.request("GET", self._url(self._job_path(job_id, "/logs")))
        return str(answer.get("logs", "")) if isinstance(answer, dict) else ""

    # Serve (declarative API)

    async def put_serve_applications(
        self, config: Mapping[str, Any], *, time_limit: float = 60.0
    ) -> None:
        """Apply a Serve config (serveConfigV2 parsed to a mapping)."""
        await self.http.request(
            "PUT", self._url("/api/serve/applications/"), body=dict(config), time_limit=time_limit
        )

    async def serve_applications(self) -> Json:
        """Serve's declarative status: applications, deployments and proxies."""
        answer = await self.http.request(
            "GET", self._url("/api/serve/applications/?api_type=declarative")
        )
        return answer if isinstance(answer, dict) else {}

    async def delete_serve_applications(self, *, time_limit: float = 60.0) -> None:
        await self.http.request(
            "DELETE", self._url("/api/serve/applications/"), time_limit=time_limit
        )
