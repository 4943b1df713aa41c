"""Fixtures of the chart tests: the pinned tools, checked once per session."""

from __future__ import annotations

import pytest
from chartkit import Tools, require, tool_env


@pytest.fixture(scope="session")
def tools() -> Tools:
    for name in ("helm", "ct", "untt"):
        require(name)
    return Tools(tool_env())
