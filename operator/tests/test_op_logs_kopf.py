"""The operator's own log sources (DESIGN.md §6): kopf's object loggers carry the object and are
redacted, kopf's per-event info stays quiet unless debugging, a failed reconcile names its
object, and aiohttp's debug lines are redacted. The contract both programs share is tested in
tests/logs/."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator

import kopf
import pytest
from log_capture import json_lines, restored_logging
from loguru import logger

from ray_operator.controller import Controller
from ray_operator.logs import configure_logging
from ray_operator.settings import Settings

BASE_FIELDS = ["ts", "level", "logger", "msg"]
TOKEN = "s3cr3t-T0ken.value_0123456789"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    with restored_logging():
        yield io.StringIO()


def ray_cluster_body() -> kopf.Body:
    raw: kopf.RawBody = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "demo", "namespace": "team-a", "uid": "u-1"},
    }
    return kopf.Body(raw)


def test_kopf_object_logger_warning_carries_the_object(stream: io.StringIO) -> None:
    configure_logging(Settings(), stream)
    kopf.ObjectLogger(body=ray_cluster_body(), settings=kopf.OperatorSettings()).warning(
        "Handler %r failed temporarily: %s", "reconcile", "conflict"
    )
    (line,) = json_lines(stream.getvalue())
    assert list(line) == [*BASE_FIELDS, "kind", "namespace", "name"]
    assert line["level"] == "warning"
    assert line["logger"] == "kopf.objects"
    assert line["msg"] == "Handler 'reconcile' failed temporarily: conflict"
    assert (line["kind"], line["namespace"], line["name"]) == ("RayCluster", "team-a", "demo")


def test_kopf_per_event_info_is_quiet_unless_debugging(stream: io.StringIO) -> None:
    configure_logging(Settings(log_level="INFO"), stream)
    objects = logging.getLogger("kopf.objects")
    objects.info("Handler 'pods' succeeded.")
    objects.error("Handler 'pods' failed permanently.")
    configure_logging(Settings(log_level="DEBUG"), stream)
    objects.info("Handler 'pods' succeeded.")
    assert [line["msg"] for line in json_lines(stream.getvalue())] == [
        "Handler 'pods' failed permanently.",
        "Handler 'pods' succeeded.",
    ]


async def test_a_failed_reconcile_logs_the_object_error_and_stack(stream: io.StringIO) -> None:
    configure_logging(Settings(), stream)
    logged = asyncio.Event()
    logger.add(lambda _: logged.set(), level="ERROR", format="{message}")

    async def reconcile(key: tuple[str, str]) -> float | None:
        raise RuntimeError(f"cannot patch {key[1]}")

    controller: Controller[tuple[str, str]] = Controller(
        "raycluster", reconcile, workers=1, base_delay=60, kind="RayCluster"
    )
    runner = asyncio.create_task(controller.run())
    controller.enqueue(("team-a", "demo"))
    await asyncio.wait_for(logged.wait(), 10)
    controller.shutdown()
    await runner
    (line,) = json_lines(stream.getvalue())
    assert (line["kind"], line["namespace"], line["name"]) == ("RayCluster", "team-a", "demo")
    assert line["controller"] == "raycluster"
    assert line["level"] == "error"
    assert line["error"] == "RuntimeError: cannot patch demo"
    assert "in reconcile" in line["stack"]


def test_kopf_warning_with_an_object_ref_is_redacted_and_keeps_its_context(
    stream: io.StringIO,
) -> None:
    configure_logging(Settings(), stream)
    ref = {"apiVersion": "ray.io/v1", "kind": "RayJob", "namespace": "ns", "name": "j", "uid": "u"}
    logging.getLogger("kopf.objects").warning(
        "Patching failed with inconsistencies: %s",
        {"headers": {"Authorization": f"Bearer {TOKEN}"}},
        extra={"k8s_ref": ref, "k8s_skip": False},
    )
    (line,) = json_lines(stream.getvalue())
    assert list(line) == [*BASE_FIELDS, "kind", "namespace", "name"]
    assert line["level"] == "warning"
    assert (line["kind"], line["namespace"], line["name"]) == ("RayJob", "ns", "j")
    assert TOKEN not in line["msg"]
    assert line["msg"].startswith("Patching failed with inconsistencies: {'headers'")


def test_aiohttp_debug_lines_are_redacted(stream: io.StringIO) -> None:
    configure_logging(Settings(log_level="DEBUG"), stream)
    logging.getLogger("aiohttp.client").debug(
        "request headers %s", {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
    )
    (line,) = json_lines(stream.getvalue())
    assert TOKEN not in line["msg"]
    assert "'Accept': 'application/json'" in line["msg"]
