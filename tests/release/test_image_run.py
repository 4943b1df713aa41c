"""Both images of `make images` do their job against the local control plane (opt-in: make
test-images; needs root).

Each archive is unpacked and its entrypoint run from the image's own root filesystem
(release/image_harness.py: unshare, read-only bind mount, chroot as user 65532), with
only a copy of the kubeconfig and CA put into that filesystem, through the harness
classes the integration tests use for the `.venv` programs. The operator from its image
reconciles the minimal sample to `ready` (kwok runs the pods); the exporter from its
image then serves `kuberay_cluster_info` and a provisioned condition for that cluster.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from integration.exporter_harness import exporter_running, value
from integration.raycluster_harness import OperatorProcess, Rays, sample, wait_for
from kubernetes import client
from release.image_harness import archive, entrypoint, environment, kube_access, unpack

from localkube.crds import apply_crds

pytestmark = pytest.mark.images

SAMPLE = "raycluster-minimal"


@pytest.fixture(autouse=True)
def _root_and_archives() -> None:
    for name in ("ray-operator", "ray-exporter"):
        if not archive(name).exists():
            pytest.fail(f"{archive(name)} is missing: run `make images`")
    if os.geteuid() != 0:
        pytest.skip("unshare and chroot need root")


def image_env(layout: Path, rootfs: Path, kube_cluster: Any) -> dict[str, str]:
    """The image's own environment and the path of the kubeconfig copied into it."""
    kubeconfig = kube_access(rootfs, Path(kube_cluster.kubeconfig))
    return {**environment(layout), "KUBECONFIG": kubeconfig}


def test_images_reconcile_and_export_a_sample(
    kube_cluster: Any, api_client: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    apply_crds(kube_cluster.env())
    rays = Rays(api_client, namespace)
    op_layout, op_rootfs = unpack("ray-operator", tmp_path / "operator-image")
    ex_layout, ex_rootfs = unpack("ray-exporter", tmp_path / "exporter-image")

    with OperatorProcess(
        image_env(op_layout, op_rootfs, kube_cluster),
        tmp_path / "operator.log",
        "--namespaces",
        namespace,
        command=entrypoint(op_layout, op_rootfs),
    ) as operator:
        assert operator.process is not None
        # The process that answered /readyz runs inside the image's root filesystem.
        assert os.readlink(f"/proc/{operator.process.pid}/root") == str(op_rootfs)
        assert os.stat(f"/proc/{operator.process.pid}").st_uid == 65532

        rays.create(sample(SAMPLE, namespace))
        status = wait_for(f"{SAMPLE} ready", lambda: rays.ready(SAMPLE))
        assert status["state"] == "ready"
        assert wait_for(
            "1 head and 2 workers running",
            lambda: rays.all_running_ready(SAMPLE, {"headgroup": 1, "workers": 2}),
        )

        with exporter_running(
            image_env(ex_layout, ex_rootfs, kube_cluster),
            tmp_path / "exporter.log",
            "--namespaces",
            namespace,
            command=entrypoint(ex_layout, ex_rootfs),
        ) as exporter:

            def provisioned(body: bytes) -> bool:
                found = value(
                    body,
                    "kuberay_cluster_condition_provisioned",
                    name=SAMPLE,
                    namespace=namespace,
                    condition="true",
                )
                return found == 1

            body = exporter.wait_metrics(f"{SAMPLE} provisioned in the scrape", provisioned)
            # The process that served it runs inside the image's root filesystem.
            assert os.readlink(f"/proc/{exporter.process.pid}/root") == str(ex_rootfs)
            assert os.stat(f"/proc/{exporter.process.pid}").st_uid == 65532
            info = value(body, "kuberay_cluster_info", name=SAMPLE, namespace=namespace)
            assert info == 1
            assert value(body, "kuberay_cluster_info", owner_kind="None", name=SAMPLE) == 1

    log = (tmp_path / "operator.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
