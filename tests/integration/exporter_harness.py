"""Running the real ray-exporter against the real control plane, for integration tests and bench.

- `apply_crds` applies charts/ray-operator/crds/ (the single source of truth) and
  waits until the API serves them.
- `ExporterProcess` starts `.venv/bin/ray-exporter` as a subprocess on a free
  loopback port (or `host`), scrapes it, and stops it with SIGTERM. `command` runs another
  ray-exporter instead (the one in an image's root filesystem, through chroot).
- `RayObjects` creates, patches (spec or status subresource) and deletes Ray
  custom resources.
- `samples`/`object_part` parse an exposition, so tests compare series, not text.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from localkube.crds import CRD_DIR as CRD_DIR
from localkube.crds import apply_crds as apply_crds
from localkube.monitoring import free_port
from localkube.waiting import wait_for as wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
EXPORTER = Path(sys.executable).with_name("ray-exporter")
GROUP, VERSION = "ray.io", "v1"
OBJECT_PREFIXES = (b"kuberay_", b"ray_resource_")

Sample = tuple[str, tuple[tuple[str, str], ...], float]


def object_part(body: bytes) -> bytes:
    """The lines of an exposition that belong to object families (not ray_exporter_*)."""
    keep: list[bytes] = []
    for line in body.splitlines(keepends=True):
        name = line.split(b" ", 3)[2] if line.startswith(b"# ") else line
        if name.startswith(OBJECT_PREFIXES):
            keep.append(line)
    return b"".join(keep)


def samples(body: bytes, namespace: str | None = None) -> list[Sample]:
    """Every sample as (name, sorted labels, value), optionally only one namespace's."""
    found: list[Sample] = []
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if namespace is not None and sample.labels.get("namespace") != namespace:
                continue
            found.append((sample.name, tuple(sorted(sample.labels.items())), sample.value))
    return found


def value(body: bytes, metric: str, /, **labels: str) -> float | None:
    """The value of the first sample of `metric` whose labels include `labels`, if any."""
    for sample_name, sample_labels, sample_value in samples(body):
        if sample_name == metric and labels.items() <= dict(sample_labels).items():
            return sample_value
    return None


class ExporterProcess:
    """One ray-exporter subprocess on 127.0.0.1 (or `host`) with its own log file."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        *args: str,
        command: Sequence[str] = (str(EXPORTER),),
        host: str = "127.0.0.1",
    ) -> None:
        self.port = free_port()
        self.host = host
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [*command, "--listen-address", f"{host}:{self.port}", *args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(f"http://{self.address}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                data = response.read()
                if response.headers.get("Content-Encoding") == "gzip":
                    data = gzip.decompress(data)
                return response.status, data
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def wait_metrics(self, what: str, check: Callable[[bytes], Any], timeout: float = 60) -> bytes:
        """Poll /metrics until `check(body)` is truthy; answer that body."""

        def attempt() -> bytes | None:
            if self.process.poll() is not None:
                raise AssertionError(f"exporter exited: {self.logs()}")
            try:
                body = self.metrics()
            except OSError:  # not listening yet
                return None
            return body if check(body) else None

        return wait_for(what, attempt, timeout=timeout)  # type: ignore[no-any-return]

    def metrics(self) -> bytes:
        status, body = self.get("/metrics")
        assert status == 200, status
        return body

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"exporter exited with {self.process.returncode}: {self.logs()}")
        try:
            return self.get("/readyz")[0] == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = 60) -> None:
        wait_for("the exporter to be ready", self.ready, timeout=timeout)

    def logs(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
        return self.process.returncode


@dataclass
class RayObjects:
    """Create, patch and delete Ray custom resources in one namespace."""

    api: client.ApiClient
    namespace: str

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def create(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        created = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, body
        )
        return cast(dict[str, Any], created)

    def patch_status(self, plural: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        patched = self.custom.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            self.namespace,
            plural,
            name,
            {"status": status},
            _content_type="application/merge-patch+json",
        )
        return cast(dict[str, Any], patched)

    def patch(self, plural: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        patched = self.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            plural,
            name,
            patch,
            _content_type="application/merge-patch+json",
        )
        return cast(dict[str, Any], patched)

    def delete(self, plural: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name)


POD_TEMPLATE = {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.9.0"}]}}


def raycluster(name: str, owner: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if owner:
        metadata["labels"] = {"ray.io/originated-from-crd": owner}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RayCluster",
        "metadata": metadata,
        "spec": {"headGroupSpec": {"rayStartParams": {}, "template": POD_TEMPLATE}},
    }


def rayjob(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RayJob",
        "metadata": {"name": name},
        "spec": {
            "entrypoint": "python -c 'print(1)'",
            "backoffLimit": 2,
            "rayClusterSpec": {"headGroupSpec": {"rayStartParams": {}, "template": POD_TEMPLATE}},
        },
    }


def rayservice(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RayService",
        "metadata": {"name": name},
        "spec": {
            "rayClusterConfig": {"headGroupSpec": {"rayStartParams": {}, "template": POD_TEMPLATE}}
        },
    }


def rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def condition(kind: str, status: str, when: str) -> dict[str, str]:
    return {
        "type": kind,
        "status": status,
        "reason": "Test",
        "message": "",
        "lastTransitionTime": when,
    }


def exporter_env(base: dict[str, str], kubeconfig: str | os.PathLike[str]) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not k.startswith("RAY_EXPORTER_")}
    env["KUBECONFIG"] = str(kubeconfig)
    env["RAY_EXPORTER_LOG_LEVEL"] = "INFO"
    return env


@contextlib.contextmanager
def exporter_running(
    env: dict[str, str],
    log_path: Path,
    *args: str,
    command: Sequence[str] = (str(EXPORTER),),
    host: str = "127.0.0.1",
) -> Iterator[ExporterProcess]:
    """A started exporter, stopped with SIGTERM when the block ends; it must exit 0."""
    process = ExporterProcess(env, log_path, *args, command=command, host=host)
    try:
        yield process
    finally:
        code = process.stop()
    assert code == 0, f"exporter exited with {code} on SIGTERM: {process.logs()}"
