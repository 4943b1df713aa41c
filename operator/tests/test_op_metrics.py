"""The operator's metrics (metrics.py) as Prometheus reads them: the controller-runtime and
client-go names, fed by a real Controller and WorkQueue on a FakeTimer, a KubeApi against a
local HTTP server, and served at /metrics by the health app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_timer import FakeTimer, settle
from metrics_doc import OPERATOR_PART, documented_labels, documented_parts
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ray_operator import kubeapi
from ray_operator.controller import Controller, Retry
from ray_operator.health import HealthState, health_app, metrics_app
from ray_operator.kubeapi import ApiError, Connection, KubeApi
from ray_operator.metrics import RESULTS, OperatorMetrics
from ray_operator.throttle import TokenBucket

Labels = dict[str, str]


def operator_metrics() -> OperatorMetrics:
    return OperatorMetrics(CollectorRegistry(), "apiserver:6443", "ray-operator-leader")


def value(metrics: OperatorMetrics, series: str, /, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(series, labels)


def controller(
    metrics: OperatorMetrics, name: str, reconcile: object, timer: FakeTimer, workers: int = 1
) -> Controller[str]:
    built: Controller[str] = Controller(
        name,
        reconcile,  # type: ignore[arg-type]
        workers=workers,
        base_delay=1,
        timer=timer,
        metrics=metrics.reconciles(name),
        queue_metrics=metrics.queue(name),
    )
    return built


async def test_each_result_is_counted_under_controller_runtime_names() -> None:
    metrics = operator_metrics()
    timer = FakeTimer()
    answers: dict[str, object] = {
        "done": None,
        "later": 30.0,
        "now": 0.0,
        "failed": Retry(5.0),
    }

    async def reconcile(key: str) -> float | Retry | None:
        if key == "raises":
            raise RuntimeError("boom")
        if key == "done":
            timer.time += 0.25  # this pass takes a quarter of a second
        answer = answers[key]
        assert answer is None or isinstance(answer, (float, Retry))
        return answer

    ctl = controller(metrics, "raycluster", reconcile, timer)
    metrics.watch([ctl], lambda: True)
    for result in RESULTS:
        assert (
            value(
                metrics,
                "controller_runtime_reconcile_total",
                controller="raycluster",
                result=result,
            )
            == 0
        )
    assert value(metrics, "controller_runtime_reconcile_errors_total", controller="raycluster") == 0

    runner = asyncio.create_task(ctl.run())
    for key in ("done", "later", "now", "failed", "raises"):
        ctl.enqueue(key)
    await settle()
    ctl.forget("now")  # answered "look again at once", and did: enough for the count
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)

    def total(result: str) -> float | None:
        return value(
            metrics, "controller_runtime_reconcile_total", controller="raycluster", result=result
        )

    assert (total("success"), total("requeue_after"), total("error")) == (1, 1, 2)
    assert total("requeue") is not None
    assert total("requeue") >= 1
    errors = value(metrics, "controller_runtime_reconcile_errors_total", controller="raycluster")
    assert errors == 2, "an exception and a pass whose actions failed"
    queue = {"controller": "raycluster", "name": "raycluster"}
    assert value(metrics, "workqueue_retries_total", **queue) == 2
    assert value(metrics, "workqueue_adds_total", **queue) is not None
    took = value(metrics, "controller_runtime_reconcile_time_seconds_sum", controller="raycluster")
    count = value(
        metrics, "controller_runtime_reconcile_time_seconds_count", controller="raycluster"
    )
    assert count is not None
    assert count >= 5
    assert took == pytest.approx(0.25)
    assert ctl.stats.errors == 2


async def test_queue_waits_depth_and_stuck_work_are_read_at_scrape_time() -> None:
    metrics = operator_metrics()
    timer = FakeTimer()
    release = asyncio.Event()

    async def reconcile(key: str) -> None:
        if key == "slow":
            await release.wait()

    ctl = controller(metrics, "rayjob", reconcile, timer)
    leader = {"now": False}
    metrics.watch([ctl], lambda: leader["now"])
    queue = {"controller": "rayjob", "name": "rayjob"}
    runner = asyncio.create_task(ctl.run())
    ctl.enqueue("slow")
    await settle()
    ctl.enqueue("next")
    ctl.enqueue("delayed", 60)
    await timer.advance(7)

    assert value(metrics, "workqueue_depth", **queue) == 1, "the delayed key is not counted"
    assert value(metrics, "workqueue_longest_running_processor_seconds", **queue) == 7
    assert value(metrics, "workqueue_unfinished_work_seconds", **queue) == 7
    assert value(metrics, "controller_runtime_active_workers", controller="rayjob") == 1
    assert value(metrics, "controller_runtime_max_concurrent_reconciles", controller="rayjob") == 1
    assert value(metrics, "leader_election_master_status", name="ray-operator-leader") == 0
    leader["now"] = True
    assert value(metrics, "leader_election_master_status", name="ray-operator-leader") == 1

    release.set()
    await settle()
    assert value(metrics, "workqueue_depth", **queue) == 0
    assert value(metrics, "workqueue_longest_running_processor_seconds", **queue) == 0
    assert value(metrics, "workqueue_work_duration_seconds_sum", **queue) == pytest.approx(7)
    assert value(metrics, "workqueue_queue_duration_seconds_sum", **queue) == pytest.approx(7), (
        '"next" waited the 7 s "slow" held the only worker'
    )
    assert value(metrics, "workqueue_adds_total", **queue) == 3
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)


@pytest.fixture
async def apiserver() -> AsyncIterator[tuple[KubeApi, OperatorMetrics]]:
    async def handle(request: web.Request) -> web.Response:
        if request.path.endswith("/missing"):
            return web.json_response({"reason": "NotFound", "message": "gone"}, status=404)
        return web.json_response({"kind": "Pod"}, status=201 if request.method == "POST" else 200)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app)
    await server.start_server()
    metrics = operator_metrics()
    connection = Connection(
        str(server.make_url("")).rstrip("/"), None, None, None, True, lambda: None
    )
    api = KubeApi(connection, recorder=metrics)

    async def no_wait(_: float) -> None:
        pass

    # One request a second, one at once, and a clock that stands still: each request after
    # the first waits one second longer than the one before (the sleep itself is skipped).
    api.limiter = TokenBucket(1, 1, clock=lambda: 0.0, sleep=no_wait)
    yield api, metrics
    await api.close()
    await server.close()


async def test_api_requests_are_counted_by_method_and_code(
    apiserver: tuple[KubeApi, OperatorMetrics],
) -> None:
    api, metrics = apiserver
    await api.get("/api/v1/namespaces/ns/pods/p")
    await api.create("/api/v1/namespaces/ns/pods", {"kind": "Pod"})
    with pytest.raises(ApiError):
        await api.get("/api/v1/namespaces/ns/pods/missing")
    host = "apiserver:6443"

    def requests(method: str, code: str) -> float | None:
        return value(metrics, "rest_client_requests_total", code=code, host=host, method=method)

    assert (requests("GET", "200"), requests("POST", "201"), requests("GET", "404")) == (1, 1, 1)

    def waited(verb: str) -> tuple[float | None, float | None]:
        histogram = "rest_client_rate_limiter_duration_seconds"
        return (
            value(metrics, f"{histogram}_count", host=host, verb=verb),
            value(metrics, f"{histogram}_sum", host=host, verb=verb),
        )

    assert waited("GET") == (2, 2.0), "the first GET went at once, the second waited 2 s"
    assert waited("POST") == (1, 1.0)


async def test_a_request_without_an_answer_is_counted_as_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kubeapi, "RETRY_DELAYS", (0.0, 0.0))
    metrics = operator_metrics()
    connection = Connection("http://127.0.0.1:9", None, None, None, True, lambda: None)
    api = KubeApi(connection, recorder=metrics)
    with pytest.raises(aiohttp.ClientConnectorError):
        await api.create("/api/v1/namespaces/ns/pods", {})
    await api.close()
    assert (
        value(
            metrics,
            "rest_client_requests_total",
            code="<error>",
            host="apiserver:6443",
            method="POST",
        )
        == 3
    ), "every attempt: a refused connection never sent the create, so it is retried"


def families(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


async def test_metrics_are_served_on_the_health_address_or_their_own() -> None:
    metrics = operator_metrics()
    metrics.watch([], lambda: True)
    with_metrics = TestClient(TestServer(health_app(HealthState(), metrics.registry)))
    without = TestClient(TestServer(health_app(HealthState())))
    separate = TestClient(TestServer(metrics_app(metrics.registry)))
    for client in (with_metrics, without, separate):
        await client.start_server()
    try:
        answer = await with_metrics.get("/metrics")
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain; version=")
        served = families(await answer.text())
        assert {
            "controller_runtime_reconcile",
            "leader_election_master_status",
            "process_resident_memory_bytes",
        } <= served
        assert not any(name.endswith("_created") for name in served)
        assert (await without.get("/metrics")).status == 404
        assert families(await (await separate.get("/metrics")).text()) == served
    finally:
        for client in (with_metrics, without, separate):
            await client.close()


def served_families() -> dict[str, tuple[str, set[str]]]:
    """Family name (counters with `_total`) -> (type, label names), from a full exposition."""
    metrics = operator_metrics()
    ctl = controller(metrics, "raycluster", lambda key: None, FakeTimer())
    metrics.request("GET", "200")
    metrics.throttled("GET", 0.0)
    metrics.watch([ctl], lambda: True)
    served: dict[str, tuple[str, set[str]]] = {}
    text = generate_latest(metrics.registry).decode()
    for family in text_string_to_metric_families(text):
        name = family.name + "_total" if family.type == "counter" else family.name
        labels = {label for sample in family.samples for label in sample.labels} - {"le"}
        served[name] = (family.type, labels)
    return served


def test_docs_describe_every_operator_family_and_label_and_only_those() -> None:
    docs = documented_parts()[OPERATOR_PART]
    served = served_families()
    assert set(docs) == set(served), "docs/metrics.md's operator part against /metrics"
    for name, (kind, labels) in served.items():
        assert documented_labels(docs[name]) == labels, name
        assert docs[name]["type"].startswith(kind), f"{name} is a {kind}"
