"""The local control plane: start, stop and describe one cluster in a state directory.

A cluster lives in one state directory (`.cluster/` by default): its PKI, the
admin kubeconfig, the chosen ports, process ids and logs. Ports are picked free
at start, so two checkouts (or two CI runs) on one machine never collide. The
recorded process ids carry each process's start time, so `down` never signals a
recycled pid.

Two ways to own the processes:
- `detached=True` (`make cluster-up`): they outlive the starting command, and
  `down` stops them.
- `detached=False` (pytest): every process also dies with the starting process
  (PR_SET_PDEATHSIG), so even a SIGKILLed test run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from localkube.pki import write_pki

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
KWOK_STAGES = REPO_ROOT / ".tools" / "share" / "kwok-stages"
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.244.0.0/16"
# Started in this order, stopped in reverse.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
PR_SET_PDEATHSIG = 1


class ClusterError(RuntimeError):
    """The control plane could not be started, reached or stopped."""


@dataclass
class Proc:
    name: str
    pid: int
    start_ticks: int


@dataclass
class State:
    ports: dict[str, int]
    token: str
    procs: list[Proc] = field(default_factory=list)
    detached: bool = True


def free_ports(names: tuple[str, ...]) -> dict[str, int]:
    """Ask the kernel for distinct free loopback ports, held open until all are chosen."""
    socks = []
    try:
        for _ in names:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return {n: s.getsockname()[1] for n, s in zip(names, socks, strict=True)}
    finally:
        for s in socks:
            s.close()


def _start_ticks(pid: int) -> int | None:
    """The process start time in clock ticks, or None when no such process runs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def _alive(proc: Proc) -> bool:
    return _start_ticks(proc.pid) == proc.start_ticks


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _node_manifest(name: str) -> dict[str, Any]:
    capacity = {"cpu": "32", "memory": "128Gi", "nvidia.com/gpu": "4", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            },
        },
        "status": {"allocatable": capacity, "capacity": capacity},
    }


class Cluster:
    """One local control plane, described by its state directory."""

    def __init__(
        self,
        state_dir: Path,
        nodes: int = 4,
        apiserver_args: tuple[str, ...] = (),
        pod_cidr: str = POD_CIDR,
    ) -> None:
        """`apiserver_args` are appended to kube-apiserver's flags (an audit policy, say);
        kwok gives pods IPs from `pod_cidr` (a range inside 127.0.0.0/8 makes every pod IP an
        address of this machine, so a process can listen on it)."""
        self.dir = state_dir.resolve()
        self.nodes = nodes
        self.apiserver_args = apiserver_args
        self.pod_cidr = pod_cidr
        self.kubeconfig = self.dir / "kubeconfig"
        self.pki = self.dir / "pki"
        self.logs = self.dir / "logs"
        self._state_file = self.dir / "state.json"
        self._popen: dict[str, subprocess.Popen[bytes]] = {}

    # -- state ------------------------------------------------------------

    def _load(self) -> State | None:
        try:
            raw = json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return None
        return State(
            ports=raw["ports"],
            token=raw["token"],
            procs=[Proc(**p) for p in raw["procs"]],
            detached=raw.get("detached", True),
        )

    def _save(self, state: State) -> None:
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state), indent=2))
        tmp.replace(self._state_file)

    def running(self) -> bool:
        """True when every component recorded in the state directory is alive."""
        state = self._load()
        return bool(state and state.procs) and all(_alive(p) for p in state.procs)  # type: ignore[union-attr]

    @property
    def server(self) -> str:
        state = self._load()
        if state is None:
            raise ClusterError(f"no cluster state in {self.dir}")
        return f"https://127.0.0.1:{state.ports['apiserver']}"

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that should use the pinned tools and this cluster."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{env.get('PATH', '')}"
        return env

    # -- start ------------------------------------------------------------

    def up(self, detached: bool = True) -> None:
        """Start the control plane and wait until nodes are Ready; refuse if one runs here."""
        if self.running():
            raise ClusterError(f"a cluster is already running from {self.dir}; `make cluster-down`")
        missing = [b for b in (*COMPONENTS, "kubectl") if not (TOOLS_BIN / b).exists()]
        if missing:
            raise ClusterError(f"missing tools {missing} in {TOOLS_BIN}: run `make tools`")
        self._stop_recorded()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.logs.mkdir(parents=True)
        write_pki(self.pki, SERVICE_IP)
        ports = free_ports(("etcd", "etcd_peer", "apiserver", "kcm", "scheduler", "kwok"))
        state = State(ports=ports, token=secrets.token_hex(16), detached=detached)
        (self.dir / "tokens.csv").write_text(f"{state.token},admin,admin,system:masters\n")
        self._write_kubeconfig(state)
        self._save(state)
        try:
            for name in COMPONENTS:
                self._spawn(state, name)
                if name == "etcd":
                    self._wait_tcp(ports["etcd"], "etcd")
                elif name == "kube-apiserver":
                    self._wait_apiserver(state)
            self._create_nodes()
            self._wait_ready()
        except BaseException:
            self.down()
            raise

    def _write_kubeconfig(self, state: State) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "localkube",
                    "cluster": {
                        "server": f"https://127.0.0.1:{state.ports['apiserver']}",
                        "certificate-authority": str(self.pki / "ca.crt"),
                    },
                }
            ],
            "users": [{"name": "admin", "user": {"token": state.token}}],
            "contexts": [
                {"name": "localkube", "context": {"cluster": "localkube", "user": "admin"}}
            ],
            "current-context": "localkube",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.kubeconfig.chmod(0o600)

    def _args(self, state: State, name: str) -> list[str]:
        p, kc, pki = state.ports, str(self.kubeconfig), self.pki
        if name == "etcd":
            peer = f"http://127.0.0.1:{p['etcd_peer']}"
            return [
                f"--data-dir={self.dir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{p['etcd']}",
                f"--advertise-client-urls=http://127.0.0.1:{p['etcd']}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=default={peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ]
        if name == "kube-apiserver":
            return [
                f"--etcd-servers=http://127.0.0.1:{p['etcd']}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={p['apiserver']}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--token-auth-file={self.dir / 'tokens.csv'}",
                "--authorization-mode=Node,RBAC",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--endpoint-reconciler-type=none",
                "--enable-priority-and-fairness=false",
                *self.apiserver_args,
            ]
        common = [
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
        ]
        if name == "kube-controller-manager":
            return [
                *common,
                f"--secure-port={p['kcm']}",
                f"--cert-dir={self.dir / 'kcm-certs'}",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # Quick garbage collection and namespace cleanup for tests.
                "--concurrent-gc-syncs=20",
                "--concurrent-namespace-syncs=10",
            ]
        if name == "kube-scheduler":
            return [*common, f"--secure-port={p['scheduler']}"]
        if name == "kwok":
            stages = [
                KWOK_STAGES / "node" / "fast" / "node-initialize.yaml",
                KWOK_STAGES / "node" / "heartbeat-with-lease" / "node-heartbeat-with-lease.yaml",
                KWOK_STAGES / "pod" / "fast" / "pod-ready.yaml",
                Path(__file__).with_name("kwok-pod-complete.yaml"),
                KWOK_STAGES / "pod" / "fast" / "pod-delete.yaml",
            ]
            return [
                f"--kubeconfig={kc}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                f"--cidr={self.pod_cidr}",
                "--node-lease-duration-seconds=40",
                f"--server-address=127.0.0.1:{p['kwok']}",
                *(f"--config={s}" for s in stages),
            ]
        raise ClusterError(f"unknown component {name}")

    def _spawn(self, state: State, name: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [str(TOOLS_BIN / name), *self._args(state, name)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
            start_new_session=True,
            preexec_fn=None if state.detached else _die_with_parent,
        )
        log.close()
        self._popen[name] = proc
        ticks = _start_ticks(proc.pid)
        if ticks is None:
            raise ClusterError(f"{name} exited at once; see {self.logs / (name + '.log')}")
        state.procs = [p for p in state.procs if p.name != name] + [Proc(name, proc.pid, ticks)]
        self._save(state)

    # -- waiting ----------------------------------------------------------

    def _check_alive(self, name: str) -> None:
        proc = self._popen.get(name)
        if proc is not None and proc.poll() is not None:
            tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
            raise ClusterError(f"{name} exited with {proc.returncode}:\n{tail}")

    def _wait_tcp(self, port: int, name: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive(name)
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                return
            time.sleep(0.1)
        raise ClusterError(f"{name} did not listen on 127.0.0.1:{port} within {timeout}s")

    def _ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.pki / "ca.crt"))

    def _get(self, path: str, state: State) -> tuple[int, bytes]:
        req = urllib.request.Request(
            f"https://127.0.0.1:{state.ports['apiserver']}{path}",
            headers={"Authorization": f"Bearer {state.token}"},
        )
        try:
            with urllib.request.urlopen(req, context=self._ssl_context(), timeout=5) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def _wait_apiserver(self, state: State, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive("kube-apiserver")
            with contextlib.suppress(OSError):
                if self._get("/readyz", state)[0] == 200:
                    return
            time.sleep(0.2)
        raise ClusterError(f"kube-apiserver not ready within {timeout}s; see {self.logs}")

    def kubectl(self, *args: str, input_text: str | None = None, check: bool = True) -> str:
        """Run the pinned kubectl against this cluster and return its stdout."""
        result = subprocess.run(
            [str(TOOLS_BIN / "kubectl"), *args],
            env=self.env(),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def _create_nodes(self) -> None:
        docs = [_node_manifest(f"kwok-node-{i}") for i in range(self.nodes)]
        self.kubectl("apply", "-f", "-", input_text=yaml.safe_dump_all(docs))

    def _wait_ready(self, timeout: float = 60) -> None:
        """Nodes Ready (kwok), default ServiceAccount present (controller-manager)."""
        deadline = time.monotonic() + timeout
        state = self._load()
        assert state is not None
        while time.monotonic() < deadline:
            for name in COMPONENTS:
                self._check_alive(name)
            nodes = json.loads(self._get("/api/v1/nodes", state)[1] or b"{}").get("items", [])
            ready = [
                n
                for n in nodes
                if any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in n.get("status", {}).get("conditions", [])
                )
            ]
            sa_status, _ = self._get("/api/v1/namespaces/default/serviceaccounts/default", state)
            if len(ready) == self.nodes and sa_status == 200:
                return
            time.sleep(0.25)
        raise ClusterError(f"nodes or controllers not ready within {timeout}s; see {self.logs}")

    # -- stop -------------------------------------------------------------

    def _stop_recorded(self) -> list[str]:
        """Stop every recorded process that is still the one we started; return their names."""
        state = self._load()
        if state is None:
            return []
        stopped = []
        for proc in reversed(state.procs):
            if _alive(proc):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
                stopped.append(proc.name)
        deadline = time.monotonic() + 15
        for proc in reversed(state.procs):
            while _alive(proc) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(proc):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
        for popen in self._popen.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=5)
        state.procs = []
        self._save(state)
        return stopped

    def down(self) -> list[str]:
        """Stop all components, remove etcd's data, keep logs; return what was stopped."""
        stopped = self._stop_recorded()
        shutil.rmtree(self.dir / "etcd", ignore_errors=True)
        return stopped

    # -- fault injection ------------------------------------------------------

    def _proc(self, name: str) -> Proc | None:
        state = self._load()
        return next((p for p in state.procs if p.name == name), None) if state else None

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver (an outage); etcd and the rest keep running.

        SIGTERM, then SIGKILL after 5 s: a graceful shutdown waits for the open watches
        (up to --request-timeout), which a crash does not."""
        proc = self._proc("kube-apiserver")
        if proc is None or not _alive(proc):
            raise ClusterError("kube-apiserver is not running")
        os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _alive(proc) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(proc):
            os.kill(proc.pid, signal.SIGKILL)
        popen = self._popen.get("kube-apiserver")
        if popen is not None:
            popen.wait(timeout=10)

    def start_apiserver(self) -> None:
        """Start kube-apiserver again on the same port and wait until it is ready."""
        state = self._load()
        if state is None:
            raise ClusterError(f"no cluster state in {self.dir}")
        self._spawn(state, "kube-apiserver")
        self._wait_apiserver(state)

    def restart_apiserver(self) -> None:
        self.stop_apiserver()
        self.start_apiserver()
