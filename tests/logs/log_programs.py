"""The two programs under the one log contract (DESIGN.md §6): a small adapter per program.

ray_operator.logs and ray_exporter.logs stay separate modules (the packages never import each
other), but they promise the same lines, levels, rotation and redaction, so every test in
tests/logs/ takes the `program` fixture (conftest.py) and runs once against each. The adapter
hides how each program spells its settings and its configure_logging call; behaviour that only
one program has stays in that program's tests directory.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal, Protocol

import ray_exporter.logs
import ray_exporter.settings
import ray_operator.logs
import ray_operator.settings

LogFormat = Literal["json", "console"]


@dataclass(frozen=True)
class LogOptions:
    """The log settings a test chooses, spelled the same for both programs."""

    log_format: LogFormat
    log_level: str
    log_file_path: Path | None
    rotation_bytes: int


class LogsModule(Protocol):
    """What both ray_operator.logs and ray_exporter.logs define under the same names."""

    REDACTED: str
    ROTATION_BYTES: int
    configure_logging: Callable[..., None]  # the programs spell its arguments differently

    def redact(self, text: str) -> str: ...

    def keep_newest(self, limit: int, max_age: timedelta) -> Callable[[Sequence[str]], None]: ...


@dataclass(frozen=True)
class LogProgram:
    """What the shared log tests need to know about one program."""

    module: str  # run as `python -m <module>`
    logs: LogsModule  # its logs module
    apply: Callable[[io.StringIO, LogOptions], None]  # configure_logging with these options
    configure_from: Callable[[list[str], dict[str, str], io.StringIO], None]  # flags, env
    startup_args: Callable[[], list[str]]  # flags that keep a test run off busy ports
    failure_level: str  # the level of the line the program logs when it cannot start
    failure_msg: str  # text that line's msg contains ("" when not pinned down)
    debug_at_startup: bool  # whether it logs a debug line before failing to start

    @property
    def name(self) -> str:
        """The short name, operator or exporter; also the stem of the log files tests write."""
        return self.module.removeprefix("ray_")

    @property
    def env_prefix(self) -> str:
        """RAY_OPERATOR_ or RAY_EXPORTER_."""
        return f"{self.module.upper()}_"

    def configure(
        self,
        stream: io.StringIO,
        *,
        log_format: LogFormat = "json",
        log_level: str = "INFO",
        log_file_path: Path | None = None,
        rotation_bytes: int | None = None,
    ) -> None:
        """configure_logging of this program; the production size limit unless one is given."""
        rotation = self.logs.ROTATION_BYTES if rotation_bytes is None else rotation_bytes
        self.apply(stream, LogOptions(log_format, log_level, log_file_path, rotation))

    def env(self, setting: str) -> str:
        """The environment variable of a setting: env("log-level") -> RAY_..._LOG_LEVEL."""
        return self.env_prefix + setting.upper().replace("-", "_")


def _apply_operator(stream: io.StringIO, options: LogOptions) -> None:
    settings = ray_operator.settings.Settings(
        log_format=options.log_format,
        log_level=options.log_level,
        log_file_path=options.log_file_path,
    )
    ray_operator.logs.configure_logging(settings, stream, rotation_bytes=options.rotation_bytes)


def _configure_operator_from(argv: list[str], environ: dict[str, str], stream: io.StringIO) -> None:
    ray_operator.logs.configure_logging(ray_operator.settings.load_settings(argv, environ), stream)


def _operator_startup_args() -> list[str]:
    """A free port for /healthz, so a test run never clashes with a running operator."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return ["--health-address", f"127.0.0.1:{probe.getsockname()[1]}"]


def _apply_exporter(stream: io.StringIO, options: LogOptions) -> None:
    ray_exporter.logs.configure_logging(
        options.log_format,
        options.log_level,
        options.log_file_path,
        stream=stream,
        rotation_bytes=options.rotation_bytes,
    )


def _configure_exporter_from(argv: list[str], environ: dict[str, str], stream: io.StringIO) -> None:
    settings = ray_exporter.settings.load_settings(argv, environ)
    ray_exporter.logs.configure_logging(settings.log_format, settings.log_level, stream=stream)


OPERATOR = LogProgram(
    module="ray_operator",
    logs=ray_operator.logs,
    apply=_apply_operator,
    configure_from=_configure_operator_from,
    startup_args=_operator_startup_args,
    failure_level="critical",  # an unreadable KUBECONFIG ends main() as an uncaught exception
    failure_msg="",
    debug_at_startup=True,  # asyncio names its selector
)

EXPORTER = LogProgram(
    module="ray_exporter",
    logs=ray_exporter.logs,
    apply=_apply_exporter,
    configure_from=_configure_exporter_from,
    startup_args=lambda: ["--listen-address", "127.0.0.1:0"],
    failure_level="error",  # main() logs the missing cluster configuration, then exits
    failure_msg="cluster configuration",
    debug_at_startup=False,
)
