"""Log lines (DESIGN.md §6): one JSON object per record with the designed fields, ISO 8601 UTC
time, object context, console text, stdlib and uncaught exceptions routed, levels, file sink."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
import threading
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import kopf
import pytest
from loguru import logger
from op_log_capture import json_lines, restored_logging

from ray_operator.controller import Controller
from ray_operator.logs import configure_logging
from ray_operator.settings import Settings

BASE_FIELDS = ["ts", "level", "logger", "msg"]
ISO_UTC_MILLIS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


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


def test_json_lines_have_exactly_the_designed_fields(stream: io.StringIO) -> None:
    configure_logging(Settings(), stream)
    logger.info("operator started")
    logger.bind(kind="RayCluster", namespace="ns", name="demo").info("created {n} pods", n=3)
    plain, about_object = json_lines(stream.getvalue())
    assert list(plain) == BASE_FIELDS
    assert list(about_object) == [*BASE_FIELDS, "kind", "namespace", "name", "n"]
    assert about_object["msg"] == "created 3 pods"
    assert (about_object["kind"], about_object["namespace"], about_object["name"]) == (
        "RayCluster",
        "ns",
        "demo",
    )
    assert about_object["n"] == 3
    assert about_object["logger"] == __name__


def test_timestamps_are_iso8601_utc_with_milliseconds(stream: io.StringIO) -> None:
    configure_logging(Settings(), stream)
    before = datetime.now(UTC).replace(microsecond=0)
    logger.info("now")
    after = datetime.now(UTC) + timedelta(milliseconds=1)
    (line,) = json_lines(stream.getvalue())
    assert ISO_UTC_MILLIS.fullmatch(line["ts"]), line["ts"]
    stamp = datetime.fromisoformat(line["ts"])
    assert stamp.utcoffset() == timedelta(0)
    assert before <= stamp <= after


def test_levels_are_lower_case_and_filtered_by_the_setting(stream: io.StringIO) -> None:
    configure_logging(Settings(log_level="DEBUG"), stream)
    for level in ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"):
        logger.log(level, "at {}", level)
    names = [line["level"] for line in json_lines(stream.getvalue())]
    assert names == ["debug", "info", "success", "warning", "error", "critical"]


def test_a_warning_level_hides_info_from_us_and_from_libraries(stream: io.StringIO) -> None:
    configure_logging(Settings(log_level="WARNING"), stream)
    logger.info("hidden")
    logging.getLogger("kubernetes.client").info("hidden too")
    logging.getLogger("kubernetes.client").warning("shown")
    assert [line["msg"] for line in json_lines(stream.getvalue())] == ["shown"]


def test_kubernetes_client_warning_comes_out_in_the_same_format(stream: io.StringIO) -> None:
    configure_logging(Settings(), stream)
    logging.getLogger("kubernetes.watch.watch").warning("watch of %s ended: %s", "pods", "410")
    logging.getLogger("urllib3.connectionpool").warning("Retrying after connection broken")
    kube, pool = json_lines(stream.getvalue())
    assert list(kube) == BASE_FIELDS
    assert kube["level"] == "warning"
    assert kube["logger"] == "kubernetes.watch.watch"
    assert kube["msg"] == "watch of pods ended: 410"
    assert pool["logger"] == "urllib3.connectionpool"


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


def test_an_exception_is_one_line_with_error_and_stack(stream: io.StringIO) -> None:
    configure_logging(Settings(), stream)
    try:
        raise ValueError("boom")
    except ValueError:
        logger.bind(kind="RayJob", namespace="ns", name="j").exception("it broke")
    (line,) = stream.getvalue().splitlines()
    fields = json.loads(line)
    assert list(fields) == [*BASE_FIELDS, "kind", "namespace", "name", "error", "stack"]
    assert fields["error"] == "ValueError: boom"
    assert fields["stack"].startswith("Traceback (most recent call last):")
    assert 'raise ValueError("boom")' in fields["stack"]


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


def test_uncaught_exceptions_and_warnings_are_log_lines(stream: io.StringIO) -> None:
    configure_logging(Settings(), stream)
    try:
        raise OSError("no kubeconfig")
    except OSError as error:
        sys.excepthook(type(error), error, error.__traceback__)

    def crash() -> None:
        raise KeyError("lost")

    thread = threading.Thread(target=crash, name="watcher")
    thread.start()
    thread.join()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("Unverified HTTPS request", stacklevel=1)
    main, in_thread, warned = json_lines(stream.getvalue())
    assert (main["level"], main["error"]) == ("critical", "OSError: no kubeconfig")
    assert (in_thread["thread"], in_thread["error"]) == ("watcher", "KeyError: 'lost'")
    assert warned["logger"] == "py.warnings"
    assert "Unverified HTTPS request" in warned["msg"]


def test_console_format_is_readable_text(stream: io.StringIO) -> None:
    configure_logging(Settings(log_format="console"), stream)
    logger.bind(kind="RayCluster", namespace="ns", name="demo").warning("careful")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    first, second, *trace = stream.getvalue().splitlines()
    stamp, level, source, message, context = re.split(r"\s{2,}", first)
    assert ISO_UTC_MILLIS.fullmatch(stamp)
    assert (level, source, message) == ("warning", __name__, "careful")
    assert json.loads(context) == {"kind": "RayCluster", "namespace": "ns", "name": "demo"}
    assert second.split()[1] == "error"
    assert '"error": "ValueError: boom"' in second
    assert trace[0] == "Traceback (most recent call last):"
    assert trace[-1] == "ValueError: boom"


def test_file_sink_writes_the_same_lines_from_info_up(stream: io.StringIO, tmp_path: Path) -> None:
    path = tmp_path / "logs" / "operator.log"
    configure_logging(Settings(log_level="DEBUG", log_file_path=path), stream)
    logger.debug("stdout only")
    logger.bind(kind="RayService", namespace="ns", name="s").info("to both")
    logger.remove()
    (in_file,) = json_lines(path.read_text())
    on_stdout = json_lines(stream.getvalue())
    assert [line["msg"] for line in on_stdout] == ["stdout only", "to both"]
    assert in_file == on_stdout[1]


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")


def test_a_value_that_cannot_be_printed_never_breaks_the_logging_call(
    stream: io.StringIO,
) -> None:
    configure_logging(Settings(), stream)
    logger.info("reconciled", thing=Unprintable(), by_key={Unprintable(): 1})
    (line,) = json_lines(stream.getvalue())
    assert line["thing"] == "<unprintable Unprintable>"
    assert line["by_key"] == {"<unprintable Unprintable>": 1}
