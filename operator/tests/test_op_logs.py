"""Log lines: one JSON object (or console line) per record, objects named, stdlib routed."""

from __future__ import annotations

import io
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from ray_operator.logs import KEEP_FILES, configure_logging, retention
from ray_operator.settings import Settings


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    yield buffer
    logger.remove()
    logging.basicConfig(handlers=[], force=True)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_time_level_and_object(stream: io.StringIO) -> None:
    configure_logging(Settings(), stream)
    logger.bind(kind="RayCluster", namespace="ns", name="demo").info("created {n} pods", n=3)
    (line,) = lines(stream)
    assert line["msg"] == "created 3 pods"
    assert line["level"] == "info"
    assert (line["kind"], line["namespace"], line["name"]) == ("RayCluster", "ns", "demo")
    assert line["n"] == 3
    assert line["logger"] == __name__
    assert line["ts"].endswith("Z")
    assert line["ts"][10] == "T"


def test_standard_logging_is_routed_with_kopf_object_refs(stream: io.StringIO) -> None:
    configure_logging(Settings(log_level="DEBUG"), stream)
    ref = {"kind": "Pod", "namespace": "ns", "name": "p1", "uid": "u"}
    logging.getLogger("kopf.objects").warning("handler failed", extra={"k8s_ref": ref})
    logging.getLogger("aiohttp.client").debug("connected")
    first, second = lines(stream)
    assert first["logger"] == "kopf.objects"
    assert (first["kind"], first["namespace"], first["name"]) == ("Pod", "ns", "p1")
    assert first["level"] == "warning"
    assert second["logger"] == "aiohttp.client"


def test_levels_filter_and_chatty_libraries_are_quieted(stream: io.StringIO) -> None:
    configure_logging(Settings(log_level="INFO"), stream)
    logger.debug("hidden")
    logging.getLogger("kopf.objects").info("Handler succeeded")
    logging.getLogger("kopf.objects").error("Handler failed")
    assert [line["msg"] for line in lines(stream)] == ["Handler failed"]


def test_exceptions_stay_on_one_json_line(stream: io.StringIO) -> None:
    configure_logging(Settings(), stream)
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("it broke")
    (line,) = lines(stream)
    assert line["error"] == "ValueError: boom"
    assert "Traceback" in line["stack"]


def test_console_format(stream: io.StringIO) -> None:
    configure_logging(Settings(log_format="console"), stream)
    logger.bind(kind="RayCluster", namespace="ns", name="demo").warning("careful")
    text = stream.getvalue().strip()
    assert "  warning  " in text
    assert "careful" in text
    assert '"name": "demo"' in text
    assert not text.startswith("{")


def test_file_sink_writes_the_same_lines(stream: io.StringIO, tmp_path: Path) -> None:
    path = tmp_path / "logs" / "operator.log"
    configure_logging(Settings(log_file_path=path), stream)
    logger.info("to both")
    logger.remove()
    assert json.loads(path.read_text())["msg"] == "to both"
    assert lines(stream)[0]["msg"] == "to both"


def test_retention_keeps_ten_recent_files(tmp_path: Path) -> None:
    now = time.time()
    files = []
    for index in range(13):
        path = tmp_path / f"operator.{index}.log"
        path.write_text("x")
        os.utime(path, (now - index * 60, now - index * 60))
        files.append(str(path))
    old = tmp_path / "operator.ancient.log"
    old.write_text("x")
    os.utime(old, (now - 40 * 86400, now - 40 * 86400))
    retention([*files, str(old)])
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert len(kept) == KEEP_FILES
    assert "operator.ancient.log" not in kept
    assert "operator.0.log" in kept
    assert "operator.12.log" not in kept


def test_retention_drops_files_older_than_thirty_days(tmp_path: Path) -> None:
    now = time.time()
    recent, ancient = tmp_path / "a.log", tmp_path / "b.log"
    for path, age in ((recent, 3600), (ancient, 31 * 86400)):
        path.write_text("x")
        os.utime(path, (now - age, now - age))
    retention([str(recent), str(ancient)])
    assert [p.name for p in tmp_path.iterdir()] == ["a.log"]
