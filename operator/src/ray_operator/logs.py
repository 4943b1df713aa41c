"""Logging (DESIGN.md §6): loguru for everything, one line per record, JSON or console.

`configure_logging` is called once from main(). It installs a stdout sink in the chosen
encoding at the chosen level and, with --log-file-path, a file sink in the same encoding at
INFO or above, rotated at 500 MiB, keeping the 10 newest rotated files and none older than
30 days (the limits are keyword parameters so tests can use small ones). Standard-library
logging (kopf, the kubernetes client, urllib3, aiohttp, asyncio), `warnings`, http.client's
debug prints and uncaught exceptions are routed into loguru, so nothing is printed in
another format.

A JSON line has `ts` (ISO 8601, UTC, milliseconds, `Z`), `level` (lower case), `logger` and
`msg`; a line about an object adds `kind`, `namespace` and `name` (bind them:
`logger.bind(kind=..., namespace=..., name=...)`; kopf's object loggers supply them); other
bound values follow; an exception adds `error` (`Type: message`) and `stack` (the
traceback), still on one line. The console encoding prints the same fields as
`ts  level  logger  msg  {context as JSON}` with the traceback below.

No secret reaches a sink: a loguru patcher redacts every message and bound value, and the
formatter redacts exception text (bearer tokens, Authorization and Cookie headers,
`token=`/`password=`-like assignments, secret-named environment variables in manifests, PEM
private keys, JWTs, passwords in URLs).
"""

from __future__ import annotations

import builtins
import http.client
import json
import logging
import re
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record

    from ray_operator.settings import Settings

ROTATION_BYTES = 500 * 1024 * 1024
RETENTION_FILES = 10
RETENTION_AGE = timedelta(days=30)
FILE_MIN_LEVEL = "INFO"
# kopf's "Request attempt #n/m failed; will retry: ..." (the last attempt says "escalating").
KOPF_RETRY = "failed; will retry"
OBJECT_FIELDS = ("kind", "namespace", "name")
RESERVED_FIELDS = ("ts", "level", "logger", "msg", *OBJECT_FIELDS, "error", "stack")
# Below DEBUG these only warn: kopf logs every handler call on every watch event at INFO.
QUIET_LOGGERS = {
    "aiohttp.access": logging.WARNING,
    "kubernetes": logging.WARNING,
    "kopf.objects": logging.WARNING,
}

REDACTED = "[REDACTED]"
_SECRET_KEY = re.compile(
    r"password|passwd|secret|token|api[_-]?key|credential|authorization|cookie|private[_-]?key",
    re.IGNORECASE,
)
_PEM_KEY = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
_HEADER = re.compile(
    r"(?<![\w-])((?:proxy-)?authorization|(?:set-)?cookie|x-[a-z0-9-]{0,40}?(?:token|key))"
    r"(\\?[\"']?\s*[:=]\s*\\?[\"']?)(?:(bearer|basic|digest|negotiate)\s+)?[^\r\n\\\"']+",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(bearer)\s+([A-Za-z0-9._~+/-]+=*)", re.IGNORECASE)
_ASSIGNMENT = re.compile(
    r"(password|passwd|secret|token|api[_-]?key|access[_-]?key|credentials?)"
    r"(\\?[\"']?\s*[:=]\s*\\?[\"']?)([^\s\"'\\&,;()\[\]{}<>]+)",
    re.IGNORECASE,
)
# An environment variable in a manifest: {"name": "REDIS_PASSWORD", "value": "..."}.
_ENV_VALUE = re.compile(
    r"([\"']name[\"']\s*:\s*[\"'][^\"']*(?:password|passwd|secret|token|key|credential)[^\"']*"
    r"[\"']\s*,\s*[\"']value[\"']\s*:\s*[\"'])[^\"']*",
    re.IGNORECASE,
)
_URL_PASSWORD = re.compile(r"://([^/\s:@]{1,256}):[^/\s@]{1,1024}@")
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")


def _pem(match: re.Match[str]) -> str:
    label = f"{match[1]}PRIVATE KEY-----"
    return f"-----BEGIN {label}{REDACTED}-----END {label}"


def _header(match: re.Match[str]) -> str:
    scheme = f"{match[3]} " if match[3] else ""
    return f"{match[1]}{match[2]}{scheme}{REDACTED}"


def _bearer(match: re.Match[str]) -> str:
    # "a bearer token" is prose; a credential is long or has digits or punctuation.
    value = match[2]
    credential = len(value) >= 16 or (len(value) >= 8 and not value.isalpha())
    return f"{match[1]} {REDACTED}" if credential else match[0]


# Each pattern with the substrings (lower case) without which it cannot match: most log
# lines contain none of them and skip the regular expressions.
_PATTERNS: tuple[tuple[re.Pattern[str], Any, tuple[str, ...]], ...] = (
    (_PEM_KEY, _pem, ("private key",)),
    (_HEADER, _header, ("authorization", "cookie", "x-")),
    (_BEARER, _bearer, ("bearer",)),
    (_ASSIGNMENT, lambda m: f"{m[1]}{m[2]}{REDACTED}", ("pass", "secret", "token", "key", "cred")),
    (_ENV_VALUE, lambda m: f"{m[1]}{REDACTED}", ("value",)),
    (_URL_PASSWORD, lambda m: f"://{m[1]}:{REDACTED}@", ("://",)),
    (_JWT, REDACTED, ("eyj",)),
)


def redact(text: str) -> str:
    """`text` with every credential it carries replaced by [REDACTED]."""
    lowered = text.lower()
    for pattern, replacement, hints in _PATTERNS:
        if any(hint in lowered for hint in hints):
            text = pattern.sub(replacement, text)
            lowered = text.lower()
    return text


def _clean(key: str, value: Any) -> Any:
    """A bound value as it may be logged: JSON-native, secrets redacted."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if _SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, dict):
        return {_text(k): _clean(_text(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(key, item) for item in value]
    return redact(_text(value))


def _text(value: Any) -> str:
    """str(value), never raising: the patcher runs inside the caller's logging call."""
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def redact_record(record: Record) -> None:
    """The loguru patcher: runs on every record before any sink sees it."""
    record["message"] = redact(record["message"])
    extra = record["extra"]
    for key, value in list(extra.items()):
        if not key.startswith("_"):
            extra[key] = _clean(key, value)


def _timestamp(record: Record) -> str:
    moment = record["time"].astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _fields(record: Record) -> dict[str, Any]:
    extra = record["extra"]
    fields: dict[str, Any] = {
        "ts": _timestamp(record),
        "level": record["level"].name.lower(),
        "logger": extra.get("logger") or record["name"],
        "msg": record["message"],
    }
    fields.update({key: extra[key] for key in OBJECT_FIELDS if extra.get(key)})
    for key, value in extra.items():
        if key not in RESERVED_FIELDS and not key.startswith("_"):
            fields[key] = value
    if "error" in extra:
        fields["error"] = extra["error"]
    exception = record["exception"]
    if exception is not None and exception.type is not None:
        fields["error"] = redact(f"{exception.type.__name__}: {exception.value}")
        stack = traceback.format_exception(exception.type, exception.value, exception.traceback)
        fields["stack"] = redact("".join(stack))
    return fields


def json_line(record: Record) -> str:
    return json.dumps(_fields(record), ensure_ascii=False, default=str)


def console_line(record: Record) -> str:
    fields = _fields(record)
    stack = fields.pop("stack", "")
    head = f"{fields.pop('ts')}  {fields.pop('level'):<8} {fields.pop('logger')}  "
    head += str(fields.pop("msg"))
    line = f"{head}  {json.dumps(fields, ensure_ascii=False, default=str)}" if fields else head
    return f"{line}\n{stack.rstrip()}" if stack else line


def _formatter(render: Callable[[Record], str]) -> Callable[[Record], str]:
    def format_record(record: Record) -> str:
        record["extra"]["_line"] = render(record)
        return "{extra[_line]}\n"

    return format_record


def keep_newest(limit: int, max_age: timedelta) -> Callable[[Sequence[str]], None]:
    """A loguru retention function: keep the `limit` newest rotated files, none past `max_age`.

    Loguru calls it at each rotation with the rotated files (the new active file does not
    exist yet), like lumberjack's MaxBackups and MaxAge.
    """

    def retain(files: Sequence[str]) -> None:
        cutoff = datetime.now(UTC) - max_age
        # Newest first; rotated names carry their time, which orders files with equal mtimes.
        paths = sorted(
            (Path(f) for f in files), key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True
        )
        for index, path in enumerate(paths):
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            if index >= limit or modified < cutoff:
                path.unlink(missing_ok=True)

    return retain


class InterceptHandler(logging.Handler):
    """Sends standard-library records to loguru, keeping their logger name and object."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        message = record.getMessage()
        if level == "ERROR" and record.name.startswith("kopf") and KOPF_RETRY in message:
            level = "WARNING"  # kopf logs each retried request as an error; only giving up is
        bound: dict[str, Any] = {"logger": record.name}
        ref = getattr(record, "k8s_ref", None)  # kopf's object loggers
        if isinstance(ref, dict):
            bound.update({key: ref[key] for key in OBJECT_FIELDS if ref.get(key)})
        logger.bind(**bound).opt(exception=record.exc_info).log(level, "{}", message)


def _http_client_print(*values: object, **kwargs: Any) -> None:
    """http.client prints its debug output (request headers included); log it instead."""
    if kwargs.get("file") not in (None, sys.stdout):
        builtins.print(*values, **kwargs)
        return
    sep = kwargs.get("sep")
    text = (" " if sep is None else str(sep)).join(str(value) for value in values)
    logger.bind(logger="http.client").debug("{}", text)


def _log_uncaught(
    kind: type[BaseException], value: BaseException, trace: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, trace)
        return
    logger.opt(exception=(kind, value, trace)).critical("uncaught exception")


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or issubclass(args.exc_type, SystemExit):
        return
    thread = args.thread.name if args.thread is not None else "unknown"
    logger.opt(exception=(args.exc_type, args.exc_value, args.exc_traceback)).error(
        "uncaught exception in thread {thread}", thread=thread
    )


def route_standard_logging(level: str) -> None:
    """Route stdlib logging, warnings, http.client prints and uncaught exceptions to loguru."""
    stdlib_level = logger.level(level).no
    logging.basicConfig(handlers=[InterceptHandler()], level=stdlib_level, force=True)
    for name, quiet in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(
            stdlib_level if stdlib_level <= logging.DEBUG else max(quiet, stdlib_level)
        )
    logging.captureWarnings(True)
    setattr(http.client, "print", _http_client_print)  # noqa: B010  (shadows the builtin there)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def configure_logging(
    settings: Settings,
    stream: TextIO | None = None,
    *,
    rotation_bytes: int = ROTATION_BYTES,
    retention_files: int = RETENTION_FILES,
    retention_age: timedelta = RETENTION_AGE,
) -> None:
    """Log to `stream` (stdout) and, with a file path, to a rotated file; see the module doc."""
    render = json_line if settings.log_format == "json" else console_line
    logger.remove()
    logger.configure(patcher=redact_record)
    logger.add(
        stream if stream is not None else sys.stdout,
        level=settings.log_level,
        format=_formatter(render),
        backtrace=False,
        diagnose=False,
        colorize=False,
    )
    if settings.log_file_path is not None:
        file_level = max(logger.level(settings.log_level).no, logger.level(FILE_MIN_LEVEL).no)
        logger.add(
            settings.log_file_path,
            level=file_level,
            format=_formatter(render),
            rotation=rotation_bytes,
            retention=keep_newest(retention_files, retention_age),
            backtrace=False,
            diagnose=False,
            colorize=False,
            enqueue=False,
        )
    route_standard_logging(settings.log_level)
