"""Fixtures of the shared log tests: `program` runs each test once per program (see
log_programs.py), `stream` is a stdout sink with logging restored afterwards."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from log_capture import restored_logging
from log_programs import EXPORTER, OPERATOR, LogProgram


@pytest.fixture(scope="session", params=[OPERATOR, EXPORTER], ids=lambda p: p.name)
def program(request: pytest.FixtureRequest) -> LogProgram:
    """Each shared log test runs once per program (session scope, so hypothesis accepts it)."""
    chosen: LogProgram = request.param
    return chosen


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The stdout sink of a test; logging is put back the way it was afterwards."""
    with restored_logging():
        yield io.StringIO()
