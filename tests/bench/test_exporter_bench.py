"""Benchmark: ray-exporter against a KubeRay-style baseline on 22,000 real Ray objects.

Opt-in (`pytest tests/bench/test_exporter_bench.py -m bench -s`, `make bench-exporter`).
It prints figures and ratios and asserts nothing about time.

1. Loads 10,000 RayClusters, 10,000 RayJobs and 2,000 RayServices across 10 namespaces
   into the real apiserver, each with a realistic status written through the
   status subresource.
2. Runs ray-exporter, then the baseline (tests/bench/exporter_baseline.py: an
   informer cache plus a collector that builds every family from every object
   on each scrape, as KubeRay's collectors do), one at a time so neither takes
   CPU from, or slows the apiserver's watch dispatch for, the other; same
   objects, same run. For each:
3. Scrapes repeatedly with no change between scrapes.
4. Drives a steady 200 status updates/s, then 100/s (each moves one RayCluster's
   `RayClusterProvisioned.lastTransitionTime`, so its
   `kuberay_cluster_provisioned_duration_seconds` takes a value unique to that
   update) while scraping every 100 ms: every scrape is a scrape "with
   changes". Event-to-metric latency is taken to the start of the first scrape
   showing an update, from the PATCH being sent, from it being answered, and
   from the watch event: a bare watch opened by the benchmark records when the
   apiserver delivered each update, which splits the latency into the
   apiserver's delivery (the floor for any watching collector) and the
   collector's own part (quantised by the 100 ms scrape period).
5. Reads the process's peak RSS (VmHWM).

Sizes can be lowered for a quick try with EXPORTER_BENCH_CLUSTERS, _JOBS and
_SERVICES. The figures depend on the machine: the control plane, the load
generator and the collector share its CPUs, and the printed load average and
achieved update rate say how busy it was.
"""

from __future__ import annotations

import calendar
import gzip
import json
import math
import os
import queue
import re
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client

from localkube.monitoring import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from exporter_harness import (
    apply_crds,
    exporter_env,
    exporter_running,
    wait_for,
)

pytestmark = pytest.mark.bench

CLUSTERS = int(os.environ.get("EXPORTER_BENCH_CLUSTERS", "10000"))
JOBS = int(os.environ.get("EXPORTER_BENCH_JOBS", "10000"))
SERVICES = int(os.environ.get("EXPORTER_BENCH_SERVICES", "2000"))
NAMESPACES = 10
UPDATE_RATES = (200, 100)  # the goal's rate, and one this 2-CPU control plane sustains
UPDATE_SECONDS = 20
IDLE_SCRAPES = 30
LOADER_THREADS = 12
PATCHERS = 24
PROBE_PERIOD = 0.1
QUIET_SEQ = 1_000_000
BASELINE = Path(__file__).with_name("exporter_baseline.py")
WATCH_FLOOR = Path(__file__).with_name("exporter_watchfloor.py")
PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    "Accept-Encoding": "gzip",
}


def probe_pattern(prefix: str) -> re.Pattern[bytes]:
    """Provisioned-duration samples of this run's clusters (namespaces `prefix`-<n>);
    other objects in the cluster (a reused one) are left out of every comparison."""
    namespace = re.escape(prefix.encode())
    return re.compile(
        rb'kuberay_cluster_provisioned_duration_seconds\{name="(bench-c-\d+)",'
        rb'namespace="' + namespace + rb'-\d+",[^}]*\} (\S+)'
    )


def info_pattern(prefix: str) -> re.Pattern[bytes]:
    namespace = re.escape(prefix.encode())
    return re.compile(
        rb'kuberay_(?:cluster|job|service)_info\{[^}]*namespace="' + namespace + rb"-"
    )


JOB_STATES = ["Running", "Complete", "Failed", "Retrying", "Initializing", "Suspended", ""]


# -- loading ---------------------------------------------------------------------


def stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def pod_template(role: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "bench", "role": role}},
        "spec": {
            "containers": [
                {
                    "name": f"ray-{role}",
                    "image": "rayproject/ray:2.9.0",
                    "resources": {"requests": {"cpu": "2", "memory": "8Gi"}},
                }
            ]
        },
    }


def cluster_spec() -> dict[str, Any]:
    return {
        "headGroupSpec": {
            "rayStartParams": {"dashboard-host": "0.0.0.0"},
            "template": pod_template("head"),
        },
        "workerGroupSpecs": [
            {
                "groupName": "workers",
                "replicas": 2,
                "minReplicas": 1,
                "maxReplicas": 4,
                "rayStartParams": {},
                "template": pod_template("worker"),
            }
        ],
    }


def cluster_status(name: str, created: float, provisioned_after: float) -> dict[str, Any]:
    when = stamp(created + provisioned_after)
    return {
        "state": "ready",
        "reason": "",
        "desiredCPU": "6",
        "desiredMemory": "24Gi",
        "desiredGPU": "0",
        "desiredTPU": "0",
        "readyWorkerReplicas": 2,
        "availableWorkerReplicas": 2,
        "desiredWorkerReplicas": 2,
        "minWorkerReplicas": 1,
        "maxWorkerReplicas": 4,
        "observedGeneration": 1,
        "lastUpdateTime": when,
        "endpoints": {
            "client": "10001",
            "dashboard": "8265",
            "gcs-server": "6379",
            "metrics": "8080",
        },
        "head": {
            "podIP": "10.244.1.7",
            "serviceIP": "10.96.12.34",
            "podName": f"{name}-head-x7k2p",
            "serviceName": f"{name}-head-svc",
        },
        "conditions": provisioned_conditions(when),
    }


def provisioned_conditions(when: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "RayClusterProvisioned",
            "status": "True",
            "reason": "AllPodRunningAndReadyFirstTime",
            "message": "",
            "lastTransitionTime": when,
        },
        {
            "type": "HeadPodReady",
            "status": "True",
            "reason": "HeadPodRunningAndReady",
            "message": "",
            "lastTransitionTime": when,
        },
    ]


def job_status(index: int, created: float) -> dict[str, Any]:
    state = JOB_STATES[index % len(JOB_STATES)]
    history = []
    if state in ("Complete", "Failed", "Retrying"):
        attempts = {"Complete": 1, "Failed": 3, "Retrying": 2}[state]
        for attempt in range(attempts):
            result = "Retrying" if attempt < attempts - 1 or state == "Retrying" else state
            start = created + 100 * attempt
            history.append(
                {
                    "retryCount": attempt,
                    "result": result,
                    "startTime": stamp(start),
                    "endTime": stamp(start + 30 + index % 50),
                    "jobId": f"raysubmit_{index}_{attempt}",
                }
            )
    status: dict[str, Any] = {
        "jobDeploymentStatus": state,
        "jobStatus": {"Complete": "SUCCEEDED", "Failed": "FAILED"}.get(state, "RUNNING"),
        "jobId": f"raysubmit_{index}",
        "rayClusterName": f"bench-j-{index:05d}-raycluster-abcde",
        "dashboardURL": f"bench-j-{index:05d}-head-svc:8265",
        "startTime": stamp(created),
        "failed": sum(1 for entry in history if entry["result"] != "Complete"),
        "succeeded": 1 if state == "Complete" else 0,
        "observedGeneration": 1,
        "rayClusterStatus": {
            "state": "ready",
            "desiredCPU": "6",
            "desiredMemory": "24Gi",
            "readyWorkerReplicas": 2,
        },
        "attemptHistory": history,
    }
    if state in ("Complete", "Failed"):
        status["endTime"] = stamp(created + 400)
    return status


def service_status(index: int, created: float) -> dict[str, Any]:
    ready = index % 5 != 0
    when = stamp(created + 60)
    return {
        "numServeEndpoints": 2 if ready else 0,
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": "Test",
                "message": "",
                "lastTransitionTime": when,
            },
            {
                "type": "UpgradeInProgress",
                "status": "True" if index % 7 == 0 else "False",
                "reason": "Test",
                "message": "",
                "lastTransitionTime": when,
            },
        ],
        "activeServiceStatus": {
            "rayClusterName": f"bench-s-{index:05d}-raycluster-abcde",
            "applicationStatuses": {
                "app": {
                    "status": "RUNNING",
                    "serveDeploymentStatuses": {"Model": {"status": "HEALTHY"}},
                }
            },
        },
    }


class RawApi:
    """Plain JSON requests over the kubernetes client's connection pool (fast loading)."""

    def __init__(self, api_client: client.ApiClient) -> None:
        configuration = api_client.configuration
        self.host = configuration.host
        self.pool = urllib3.PoolManager(
            maxsize=max(LOADER_THREADS, PATCHERS) + 4,
            cert_reqs="CERT_REQUIRED" if configuration.verify_ssl else "CERT_NONE",
            ca_certs=configuration.ssl_ca_cert,
            cert_file=configuration.cert_file,
            key_file=configuration.key_file,
        )
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        token = configuration.get_api_key_with_prefix("BearerToken")
        if token:
            self.headers["Authorization"] = token

    def request(
        self, method: str, path: str, body: Any, content_type: str = "application/json"
    ) -> dict[str, Any]:
        headers = {**self.headers, "Content-Type": content_type}
        data = None if body is None else json.dumps(body).encode()
        response = self.pool.request(method, self.host + path, body=data, headers=headers)
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {response.data[:300]!r}")
        return json.loads(response.data)  # type: ignore[no-any-return]

    def create(self, namespace: str, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/apis/ray.io/v1/namespaces/{namespace}/{plural}", body)

    def patch_status(
        self, namespace: str, plural: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        path = f"/apis/ray.io/v1/namespaces/{namespace}/{plural}/{name}/status"
        return self.request("PATCH", path, {"status": status}, "application/merge-patch+json")


@dataclass
class Loaded:
    clusters: list[tuple[str, str, float]] = field(default_factory=list)  # namespace, name, created


def load(raw: RawApi, namespaces: list[str]) -> Loaded:
    loaded = Loaded()
    lock = threading.Lock()

    def created_at(obj: dict[str, Any]) -> float:
        return float(
            calendar.timegm(
                time.strptime(obj["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
            )
        )

    def one(kind: str, index: int) -> None:
        namespace = namespaces[index % len(namespaces)]
        if kind == "c":
            name = f"bench-c-{index:05d}"
            labels = {"ray.io/originated-from-crd": ["RayJob", "RayService", "none"][index % 3]}
            body = {
                "apiVersion": "ray.io/v1",
                "kind": "RayCluster",
                "metadata": {"name": name, "labels": labels},
                "spec": cluster_spec(),
            }
            created = raw.create(namespace, "rayclusters", body)
            start = created_at(created)
            raw.patch_status(
                namespace, "rayclusters", name, cluster_status(name, start, 30 + index % 90)
            )
            with lock:
                loaded.clusters.append((namespace, name, start))
        elif kind == "j":
            name = f"bench-j-{index:05d}"
            body = {
                "apiVersion": "ray.io/v1",
                "kind": "RayJob",
                "metadata": {"name": name},
                "spec": {
                    "entrypoint": "python train.py",
                    "backoffLimit": 2,
                    "rayClusterSpec": cluster_spec(),
                },
            }
            created = raw.create(namespace, "rayjobs", body)
            raw.patch_status(namespace, "rayjobs", name, job_status(index, created_at(created)))
        else:
            name = f"bench-s-{index:05d}"
            body = {
                "apiVersion": "ray.io/v1",
                "kind": "RayService",
                "metadata": {"name": name},
                "spec": {"rayClusterConfig": cluster_spec()},
            }
            created = raw.create(namespace, "rayservices", body)
            raw.patch_status(
                namespace, "rayservices", name, service_status(index, created_at(created))
            )

    tasks = (
        [("c", i) for i in range(CLUSTERS)]
        + [("j", i) for i in range(JOBS)]
        + [("s", i) for i in range(SERVICES)]
    )
    with ThreadPoolExecutor(LOADER_THREADS) as pool:
        for future in [pool.submit(one, kind, index) for kind, index in tasks]:
            future.result()
    loaded.clusters.sort()
    return loaded


# -- measuring -------------------------------------------------------------------


def scrape(port: int, headers: dict[str, str] | None = None) -> tuple[float, float, bytes]:
    """(start time, seconds until the last byte arrived, decoded body).

    A lean HTTP/1.1 client reading straight into one buffer, so the time is the
    server's and the transfer's, not a client library's.
    """
    started = time.monotonic()
    lines = ["GET /metrics HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, "connection closed before the headers"
            received += chunk
        head, _, rest = received.partition(b"\r\n\r\n")
        status, *fields = head.decode("latin-1").split("\r\n")
        assert status.split()[1] == "200", status
        response = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
        length = int(response["content-length"])
        body = bytearray(length)
        view = memoryview(body)
        view[: len(rest)] = rest
        got = len(rest)
        while got < length:
            count = sock.recv_into(view[got:])
            assert count, "connection closed before the body ended"
            got += count
        elapsed = time.monotonic() - started
    data = bytes(body)
    if response.get("content-encoding") == "gzip":
        data = gzip.decompress(data)
    return started, elapsed, data


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class WatchFloor:
    """The bare watch of exporter_watchfloor.py, run as its own process for one phase."""

    def __init__(self, env: dict[str, str], output: Path, prefix: str) -> None:
        self.output = output
        self.errors = output.with_suffix(".err")
        with self.errors.open("wb") as errors:
            self.process = subprocess.Popen(
                [sys.executable, str(WATCH_FLOOR), str(output), prefix],
                env=env,
                stdout=subprocess.PIPE,
                stderr=errors,
            )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == b"watching"

    def arrivals(self) -> dict[tuple[str, int], float]:
        """(name, seconds value) -> when the apiserver delivered it; first delivery wins."""
        found: dict[tuple[str, int], float] = {}
        for line in self.output.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3:
                found.setdefault((parts[0], int(parts[1])), float(parts[2]))
        return found

    def stop(self) -> dict[tuple[str, int], float]:
        self.process.terminate()
        self.process.wait(timeout=30)
        return self.arrivals()


@dataclass
class UnderLoad:
    scrapes: dict[str, list[float]]
    from_sent: list[float]
    from_ack: list[float]
    floor: list[float]
    from_event: list[float]
    sent: int
    unseen: int
    achieved_rate: float


@dataclass
class Bench:
    """What every phase needs: the API, the loaded objects, the environment, a work dir."""

    raw: RawApi
    loaded: Loaded
    env: dict[str, str]
    workdir: Path

    prefix: str
    sequence: int = 0

    @property
    def probe(self) -> re.Pattern[bytes]:
        return probe_pattern(self.prefix)

    @property
    def info(self) -> re.Pattern[bytes]:
        return info_pattern(self.prefix)

    def take_sequence(self, count: int) -> int:
        """The first of `count` update numbers no other phase uses."""
        first, self.sequence = self.sequence, self.sequence + count
        return first

    def floor(self, label: str) -> WatchFloor:
        return WatchFloor(self.env, self.workdir / f"floor-{label}.txt", self.prefix)


def under_updates(
    bench: Bench, rate: int, port: int, variants: dict[str, dict[str, str]]
) -> UnderLoad:
    """Drive `rate` updates/s for UPDATE_SECONDS while scraping `port` every PROBE_PERIOD.

    An update is seen at the start of the first scrape showing its value or a later
    one for the same object (values only grow), so overwritten updates count too.
    """
    # Per update: [seq, PATCH sent, PATCH answered, first scrape showing it].
    pending: dict[str, list[list[float]]] = {}
    lock = threading.Lock()
    stop = threading.Event()
    scrapes: dict[str, list[float]] = {name: [] for name in variants}
    work: queue.Queue[tuple[int, str, str, float] | None] = queue.Queue()
    sent: list[tuple[str, list[float]]] = []
    raw, loaded = bench.raw, bench.loaded
    floor = bench.floor(f"load-{port}-{rate}")

    def patcher() -> None:
        while (item := work.get()) is not None:
            seq, namespace, name, created = item
            entry = [float(seq), time.monotonic(), math.inf, math.inf]
            with lock:
                pending.setdefault(name, []).append(entry)
                sent.append((name, entry))
            conditions = provisioned_conditions(stamp(created + seq))
            raw.patch_status(namespace, "rayclusters", name, {"conditions": conditions})
            entry[2] = time.monotonic()

    def prober() -> None:
        names = list(variants)
        turn = 0
        while not stop.is_set():
            variant = names[turn % len(names)]
            turn += 1
            started, elapsed, body = scrape(port, variants[variant])
            scrapes[variant].append(elapsed)
            values = probe_values(body, bench.probe)
            with lock:
                for name in [name for name in pending if name in values]:
                    waiting = pending[name]
                    for entry in waiting:
                        if entry[0] <= values[name]:
                            entry[3] = started
                    waiting[:] = [entry for entry in waiting if entry[0] > values[name]]
                    if not waiting:
                        del pending[name]
            time.sleep(max(0.0, PROBE_PERIOD - (time.monotonic() - started)))

    patchers = [threading.Thread(target=patcher) for _ in range(PATCHERS)]
    probe = threading.Thread(target=prober)
    for thread in patchers:
        thread.start()
    probe.start()
    total = rate * UPDATE_SECONDS
    first_seq = bench.take_sequence(total)
    begin = time.monotonic()
    for step in range(total):
        targets = loaded.clusters[:-1]  # the last one is the quiet check's
        namespace, name, created = targets[(first_seq + step) % len(targets)]
        delay = begin + step / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        work.put((first_seq + step + 1000, namespace, name, created))
    for _ in patchers:
        work.put(None)
    for thread in patchers:
        thread.join()
    achieved = total / (time.monotonic() - begin)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with lock:
            if not pending:
                break
        time.sleep(0.2)
    stop.set()
    probe.join()
    arrivals = floor.stop()
    seen = [(name, entry) for name, entry in sent if entry[3] != math.inf]
    arrived = {
        id(entry): arrivals[(name, int(entry[0]))]
        for name, entry in seen
        if (name, int(entry[0])) in arrivals
    }
    return UnderLoad(
        scrapes=scrapes,
        from_sent=[max(0.0, entry[3] - entry[1]) for _, entry in seen],
        from_ack=[max(0.0, entry[3] - entry[2]) for _, entry in seen],
        floor=[
            max(0.0, arrived[id(entry)] - entry[2]) for _, entry in seen if id(entry) in arrived
        ],
        from_event=[
            max(0.0, entry[3] - arrived[id(entry)]) for _, entry in seen if id(entry) in arrived
        ],
        sent=len(sent),
        unseen=len(sent) - len(seen),
        achieved_rate=achieved,
    )


def wait_for_quiet_apiserver(bench: Bench) -> float:
    """Patch one RayCluster repeatedly until the apiserver delivers its watch events
    promptly again (after loading, its controllers and caches keep it busy for a while);
    answer how long that took. Uses values no measured update uses."""
    namespace, name, created = bench.loaded.clusters[-1]
    floor = bench.floor("quiet")
    started = time.monotonic()
    prompt = 0
    seq = QUIET_SEQ
    try:
        while prompt < 10 and time.monotonic() - started < 600:
            seq += 1
            conditions = provisioned_conditions(stamp(created + seq))
            bench.raw.patch_status(namespace, "rayclusters", name, {"conditions": conditions})
            answered = time.monotonic()
            time.sleep(0.3)
            arrived = floor.arrivals().get((name, seq))
            prompt = prompt + 1 if arrived is not None and arrived - answered < 0.1 else 0
    finally:
        floor.stop()
    return time.monotonic() - started


def probe_values(body: bytes, probe: re.Pattern[bytes]) -> dict[str, float]:
    """RayCluster name -> provisioned duration, read from that family's section only."""
    start = body.find(b"# TYPE kuberay_cluster_provisioned_duration_seconds")
    end = body.find(b"# HELP", start)
    section = body[start : end if end >= 0 else len(body)]
    return {match[0].decode(): float(match[1]) for match in probe.findall(section)}


def idle_scrapes(
    port: int, headers: dict[str, str] | None = None, count: int = IDLE_SCRAPES
) -> list[float]:
    scrape(port, headers)  # warm up (first build after sync)
    return [scrape(port, headers)[1] for _ in range(count)]


def ms(value: float) -> str:
    return f"{value * 1000:8.1f} ms"


@pytest.fixture
def bench_namespaces(api_client: client.ApiClient) -> Iterator[list[str]]:
    core = client.CoreV1Api(api_client)
    prefix = f"bench-exporter-{secrets.token_hex(3)}"
    names = [f"{prefix}-{i}" for i in range(NAMESPACES)]
    for name in names:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield names
    for name in names:
        core.delete_namespace(name, propagation_policy="Background")


@dataclass
class Measured:
    """Everything measured on one collector process."""

    name: str
    sync_seconds: float
    size: int
    idle: dict[str, list[float]]
    loads: dict[int, UnderLoad]
    rss_mb: float
    final_values: dict[str, float]


def holds_all(port: int, info: re.Pattern[bytes]) -> bool:
    return len(info.findall(scrape(port)[2])) == CLUSTERS + JOBS + SERVICES


def measure(
    name: str,
    port: int,
    pid: int,
    sync_seconds: float,
    bench: Bench,
    variants: dict[str, dict[str, str]],
) -> Measured:
    wait_for(f"{name} to hold every object", lambda: holds_all(port, bench.info), 900, 1)
    quiet = wait_for_quiet_apiserver(bench)
    print(f"{name}: waited {quiet:.0f} s for the apiserver to deliver watch events promptly")
    body = scrape(port)[2]
    idle = {variant: idle_scrapes(port, headers) for variant, headers in variants.items()}
    loads = {}
    for rate in UPDATE_RATES:
        wait_for_quiet_apiserver(bench)
        loads[rate] = under_updates(bench, rate, port, variants)
    final = probe_values(scrape(port)[2], bench.probe)
    return Measured(name, sync_seconds, len(body), idle, loads, peak_rss_mb(pid), final)


def test_exporter_against_kuberay_style_baseline(
    kube_cluster: Any, api_client: client.ApiClient, bench_namespaces: list[str], tmp_path: Path
) -> None:
    env = exporter_env(kube_cluster.env(), kube_cluster.kubeconfig)
    apply_crds(kube_cluster.env())
    raw = RawApi(api_client)
    started = time.monotonic()
    loaded = load(raw, bench_namespaces)
    print(
        f"\nloaded {CLUSTERS} RayClusters, {JOBS} RayJobs, {SERVICES} RayServices"
        f" in {time.monotonic() - started:.0f} s"
    )
    bench = Bench(raw, loaded, env, tmp_path, bench_namespaces[0].rsplit("-", 1)[0])

    # One collector at a time, so neither takes CPU (or slows the apiserver's watch
    # dispatch) while the other is measured; same objects, same run.
    with exporter_running(env, tmp_path / "exporter.log", "--log-level", "WARNING") as exporter:
        exporter.wait_ready(timeout=900)
        ours = measure(
            "ray-exporter",
            exporter.port,
            exporter.process.pid,
            time.monotonic() - exporter.started,
            bench,
            {"ray-exporter text": {}, "ray-exporter OpenMetrics+gzip": PROMETHEUS_HEADERS},
        )

    port = free_port()
    with (tmp_path / "baseline.log").open("wb") as log:
        baseline = subprocess.Popen(
            [sys.executable, str(BASELINE), "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        try:
            assert baseline.stdout is not None
            word, seconds = baseline.stdout.readline().split()
            assert word == b"synced"
            wait_for(
                "the baseline to hold every object", lambda: holds_all(port, bench.info), 900, 1
            )
            # Same data, same series: what ray-exporter saw last is what the baseline sees
            # first (but for the one cluster the quiet check patches).
            quiet_probe = loaded.clusters[-1][1]
            first_values = probe_values(scrape(port)[2], bench.probe)
            first_values.pop(quiet_probe)
            ours.final_values.pop(quiet_probe)
            assert first_values == ours.final_values
            theirs = measure(
                "baseline",
                port,
                baseline.pid,
                float(seconds),
                bench,
                {"baseline text": {}},
            )
        finally:
            baseline.terminate()
            baseline.wait(timeout=30)
    report(ours, theirs)


def row(name: str, values: list[float], extra: str = "") -> str:
    return (
        f"  {name:<34} p50 {ms(statistics.median(values))}  p99 {ms(percentile(values, 99))}"
        f"  max {ms(max(values))}  n={len(values)}{extra}"
    )


def report(ours: Measured, theirs: Measured) -> None:
    both = (ours, theirs)
    print(
        f"objects {CLUSTERS + JOBS + SERVICES}; /metrics {ours.size / 1e6:.1f} MB (ray-exporter),"
        f" {theirs.size / 1e6:.1f} MB (baseline); {os.cpu_count()} CPUs,"
        f" load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"initial sync, start to all listed: ray-exporter {ours.sync_seconds:.1f} s,"
        f" baseline {theirs.sync_seconds:.1f} s"
    )
    print("\nscrape latency, nothing changed between scrapes (client side, whole body):")
    for measured in both:
        for name, values in measured.idle.items():
            print(row(name, values))
    for rate in UPDATE_RATES:
        print(
            f"\nscrape latency with changes (a scrape every {PROBE_PERIOD * 1000:.0f} ms"
            f" during {rate} updates/s asked):"
        )
        for measured in both:
            for name, values in measured.loads[rate].scrapes.items():
                print(row(name, values))
        print(
            f"event-to-metric latency at {rate} updates/s asked (to the start of the first"
            " scrape showing an update; apiserver delivery = when a bare watch got it):"
        )
        for measured in both:
            result = measured.loads[rate]
            tail = f"  {result.sent} sent at {result.achieved_rate:.0f}/s, unseen {result.unseen}"
            print(row(f"{measured.name}, from PATCH sent", result.from_sent, tail))
            print(row(f"{measured.name}, from PATCH answered", result.from_ack))
            print(row("  of which apiserver delivery", result.floor))
            print(row("  of which watch event to scrape", result.from_event))
    print("\npeak RSS (VmHWM):")
    for measured in both:
        print(f"  {measured.name:<34} {measured.rss_mb:8.1f} MB")
    idle = statistics.median(theirs.idle["baseline text"]) / statistics.median(
        ours.idle["ray-exporter text"]
    )
    top = UPDATE_RATES[0]
    busy = statistics.median(theirs.loads[top].scrapes["baseline text"]) / statistics.median(
        ours.loads[top].scrapes["ray-exporter text"]
    )
    event = percentile(theirs.loads[top].from_event, 99) / max(
        percentile(ours.loads[top].from_event, 99), 1e-3
    )
    print("\nspeed-up of ray-exporter over the baseline:")
    print(
        f"  p50 scrape without changes {idle:.1f}x, with changes {busy:.1f}x;"
        f" watch event to scrape p99 {event:.1f}x (at {top} updates/s asked)"
    )
