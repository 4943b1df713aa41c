"""Running the real ray-operator against the real control plane, for RayCluster tests and bench.

- `apply_crds` applies charts/ray-operator/crds/ (the single source of truth).
- `OperatorProcess` starts `.venv/bin/ray-operator` as a subprocess (usually restricted to
  the test's namespace with --namespaces), waits for /readyz, and stops it with SIGTERM or
  kills it with SIGKILL. `command` runs another ray-operator instead (the one in an image's
  root filesystem, through chroot).
- `Rays` reads and writes RayClusters, their pods, services and Events as plain dicts.
- `wait_for` polls with a generous deadline; tests never assert on elapsed time.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from localkube.crds import CRD_DIR as CRD_DIR
from localkube.crds import apply_crds as apply_crds
from localkube.monitoring import free_port
from localkube.waiting import wait_for as wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
OPERATOR = Path(sys.executable).with_name("ray-operator")
SAMPLES = REPO_ROOT / "samples"
GROUP, VERSION, PLURAL = "ray.io", "v1", "rayclusters"

Json = dict[str, Any]


def sample(name: str, namespace: str, new_name: str | None = None) -> Json:
    body: Json = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text())
    body["metadata"]["namespace"] = namespace
    if new_name:
        body["metadata"]["name"] = new_name
    return body


class OperatorProcess:
    """One ray-operator subprocess with its own health port and log file."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        *args: str,
        command: Sequence[str] = (str(OPERATOR),),
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.args = args
        self.command = tuple(command)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> OperatorProcess:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, *, wait_ready: bool = True) -> None:
        command = [
            *self.command,
            "--health-address",
            f"127.0.0.1:{self.port}",
            "--log-format",
            "json",
            *self.args,
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        if wait_ready:
            wait_for("the operator's /readyz", self.ready, timeout=60)

    def ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"operator exited with {self.process.returncode}:\n{self.log_tail()}"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as reply:
                return bool(reply.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def probe(self, path: str) -> int | None:
        """The HTTP status of a health endpoint, None while nothing answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as reply:
                return int(reply.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except (urllib.error.URLError, OSError):
            return None

    def stats(self) -> Json:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/statz", timeout=5) as reply:
            result: Json = json.loads(reply.read())
            return result

    def metrics(self) -> bytes:
        """The operator's /metrics (on its health address)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as reply:
            body: bytes = reply.read()
            return body

    def peak_rss_bytes(self) -> int:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process has used so far."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye, as if the node died."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def log_lines(self) -> list[Json]:
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                continue
        return lines

    def log_tail(self, count: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-count:])


class Rays:
    """RayClusters and what they own in one namespace, as plain dicts."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self.api_client = api_client
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)

    def _plain(self, obj: Any) -> Json:
        result: Json = self.api_client.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
        return result

    def create(self, body: Json) -> Json:
        body = copy.deepcopy(body)
        body["metadata"]["namespace"] = self.namespace
        result = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, body
        )
        return cast(Json, result)

    def get(self, name: str) -> Json | None:
        try:
            result = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return cast(Json, result)

    def status(self, name: str) -> Json:
        cluster = self.get(name) or {}
        result: Json = cluster.get("status") or {}
        return result

    def patch(self, name: str, patch: Json) -> Json:
        result = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name, patch
        )
        return cast(Json, result)

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)

    def pods(self, cluster: str, *, terminating: bool = False, **labels: str) -> list[Json]:
        selector = ",".join(
            [
                f"ray.io/cluster={cluster}",
                *(f"ray.io/{k.replace('_', '-')}={v}" for k, v in labels.items()),
            ]
        )
        items = self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        pods = [self._plain(p) for p in items]
        if terminating:
            return pods
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")]

    def service(self, name: str) -> Json | None:
        try:
            return self._plain(self.core.read_namespaced_service(name, self.namespace))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def events(self, cluster: str, reason: str | None = None) -> list[Json]:
        selector = f"involvedObject.kind=RayCluster,involvedObject.name={cluster}"
        items = self.core.list_namespaced_event(self.namespace, field_selector=selector).items
        events = [self._plain(e) for e in items]
        return [e for e in events if reason is None or e.get("reason") == reason]

    def ready(self, name: str) -> Json | None:
        """The status once state is ready and it describes the current generation."""
        cluster = self.get(name) or {}
        status = cluster.get("status") or {}
        generation = (cluster.get("metadata") or {}).get("generation")
        if status.get("state") == "ready" and status.get("observedGeneration") == generation:
            return status
        return None

    def group_counts(self, cluster: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for pod in self.pods(cluster):
            group = pod["metadata"]["labels"]["ray.io/group"]
            counts[group] = counts.get(group, 0) + 1
        return counts

    def all_running_ready(self, cluster: str, expected: dict[str, int]) -> list[Json] | None:
        pods = self.pods(cluster, terminating=True)
        if any(p["metadata"].get("deletionTimestamp") for p in pods):
            return None
        if self.group_counts(cluster) != expected:
            return None
        for pod in pods:
            conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions") or []}
            if pod["status"].get("phase") != "Running" or conditions.get("Ready") != "True":
                return None
        return pods
