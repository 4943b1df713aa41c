"""Fault-tolerant RayClusters whose pods run as real Ray processes on this machine, against a
real Redis: the operator builds the pods (kwok keeps them as records), and PodProcess runs
each pod's Ray container with the operator's own command and env.

Every port of each Ray node is chosen free and given in `rayStartParams` (with the node's
own `--temp-dir` and `--node-ip-address=127.0.0.1`), so the commands in the pods run
unchanged on one machine. The worker group names the head's GCS with `address` (its pod's
default is the head Service's cluster DNS name, which this machine cannot resolve); the
worker's `wait-gcs-ready` init container is not run.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from kubernetes import client
from raycluster_harness import Rays, wait_for

from localkube.cluster import free_ports
from localkube.podrun import PodProcess
from localkube.ray import RAY_BIN
from localkube.raykubelet import NODE_PORTS
from localkube.redis import RedisServer

Json = dict[str, Any]
IMAGE = "rayproject/ray:2.60.0"
SECRET = "redis-password-secret"  # the name KubeRay's samples use
_HEAD_PORTS = ("port", "dashboard-port", "ray-client-server-port")


def _node_params(ports: dict[str, int], num_cpus: str) -> dict[str, str]:
    return {
        **{name: str(ports[name]) for name in NODE_PORTS},
        "node-ip-address": "127.0.0.1",
        "num-cpus": num_cpus,
        "object-store-memory": "100000000",
        "temp-dir": tempfile.mkdtemp(prefix="rft-", dir="/tmp"),
        "disable-usage-stats": "true",
    }


def _container(name: str) -> Json:
    limits = {"cpu": "1", "memory": "2Gi"}
    return {"name": name, "image": IMAGE, "resources": {"limits": limits, "requests": limits}}


class FaultTolerantCluster:
    """One RayCluster with GCS fault tolerance on `redis`: its spec, and its pods as
    processes (`start_head`, `start_worker`)."""

    def __init__(
        self, rays: Rays, redis: RedisServer, name: str, workdir: Path, replicas: int = 1
    ) -> None:
        self.rays, self.redis, self.name, self.workdir = rays, redis, name, workdir
        workdir.mkdir(parents=True, exist_ok=True)
        head_ports = free_ports((*_HEAD_PORTS, *NODE_PORTS))
        self.gcs_address = f"127.0.0.1:{head_ports['port']}"
        self.dashboard_url = f"http://127.0.0.1:{head_ports['dashboard-port']}"
        head_params = {
            **_node_params(head_ports, "0"),
            **{name: str(head_ports[name]) for name in _HEAD_PORTS},
            "dashboard-host": "127.0.0.1",
        }
        self.head_temp_dir = Path(head_params["temp-dir"])
        self.worker_ports = [free_ports(NODE_PORTS) for _ in range(replicas)]
        self.body: Json = {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {"name": name},
            "spec": {
                "rayVersion": "2.60.0",
                "gcsFaultToleranceOptions": {
                    "redisAddress": redis.address,
                    "redisPassword": {
                        "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "password"}}
                    },
                },
                "headGroupSpec": {
                    "rayStartParams": head_params,
                    "template": {"spec": {"containers": [_container("ray-head")]}},
                },
                "workerGroupSpecs": [
                    {
                        "groupName": "workers",
                        "replicas": replicas,
                        "minReplicas": 0,
                        "maxReplicas": replicas,
                        "rayStartParams": {"address": self.gcs_address},
                        "template": {"spec": {"containers": [_container("ray-worker")]}},
                    }
                ],
            },
        }
        self.processes: list[PodProcess] = []

    def create(self) -> None:
        ensure_secret(self.rays, self.redis.password)
        self.rays.create(self.body)

    def secret(self, name: str, key: str) -> str:
        core = client.CoreV1Api(self.rays.api_client)
        data = core.read_namespaced_secret(name, self.rays.namespace).data
        return base64.b64decode(data[key]).decode()

    def head_pod(self, other_than: str = "") -> Json:
        def current() -> Json | None:
            heads = [
                p
                for p in self.rays.pods(self.name, node_type="head")
                if p["metadata"]["name"] != other_than
            ]
            return heads[0] if heads else None

        pod: Json = wait_for(f"a head pod of {self.name}", current)
        return pod

    def worker_pods(self) -> list[Json]:
        return self.rays.pods(self.name, node_type="worker")

    def run(self, pod: Json, label: str) -> PodProcess:
        process = PodProcess(pod, self.secret, self.workdir / f"{label}.log")
        self.processes.append(process)
        return process

    def start_head(self, pod: Json, label: str = "head") -> PodProcess:
        """The head pod's Ray container. A new pod has a new filesystem: what an earlier head
        left in the temp dir (Ray's record of the cluster it started) is removed first."""
        shutil.rmtree(self.head_temp_dir, ignore_errors=True)
        self.head_temp_dir.mkdir()
        process = self.run(pod, label)

        def healthy() -> bool:
            if not process.alive():
                raise AssertionError(f"the head exited:\n{process.log_tail()}")
            return ray_cli("health-check", "--address", self.gcs_address).returncode == 0

        wait_for("the head's GCS", healthy, timeout=240, interval=1)
        return process

    def start_workers(self) -> list[PodProcess]:
        """Each worker pod's Ray container, its ports set in the pod (see the class doc)."""
        pods = wait_for(
            "the worker pods",
            lambda: self.worker_pods() if len(self.worker_pods()) == len(self.worker_ports) else [],
        )
        started = []
        for index, (pod, ports) in enumerate(zip(pods, self.worker_ports, strict=True)):
            # One worker group, several pods on one machine: each gets its own ports.
            pod = _with_ports(pod, ports)
            started.append(self.run(pod, f"worker-{index}"))
        wait_for(
            f"{len(pods) + 1} Ray nodes alive",
            lambda: len(self.alive_nodes()) == len(pods) + 1,
            timeout=240,
            interval=1,
        )
        return started

    def alive_nodes(self) -> list[Json]:
        found = driver(self.gcs_address, NODES)
        return [n for n in found if n["alive"]]

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def _with_ports(pod: Json, ports: dict[str, int]) -> Json:
    """The pod with its `ray start` flags of node ports replaced by `ports` (only when a
    group has more than one pod: the spec can name ports for a group, not for a pod)."""
    pod = json.loads(json.dumps(pod))
    container = pod["spec"]["containers"][0]
    args = container["args"][0]
    for name, number in ports.items():
        args = " ".join(
            f"--{name}={number}" if word.startswith(f"--{name}=") else word
            for word in args.split(" ")
        )
    container["args"] = [args]
    return pod


def ensure_secret(rays: Rays, password: str) -> None:
    core = client.CoreV1Api(rays.api_client)
    body = client.V1Secret(
        metadata=client.V1ObjectMeta(name=SECRET), string_data={"password": password}
    )
    try:
        core.create_namespaced_secret(rays.namespace, body)
    except client.ApiException as error:
        if error.status != 409:
            raise


def ray_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RAY_BIN / "ray"), *args], capture_output=True, text=True, timeout=120, check=False
    )


NODES = """
import json, ray
ray.init(address=ADDRESS, logging_level="ERROR")
print(json.dumps([{"id": n["NodeID"], "alive": n["Alive"]} for n in ray.nodes()]))
"""


def driver(address: str, script: str) -> Any:
    """Runs `script` as a Ray driver against `address`; its last line of output, as JSON."""
    code = script.replace("ADDRESS", repr(address))
    result = subprocess.run(
        [str(RAY_BIN / "python"), "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"RAY_USAGE_STATS_ENABLED": "0", "PATH": f"{RAY_BIN}:/usr/bin:/bin"},
    )
    if result.returncode != 0:
        raise AssertionError(f"driver failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
