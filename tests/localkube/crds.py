"""The project's CRDs on a local control plane: applied from the chart (their single source of
truth) and waited for until the apiserver serves them."""

from __future__ import annotations

import subprocess
from pathlib import Path

CRD_DIR = Path(__file__).resolve().parents[2] / "charts" / "ray-operator" / "crds"
CRD_NAMES = ("rayclusters.ray.io", "rayjobs.ray.io", "rayservices.ray.io")


def apply_crds(env: dict[str, str], crd_dir: Path = CRD_DIR) -> None:
    """kubectl apply the chart's CRDs (or those in `crd_dir`, which must define the same three
    kinds) server-side and wait until they are established."""
    subprocess.run(
        ["kubectl", "apply", "--server-side", "--force-conflicts", "-f", str(crd_dir.resolve())],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run(
        ["kubectl", "wait", "--for=condition=Established", "--timeout=60s"]
        + [f"crd/{name}" for name in CRD_NAMES],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
