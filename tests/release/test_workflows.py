"""actionlint (built by hack/tools.sh) passes on .github/workflows and catches a broken one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ACTIONLINT = REPO / ".tools" / "bin" / "actionlint"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    if not ACTIONLINT.exists():
        pytest.fail(f"{ACTIONLINT} is missing: build the pinned toolchain with `make tools`")
    return subprocess.run(
        [str(ACTIONLINT), "-no-color", *map(str, files)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_release_workflow_exists() -> None:
    assert REPO / ".github" / "workflows" / "release.yml" in WORKFLOWS


def test_actionlint_passes_on_the_workflows() -> None:
    done = actionlint(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.nonexistent_context_key }}\n        wat: 1\n",
        encoding="utf-8",
    )
    done = actionlint(broken)
    assert done.returncode != 0
    assert "wat" in done.stdout
