"""A kubelet for Ray pods: kwok schedules and "runs" the pods, this starts the Ray in them.

kwok marks pods Running and Ready and gives them IPs, but runs no containers. For the pods of
RayClusters in one namespace, `RayKubelet` does what the containers would:

- the Ray container of a head pod becomes a real `ray start --head` bound to the pod IP, and
  that of a worker pod a real `ray start --address=<head pod IP>:<GCS port>` bound to its own
  pod IP, both with the flags of the pod's own `ray start` command (resources, labels,
  no-monitor, ...) and the container's environment resolved as a kubelet does (podenv.py:
  fieldRefs such as RAY_CLOUD_INSTANCE_ID=metadata.name, which autoscaler v2 matches Ray nodes
  to pods by). With kwok's pod CIDR inside 127.0.0.0/8 the pod IP is an address of this
  machine, so a pod's IP and its Ray node's IP are the same, which is how autoscaler v1 matches
  Ray nodes to pods.
- the head pod's `autoscaler` container runs its own command line, `$(VAR)`s expanded, with
  the in-cluster environment of a pod: KUBERNETES_SERVICE_HOST/PORT naming the apiserver and,
  at /var/run/secrets/kubernetes.io/serviceaccount, a token minted with the TokenRequest API for
  the pod's ServiceAccount (bound to the pod) and the cluster's CA. The path is bind-mounted in a
  mount namespace of the autoscaler's own (`unshare --mount`), so nothing else on the machine
  sees it.
- a pod with a deletionTimestamp (or gone) has its processes stopped, the whole process group.

Where this differs from a node, by necessity:
- the processes share this machine's network namespace, and Ray binds several of its ports on
  every address, so each node gets free ports (flags, and the env of the two metrics servers)
  for everything but the head's GCS port, which
  stays the pod's (6379 unless rayStartParams.port says otherwise): the autoscaler finds the
  GCS at <its node IP>:6379 and, here, its node IP is this machine's address, which reaches the
  GCS only because the GCS listens on all addresses. That port must be free on the machine.
- workers start once the head's GCS accepts connections, which is what the operator's
  `wait-gcs-ready` init container waits for; init containers are not run.
- the object store gets 100 MB unless the pod's command sizes it (a container's would be a
  share of its memory limit), so several nodes fit in this machine's /dev/shm.
- kwok's stages mark pods Ready on their own; readiness does not wait for the Ray process.
- a container's image: Ray comes from .venv-ray, first on PATH as in the Ray image. A login
  shell (`bash -lc`, KubeRay's ENABLE_LOGIN_SHELL) reads this machine's /etc/profile, which
  resets PATH for root, so each container's HOME has a .bash_profile putting it back.
- the token mount needs root (a mount namespace and a bind mount).
"""

from __future__ import annotations

import contextlib
import decimal
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from localkube.cluster import free_ports
from localkube.podenv import Json, command_line, container_env, container_named, quantity
from localkube.ray import RAY_BIN, start_group, stop_group

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
AUTOSCALER_CONTAINER = "autoscaler"
DEFAULT_GCS_PORT = 6379
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# `ray start` flags that take no value; every other flag does.
_BARE_FLAGS = frozenset(
    {
        "head",
        "block",
        "no-monitor",
        "disable-usage-stats",
        "no-redirect-output",
        "ray-debugger-external",
        "enable-resource-isolation",
    }
)
# Flags the kubelet sets itself: addresses, ports, the temp dir.
NODE_PORTS = (
    "node-manager-port",
    "object-manager-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "runtime-env-agent-port",
    "metrics-export-port",
)
_HEAD_PORTS = ("dashboard-port", "ray-client-server-port")
_OWN_FLAGS = frozenset(
    {
        *NODE_PORTS,
        *_HEAD_PORTS,
        "head",
        "block",
        "address",
        "node-ip-address",
        "port",
        "temp-dir",
        "min-worker-port",
        "max-worker-port",
        "worker-port-list",
        "disable-usage-stats",
    }
)

# Ports Ray takes from the environment and binds on every address (the dashboard's and the
# autoscaler's metrics servers): each container gets free ones unless its env sets them.
_METRICS_PORT_ENV = ("DASHBOARD_METRIC_PORT", "AUTOSCALER_METRIC_PORT")


class RayKubeletError(RuntimeError):
    """A pod's container cannot be played (no `ray start` in it, say)."""


def ray_start_flags(argv: list[str]) -> dict[str, str | None]:
    """The flags of the first `ray start` in a container's command line (usually a
    `bash -lc` script), as {flag: value}, None for a bare flag."""
    lexer = shlex.shlex(" ".join(argv), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    starts = [i for i in range(len(tokens) - 1) if tokens[i : i + 2] == ["ray", "start"]]
    if not starts:
        raise RayKubeletError(f"no `ray start` in {argv!r}")
    flags: dict[str, str | None] = {}
    rest = tokens[starts[0] + 2 :]
    index = 0
    while index < len(rest) and rest[index] not in (";", "&&", "||", "|", "&"):
        token = rest[index]
        index += 1
        if not token.startswith("--"):
            raise RayKubeletError(f"unexpected {token!r} in `ray start` of {argv!r}")
        name, equals, value = token[2:].partition("=")
        if equals:
            flags[name] = value
        elif name in _BARE_FLAGS or index == len(rest) or rest[index].startswith("--"):
            flags[name] = None
        else:
            flags[name] = rest[index]
            index += 1
    return flags


def render(flags: Mapping[str, str | None]) -> list[str]:
    return [f"--{k}" if v is None else f"--{k}={v}" for k, v in flags.items()]


def container_cpus(container: Json) -> int | None:
    """The CPUs Ray would detect in the container (its cgroup limit), rounded up."""
    resources = container.get("resources") or {}
    for section in ("limits", "requests"):
        value = (resources.get(section) or {}).get("cpu")
        if value is not None:
            return int(quantity(str(value)).to_integral_value(rounding=decimal.ROUND_UP))
    return None


def gcs_reachable(ip: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((ip, port), 0.5):
        return True
    return False


@dataclass
class PodRun:
    """The processes started for one pod."""

    name: str
    uid: str
    ip: str
    node_type: str
    group: str
    ray: subprocess.Popen[bytes]
    temp_dir: Path
    started: float
    gcs_port: int | None = None
    autoscaler: subprocess.Popen[bytes] | None = None
    autoscaler_restarts: int = 0
    stopped: float | None = None
    exit_codes: list[int | None] = field(default_factory=list)


class RayKubelet:
    """Plays the containers of the Ray pods in `namespace` while running (a context manager)."""

    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str,
        workdir: Path,
        apiserver: tuple[str, int],
        ca_file: Path,
        interval: float = 0.3,
    ) -> None:
        if not (RAY_BIN / "ray").exists():
            raise RayKubeletError(f"no ray in {RAY_BIN}: run `make ray-env`")
        self.core = client.CoreV1Api(api_client)
        self.api_client = api_client
        self.namespace = namespace
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.apiserver = apiserver
        self.ca_file = ca_file
        self.interval = interval
        self.runs: dict[str, PodRun] = {}  # by pod uid, stopped ones kept
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ray-kubelet", daemon=True)
        self.home = workdir / "image-home"
        self.home.mkdir(exist_ok=True)
        (self.home / ".bash_profile").write_text(f'export PATH="{RAY_BIN}:$PATH"\n')

    def __enter__(self) -> RayKubelet:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests read ------------------------------------------------------

    def run_of(self, pod_name: str) -> PodRun | None:
        with self._lock:
            matches = [r for r in self.runs.values() if r.name == pod_name]
        return matches[-1] if matches else None

    def live(self) -> list[PodRun]:
        with self._lock:
            return [r for r in self.runs.values() if r.stopped is None]

    def log(self, pod_name: str, container: str = "ray") -> str:
        path = self.workdir / f"{pod_name}.{container}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- the loop -------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._sync()
            except Exception as error:  # recorded; a test reads `errors`
                self.errors.append(f"{type(error).__name__}: {error}")
            self._stop.wait(self.interval)

    def _pods(self) -> list[Json]:
        items = self.core.list_namespaced_pod(self.namespace, label_selector="ray.io/cluster").items
        return [self.api_client.sanitize_for_serialization(p) for p in items]  # type: ignore[no-untyped-call]

    def _sync(self) -> None:
        pods = self._pods()
        present = {p["metadata"]["uid"]: p for p in pods}
        for uid, run in list(self.runs.items()):
            pod = present.get(uid)
            if run.stopped is None and (pod is None or pod["metadata"].get("deletionTimestamp")):
                self._stop_run(run)
        heads = [p for p in pods if p["metadata"]["labels"].get("ray.io/node-type") == "head"]
        for pod in sorted(pods, key=lambda p: p not in heads):
            uid = pod["metadata"]["uid"]
            if uid in self.runs or pod["metadata"].get("deletionTimestamp"):
                continue
            if not (pod.get("status") or {}).get("podIP"):
                continue
            if pod in heads:
                self._start_head(pod)
            else:
                self._start_worker(pod, heads)
        for run in self.live():
            if run.autoscaler is not None and run.autoscaler.poll() is not None:
                # restartPolicy: the kubelet restarts a container that exits.
                run.exit_codes.append(run.autoscaler.returncode)
                run.autoscaler_restarts += 1
                pod = present.get(run.uid)
                if pod is not None:
                    run.autoscaler = self._start_autoscaler(pod)

    # -- starting -------------------------------------------------------------

    def _base_env(self, pod: Json) -> dict[str, str]:
        host, port = self.apiserver
        metrics = free_ports(tuple(_METRICS_PORT_ENV))
        return {
            **{name: str(number) for name, number in metrics.items()},
            "PATH": f"{RAY_BIN}:{SYSTEM_PATH}",
            "HOME": str(self.home),
            "HOSTNAME": pod["metadata"]["name"],
            "LANG": "C.UTF-8",
            "KUBERNETES_SERVICE_HOST": host,
            "KUBERNETES_SERVICE_PORT": str(port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
            "KUBERNETES_PORT": f"tcp://{host}:{port}",
        }

    def _ray_command(
        self, pod: Json, container: Json, env: Mapping[str, str], head: tuple[str, int] | None
    ) -> tuple[list[str], Path, int | None]:
        flags = ray_start_flags(command_line(container, env))
        ip = pod["status"]["podIP"]
        names = NODE_PORTS + (_HEAD_PORTS if head is None else ())
        ports = free_ports(names)
        temp_dir = Path(tempfile.mkdtemp(prefix="rk-", dir="/tmp"))
        own: dict[str, str | None] = {
            "node-ip-address": ip,
            "temp-dir": str(temp_dir),
            "min-worker-port": "0",
            "max-worker-port": "0",
            **{name: str(ports[name]) for name in names},
            "block": None,
            "disable-usage-stats": None,
        }
        gcs_port: int | None = None
        if head is None:
            gcs_port = int(flags.get("port") or DEFAULT_GCS_PORT)
            own = {"head": None, "port": str(gcs_port), **own}
            if "dashboard-host" in flags:
                own["dashboard-host"] = flags["dashboard-host"]
        else:
            own = {"address": f"{head[0]}:{head[1]}", **own}
        kept = {k: v for k, v in flags.items() if k not in _OWN_FLAGS and k != "dashboard-host"}
        if "num-cpus" not in kept and (cpus := container_cpus(container)) is not None:
            kept["num-cpus"] = str(cpus)
        kept.setdefault("object-store-memory", "100000000")
        argv = [str(RAY_BIN / "ray"), "start", *render(own), *render(kept)]
        return argv, temp_dir, gcs_port

    def _start_ray(self, pod: Json, head: tuple[str, int] | None) -> PodRun:
        meta = pod["metadata"]
        containers = pod["spec"]["containers"]
        container = dict(containers[0])  # KubeRay: the Ray container comes first
        env = container_env(pod, container, self._base_env(pod))
        argv, temp_dir, gcs_port = self._ray_command(pod, container, env, head)
        log = self.workdir / f"{meta['name']}.ray.log"
        log.write_text(f"# {shlex.join(argv)}\n")
        proc = start_group(argv, env, log)
        return PodRun(
            name=meta["name"],
            uid=meta["uid"],
            ip=pod["status"]["podIP"],
            node_type=meta["labels"].get("ray.io/node-type", ""),
            group=meta["labels"].get("ray.io/group", ""),
            ray=proc,
            temp_dir=temp_dir,
            started=time.monotonic(),
            gcs_port=gcs_port,
        )

    def _start_head(self, pod: Json) -> None:
        run = self._start_ray(pod, None)
        if container_named(pod, AUTOSCALER_CONTAINER) is not None:
            run.autoscaler = self._start_autoscaler(pod)
        with self._lock:
            self.runs[run.uid] = run

    def _start_worker(self, pod: Json, heads: list[Json]) -> None:
        cluster = pod["metadata"]["labels"]["ray.io/cluster"]
        head_uids = [h["metadata"]["uid"] for h in heads if _cluster(h) == cluster]
        head_runs = [self.runs[u] for u in head_uids if u in self.runs]
        live_heads = [r for r in head_runs if r.stopped is None and r.gcs_port is not None]
        if not live_heads:
            return
        head = live_heads[0]
        assert head.gcs_port is not None
        if not gcs_reachable(head.ip, head.gcs_port):
            return  # the operator's wait-gcs-ready init container would still be waiting
        run = self._start_ray(pod, (head.ip, head.gcs_port))
        with self._lock:
            self.runs[run.uid] = run

    def _token(self, pod: Json) -> str:
        account = pod["spec"].get("serviceAccountName") or "default"
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(
                audiences=[],
                expiration_seconds=3600,
                bound_object_ref=client.V1BoundObjectReference(
                    api_version="v1",
                    kind="Pod",
                    name=pod["metadata"]["name"],
                    uid=pod["metadata"]["uid"],
                ),
            )
        )
        reply = self.core.create_namespaced_service_account_token(account, self.namespace, request)
        assert reply.status is not None, "TokenRequest returned no token"
        return str(reply.status.token)

    def _start_autoscaler(self, pod: Json) -> subprocess.Popen[bytes]:
        container = container_named(pod, AUTOSCALER_CONTAINER)
        assert container is not None
        name = pod["metadata"]["name"]
        secrets = self.workdir / f"{name}.serviceaccount"
        secrets.mkdir(exist_ok=True)
        (secrets / "token").write_text(self._token(pod))
        shutil.copyfile(self.ca_file, secrets / "ca.crt")
        (secrets / "namespace").write_text(self.namespace)
        env = container_env(pod, container, self._base_env(pod))
        script = (
            f"mkdir -p {SERVICE_ACCOUNT_DIR} && "
            f'mount --bind "$1" {SERVICE_ACCOUNT_DIR} && shift && exec "$@"'
        )
        argv = [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "/bin/sh",
            "-c",
            script,
            "sh",
            str(secrets),
            *command_line(container, env),
        ]
        log = self.workdir / f"{name}.{AUTOSCALER_CONTAINER}.log"
        with log.open("a") as out:
            out.write(f"# {shlex.join(argv)}\n")
        return start_group(argv, env, log)

    # -- stopping -------------------------------------------------------------

    def _stop_run(self, run: PodRun) -> None:
        if run.autoscaler is not None:
            stop_group(run.autoscaler, grace=10)
        stop_group(run.ray)
        shutil.rmtree(run.temp_dir, ignore_errors=True)
        run.stopped = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
        for run in self.live():
            self._stop_run(run)


def _cluster(pod: Json) -> str:
    labels: dict[str, Any] = pod["metadata"].get("labels") or {}
    return str(labels.get("ray.io/cluster", ""))
