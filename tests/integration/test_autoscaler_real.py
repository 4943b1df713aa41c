"""Ray's real autoscaler (Ray 2.60 from .venv-ray) scaling RayClusters on the local control plane.

The module runs its own control plane, whose kwok gives pods IPs inside 127.0.0.0/8, and a Ray
kubelet (localkube/raykubelet.py) that runs real Ray for the pods: a `ray start --head` for the
head pod, a `ray start --address=...` for each worker pod, and the head pod's `autoscaler`
container's own command with a ServiceAccount token the TokenRequest API minted for the pod.
Nothing here changes Ray's code or calls the autoscaler's functions: it reads the RayCluster
and the pods from the apiserver and patches `replicas` and `workersToDelete`, as in a cluster.

Every step prints how long it took.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from autoscaler_harness import (
    AUTOSCALER_PATCH_LOG,
    RAY_IMAGE,
    Driver,
    apply_rbac,
    autoscaler_control_plane,
    kuberay_autoscaler_container,
    kuberay_ray_env,
    kuberay_rbac,
)
from kubernetes import client, config
from raycluster_harness import Rays, wait_for

from localkube import Cluster
from localkube.raykubelet import DEFAULT_GCS_PORT, RayKubelet

pytestmark = pytest.mark.integration

Json = dict[str, Any]
# Scale-up needs a Ray head (20-60 s here), the autoscaler's start and a worker's `ray start`.
SCALE_TIMEOUT = 300


def _say(message: str) -> None:
    print(f"\n[autoscaler] {message}", flush=True)


@pytest.fixture(scope="module")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC binds it
        try:
            probe.bind(("0.0.0.0", DEFAULT_GCS_PORT))
        except OSError as error:
            pytest.fail(
                f"port {DEFAULT_GCS_PORT} is taken on this machine ({error}): the autoscaler"
                " finds the head's GCS at <its node IP>:6379, which the Ray head must own"
            )
    cluster, seconds = autoscaler_control_plane(tmp_path_factory.mktemp("localkube-autoscaler"))
    _say(f"own control plane (pod CIDR {cluster.pod_cidr}) up in {seconds:.1f} s")
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="module")
def kubeconfig(kube_cluster: Cluster) -> str:
    return str(kube_cluster.kubeconfig)


@pytest.fixture(scope="module")
def api_client(kubeconfig: str) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=kubeconfig)
    yield api
    api.close()


@pytest.fixture
def kubelet(
    api_client: client.ApiClient, namespace: str, kube_cluster: Cluster, tmp_path: Path
) -> Iterator[RayKubelet]:
    port = int(kube_cluster.server.rsplit(":", 1)[1])
    with RayKubelet(
        api_client,
        namespace,
        tmp_path / "kubelet",
        ("127.0.0.1", port),
        kube_cluster.pki / "ca.crt",
    ) as kubelet:
        yield kubelet


def _container(
    name: str, cpus: str, args: str | None = None, env: list[Json] | None = None
) -> Json:
    container: Json = {
        "name": name,
        "image": RAY_IMAGE,
        "resources": {"limits": {"cpu": cpus, "memory": "1Gi"}},
    }
    if args is not None:
        container["command"] = ["/bin/bash", "-lc", "--"]
        container["args"] = [args]
    if env is not None:
        container["env"] = env
    return container


def _group(name: str, resource: str, max_replicas: int = 2) -> Json:
    return {
        "groupName": name,
        "replicas": 0,
        "minReplicas": 0,
        "maxReplicas": max_replicas,
        "rayStartParams": {"resources": f'"{{\\"{resource}\\": 1}}"'},
        "template": {"spec": {"containers": [_container("ray-worker", "1")]}},
    }


def _raycluster(name: str, groups: list[Json], **options: Any) -> Json:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name},
        "spec": {
            "rayVersion": "2.60.0",
            "enableInTreeAutoscaling": True,
            "autoscalerOptions": {"idleTimeoutSeconds": 15, **options},
            "headGroupSpec": {
                "rayStartParams": {"num-cpus": "0"},
                "template": {"spec": {"containers": [_container("ray-head", "1")]}},
            },
            "workerGroupSpecs": groups,
        },
    }


def _replicas(rays: Rays, cluster: str, group: str) -> int:
    body = rays.get(cluster) or {}
    for spec in body.get("spec", {}).get("workerGroupSpecs") or []:
        if spec["groupName"] == group:
            return int(spec.get("replicas", 0))
    raise AssertionError(f"no group {group} in {cluster}")


def _workers_to_delete(rays: Rays, cluster: str, group: str) -> list[str]:
    body = rays.get(cluster) or {}
    for spec in body.get("spec", {}).get("workerGroupSpecs") or []:
        if spec["groupName"] == group:
            return list((spec.get("scaleStrategy") or {}).get("workersToDelete") or [])
    raise AssertionError(f"no group {group} in {cluster}")


def _hand_made_pod(cluster: str, namespace: str, node_type: str, group: str, args: str) -> Json:
    """A pod shaped like KubeRay's (labels, Ray env, the sidecar on the head) made by hand."""
    head = node_type == "head"
    containers = [_container(f"ray-{node_type}", "1", args, kuberay_ray_env())]
    if head:
        containers.append(kuberay_autoscaler_container())
    spec: Json = {"containers": containers}
    if head:
        spec["serviceAccountName"] = cluster
    prefix = cluster if head else f"{cluster}-{group}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"{prefix}-{node_type}-",
            "namespace": namespace,
            "labels": {
                "ray.io/cluster": cluster,
                "ray.io/node-type": node_type,
                "ray.io/group": group,
                "ray.io/is-ray-node": "yes",
            },
        },
        "spec": spec,
    }


def _running_pod(core: client.CoreV1Api, namespace: str, body: Json) -> Json:
    created = core.create_namespaced_pod(namespace, body)
    name = created.metadata.name

    def running() -> Json | None:
        pod = core.read_namespaced_pod(name, namespace)
        if pod.status.phase == "Running" and pod.status.pod_ip:
            return {"name": name, "ip": pod.status.pod_ip}
        return None

    result: Json = wait_for(f"pod {name} Running with an IP", running)
    return result


def _took(since: float) -> str:
    return f"{time.monotonic() - since:.1f} s"


@pytest.mark.parametrize(("version", "v2_env"), [("v1", "0"), ("v2", "true")])
def test_real_autoscaler_raises_replicas_and_names_the_idle_pod_for_a_hand_made_head(
    api_client: client.ApiClient,
    crds: None,
    namespace: str,
    rays: Rays,
    kubelet: RayKubelet,
    tmp_path: Path,
    version: str,
    v2_env: str,
) -> None:
    """No operator: the head pod (KubeRay's labels, env and sidecar, KubeRay's RBAC) and, once
    the autoscaler asks for it, the worker pod are made by hand, so this proves the harness and
    the real autoscaler's half of the loop alone. The head's RAY_enable_autoscaler_v2 picks the
    autoscaler (as KubeRay's autoscalerOptions.version v2 sets it to "true")."""
    core = client.CoreV1Api(api_client)
    began = time.monotonic()
    rays.create(_raycluster("hand", [_group("alpha", "alpha")]))
    apply_rbac(api_client, kuberay_rbac("hand", namespace))
    head_body = _hand_made_pod(
        "hand",
        namespace,
        "head",
        "headgroup",
        "ulimit -n 65536; ray start --head --block --dashboard-host=0.0.0.0 --no-monitor"
        " --num-cpus=0 --metrics-export-port=8080",
    )
    head_body["spec"]["containers"][0]["env"].insert(
        0, {"name": "RAY_enable_autoscaler_v2", "value": v2_env}
    )
    head = _running_pod(core, namespace, head_body)
    assert head["ip"].startswith("127.64."), head
    wait_for(
        "the head's GCS",
        lambda: (run := kubelet.run_of(head["name"])) and run.ray.poll() is None and run.gcs_port,
        timeout=120,
    )
    driver = Driver(head["ip"], DEFAULT_GCS_PORT, "alpha", tmp_path / "driver.log")
    try:
        wait_for(
            "the autoscaler to raise alpha's replicas to 1",
            lambda: _replicas(rays, "hand", "alpha") == 1,
            timeout=SCALE_TIMEOUT,
        )
        _say(f"{version}, hand-made head: replicas 0 -> 1 {_took(began)} after the RayCluster")
        run = kubelet.run_of(head["name"])
        assert run is not None
        assert run.autoscaler is not None
        assert run.autoscaler.poll() is None, kubelet.log(head["name"], "autoscaler")[-3000:]
        step = time.monotonic()
        worker = _running_pod(
            core,
            namespace,
            _hand_made_pod(
                "hand",
                namespace,
                "worker",
                "alpha",
                "ulimit -n 65536; ray start --block --address=hand-head-svc:6379"
                """ --num-cpus=1 --resources='{"alpha": 1}'""",
            ),
        )
        ran_on = driver.result(timeout=SCALE_TIMEOUT)
        _say(f"{version}, hand-made worker: the task ran on it {_took(step)} after the pod")
        assert ran_on == worker["ip"], (ran_on, worker)
    finally:
        driver.stop()
    step = time.monotonic()
    wait_for(
        "the autoscaler to name the idle worker in workersToDelete",
        lambda: _workers_to_delete(rays, "hand", "alpha") == [worker["name"]],
        timeout=SCALE_TIMEOUT,
    )
    assert _replicas(rays, "hand", "alpha") == 0
    _say(f"{version}, hand-made worker: named in workersToDelete {_took(step)} after the task")
    assert AUTOSCALER_PATCH_LOG[version] in kubelet.log(head["name"], "autoscaler")
    assert kubelet.errors == []
