"""Log lines of both programs (DESIGN.md §6): one JSON object per record with the designed
fields, ISO 8601 UTC time, object context, console text, levels, stdlib records, uncaught
exceptions and warnings routed, a file sink from INFO up, unprintable values survived."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

from log_capture import json_lines
from log_programs import LogProgram
from loguru import logger

BASE_FIELDS = ["ts", "level", "logger", "msg"]
ISO_UTC_MILLIS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def test_json_lines_have_exactly_the_designed_fields(
    program: LogProgram, stream: io.StringIO
) -> None:
    program.configure(stream)
    logger.info("started")
    logger.bind(kind="RayCluster", namespace="ns", name="demo").info("created {n} pods", n=3)
    logger.bind(kind="RayJob", namespace="team-a", name="nightly").warning(
        "skipped series of a malformed object", problems=["bad_time"]
    )
    plain, formatted, listed = json_lines(stream.getvalue())
    assert list(plain) == BASE_FIELDS
    assert list(formatted) == [*BASE_FIELDS, "kind", "namespace", "name", "n"]
    assert formatted["msg"] == "created 3 pods"
    assert (formatted["kind"], formatted["namespace"], formatted["name"]) == (
        "RayCluster",
        "ns",
        "demo",
    )
    assert formatted["n"] == 3
    assert formatted["logger"] == __name__
    assert list(listed) == [*BASE_FIELDS, "kind", "namespace", "name", "problems"]
    assert (listed["kind"], listed["namespace"], listed["name"]) == ("RayJob", "team-a", "nightly")
    assert listed["problems"] == ["bad_time"]
    assert listed["level"] == "warning"
    assert listed["logger"] == __name__


def test_timestamps_are_iso8601_utc_with_milliseconds(
    program: LogProgram, stream: io.StringIO
) -> None:
    program.configure(stream)
    before = datetime.now(UTC).replace(microsecond=0)
    logger.info("now")
    after = datetime.now(UTC) + timedelta(milliseconds=1)
    (line,) = json_lines(stream.getvalue())
    assert ISO_UTC_MILLIS.fullmatch(line["ts"]), line["ts"]
    stamp = datetime.fromisoformat(line["ts"])
    assert stamp.utcoffset() == timedelta(0)
    assert before <= stamp <= after


def test_levels_are_lower_case_and_filtered_by_the_setting(
    program: LogProgram, stream: io.StringIO
) -> None:
    program.configure(stream, log_level="DEBUG")
    for level in ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"):
        logger.log(level, "at {}", level)
    names = [line["level"] for line in json_lines(stream.getvalue())]
    assert names == ["debug", "info", "success", "warning", "error", "critical"]


def test_a_warning_level_hides_info_from_us_and_from_libraries(
    program: LogProgram, stream: io.StringIO
) -> None:
    program.configure(stream, log_level="WARNING")
    logger.info("hidden")
    logging.getLogger("kubernetes.client").info("hidden too")
    logging.getLogger("kubernetes.client").warning("shown")
    assert [line["msg"] for line in json_lines(stream.getvalue())] == ["shown"]


def test_kubernetes_client_warning_comes_out_in_the_same_format(
    program: LogProgram, stream: io.StringIO
) -> None:
    program.configure(stream)
    logging.getLogger("kubernetes.watch.watch").warning("watch of %s ended: %s", "rayjobs", 410)
    logging.getLogger("urllib3.connectionpool").debug("below the level")
    logging.getLogger("urllib3.connectionpool").warning("Retrying after connection broken")
    kube, pool = json_lines(stream.getvalue())
    assert list(kube) == BASE_FIELDS
    assert (kube["level"], kube["logger"]) == ("warning", "kubernetes.watch.watch")
    assert kube["msg"] == "watch of rayjobs ended: 410"
    assert (pool["level"], pool["logger"]) == ("warning", "urllib3.connectionpool")


def test_an_exception_is_one_line_with_error_and_stack(
    program: LogProgram, stream: io.StringIO
) -> None:
    program.configure(stream)
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


def test_uncaught_exceptions_in_threads_and_warnings_are_log_lines(
    program: LogProgram, stream: io.StringIO
) -> None:
    program.configure(stream)
    try:
        raise OSError("no kubeconfig")
    except OSError as error:
        sys.excepthook(type(error), error, error.__traceback__)

    def crash() -> None:
        raise KeyError("lost")

    watcher = threading.Thread(target=crash, name="watch-rayjobs")
    watcher.start()
    watcher.join()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("Unverified HTTPS request", stacklevel=1)
    main, in_thread, warned = json_lines(stream.getvalue())
    assert (main["level"], main["error"]) == ("critical", "OSError: no kubeconfig")
    assert (in_thread["thread"], in_thread["error"]) == ("watch-rayjobs", "KeyError: 'lost'")
    assert warned["logger"] == "py.warnings"
    assert "Unverified HTTPS request" in warned["msg"]


def test_console_format_is_readable_text(program: LogProgram, stream: io.StringIO) -> None:
    program.configure(stream, log_format="console")
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


def test_file_sink_writes_the_same_lines_from_info_up(
    program: LogProgram, stream: io.StringIO, tmp_path: Path
) -> None:
    path = tmp_path / "logs" / f"{program.name}.log"
    program.configure(stream, log_level="DEBUG", log_file_path=path)
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
    program: LogProgram, stream: io.StringIO
) -> None:
    program.configure(stream)
    logger.info("reconciled", thing=Unprintable(), by_key={Unprintable(): 1})
    (line,) = json_lines(stream.getvalue())
    assert line["thing"] == "<unprintable Unprintable>"
    assert line["by_key"] == {"<unprintable Unprintable>": 1}
