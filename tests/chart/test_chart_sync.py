"""The chart's copies of dashboards/ and alerts/ match their sources (`make chart-sync`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from chartkit import CHART, REPO

pytestmark = pytest.mark.chart

# (source directory, file pattern, the chart's copy directory): what hack/sync-chart-files.sh syncs.
SYNCED = [
    (REPO / "dashboards", "*.json", CHART / "files" / "dashboards"),
    (REPO / "alerts", "*.rules.yaml", CHART / "files" / "alerts"),
    (REPO / "alerts", "alerts.yaml", CHART / "files" / "alerts"),
]
HINT = "the chart's copy is stale: run `make chart-sync` (hack/sync-chart-files.sh)"


def _names(directory: Path, pattern: str) -> set[str]:
    return {p.name for p in directory.glob(pattern)}


@pytest.mark.parametrize(
    ("source", "pattern", "copy"), SYNCED, ids=["dashboards", "rules", "manifest"]
)
def test_the_chart_carries_exactly_the_source_files(source: Path, pattern: str, copy: Path) -> None:
    assert _names(source, pattern), f"no {pattern} in {source}"
    assert _names(copy, pattern) == _names(source, pattern), HINT
    for name in sorted(_names(source, pattern)):
        assert (copy / name).read_bytes() == (source / name).read_bytes(), f"{name}: {HINT}"


def test_the_sync_script_copies_changes_and_removes_stale_copies(tmp_path: Path) -> None:
    (tmp_path / "hack").mkdir()
    shutil.copy(REPO / "hack" / "sync-chart-files.sh", tmp_path / "hack")
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "alerts").mkdir()
    (tmp_path / "dashboards" / "ray-new.json").write_text('{"title": "new"}\n')
    (tmp_path / "alerts" / "ray.rules.yaml").write_text("groups: []\n")
    (tmp_path / "alerts" / "alerts.yaml").write_text("ruleFile: ray.rules.yaml\n")
    (tmp_path / "alerts" / "notes.md").write_text("not a rule file\n")
    files = tmp_path / "charts" / "ray-operator" / "files"
    (files / "dashboards").mkdir(parents=True)
    (files / "dashboards" / "ray-gone.json").write_text("{}\n")
    (files / "dashboards" / "ray-new.json").write_text("{}\n")

    result = subprocess.run(
        ["bash", str(tmp_path / "hack" / "sync-chart-files.sh")], capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (files / "dashboards").iterdir()) == ["ray-new.json"]
    assert (files / "dashboards" / "ray-new.json").read_text() == '{"title": "new"}\n'
    assert sorted(p.name for p in (files / "alerts").iterdir()) == ["alerts.yaml", "ray.rules.yaml"]
    assert "removed  charts/ray-operator/files/dashboards/ray-gone.json" in result.stdout
    again = subprocess.run(
        ["bash", str(tmp_path / "hack" / "sync-chart-files.sh")], capture_output=True, text=True
    )
    assert again.returncode == 0
    assert again.stdout == ""
