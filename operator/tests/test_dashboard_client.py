"""The dashboard client against a local HTTP server: paths, bodies, errors and retries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ray_operator.dashboard.client import (
    DashboardClient,
    DashboardError,
    DashboardHttp,
    JobAlreadyExistsError,
    RetryPolicy,
)
from ray_operator.dashboard.jobs import JobInfo, JobStatus, JobSubmission, error_text


class FakeDashboard:
    """Answers like Ray's dashboard for one job id; can fail the next N requests."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, str, Any]] = []
        self.failures_left = 0
        self.failure_status = 503
        self.jobs: dict[str, dict[str, Any]] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.hits.append((request.method, request.path_qs, body))
        if self.failures_left:
            self.failures_left -= 1
            return web.Response(text="Traceback...\nRuntimeError: busy", status=self.failure_status)
        path = request.path
        if request.method == "POST" and path == "/api/jobs/":
            sid = str((body or {})["submission_id"])
            if sid in self.jobs:
                return web.Response(
                    text=f"Traceback\nValueError: Job with submission_id {sid} already exists.",
                    status=500,
                )
            self.jobs[sid] = {"submission_id": sid, "status": "PENDING", "start_time": 1_000}
            return web.json_response({"job_id": sid, "submission_id": sid})
        if path.startswith("/api/jobs/"):
            rest = path.removeprefix("/api/jobs/")
            sid, _, action = rest.partition("/")
            job = self.jobs.get(sid)
            if job is None:
                return web.Response(text=f"Job {sid} does not exist", status=404)
            if action == "stop":
                stopped = job["status"] in ("PENDING", "RUNNING")
                job["status"] = "STOPPED"
                return web.json_response({"stopped": stopped})
            if request.method == "DELETE":
                del self.jobs[sid]
                return web.json_response({"deleted": True})
            return web.json_response(job)
        if path == "/api/serve/applications/":
            return web.json_response({"applications": {}, "echo": body})
        return web.Response(status=404, text="no route")


@pytest.fixture
async def dashboard() -> AsyncIterator[tuple[FakeDashboard, DashboardClient]]:
    state = FakeDashboard()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    server = TestServer(app)
    await server.start_server()
    http = DashboardHttp(timeout=5, retry=RetryPolicy(attempts=3, initial_delay=0.01))
    yield state, http.client(str(server.make_url("")))
    await http.close()
    await server.close()


async def test_submit_sends_only_set_fields(
    dashboard: tuple[FakeDashboard, DashboardClient],
) -> None:
    state, client = dashboard
    submission = JobSubmission(
        entrypoint="python main.py",
        submission_id="job-1",
        runtime_env={"env_vars": {"A": "1"}},
        entrypoint_num_cpus=0.5,
    )
    assert await client.submit_job(submission) == "job-1"
    method, path, body = state.hits[-1]
    assert (method, path) == ("POST", "/api/jobs/")
    assert body == {
        "entrypoint": "python main.py",
        "submission_id": "job-1",
        "runtime_env": {"env_vars": {"A": "1"}},
        "entrypoint_num_cpus": 0.5,
    }


async def test_second_submit_of_the_same_id_is_already_exists(
    dashboard: tuple[FakeDashboard, DashboardClient],
) -> None:
    state, client = dashboard
    submission = JobSubmission(entrypoint="true", submission_id="dup")
    await client.submit_job(submission)
    with pytest.raises(JobAlreadyExistsError):
        await client.submit_job(submission)
    assert len(state.hits) == 2  # "already exists" is not retried


async def test_job_info_parses_status_and_times(
    dashboard: tuple[FakeDashboard, DashboardClient],
) -> None:
    state, client = dashboard
    state.jobs["j"] = {
        "submission_id": "j",
        "status": "FAILED",
        "message": "exit code 1",
        "error_type": "JOB_ENTRYPOINT_COMMAND_ERROR",
        "start_time": 1_700_000_000_000,
        "end_time": 1_700_000_005_500,
    }
    info = await client.job_info("j")
    assert info is not None
    assert info.status is JobStatus.FAILED
    assert info.status.terminal
    assert info.message == "exit code 1"
    assert info.start_time == datetime.fromtimestamp(1_700_000_000, UTC)
    assert info.end_time is not None
    assert (info.end_time - info.start_time).total_seconds() == 5.5


async def test_unknown_job_is_none_and_stop_or_delete_false(
    dashboard: tuple[FakeDashboard, DashboardClient],
) -> None:
    _, client = dashboard
    assert await client.job_info("nope") is None
    assert await client.stop_job("nope") is False
    assert await client.delete_job("nope") is False


async def test_stop_and_delete(dashboard: tuple[FakeDashboard, DashboardClient]) -> None:
    state, client = dashboard
    await client.submit_job(JobSubmission(entrypoint="sleep 100", submission_id="s"))
    assert await client.stop_job("s") is True
    assert state.jobs["s"]["status"] == "STOPPED"
    assert await client.stop_job("s") is False  # already stopped
    assert await client.delete_job("s") is True
    assert "s" not in state.jobs


async def test_transient_failures_are_retried(
    dashboard: tuple[FakeDashboard, DashboardClient],
) -> None:
    state, client = dashboard
    state.jobs["j"] = {"submission_id": "j", "status": "RUNNING"}
    state.failures_left = 2
    info = await client.job_info("j")
    assert info is not None
    assert info.status is JobStatus.RUNNING
    assert len(state.hits) == 3


async def test_retries_end_with_the_last_error(
    dashboard: tuple[FakeDashboard, DashboardClient],
) -> None:
    state, client = dashboard
    state.failures_left = 10
    with pytest.raises(DashboardError) as raised:
        await client.job_info("j")
    assert raised.value.status == 503
    assert raised.value.transient
    assert raised.value.message == "RuntimeError: busy"
    assert len(state.hits) == 3


async def test_client_errors_are_not_retried(
    dashboard: tuple[FakeDashboard, DashboardClient],
) -> None:
    state, client = dashboard
    state.failures_left = 1
    state.failure_status = 400
    with pytest.raises(DashboardError) as raised:
        await client.job_info("j")
    assert raised.value.status == 400
    assert not raised.value.transient
    assert len(state.hits) == 1


async def test_unreachable_dashboard_is_a_transient_error() -> None:
    http = DashboardHttp(timeout=2, retry=RetryPolicy(attempts=2, initial_delay=0.01))
    client = http.client("http://127.0.0.1:1")
    with pytest.raises(DashboardError) as raised:
        await client.job_info("j")
    await http.close()
    assert raised.value.status is None
    assert raised.value.transient
    assert http.requests == 2


async def test_serve_api_paths(dashboard: tuple[FakeDashboard, DashboardClient]) -> None:
    state, client = dashboard
    await client.put_serve_applications({"applications": [{"name": "app"}]})
    assert state.hits[-1] == (
        "PUT",
        "/api/serve/applications/",
        {"applications": [{"name": "app"}]},
    )
    answer = await client.serve_applications()
    assert state.hits[-1][:2] == ("GET", "/api/serve/applications/?api_type=declarative")
    assert answer["applications"] == {}


def test_job_info_rejects_unknown_status() -> None:
    with pytest.raises(ValueError, match="WEIRD"):
        JobInfo.parse({"submission_id": "x", "status": "WEIRD"})


def test_error_text_keeps_the_last_line() -> None:
    assert error_text("Traceback (most recent call last):\n  ...\nValueError: bad\n") == (
        "ValueError: bad"
    )
    assert error_text("") == ""
    assert error_text("Traceback\nValueError: Job p1 already exists.\n.\n") == (
        "ValueError: Job p1 already exists."
    )
    assert error_text("Job j does not exist") == "Job j does not exist"
