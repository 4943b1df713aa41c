"""The project's CRDs on a local control plane: applied from the chart (their single source of
truth) and waited for until the apiserver serves them."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

CRD_DIR = Path(__file__).resolve().parents[2] / "charts" / "ray-operator" / "crds"
CRD_NAMES = ("rayclusters.ray.io", "rayjobs.ray.io", "rayservices.ray.io")
STORAGE_TIMEOUT = 60.0


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
    # Established does not mean served: until the resource's storage (its watch cache) is
    # initialized, requests get 429 "storage is (re)initializing", which a program started
    # now would count as a watch error.
    deadline = time.monotonic() + STORAGE_TIMEOUT
    for name in CRD_NAMES:
        plural = name.split(".", 1)[0]
        while True:
            listed = subprocess.run(
                ["kubectl", "get", "--raw", f"/apis/ray.io/v1/{plural}?limit=1"],
                env=env,
                capture_output=True,
                timeout=30,
            )
            if listed.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{plural} not served: {listed.stderr.decode()[-300:]}")
            time.sleep(0.2)
