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

import os
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
    PodSampler,
    apply_rbac,
    autoscaler_control_plane,
    kuberay_autoscaler_container,
    kuberay_ray_env,
    kuberay_rbac,
)
from kubernetes import client, config
from raycluster_harness import OperatorProcess, Rays, wait_for

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
def api_client(kube_cluster: Cluster) -> Iterator[client.ApiClient]:
    """The session's `api_client`, for this module's control plane."""
    api = config.new_client_from_config(config_file=str(kube_cluster.kubeconfig))
    yield api
    api.close()


@pytest.fixture
def kubelet(
    api_client: client.ApiClient, namespace: str, kube_cluster: Cluster, tmp_path: Path
) -> Iterator[RayKubelet]:
    if os.geteuid() != 0:
        pytest.skip("the autoscaler's token mount (unshare --mount, mount --bind) needs root")
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
        ran_on = driver.ip(timeout=SCALE_TIMEOUT)
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
    step = time.monotonic()
    core.delete_namespaced_pod(worker["name"], namespace)  # what the operator does
    if version == "v1":
        # v1 clears the lists of deleted pods every iteration (KubeRayNodeProvider.safe_to_scale);
        # v2 only in its next scale request, so there the name stays until something scales.
        wait_for(
            "the autoscaler to clear workersToDelete once the pod is gone",
            lambda: _workers_to_delete(rays, "hand", "alpha") == [],
            timeout=SCALE_TIMEOUT,
        )
        _say(f"v1, hand-made worker deleted: workersToDelete cleared in {_took(step)}")
    wait_for(
        "the kubelet to stop the deleted pod's Ray",
        lambda: (run := kubelet.run_of(worker["name"])) is not None and run.stopped is not None,
    )
    run = kubelet.run_of(worker["name"])
    assert run is not None
    assert run.stopped is not None, "the worker's Ray was stopped with its pod"
    assert run.ray.poll() is not None
    assert AUTOSCALER_PATCH_LOG[version] in kubelet.log(head["name"], "autoscaler")
    assert kubelet.errors == []


def _only_pod(rays: Rays, cluster: str, group: str) -> Json | None:
    pods = [p for p in rays.pods(cluster, group=group) if (p.get("status") or {}).get("podIP")]
    return pods[0] if len(pods) == 1 else None


def _head_pod(rays: Rays, cluster: str, kubelet: RayKubelet) -> Json | None:
    heads = rays.pods(cluster, node_type="head")
    if len(heads) != 1 or not (heads[0].get("status") or {}).get("podIP"):
        return None
    run = kubelet.run_of(heads[0]["metadata"]["name"])
    if run is None or run.ray.poll() is not None or run.gcs_port is None:
        return None
    return heads[0]


class Steps:
    """Prints each step's duration (since the previous step) and the total."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.began = self.last = time.monotonic()

    def done(self, what: str) -> None:
        now = time.monotonic()
        _say(f"{self.label}: {what} in {now - self.last:.1f} s (at {now - self.began:.1f} s)")
        self.last = now


def _scale_up(
    rays: Rays, steps: Steps, cluster: str, group: str, driver: Driver
) -> tuple[Json, str]:
    """Wait for the autoscaler's replicas 0 -> 1, the operator's pod and the work on it."""
    wait_for(
        f"the autoscaler to raise {group}'s replicas to 1",
        lambda: _replicas(rays, cluster, group) == 1,
        timeout=SCALE_TIMEOUT,
    )
    steps.done(f"{group}: autoscaler raised replicas 0 -> 1")
    pod: Json = wait_for(
        f"the operator's {group} worker pod", lambda: _only_pod(rays, cluster, group)
    )
    steps.done(f"{group}: operator created pod {pod['metadata']['name']}")
    ran_on = driver.ip(timeout=SCALE_TIMEOUT)
    steps.done(f"{group}: the work ran on the pod's Ray node {ran_on}")
    return pod, ran_on


def _scale_down(
    rays: Rays, steps: Steps, sampler: PodSampler, cluster: str, group: str, pod: str, v1: bool
) -> None:
    """Wait for the autoscaler to name `pod` and the operator to delete it (and, for v1, the
    autoscaler to clear workersToDelete: v2 clears it only with its next scale request)."""
    wait_for(
        f"the autoscaler to name {pod} in {group}'s workersToDelete",
        lambda: pod in sampler.named.get(group, set()),
        timeout=SCALE_TIMEOUT,
    )
    steps.done(f"{group}: idle, autoscaler named {pod} in workersToDelete")
    wait_for(f"the operator to delete {pod}", lambda: pod in sampler.deleted, timeout=120)
    steps.done(f"{group}: operator deleted {pod}")
    wait_for(
        f"{group} at 0 replicas, no pod" + (" and workersToDelete cleared" if v1 else ""),
        lambda: (
            _replicas(rays, cluster, group) == 0
            and not rays.pods(cluster, group=group)
            and not (v1 and _workers_to_delete(rays, cluster, group))
        ),
        timeout=SCALE_TIMEOUT,
    )
    steps.done(f"{group}: replicas 1 -> 0" + (", workersToDelete cleared" if v1 else ""))


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_operator_and_real_autoscaler_scale_two_groups_up_and_down_independently(
    api_client: client.ApiClient,
    operator: OperatorProcess,
    namespace: str,
    rays: Rays,
    kubelet: RayKubelet,
    tmp_path: Path,
    version: str,
) -> None:
    """The whole loop with the operator: the operator builds the head pod with the autoscaler
    sidecar and its RBAC, the real autoscaler writes `replicas` and `workersToDelete`, the
    operator creates and deletes worker pods, real Ray workers run the work.

    beta's worker is held by an actor while alpha scales 0 -> 1 -> 0, so the operator deletes
    alpha's pod with another worker pod beside it; then beta is released and scales down.
    Every pod deletion in the test is one the autoscaler named (sampled throughout).

    v1: Ray 2.60 runs autoscaler v2 whenever the head has KubeRay's RAY_CLOUD_INSTANCE_ID,
    RAY_NODE_TYPE_NAME and RAY_USAGE_STATS_KUBERAY_IN_USE, so v1 is pinned with
    RAY_enable_autoscaler_v2=0 in the head template; v2 is autoscalerOptions.version."""
    options = {"version": "v2"} if version == "v2" else {}
    body = _raycluster("auto", [_group("alpha", "alpha"), _group("beta", "beta")], **options)
    if version == "v1":
        head_container = body["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
        head_container["env"] = [{"name": "RAY_enable_autoscaler_v2", "value": "0"}]
    steps = Steps(version)
    rays.create(body)
    head: Json = wait_for(
        "the head pod with its Ray running", lambda: _head_pod(rays, "auto", kubelet), timeout=120
    )
    head_name, head_ip = head["metadata"]["name"], head["status"]["podIP"]
    steps.done(f"head pod {head_name} ({head_ip}) created and its Ray started")
    containers = {c["name"]: c for c in head["spec"]["containers"]}
    assert "autoscaler" in containers, sorted(containers)
    assert head["spec"].get("serviceAccountName") == "auto"
    role = client.RbacAuthorizationV1Api(api_client).read_namespaced_role("auto", namespace)
    rules = api_client.sanitize_for_serialization(role.rules)
    assert rules == kuberay_rbac("auto", namespace)[1]["rules"], "KubeRay's Role, no more"
    with PodSampler(api_client, namespace, "auto") as sampler:
        holder = Driver(head_ip, DEFAULT_GCS_PORT, "beta", tmp_path / "beta.log", hold=True)
        try:
            beta, beta_ip = _scale_up(rays, steps, "auto", "beta", holder)
            assert beta_ip == beta["status"]["podIP"]
            task = Driver(head_ip, DEFAULT_GCS_PORT, "alpha", tmp_path / "alpha.log")
            try:
                alpha, alpha_ip = _scale_up(rays, steps, "auto", "alpha", task)
            finally:
                task.stop()
            assert alpha_ip == alpha["status"]["podIP"]
            _scale_down(
                rays, steps, sampler, "auto", "alpha", alpha["metadata"]["name"], version == "v1"
            )
            assert _only_pod(rays, "auto", "beta") is not None, "beta's busy pod was kept"
            assert beta["metadata"]["name"] not in sampler.deleted
        finally:
            holder.stop()
        steps.done("beta: actor released")
        _scale_down(rays, steps, sampler, "auto", "beta", beta["metadata"]["name"], version == "v1")
    if version == "v2":  # as KubeRay v1.5.0 builds v2 clusters: Ray, not the kubelet, restarts
        policies = {p["spec"].get("restartPolicy") for p in (head, alpha, beta)}
        assert policies == {"Never"}, policies
        head_env = {e["name"]: e.get("value") for e in head["spec"]["containers"][0]["env"]}
        assert head_env.get("RAY_enable_autoscaler_v2") == "true"
    names = {alpha["metadata"]["name"], beta["metadata"]["name"]}
    assert set(sampler.deleted) == names, (sampler.deleted, sampler.named)
    assert sampler.all_named() == names
    assert head_name not in sampler.deleted
    run = kubelet.run_of(head_name)
    assert run is not None
    assert run.autoscaler is not None
    assert run.autoscaler_restarts == 0, run.exit_codes
    assert AUTOSCALER_PATCH_LOG[version] in kubelet.log(head_name, "autoscaler")
    assert kubelet.errors == []
    warnings = [e for e in rays.events("auto") if e.get("type") == "Warning"]
    assert warnings == [], [(e.get("reason"), e.get("message")) for e in warnings]
    _say(f"{version}: {sampler.samples} samples of the pods, total {_took(steps.began)}")
