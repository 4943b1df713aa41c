"""The log level and format come from --log-level/--log-format or the program's
RAY_<PROGRAM>_LOG_* variables, no rebuild: through each settings loader in process, and in the
real program's output (run with an unreadable KUBECONFIG, it logs its failure and exits)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from log_capture import json_lines
from log_programs import LogProgram
from loguru import logger

LEVELS = ["debug", "info", "success", "warning", "error", "critical"]


@pytest.mark.parametrize(
    ("argv", "environ", "levels"),
    [
        ([], {}, ["info", "warning", "error"]),
        (["--log-level", "debug"], {}, ["debug", "info", "warning", "error"]),
        ([], {"log-level": "WARNING"}, ["warning", "error"]),
        (["--log-level", "ERROR"], {"log-level": "DEBUG"}, ["error"]),
    ],
)
def test_level_from_flag_or_environment(
    program: LogProgram,
    argv: list[str],
    environ: dict[str, str],
    levels: list[str],
    stream: io.StringIO,
) -> None:
    program.configure_from(argv, {program.env(k): v for k, v in environ.items()}, stream)
    for level in ("DEBUG", "INFO", "WARNING", "ERROR"):
        logger.log(level, "at {}", level)
    assert [line["level"] for line in json_lines(stream.getvalue())] == levels


def test_console_format_from_the_environment(program: LogProgram, stream: io.StringIO) -> None:
    program.configure_from([], {program.env("log-format"): "console"}, stream)
    logger.info("readable")
    assert not stream.getvalue().startswith("{")
    assert "  info     " in stream.getvalue()


def run_program(
    program: LogProgram, tmp_path: Path, argv: list[str], environ: dict[str, str]
) -> list[str]:
    """Run the real program against a KUBECONFIG that does not parse; its output lines."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("clusters: [\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(program.env_prefix)}
    env.update(environ, KUBECONFIG=str(kubeconfig))
    done = subprocess.run(
        [sys.executable, "-m", program.module, *program.startup_args(), *argv],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("argv", "environ", "chosen"),
    [
        (["--log-level", "DEBUG"], {}, "debug"),
        ([], {"log-level": "DEBUG"}, "debug"),
        (["--log-level", "ERROR"], {"log-level": "DEBUG"}, "error"),
        (["--log-level", "ERROR"], {}, "error"),
        ([], {"log-level": "CRITICAL"}, "critical"),
        (["--log-level", "DEBUG"], {"log-level": "CRITICAL"}, "debug"),
    ],
)
def test_the_program_prints_only_json_lines_at_the_chosen_level(
    program: LogProgram, tmp_path: Path, argv: list[str], environ: dict[str, str], chosen: str
) -> None:
    environ = {program.env(k): v for k, v in environ.items()}
    lines = json_lines("\n".join(run_program(program, tmp_path, argv, environ)))
    for line in lines:
        assert list(line)[:4] == ["ts", "level", "logger", "msg"]
    levels = {line["level"] for line in lines}
    assert levels <= set(LEVELS[LEVELS.index(chosen) :]), "nothing below the chosen level"
    if chosen == "debug" and program.debug_at_startup:
        assert "debug" in levels
    failures = [line for line in lines if line["level"] == program.failure_level]
    failure_shown = LEVELS.index(program.failure_level) >= LEVELS.index(chosen)
    assert bool(failures) is failure_shown, "the failure is logged unless below the level"
    if failure_shown:
        assert program.failure_msg in failures[0]["msg"]
        assert "error" in failures[0]
