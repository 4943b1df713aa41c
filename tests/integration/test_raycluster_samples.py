"""The three samples reach `ready` on the real control plane with the right pods, head service,
endpoints and status."""

from __future__ import annotations

from typing import Any

import pytest
from raycluster_harness import OperatorProcess, Rays, sample, wait_for

pytestmark = pytest.mark.integration


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


def check_common_status(status: dict[str, Any], cluster: str, service: dict[str, Any]) -> None:
    assert condition(status, "RayClusterProvisioned")["status"] == "True"
    assert condition(status, "RayClusterProvisioned")["reason"] == "AllPodRunningAndReadyFirstTime"
    assert condition(status, "HeadPodReady")["status"] == "True"
    assert condition(status, "RayClusterSuspended")["status"] == "False"
    assert status["head"]["serviceName"] == f"{cluster}-head-svc"
    if service["spec"]["clusterIP"] == "None":  # headless: the head pod's address (KubeRay's)
        assert status["head"]["serviceIP"] == status["head"]["podIP"]
    else:
        assert status["head"]["serviceIP"] == service["spec"]["clusterIP"]
    assert status["head"]["podIP"]
    assert status["lastUpdateTime"]
    assert "reason" not in status


def test_minimal_sample(operator: OperatorProcess, rays: Rays) -> None:
    rays.create(sample("raycluster-minimal", rays.namespace))
    status = wait_for("minimal ready", lambda: rays.ready("raycluster-minimal"))
    pods = wait_for(
        "1 head and 2 workers running",
        lambda: rays.all_running_ready("raycluster-minimal", {"headgroup": 1, "workers": 2}),
    )
    service = rays.service("raycluster-minimal-head-svc")
    assert service is not None
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["clusterIP"] == "None", "headless, as KubeRay builds it"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"] == {
        "ray.io/cluster": "raycluster-minimal",
        "ray.io/node-type": "head",
    }
    check_common_status(status, "raycluster-minimal", service)
    assert (status["desiredWorkerReplicas"], status["readyWorkerReplicas"]) == (2, 2)
    assert (status["minWorkerReplicas"], status["maxWorkerReplicas"]) == (1, 5)
    assert (status["desiredCPU"], status["desiredMemory"], status["desiredGPU"]) == (
        "3",
        "4Gi",
        "0",
    )
    assert status["endpoints"] == {
        "client": "10001",
        "dashboard": "8265",
        "gcs-server": "6379",
        "metrics": "8080",
        "serve": "8000",
    }
    head = next(p for p in pods if p["metadata"]["labels"]["ray.io/node-type"] == "head")
    assert status["head"]["podName"] == head["metadata"]["name"]
    for pod in pods:
        owner = pod["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["controller"]) == (
            "RayCluster",
            "raycluster-minimal",
            True,
        )
        assert pod["metadata"]["labels"]["ray.io/is-ray-node"] == "yes"
    worker = next(p for p in pods if p["metadata"]["labels"]["ray.io/node-type"] == "worker")
    args = worker["spec"]["containers"][0]["args"][0]
    assert f"--address=raycluster-minimal-head-svc.{rays.namespace}.svc.cluster.local:6379" in args
    created = rays.events("raycluster-minimal", "CreatedWorkerPod")
    assert len(created) == 2
    assert all(
        e["type"] == "Normal" and e["source"]["component"] == "raycluster-controller"
        for e in created
    )


def test_heterogeneous_sample(operator: OperatorProcess, rays: Rays) -> None:
    name = "raycluster-heterogeneous"
    rays.create(sample(name, rays.namespace))
    status = wait_for("heterogeneous ready", lambda: rays.ready(name))
    expected = {"headgroup": 1, "cpu-small": 2, "cpu-large": 1, "gpu": 2}
    pods = wait_for("all groups running", lambda: rays.all_running_ready(name, expected))
    service = rays.service(f"{name}-head-svc")
    assert service is not None
    check_common_status(status, name, service)
    assert status["desiredWorkerReplicas"] == 5
    assert (status["desiredCPU"], status["desiredMemory"], status["desiredGPU"]) == (
        "20",
        "76Gi",
        "2",
    )
    by_group: dict[str, list[dict[str, Any]]] = {}
    for pod in pods:
        by_group.setdefault(pod["metadata"]["labels"]["ray.io/group"], []).append(pod)
    gpu_container = by_group["gpu"][0]["spec"]["containers"][0]
    assert gpu_container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert gpu_container["image"] == "rayproject/ray:2.41.0-gpu"
    assert "--num-gpus=1" in gpu_container["args"][0]
    assert by_group["gpu"][0]["spec"]["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert "--num-cpus=8" in by_group["cpu-large"][0]["spec"]["containers"][0]["args"][0]
    assert (
        "--object-store-memory=4000000000"
        in by_group["cpu-large"][0]["spec"]["containers"][0]["args"][0]
    )
    assert "--num-cpus=0" in by_group["headgroup"][0]["spec"]["containers"][0]["args"][0]


def test_complete_sample_with_node_port_endpoints(operator: OperatorProcess, rays: Rays) -> None:
    name = "raycluster-complete"
    rays.create(sample(name, rays.namespace))
    status = wait_for("complete ready", lambda: rays.ready(name))
    pods = wait_for(
        "all pods running",
        lambda: rays.all_running_ready(name, {"headgroup": 1, "cpu": 2, "multi-host": 2}),
    )
    service = rays.service(f"{name}-head-svc")
    assert service is not None
    check_common_status(status, name, service)
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    assert service["metadata"]["annotations"]["example.com/exposed-by"] == "ray-operator"
    assert service["metadata"]["labels"]["example.com/tier"] == "head"
    node_ports = {p["name"]: str(p["nodePort"]) for p in service["spec"]["ports"]}
    assert set(node_ports) == {"gcs-server", "dashboard", "client", "serve", "metrics"}
    assert status["endpoints"] == node_ports
    assert all(30000 <= int(port) <= 32767 for port in node_ports.values())
    assert status["desiredWorkerReplicas"] == 4
    assert status["desiredCPU"] == "14"
    head = next(p for p in pods if p["metadata"]["labels"]["ray.io/node-type"] == "head")
    assert head["metadata"]["labels"]["app"] == "ray-head"
    assert head["metadata"]["labels"]["example.com/zone"] == "a"
    assert head["metadata"]["annotations"]["example.com/scrape"] == "true"
    assert head["spec"]["tolerations"][0]["key"] == "example.com/dedicated"
    container = head["spec"]["containers"][0]
    assert {"name": "ray-logs", "mountPath": "/tmp/ray"} in container["volumeMounts"]
    assert any(e["name"] == "RAY_LOG_TO_STDERR" for e in container["env"])
    assert container["lifecycle"]["preStop"]["exec"]["command"][-1] == "ray stop"
    cpu_worker = next(p for p in pods if p["metadata"]["labels"]["ray.io/group"] == "cpu")
    args = cpu_worker["spec"]["containers"][0]["args"][0]
    assert "--num-cpus=4" in args
    assert "--labels=example.com/pool=cpu" in args
    assert '"example.com/accelerator-slot": 1.0' in args
    multi = next(p for p in pods if p["metadata"]["labels"]["ray.io/group"] == "multi-host")
    assert multi["spec"]["containers"][0]["args"][0].startswith("echo preparing host && ")
