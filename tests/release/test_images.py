"""The archives `make images` writes run from their own root filesystem (opt-in: make test-images).

Each archive is unpacked with umoci and its entrypoint run by chroot as the
image's user, with nothing from the host's filesystem: `--version` must print
the release version and this checkout's commit. The image config must name the
non-root user, the entrypoint and the OCI labels, and the root filesystem must
hold no shell, package manager or compiler. Needs root (chroot).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from release.image_harness import REPO, VERSION, archive, config, unpack

pytestmark = pytest.mark.images

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


@pytest.fixture(params=["ray-operator", "ray-exporter"])
def unpacked(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path]:
    name: str = request.param
    if not archive(name).exists():
        pytest.fail(f"{archive(name)} is missing: run `make images`")
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    layout, _ = unpack(name, tmp_path)
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
    image = config(layout)
    labels = image["Labels"]
    assert isinstance(labels, dict)
    assert image["User"] == "65532:65532"
    assert image["Entrypoint"] == [f"/opt/venv/bin/{name}"]
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.revision"] == head()
    assert labels["org.opencontainers.image.source"].startswith("https://")


def test_no_shell_package_manager_or_compiler(unpacked: tuple[str, Path]) -> None:
    _, layout = unpacked
    rootfs = layout.parent / "bundle" / "rootfs"
    present = [path for path in FORBIDDEN if (rootfs / path).exists()]
    assert present == []
