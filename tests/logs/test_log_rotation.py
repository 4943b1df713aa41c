"""The log file sink of both programs: rotation at the size limit, 10 rotated files kept, none
past 30 days.

The tests use a small size limit (the keyword configure_logging takes) and the production
count and age, so many rotations happen in a few hundred lines."""

from __future__ import annotations

import inspect
import io
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from log_capture import json_lines, restored_logging
from log_programs import LogProgram
from loguru import logger

DAY = 86400.0


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    with restored_logging():
        yield


def write_lines(program: LogProgram, path: Path, count: int, rotation_bytes: int) -> None:
    program.configure(io.StringIO(), log_file_path=path, rotation_bytes=rotation_bytes)
    for index in range(count):
        logger.bind(kind="RayCluster", namespace="ns", name=f"c{index}").info("line {}", index)
    logger.remove()


def rotated(path: Path) -> list[Path]:
    return sorted(p for p in path.parent.iterdir() if p != path)


def test_production_limits_are_500_mib_10_files_30_days(program: LogProgram) -> None:
    defaults = inspect.signature(program.logs.configure_logging).parameters
    assert defaults["rotation_bytes"].default == 500 * 1024 * 1024
    assert defaults["retention_files"].default == 10
    assert defaults["retention_age"].default == timedelta(days=30)


def test_files_rotate_at_the_limit_and_no_line_is_split_or_lost(
    program: LogProgram, tmp_path: Path
) -> None:
    path = tmp_path / f"{program.name}.log"
    write_lines(program, path, 60, rotation_bytes=1_000)
    files = [*rotated(path), path]
    assert len(files) > 3
    longest = max(len(line) + 1 for f in files for line in f.read_text().splitlines())
    for file in files:
        assert file.stat().st_size <= 1_000 + longest, file.name
    kept = [line for f in files for line in json_lines(f.read_text())]
    assert sorted(int(line["name"][1:]) for line in kept) == list(range(60))
    assert {line["kind"] for line in kept} == {"RayCluster"}


def test_many_rotations_keep_the_ten_newest_rotated_files(
    program: LogProgram, tmp_path: Path
) -> None:
    path = tmp_path / f"{program.name}.log"
    write_lines(program, path, 400, rotation_bytes=600)
    old_files = rotated(path)
    assert len(old_files) == 10
    numbers = sorted(int(line["name"][1:]) for f in old_files for line in json_lines(f.read_text()))
    numbers += [int(line["name"][1:]) for line in json_lines(path.read_text())]
    assert numbers == list(range(numbers[0], 400)), "the kept lines are the newest, no gaps"
    assert numbers[0] > 0, "older lines were dropped with their files"


def test_rotated_files_older_than_thirty_days_are_deleted(
    program: LogProgram, tmp_path: Path
) -> None:
    path = tmp_path / f"{program.name}.log"
    now = time.time()
    stale = tmp_path / f"{program.name}.2000-01-01_00-00-00_000000.log"
    recent = tmp_path / f"{program.name}.2000-01-02_00-00-00_000000.log"
    for file, age in ((stale, 31 * DAY), (recent, 29 * DAY)):
        file.write_text('{"msg": "old"}\n')
        os.utime(file, (now - age, now - age))
    write_lines(program, path, 20, rotation_bytes=1_000)
    assert not stale.exists()
    assert recent.exists()


def test_keep_newest_drops_by_count_then_by_age(program: LogProgram, tmp_path: Path) -> None:
    now = time.time()
    files = []
    for index in range(13):
        file = tmp_path / f"{program.name}.{index:02d}.log"
        file.write_text("x")
        os.utime(file, (now - index * 60, now - index * 60))
        files.append(str(file))
    ancient = tmp_path / f"{program.name}.ancient.log"
    ancient.write_text("x")
    os.utime(ancient, (now - 40 * DAY, now - 40 * DAY))
    program.logs.keep_newest(10, timedelta(days=30))([*files, str(ancient)])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"{program.name}.{i:02d}.log" for i in range(10)
    ]
