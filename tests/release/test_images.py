"""The archives `make images` writes run from their own root filesystem (opt-in: make test-images).

Each archive is unpacked with umoci and its entrypoint run by chroot as the
image's user, with nothing from the host's filesystem: `--version` must print
the release version and this checkout's commit. The image config must name the
non-root user, the entrypoint and the OCI labels, and the root filesystem must
hold no shell, package manager or compiler. Needs root (chroot).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.images

REPO = Path(__file__).resolve().parents[2]
VERSION = (REPO / "VERSION").read_text(encoding="utf-8").strip()
UMOCI = REPO / ".tools" / "bin" / "umoci"
FORBIDDEN = [
    "bin/sh",
    "usr/bin/dpkg",
    "usr/bin/apt-get",
    "usr/bin/gcc",
    "usr/bin/cc",
    "usr/bin/pip",
]


def head() -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def blob(layout: Path, digest: str) -> dict[str, object]:
    data = json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(params=["ray-operator", "ray-exporter"])
def unpacked(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path]:
    name: str = request.param
    archive = REPO / "dist" / "images" / f"{name}.oci.tar"
    if not archive.exists():
        pytest.fail(f"{archive} is missing: run `make images`")
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    layout = tmp_path / "layout"
    with tarfile.open(archive) as tar:
        tar.extractall(layout, filter="tar")
    subprocess.run(
        [str(UMOCI), "unpack", "--image", f"{layout}:{VERSION}", str(tmp_path / "bundle")],
        check=True,
        capture_output=True,
    )
    return name, layout


def test_entrypoint_prints_version_and_commit(unpacked: tuple[str, Path]) -> None:
    name, layout = unpacked
    rootfs = layout.parent / "bundle" / "rootfs"
    done = subprocess.run(
        [
            shutil.which("chroot") or "chroot",
            "--userspec=65532:65532",
            str(rootfs),
            f"/opt/venv/bin/{name}",
            "--version",
        ],
        capture_output=True,
        text=True,
        env={"PATH": "/opt/venv/bin:/usr/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{name} {VERSION} (commit {head()})\n"


def test_config_user_entrypoint_labels(unpacked: tuple[str, Path]) -> None:
    name, layout = unpacked
    index = json.loads((layout / "index.json").read_text())
    manifest = blob(layout, index["manifests"][0]["digest"])
    config_ref = manifest["config"]
    assert isinstance(config_ref, dict)
    config = blob(layout, config_ref["digest"])["config"]
    assert isinstance(config, dict)
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == [f"/opt/venv/bin/{name}"]
    assert config["Labels"]["org.opencontainers.image.version"] == VERSION
    assert config["Labels"]["org.opencontainers.image.revision"] == head()
    assert config["Labels"]["org.opencontainers.image.source"].startswith("https://")


def test_no_shell_package_manager_or_compiler(unpacked: tuple[str, Path]) -> None:
    _, layout = unpacked
    rootfs = layout.parent / "bundle" / "rootfs"
    present = [path for path in FORBIDDEN if (rootfs / path).exists()]
    assert present == []
