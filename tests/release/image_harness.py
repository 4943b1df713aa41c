"""Running an image of `make images` from its own root filesystem, without a container daemon.

- `unpack` extracts dist/images/<name>.oci.tar (an OCI layout in a tar) and unpacks its
  root filesystem with umoci, as a container runtime would.
- `environment` is the image config's `Env`, as a runtime passes it.
- `kube_access` copies a kubeconfig and its CA certificate into the unpacked root
  filesystem (`/run/localkube/`), readable by the image's user only, and answers the
  kubeconfig's path as the image sees it.
- `entrypoint` is the command prefix that runs the image's entrypoint as a container
  runtime with `readOnlyRootFilesystem: true` would: in a mount namespace of its own
  (unshare), the root filesystem bind-mounted read-only, an empty writable /tmp (the
  chart mounts an emptyDir there), then chroot as the image's user 65532. The process
  shares the host's network, so it reaches the local apiserver on 127.0.0.1. Needs root.
  Each step execs the next, so the pid a harness holds is the entrypoint's own
  and SIGTERM reaches it directly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
VERSION = (REPO / "VERSION").read_text(encoding="utf-8").strip()
UMOCI = REPO / ".tools" / "bin" / "umoci"
USER = 65532
INSIDE = Path("/run/localkube")
"""Where `kube_access` puts the kubeconfig and CA inside the root filesystem."""
TOOLS = ("unshare", "mount", "chroot", "sh")


def archive(name: str) -> Path:
    return REPO / "dist" / "images" / f"{name}.oci.tar"


def unpack(name: str, workdir: Path) -> tuple[Path, Path]:
    """The OCI layout and the unpacked root filesystem of image `name` under `workdir`."""
    layout, bundle = workdir / "layout", workdir / "bundle"
    with tarfile.open(archive(name)) as tar:
        tar.extractall(layout, filter="tar")
    subprocess.run(
        [str(UMOCI), "unpack", "--image", f"{layout}:{VERSION}", str(bundle)],
        check=True,
        capture_output=True,
    )
    return layout, bundle / "rootfs"


def config(layout: Path) -> dict[str, object]:
    """The image config (`User`, `Entrypoint`, `Labels`, ...) of the layout's one manifest."""
    index = json.loads((layout / "index.json").read_text())
    manifest = _blob(layout, index["manifests"][0]["digest"])
    reference = manifest["config"]
    assert isinstance(reference, dict)
    result = _blob(layout, reference["digest"])["config"]
    assert isinstance(result, dict)
    return result


def _blob(layout: Path, digest: str) -> dict[str, object]:
    data = json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_text())
    assert isinstance(data, dict)
    return data


def environment(layout: Path) -> dict[str, str]:
    """The image config's `Env` (nothing from the host), plus HOME=/tmp as a runtime sets it."""
    pairs = config(layout).get("Env") or []
    assert isinstance(pairs, list)
    env = dict(str(pair).split("=", 1) for pair in pairs)
    env.setdefault("HOME", "/tmp")
    return env


def kube_access(rootfs: Path, kubeconfig: Path) -> str:
    """Copy `kubeconfig` and the CA file it names into `rootfs`; its path inside the image."""
    config = yaml.safe_load(kubeconfig.read_text())
    target = rootfs / INSIDE.relative_to("/")
    target.mkdir(parents=True, exist_ok=True)
    for entry in config["clusters"]:
        ca = entry["cluster"].get("certificate-authority")
        if ca:
            name = f"{entry['name']}-ca.crt"
            shutil.copyfile(ca, target / name)
            entry["cluster"]["certificate-authority"] = str(INSIDE / name)
    (target / "kubeconfig").write_text(yaml.safe_dump(config))
    for path in [target, *target.iterdir()]:
        os.chown(path, USER, USER)
        path.chmod(0o700 if path.is_dir() else 0o600)
    return str(INSIDE / "kubeconfig")


def entrypoint(layout: Path, rootfs: Path) -> list[str]:
    """The command prefix that runs the image's entrypoint from `rootfs` (see above)."""
    unshare, mount, chroot, sh = (shutil.which(tool) or tool for tool in TOOLS)
    # The host's tools by absolute path: the environment given is the image's, not the host's.
    script = (
        f'root=$1; shift; {mount} --bind "$root" "$root"'
        f' && {mount} -o remount,bind,ro "$root"'
        f' && {mount} -t tmpfs -o mode=1777 tmpfs "$root/tmp"'
        f' && exec {chroot} --userspec={USER}:{USER} "$root" "$@"'
    )
    command = config(layout)["Entrypoint"]
    assert isinstance(command, list)
    return [
        unshare,
        "--mount",
        "--propagation",
        "private",
        "--",
        sh,
        "-c",
        script,
        "sh",
        str(rootfs),
        *command,
    ]
