"""The log level and format come from --log-level/--log-format or RAY_EXPORTER_LOG_*, no
rebuild: through the settings loader in process, and in the real program's output (run with
an unreadable KUBECONFIG, it logs one error and exits)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from exp_log_capture import json_lines, restored_logging
from loguru import logger

from ray_exporter.logs import configure_logging
from ray_exporter.settings import Settings, load_settings


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    with restored_logging():
        yield io.StringIO()


def configure(settings: Settings, stream: io.StringIO) -> None:
    configure_logging(settings.log_format, settings.log_level, stream=stream)


@pytest.mark.parametrize(
    ("argv", "environ", "levels"),
    [
        ([], {}, ["info", "warning", "error"]),
        (["--log-level", "debug"], {}, ["debug", "info", "warning", "error"]),
        ([], {"RAY_EXPORTER_LOG_LEVEL": "WARNING"}, ["warning", "error"]),
        (["--log-level", "ERROR"], {"RAY_EXPORTER_LOG_LEVEL": "DEBUG"}, ["error"]),
    ],
)
def test_level_from_flag_or_environment(
    argv: list[str], environ: dict[str, str], levels: list[str], stream: io.StringIO
) -> None:
    configure(load_settings(argv, environ), stream)
    for level in ("DEBUG", "INFO", "WARNING", "ERROR"):
        logger.log(level, "at {}", level)
    assert [line["level"] for line in json_lines(stream.getvalue())] == levels


def test_console_format_from_the_environment(stream: io.StringIO) -> None:
    configure(load_settings([], {"RAY_EXPORTER_LOG_FORMAT": "console"}), stream)
    logger.info("readable")
    assert not stream.getvalue().startswith("{")
    assert "  info     " in stream.getvalue()


def run_exporter(tmp_path: Path, argv: list[str], environ: dict[str, str]) -> list[str]:
    """Run the real program against a KUBECONFIG that does not parse; its output lines."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("clusters: [\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_EXPORTER_")}
    env.update(environ, KUBECONFIG=str(kubeconfig))
    done = subprocess.run(
        [sys.executable, "-m", "ray_exporter", "--listen-address", "127.0.0.1:0", *argv],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("argv", "environ", "error_shown"),
    [
        (["--log-level", "ERROR"], {}, True),
        ([], {"RAY_EXPORTER_LOG_LEVEL": "CRITICAL"}, False),
        (["--log-level", "DEBUG"], {"RAY_EXPORTER_LOG_LEVEL": "CRITICAL"}, True),
    ],
)
def test_the_program_prints_only_json_lines_at_the_chosen_level(
    tmp_path: Path, argv: list[str], environ: dict[str, str], error_shown: bool
) -> None:
    lines = json_lines("\n".join(run_exporter(tmp_path, argv, environ)))
    for line in lines:
        assert list(line)[:4] == ["ts", "level", "logger", "msg"]
    errors = [line for line in lines if line["level"] == "error"]
    assert bool(errors) is error_shown
    if error_shown:
        assert "cluster configuration" in errors[0]["msg"]
        assert "error" in errors[0]
