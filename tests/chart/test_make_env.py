"""`eval $(make -s env)` gives a shell the pinned toolchain, exactly as the Makefile's targets.

Each tool runs in a fresh `bash -c` whose environment has no HELM_PLUGINS,
CT_CONFIG_DIR or tool directories of its own, so only `make -s env` can supply them.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from chartkit import CHART, REPO, require

pytestmark = pytest.mark.chart


def by_hand(command: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"HELM_PLUGINS", "CT_CONFIG_DIR", "KUBECONFIG", "MAKEFLAGS", "MAKELEVEL"}
    }
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    return subprocess.run(
        ["bash", "-c", f'set -e; eval "$(make -s env)"; {command}'],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (f"helm unittest {CHART}", "PASS"),
        ("ct lint --config ct.yaml --all", "All charts linted successfully"),
        ("promtool --version", "promtool, version"),
        ("kubectl version --client", "Client Version: v1."),
    ],
    ids=["helm-unittest", "ct-lint", "promtool", "kubectl"],
)
def test_tool_works_after_make_env(command: str, expected: str) -> None:
    for name in ("helm", "ct", "promtool", "kubectl"):
        require(name)
    done = by_hand(command)
    assert done.returncode == 0, done.stdout + done.stderr
    assert expected in done.stdout + done.stderr
