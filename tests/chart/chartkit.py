"""The chart's paths and a runner for the pinned helm, ct and promtool binaries (chart tests)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "ray-operator"
BIN = REPO / ".tools" / "bin"
MONITORING_APIS = (
    "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PodMonitor",
    "monitoring.coreos.com/v1/PrometheusRule",
)


@dataclass(frozen=True)
class Tools:
    """Runs the pinned binaries with the plugin and ct config directories set."""

    env: dict[str, str]

    def run(self, *args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in args], cwd=cwd, env=self.env, capture_output=True, text=True
        )

    def helm(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return self.run(BIN / "helm", *args)

    def template(self, *args: str | Path, release: str = "ray") -> list[dict[str, Any]]:
        """Render the chart (release namespace ray-system) and parse the documents."""
        result = self.helm("template", release, CHART, "--namespace", "ray-system", *args)
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def require(name: str) -> Path:
    """The pinned binary `name`; fails the test when the toolchain has not been built."""
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: build the pinned toolchain with `make tools`")
    return path


def tool_env() -> dict[str, str]:
    """The environment for the pinned tools: PATH, helm plugins, ct config, no KUBECONFIG."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(BIN), str(REPO / ".venv" / "bin"), env.get("PATH", "")])
    env["HELM_PLUGINS"] = str(REPO / ".tools" / "share" / "helm-plugins")
    env["CT_CONFIG_DIR"] = str(REPO / ".tools" / "share" / "ct-etc")
    # Never let a developer's cluster leak into rendering or linting.
    env.pop("KUBECONFIG", None)
    return env


def ci_values_files() -> list[Path]:
    """The ct value sets, one chart test case each."""
    return sorted((CHART / "ci").glob("*-values.yaml"))
