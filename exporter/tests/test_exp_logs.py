"""Log lines (DESIGN.md §6): one JSON object per record with the designed fields, ISO 8601 UTC
time, object context, console text, stdlib and uncaught exceptions routed, file sink."""

from __future__ import annotations

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

import pytest
from exp_log_capture import json_lines, restored_logging
from loguru import logger

from ray_exporter.logs import configure_logging

BASE_FIELDS = ["ts", "level", "logger", "msg"]
ISO_UTC_MILLIS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    with restored_logging():
        yield io.StringIO()


def test_json_lines_have_exactly_the_designed_fields(stream: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=stream)
    logger.info("exporter started")
    logger.bind(kind="RayJob", namespace="team-a", name="nightly").warning(
        "skipped series of a malformed object", problems=["bad_time"]
    )
    plain, about_object = json_lines(stream.getvalue())
    assert list(plain) == BASE_FIELDS
    assert list(about_object) == [*BASE_FIELDS, "kind", "namespace", "name", "problems"]
    assert (about_object["kind"], about_object["namespace"], about_object["name"]) == (
        "RayJob",
        "team-a",
        "nightly",
    )
    assert about_object["problems"] == ["bad_time"]
    assert about_object["level"] == "warning"
    assert about_object["logger"] == __name__


def test_timestamps_are_iso8601_utc_with_milliseconds(stream: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=stream)
    before = datetime.now(UTC).replace(microsecond=0)
    logger.info("now")
    after = datetime.now(UTC) + timedelta(milliseconds=1)
    (line,) = json_lines(stream.getvalue())
    assert ISO_UTC_MILLIS.fullmatch(line["ts"]), line["ts"]
    stamp = datetime.fromisoformat(line["ts"])
    assert stamp.utcoffset() == timedelta(0)
    assert before <= stamp <= after


def test_levels_are_lower_case_and_filtered(stream: io.StringIO) -> None:
    configure_logging("json", "DEBUG", stream=stream)
    for level in ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"):
        logger.log(level, "at {}", level)
    names = [line["level"] for line in json_lines(stream.getvalue())]
    assert names == ["debug", "info", "success", "warning", "error", "critical"]


def test_kubernetes_client_warning_comes_out_in_the_same_format(stream: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=stream)
    logging.getLogger("kubernetes.watch.watch").warning("watch of %s ended: %s", "rayjobs", 410)
    logging.getLogger("urllib3.connectionpool").debug("below the level")
    logging.getLogger("urllib3.connectionpool").warning("Retrying after connection broken")
    kube, pool = json_lines(stream.getvalue())
    assert list(kube) == BASE_FIELDS
    assert (kube["level"], kube["logger"]) == ("warning", "kubernetes.watch.watch")
    assert kube["msg"] == "watch of rayjobs ended: 410"
    assert (pool["level"], pool["logger"]) == ("warning", "urllib3.connectionpool")


def test_an_exception_is_one_line_with_error_and_stack(stream: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=stream)
    try:
        raise ValueError("boom")
    except ValueError:
        logger.bind(kind="RayCluster", namespace="ns", name="c").exception("render failed")
    (line,) = stream.getvalue().splitlines()
    fields = json.loads(line)
    assert list(fields) == [*BASE_FIELDS, "kind", "namespace", "name", "error", "stack"]
    assert fields["error"] == "ValueError: boom"
    assert fields["stack"].startswith("Traceback (most recent call last):")
    assert 'raise ValueError("boom")' in fields["stack"]


def test_uncaught_exceptions_in_threads_and_warnings_are_log_lines(stream: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=stream)

    def crash() -> None:
        raise KeyError("lost")

    watcher = threading.Thread(target=crash, name="watch-rayjobs")
    watcher.start()
    watcher.join()
    try:
        raise OSError("no kubeconfig")
    except OSError as error:
        sys.excepthook(type(error), error, error.__traceback__)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("Unverified HTTPS request", stacklevel=1)
    in_thread, main, warned = json_lines(stream.getvalue())
    assert (in_thread["thread"], in_thread["error"]) == ("watch-rayjobs", "KeyError: 'lost'")
    assert (main["level"], main["error"]) == ("critical", "OSError: no kubeconfig")
    assert warned["logger"] == "py.warnings"
    assert "Unverified HTTPS request" in warned["msg"]


def test_console_format_is_readable_text(stream: io.StringIO) -> None:
    configure_logging("console", "INFO", stream=stream)
    logger.bind(kind="RayCluster", namespace="ns", name="c1").warning("odd")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    first, second, *trace = stream.getvalue().splitlines()
    stamp, level, source, message, context = re.split(r"\s{2,}", first)
    assert ISO_UTC_MILLIS.fullmatch(stamp)
    assert (level, source, message) == ("warning", __name__, "odd")
    assert json.loads(context) == {"kind": "RayCluster", "namespace": "ns", "name": "c1"}
    assert second.split()[1] == "error"
    assert trace[0] == "Traceback (most recent call last):"
    assert trace[-1] == "ValueError: boom"


def test_file_sink_writes_the_same_lines_from_info_up(stream: io.StringIO, tmp_path: Path) -> None:
    path = tmp_path / "logs" / "exporter.log"
    configure_logging("json", "DEBUG", path, stream=stream)
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
    configure_logging("json", "INFO", stream=stream)
    logger.info("rendered", thing=Unprintable(), by_key={Unprintable(): 1})
    (line,) = json_lines(stream.getvalue())
    assert line["thing"] == "<unprintable Unprintable>"
    assert line["by_key"] == {"<unprintable Unprintable>": 1}
