"""Log configuration for the exporter: loguru, JSON by default, stdlib logging routed in.

`configure_logging` is called once, from `main()`. It replaces loguru's default
sink with one on stdout in the chosen encoding, optionally adds a file sink with
the same encoding, and routes the standard library's `logging` (the kubernetes
client, urllib3) into loguru so every line has one format.

JSON lines carry `ts` (ISO 8601, UTC, milliseconds), `level`, `logger`, `msg`,
then every bound field: code that logs about an object binds `kind`,
`namespace` and `name` (`logger.bind(kind="RayJob", namespace=..., name=...)`).
A traceback, when there is one, is in `exception`.

The file sink rotates at `rotation_bytes` (500 MB), keeps at most
`retention_files` files (10, the active one included) and removes files older
than `retention_age` (30 days); the limits are parameters so tests can use
small ones.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record

ROTATION_BYTES = 500 * 1024 * 1024
RETENTION_FILES = 10
RETENTION_AGE = timedelta(days=30)
_RESERVED = ("ts", "level", "logger", "msg", "exception")


def _json_line(record: Record) -> str:
    line: dict[str, Any] = {
        "ts": record["time"].astimezone(UTC).isoformat(timespec="milliseconds"),
        "level": record["level"].name,
        "logger": record["extra"].get("logger", record["name"]),
        "msg": record["message"],
    }
    for key, value in record["extra"].items():
        if key not in _RESERVED and not key.startswith("_"):
            line[key] = value
    if record["exception"] is not None:
        kind, value, trace = record["exception"]
        line["exception"] = "".join(traceback.format_exception(kind, value, trace))
    return json.dumps(line, default=str, ensure_ascii=False)


def _json_format(record: Record) -> str:
    record["extra"]["_json"] = _json_line(record)
    return "{extra[_json]}\n"


def _console_format(record: Record) -> str:
    extra = " ".join(
        f"{key}={value}"
        for key, value in record["extra"].items()
        if not key.startswith("_") and key != "logger"
    )
    record["extra"]["_context"] = f" [{extra}]" if extra else ""
    record["extra"]["_name"] = record["extra"].get("logger", record["name"])
    return (
        "<green>{time:YYYY-MM-DDTHH:mm:ss.SSSZZ}</green> <level>{level: <8}</level> "
        "<cyan>{extra[_name]}</cyan> {message}{extra[_context]}\n{exception}"
    )


class _InterceptHandler(logging.Handler):
    """Hands standard-library log records to loguru, keeping level and logger name."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.bind(logger=record.name).opt(exception=record.exc_info, depth=0).log(
            level, record.getMessage()
        )


def keep_newest(limit: int, max_age: timedelta) -> Callable[[Sequence[str]], None]:
    """A loguru retention function: drop files older than `max_age`, keep `limit` in all.

    Loguru calls it at rotation with the rotated files, before the new active
    file exists, so `limit - 1` of them are kept.
    """

    def retain(files: Sequence[str]) -> None:
        now = time.time()
        by_age = sorted(files, key=lambda path: (-os.stat(path).st_mtime, path))
        for index, path in enumerate(by_age):
            if index >= limit - 1 or now - os.stat(path).st_mtime > max_age.total_seconds():
                os.remove(path)

    return retain


def configure_logging(
    log_format: str,
    level: str,
    file_path: Path | None = None,
    *,
    stream: TextIO | None = None,
    rotation_bytes: int = ROTATION_BYTES,
    retention_files: int = RETENTION_FILES,
    retention_age: timedelta = RETENTION_AGE,
) -> None:
    """Send logs to `stream` (stdout) and optionally a rotated file, in `log_format`."""
    formatter = _json_format if log_format == "json" else _console_format
    colorize = log_format == "console" and stream is None and sys.stdout.isatty()
    logger.remove()
    logger.add(
        stream if stream is not None else sys.stdout,
        level=level,
        format=formatter,
        colorize=colorize,
        backtrace=False,
        diagnose=False,
    )
    if file_path is not None:
        logger.add(
            str(file_path),
            level=level,
            format=formatter,
            colorize=False,
            rotation=rotation_bytes,
            retention=keep_newest(retention_files, retention_age),
            backtrace=False,
            diagnose=False,
            enqueue=False,
        )
    logging.basicConfig(handlers=[_InterceptHandler()], level=logger.level(level).no, force=True)
