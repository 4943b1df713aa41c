"""The release version has one source, VERSION; every place that repeats it must agree.

hack/set-version.sh writes it into the Python projects and Chart.yaml; the images
(hack/images.sh) and `--version` read it from there.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VERSION = (REPO / "VERSION").read_text(encoding="utf-8").strip()
SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")


def test_version_file_is_semver() -> None:
    assert SEMVER.match(VERSION), VERSION


@pytest.mark.parametrize("project", ["operator", "exporter"])
def test_python_projects_carry_the_version(project: str) -> None:
    meta = tomllib.loads((REPO / project / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["version"] == VERSION


def test_chart_version_and_app_version_are_the_version() -> None:
    chart = yaml.safe_load((REPO / "charts/ray-operator/Chart.yaml").read_text(encoding="utf-8"))
    assert (chart["version"], chart["appVersion"]) == (VERSION, VERSION)


def test_changelog_has_a_section_for_the_version() -> None:
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(VERSION)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", text, re.M), (
        f"CHANGELOG.md has no '## [{VERSION}] - YYYY-MM-DD' section"
    )
    assert "## [Unreleased]" in text


@pytest.mark.parametrize("program", ["ray-operator", "ray-exporter"])
def test_version_flag_prints_version_and_commit(program: str) -> None:
    """Run from this checkout, the commit is git's HEAD."""
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    done = subprocess.run(
        [str(Path(sys.executable).parent / program), "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{program} {VERSION} (commit {head})\n"
