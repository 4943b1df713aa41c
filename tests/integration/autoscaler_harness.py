"""Ray's real autoscaler on the local control plane: the pieces the autoscaler tests share.

- `autoscaler_control_plane`: a control plane of the module's own whose kwok hands out pod
  IPs inside 127.0.0.0/8, so the Ray kubelet (localkube/raykubelet.py) can bind each pod's Ray
  node to its pod IP. The session's control plane keeps 10.244.0.0/16: other tests must not
  see pod IPs that answer on this machine.
- `kuberay_rbac` and `kuberay_autoscaler_container`: the ServiceAccount, Role and RoleBinding
  and the `autoscaler` sidecar as KubeRay v1.5.0 builds them (controllers/ray/common/rbac.go
  and pod.go), for a head pod made by hand.
- `Driver`: a Ray driver in a .venv-ray subprocess, attached to the head's raylet like a
  script run in the head pod, that runs one task needing a custom resource and prints the IP
  of the node it ran on.
- `PodSampler`: samples the namespace's pods and the RayCluster's `workersToDelete` in the
  background, so a test can assert which pods were ever deleted and which ever named.
"""

from __future__ import annotations

import json
import select
import subprocess
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client
from raycluster_harness import GROUP, PLURAL, VERSION

from localkube import Cluster
from localkube.ray import RAY_BIN

Json = dict[str, Any]
# What each autoscaler logs when it patches the RayCluster: v1's KubeRayNodeProvider, v2's
# KubeRayProvider. Ray 2.60 picks v2 when the head's env has RAY_CLOUD_INSTANCE_ID,
# RAY_NODE_TYPE_NAME and RAY_USAGE_STATS_KUBERAY_IN_USE (KubeRay sets all three) unless
# RAY_enable_autoscaler_v2 says otherwise (ray/scripts/scripts.py).
AUTOSCALER_PATCH_LOG = {
    "v1": "Autoscaler is submitting the following patch to RayCluster",
    "v2": "Submitting a scale request: KubeRayProvider.ScaleRequest",
}
# Inside 127.0.0.0/8 and clear of 127.0.0.1, which the control plane listens on.
AUTOSCALER_POD_CIDR = "127.64.0.0/16"
RAY_IMAGE = "rayproject/ray:2.60.0"


def autoscaler_control_plane(state_dir: Path) -> tuple[Cluster, float]:
    """Start a control plane with pod IPs in AUTOSCALER_POD_CIDR; return it and its start
    time in seconds."""
    cluster = Cluster(state_dir, nodes=2, pod_cidr=AUTOSCALER_POD_CIDR)
    began = time.monotonic()
    cluster.up(detached=False)
    return cluster, time.monotonic() - began


def kuberay_rbac(cluster: str, namespace: str) -> list[Json]:
    """KubeRay v1.5.0's ServiceAccount, Role and RoleBinding for an autoscaling head."""
    labels = {
        "ray.io/cluster": cluster,
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator",
    }
    meta = {"name": cluster, "namespace": namespace, "labels": labels}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["pods"],
                    "verbs": ["get", "list", "watch", "patch"],
                },
                {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
                {"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["get", "patch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "subjects": [{"kind": "ServiceAccount", "name": cluster, "namespace": namespace}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": cluster},
        },
    ]


def apply_rbac(api_client: client.ApiClient, objects: list[Json]) -> None:
    core = client.CoreV1Api(api_client)
    rbac = client.RbacAuthorizationV1Api(api_client)
    for obj in objects:
        namespace = obj["metadata"]["namespace"]
        if obj["kind"] == "ServiceAccount":
            core.create_namespaced_service_account(namespace, obj)
        elif obj["kind"] == "Role":
            rbac.create_namespaced_role(namespace, obj)
        else:
            rbac.create_namespaced_role_binding(namespace, obj)


def _field(name: str, path: str) -> Json:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def kuberay_autoscaler_container(image: str = RAY_IMAGE) -> Json:
    """BuildAutoscalerContainer of KubeRay v1.5.0."""
    return {
        "name": "autoscaler",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "env": [
            _field("RAY_CLUSTER_NAME", "metadata.labels['ray.io/cluster']"),
            _field("RAY_CLUSTER_NAMESPACE", "metadata.namespace"),
            _field("RAY_HEAD_POD_NAME", "metadata.name"),
            {"name": "KUBERAY_CRD_VER", "value": "v1"},
        ],
        "command": ["/bin/bash", "-c", "--"],  # GetContainerCommand without ENABLE_LOGIN_SHELL
        "args": [
            "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME)"
            " --cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
        ],
        "resources": {
            "limits": {"cpu": "500m", "memory": "512Mi"},
            "requests": {"cpu": "500m", "memory": "512Mi"},
        },
    }


def kuberay_ray_env(extra: list[Json] | None = None) -> list[Json]:
    """The env KubeRay v1.5.0 gives every Ray container (setContainerEnvVars), head flavour."""
    return [
        *(extra or []),
        _field("RAY_CLUSTER_NAME", "metadata.labels['ray.io/cluster']"),
        _field("RAY_CLOUD_INSTANCE_ID", "metadata.name"),
        _field("RAY_NODE_TYPE_NAME", "metadata.labels['ray.io/group']"),
        {"name": "RAY_PORT", "value": "6379"},
        {"name": "RAY_ADDRESS", "value": "127.0.0.1:6379"},
        {"name": "RAY_USAGE_STATS_KUBERAY_IN_USE", "value": "1"},
    ]


_DRIVER = textwrap.dedent(
    """
    import json, sys, ray
    address, node_ip, resource, mode = sys.argv[1:5]
    ray.init(address=address, _node_ip_address=node_ip, log_to_driver=False)

    @ray.remote(num_cpus=0, resources={resource: 1})
    def where():
        return ray.util.get_node_ip_address()

    @ray.remote(num_cpus=0, resources={resource: 1})
    class Holder:
        def where(self):
            return ray.util.get_node_ip_address()

    if mode == "task":
        print(json.dumps({"ip": ray.get(where.remote())}), flush=True)
    else:
        holder = Holder.remote()
        print(json.dumps({"ip": ray.get(holder.where.remote())}), flush=True)
        sys.stdin.read()  # the actor holds the resource until the test closes stdin
    """
)


@dataclass
class Driver:
    """A Ray driver attached to the head's raylet (like a script run in the head pod) that
    runs one task needing `resource` (`hold=False`), or starts an actor holding it until
    `stop()` (`hold=True`); `ip()` is the IP of the Ray node it ran on."""

    head_ip: str
    gcs_port: int
    resource: str
    log_path: Path
    hold: bool = False
    process: subprocess.Popen[bytes] = field(init=False)
    began: float = field(init=False)

    def __post_init__(self) -> None:
        self.began = time.monotonic()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(RAY_BIN / "python"),
                    "-c",
                    _DRIVER,
                    f"{self.head_ip}:{self.gcs_port}",
                    self.head_ip,
                    self.resource,
                    "actor" if self.hold else "task",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env={"PATH": f"{RAY_BIN}:/usr/bin:/bin", "RAY_USAGE_STATS_ENABLED": "0"},
            )

    def ip(self, timeout: float) -> str:
        """The IP of the node the task or actor ran on, once the driver prints it."""
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else b""
        if not line:
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise AssertionError(
                f"driver for {self.resource} printed nothing within {timeout}s"
                f" (exit {self.process.returncode}):\n{tail}"
            )
        return str(json.loads(line)["ip"])

    def stop(self) -> None:
        """Let the driver end (an actor is then released), killing it if it lingers."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


class PodSampler:
    """Samples pods (by name) and the RayCluster's workersToDelete until stopped."""

    def __init__(
        self, api_client: client.ApiClient, namespace: str, cluster: str, interval: float = 0.2
    ) -> None:
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.namespace = namespace
        self.cluster = cluster
        self.interval = interval
        self.seen: dict[str, str] = {}  # pod name -> group
        self.deleted: dict[str, float] = {}  # pod name -> when first seen deleting or gone
        self.named: dict[str, set[str]] = {}  # group -> pods ever in its workersToDelete
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pod-sampler", daemon=True)

    def __enter__(self) -> PodSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._sample()
            except client.ApiException:
                continue

    def _sample(self) -> None:
        selector = f"ray.io/cluster={self.cluster}"
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        now = time.monotonic()
        live = set()
        for pod in pods:
            name = pod.metadata.name
            self.seen.setdefault(name, (pod.metadata.labels or {}).get("ray.io/group", ""))
            if pod.metadata.deletion_timestamp:
                self.deleted.setdefault(name, now)
            else:
                live.add(name)
        for name in self.seen:
            if name not in live:
                self.deleted.setdefault(name, now)
        body = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, self.cluster
        )
        for group in body["spec"].get("workerGroupSpecs") or []:
            names = (group.get("scaleStrategy") or {}).get("workersToDelete") or []
            self.named.setdefault(group["groupName"], set()).update(names)
        self.samples += 1

    def all_named(self) -> set[str]:
        return set().union(*self.named.values()) if self.named else set()
