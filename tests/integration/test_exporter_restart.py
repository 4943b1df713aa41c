"""Output depends only on the objects: byte-identical across an exporter restart,
and the same whether one namespace or all of them are watched."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from exporter_harness import (
    RayObjects,
    apply_crds,
    condition,
    exporter_env,
    exporter_running,
    object_part,
    raycluster,
    rayjob,
    rayservice,
    rfc3339,
    samples,
)
from kubernetes import client

pytestmark = pytest.mark.integration


def populate(ray: RayObjects) -> int:
    """A few objects of each kind with realistic status; answer how many object series."""
    start = time.time() - 3600
    for index in range(3):
        name = f"c{index}"
        ray.create("rayclusters", raycluster(name, owner="RayJob" if index else None))
        ray.patch_status(
            "rayclusters",
            name,
            {
                "conditions": [
                    condition("RayClusterProvisioned", "True", rfc3339(time.time() + 5 * index))
                ]
            },
        )
        ray.create("rayjobs", rayjob(f"j{index}"))
        ray.patch_status(
            "rayjobs",
            f"j{index}",
            {
                "jobDeploymentStatus": "Complete",
                "observedGeneration": 1,
                "attemptHistory": [
                    {
                        "retryCount": 0,
                        "result": "Complete",
                        "startTime": rfc3339(start),
                        "endTime": rfc3339(start + 60 + index),
                        "jobId": f"job-{index}",
                    }
                ],
            },
        )
        ray.create("rayservices", rayservice(f"s{index}"))
        ray.patch_status(
            "rayservices", f"s{index}", {"conditions": [condition("Ready", "True", rfc3339(start))]}
        )
    # Per cluster 4 series, per job 4, per service 4.
    return 3 * 4 * 3


def test_restart_gives_byte_identical_output(
    kube_cluster: Any, api_client: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    apply_crds(kube_cluster.env())
    expected_series = populate(RayObjects(api_client, namespace))
    env = exporter_env(kube_cluster.env(), kube_cluster.kubeconfig)

    outputs: list[bytes] = []
    for run in range(2):
        log = tmp_path / f"run{run}.log"
        with exporter_running(env, log, "--namespaces", namespace) as exporter:
            exporter.wait_ready()
            body = exporter.wait_metrics(
                "every object's series", lambda b: len(samples(b, namespace)) == expected_series
            )
            outputs.append(object_part(body))
    assert outputs[0] == outputs[1]
    assert outputs[0].count(b"\n") > expected_series

    with exporter_running(env, tmp_path / "all.log") as exporter:
        exporter.wait_ready()
        everything = exporter.metrics()
    mine = [
        line
        for line in object_part(everything).splitlines()
        if f'namespace="{namespace}"'.encode() in line
    ]
    assert mine == [line for line in outputs[0].splitlines() if not line.startswith(b"#")]
