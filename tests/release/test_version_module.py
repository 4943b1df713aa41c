"""The commit `--version` prints: a baked-in COMMIT file wins; outside a checkout it is unknown."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from ray_exporter import version as exporter_version
from ray_operator import version as operator_version


@pytest.mark.parametrize("module", [operator_version, exporter_version])
def test_baked_commit_file_wins(module: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "COMMIT").write_text("0123abc\n", encoding="utf-8")
    assert module.commit(tmp_path) == "0123abc"


@pytest.mark.parametrize("module", [operator_version, exporter_version])
def test_no_commit_outside_a_checkout(module: ModuleType, tmp_path: Path) -> None:
    package = tmp_path / "lib" / "site-packages" / "pkg"
    package.mkdir(parents=True)
    assert module.commit(package) == "unknown"
