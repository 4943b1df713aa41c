"""Log setup: JSON lines with ISO 8601 time and object context, console, stdlib routed in,
and a file sink that rotates and prunes by count and age."""

from __future__ import annotations

import io
import json
import logging
import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from loguru import logger

from ray_exporter.logs import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    logger.remove()
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_time_level_message_and_object_context() -> None:
    stream = io.StringIO()
    configure_logging("json", "INFO", stream=stream)
    logger.bind(kind="RayJob", namespace="team-a", name="nightly").info("rendered", objects=3)
    logger.debug("hidden at INFO")
    (line,) = lines(stream)
    assert line["level"] == "INFO"
    assert line["msg"] == "rendered"
    assert (line["kind"], line["namespace"], line["name"]) == ("RayJob", "team-a", "nightly")
    assert line["objects"] == 3
    stamp = datetime.fromisoformat(str(line["ts"]))
    assert stamp.utcoffset() == timedelta(0)
    assert abs(time.time() - stamp.timestamp()) < 3600


def test_standard_library_logging_is_routed_into_the_same_format() -> None:
    stream = io.StringIO()
    configure_logging("json", "INFO", stream=stream)
    logging.getLogger("kubernetes.client.rest").warning("slow response %s", "GET /apis")
    logging.getLogger("urllib3.connectionpool").debug("below the level")
    (line,) = lines(stream)
    assert line["logger"] == "kubernetes.client.rest"
    assert line["msg"] == "slow response GET /apis"
    assert line["level"] == "WARNING"


def test_exceptions_are_one_json_field() -> None:
    stream = io.StringIO()
    configure_logging("json", "INFO", stream=stream)
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    (line,) = lines(stream)
    assert "ValueError: boom" in str(line["exception"])


def test_console_format_is_readable_text() -> None:
    stream = io.StringIO()
    configure_logging("console", "INFO", stream=stream)
    logger.bind(kind="RayCluster", name="c1").warning("odd")
    text = stream.getvalue()
    assert "WARNING" in text
    assert "odd" in text
    assert "kind=RayCluster name=c1" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_file_sink_rotates_and_keeps_a_bounded_number_of_files(tmp_path: Path) -> None:
    path = tmp_path / "exporter.log"
    configure_logging(
        "json", "INFO", path, stream=io.StringIO(), rotation_bytes=2_000, retention_files=3
    )
    for index in range(200):
        logger.info("line {}", index)
    logger.remove()
    files = sorted(tmp_path.iterdir())
    assert len(files) == 3
    assert path in files
    for file in files:
        assert file.stat().st_size <= 2_000 + 200
        for text in file.read_text().splitlines():
            assert json.loads(text)["msg"].startswith("line ")
    # The newest lines survive.
    assert '"line 199"' in path.read_text()


def test_file_sink_drops_files_older_than_the_age_limit(tmp_path: Path) -> None:
    path = tmp_path / "exporter.log"
    old = tmp_path / "exporter.2000-01-01_00-00-00_000000.log"
    old.write_text("{}\n")
    month_ago = time.time() - 40 * 86400
    os.utime(old, (month_ago, month_ago))
    configure_logging(
        "json",
        "INFO",
        path,
        stream=io.StringIO(),
        rotation_bytes=500,
        retention_files=10,
        retention_age=timedelta(days=30),
    )
    for index in range(20):
        logger.info("line {}", index)
    logger.remove()
    assert not old.exists()
    assert path.exists()
