"""The log level and format come from --log-level/--log-format or RAY_OPERATOR_LOG_*, no
rebuild: through the settings loader in process, and in the real program's output (run with
an unreadable KUBECONFIG, it logs and exits at once)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger
from op_log_capture import json_lines, restored_logging

from ray_operator.logs import configure_logging
from ray_operator.settings import load_settings


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    with restored_logging():
        yield io.StringIO()


def emitted_levels(argv: list[str], environ: dict[str, str], stream: io.StringIO) -> list[str]:
    configure_logging(load_settings(argv, environ), stream)
    for level in ("DEBUG", "INFO", "WARNING", "ERROR"):
        logger.log(level, "at {}", level)
    return [line["level"] for line in json_lines(stream.getvalue())]


@pytest.mark.parametrize(
    ("argv", "environ", "levels"),
    [
        ([], {}, ["info", "warning", "error"]),
        (["--log-level", "debug"], {}, ["debug", "info", "warning", "error"]),
        ([], {"RAY_OPERATOR_LOG_LEVEL": "WARNING"}, ["warning", "error"]),
        (["--log-level", "ERROR"], {"RAY_OPERATOR_LOG_LEVEL": "DEBUG"}, ["error"]),
    ],
)
def test_level_from_flag_or_environment(
    argv: list[str], environ: dict[str, str], levels: list[str], stream: io.StringIO
) -> None:
    assert emitted_levels(argv, environ, stream) == levels


def test_console_format_from_the_environment(stream: io.StringIO) -> None:
    configure_logging(load_settings([], {"RAY_OPERATOR_LOG_FORMAT": "console"}), stream)
    logger.info("readable")
    assert not stream.getvalue().startswith("{")
    assert "  info     " in stream.getvalue()


def run_operator(tmp_path: Path, argv: list[str], environ: dict[str, str]) -> list[str]:
    """Run the real program against a KUBECONFIG that does not parse; its output lines."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("clusters: [\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_OPERATOR_")}
    env.update(environ, KUBECONFIG=str(kubeconfig))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        health = f"127.0.0.1:{probe.getsockname()[1]}"
    done = subprocess.run(
        [sys.executable, "-m", "ray_operator", "--health-address", health, *argv],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("argv", "environ", "debug_shown"),
    [
        (["--log-level", "DEBUG"], {}, True),
        ([], {"RAY_OPERATOR_LOG_LEVEL": "DEBUG"}, True),
        (["--log-level", "ERROR"], {"RAY_OPERATOR_LOG_LEVEL": "DEBUG"}, False),
    ],
)
def test_the_program_prints_only_json_lines_at_the_chosen_level(
    tmp_path: Path, argv: list[str], environ: dict[str, str], debug_shown: bool
) -> None:
    lines = json_lines("\n".join(run_operator(tmp_path, argv, environ)))
    assert lines, "the failure is logged"
    for line in lines:
        assert list(line)[:4] == ["ts", "level", "logger", "msg"]
    levels = {line["level"] for line in lines}
    assert ("debug" in levels) is debug_shown
    if not debug_shown:
        assert levels <= {"error", "critical"}
    failure = next(line for line in lines if line["level"] in ("error", "critical"))
    assert "error" in failure
