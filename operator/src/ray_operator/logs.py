"""Logging: loguru for everything, one line per record, JSON (default) or console.

`configure_logging` is called once from main(). It installs a stdout sink and, with
--log-file-path, a file sink rotated at 500 MB keeping at most 10 files for at most 30 days.
Standard-library logging (kopf, aiohttp, kubernetes) is routed into loguru, so every line
has the same format. Lines about an object carry `kind`, `namespace` and `name`: bind them
(`logger.bind(kind=..., namespace=..., name=...)`); kopf's per-object records get them from
kopf's own object reference.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record

    from ray_operator.settings import Settings

OBJECT_FIELDS = ("kind", "namespace", "name")
ROTATION = "500 MB"
KEEP_FILES = 10
KEEP_DAYS = 30
STDLIB_LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "SUCCESS": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}
# kopf logs every successful watch-event handler call at INFO: one line per pod event.
QUIET_LOGGERS = {
    "aiohttp.access": logging.WARNING,
    "kubernetes": logging.WARNING,
    "kopf.objects": logging.WARNING,
}


def _timestamp(record: Record) -> str:
    moment = record["time"].astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _fields(record: Record) -> dict[str, Any]:
    extra = dict(record["extra"])
    source = extra.pop("logger", None) or record["name"]
    fields: dict[str, Any] = {
        "ts": _timestamp(record),
        "level": record["level"].name.lower(),
        "logger": source,
        "msg": record["message"],
    }
    for key in OBJECT_FIELDS:
        if extra.get(key):
            fields[key] = extra.pop(key)
    extra.pop("_line", None)
    fields.update(
        {k: v if isinstance(v, (str, int, float, bool)) else str(v) for k, v in extra.items()}
    )
    exception = record["exception"]
    if exception is not None and exception.type is not None:
        fields["error"] = f"{exception.type.__name__}: {exception.value}"
    return fields


def json_line(record: Record) -> str:
    fields = _fields(record)
    exception = record["exception"]
    if exception is not None and exception.type is not None:
        stack = traceback.format_exception(exception.type, exception.value, exception.traceback)
        fields["stack"] = "".join(stack)
    return json.dumps(fields, ensure_ascii=False, default=str)


def console_line(record: Record) -> str:
    fields = _fields(record)
    head = (
        f"{fields.pop('ts')}  {fields.pop('level'):<8} {fields.pop('logger')}  {fields.pop('msg')}"
    )
    return f"{head}  {json.dumps(fields, default=str)}" if fields else head


def _formatter(render: Any, *, traceback_below: bool) -> Any:
    def format_record(record: Record) -> str:
        record["extra"]["_line"] = render(record)
        below = traceback_below and record["exception"] is not None
        return "{extra[_line]}\n" + ("{exception}" if below else "")

    return format_record


def retention(files: list[str]) -> None:
    """Keep the newest KEEP_FILES rotated files, none older than KEEP_DAYS."""
    cutoff = datetime.now(UTC) - timedelta(days=KEEP_DAYS)
    paths = sorted((Path(f) for f in files), key=lambda p: p.stat().st_mtime, reverse=True)
    for index, path in enumerate(paths):
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        if index >= KEEP_FILES or modified < cutoff:
            path.unlink(missing_ok=True)


class InterceptHandler(logging.Handler):
    """Sends standard-library records to loguru, keeping their logger name and object."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        bound: dict[str, Any] = {"logger": record.name}
        ref = getattr(record, "k8s_ref", None)
        if isinstance(ref, dict):
            bound.update({key: ref.get(key) for key in OBJECT_FIELDS if ref.get(key)})
        logger.bind(**bound).opt(exception=record.exc_info, depth=0).log(level, record.getMessage())


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    render = json_line if settings.log_format == "json" else console_line
    formatter = _formatter(render, traceback_below=settings.log_format == "console")
    logger.remove()
    logger.add(
        stream or sys.stdout,
        level=settings.log_level,
        format=formatter,
        backtrace=False,
        diagnose=False,
        colorize=False,
    )
    if settings.log_file_path is not None:
        settings.log_file_path.parent.mkdir(parents=True, exist_ok=True)
        logger.add(
            settings.log_file_path,
            level=settings.log_level,
            format=formatter,
            rotation=ROTATION,
            retention=retention,
            backtrace=False,
            diagnose=False,
            enqueue=False,
        )
    stdlib_level = STDLIB_LEVELS.get(settings.log_level, logging.INFO)
    logging.basicConfig(handlers=[InterceptHandler()], level=stdlib_level, force=True)
    for name, quiet in QUIET_LOGGERS.items():
        # At DEBUG everything speaks; otherwise the chatty libraries only warn.
        logging.getLogger(name).setLevel(
            stdlib_level if stdlib_level <= logging.DEBUG else max(quiet, stdlib_level)
        )
