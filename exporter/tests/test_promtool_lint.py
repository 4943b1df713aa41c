"""`promtool check metrics` finds nothing to complain about in a real exposition."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from exporter_objects import full_exposition

PROMTOOL = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "promtool"


@pytest.mark.skipif(
    not PROMTOOL.exists(),
    reason=f"{PROMTOOL} is not built yet (make tools builds it; make test-unit does first)",
)
def test_promtool_check_metrics_is_clean() -> None:
    body = full_exposition()
    result = subprocess.run(
        [str(PROMTOOL), "check", "metrics"], input=body, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout.decode().strip() == "", result.stdout.decode()
