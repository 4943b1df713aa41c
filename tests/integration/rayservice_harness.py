"""RayService tests against real Ray Serve: Ray heads with Serve, the tiny app, and observers.

- `ServeHead` is a `localkube.ray.RayHead` whose Serve HTTP proxy listens on the head's
  reserved `serve_port`, with the tiny test app importable (its directory is on the head's
  PYTHONPATH, which Ray's workers inherit).
- `rayservice()` builds a RayService whose Serve config deploys that app; `greeting` is what
  it answers and `delay` how long each replica takes to start.
- `DashboardMap` writes the operator's `--dashboard-map` file; the operator re-reads it when
  it changes, so a test can map an existing cluster to one head and new ones to another.
- `Services` reads and writes RayServices and what they own, as plain dicts.
- `Sampler` records observations in a background thread while a test changes things.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from localkube.ray import RAY_BIN, RayHead

Json = dict[str, Any]
GROUP, VERSION = "ray.io", "v1"
APP_MODULE = "rayservice_tiny_app"
APP_SOURCE = '''\
"""A Serve app for the RayService tests: answers its greeting; replicas start after `delay`."""
import time

from ray import serve


@serve.deployment
class Greeter:
    def __init__(self, greeting: str, delay: float) -> None:
        time.sleep(delay)
        self.greeting = greeting

    async def __call__(self, request) -> str:
        return self.greeting


def build(args):
    return Greeter.bind(str(args.get("greeting", "hello")), float(args.get("delay", 0)))
'''


def write_app(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{APP_MODULE}.py").write_text(APP_SOURCE)
    return directory


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


class ServeHead:
    """A real Ray head with Serve's proxy on 127.0.0.1:<serve_port> and the test app."""

    def __init__(self, workdir: Path, app_dir: Path) -> None:
        with environment(PYTHONPATH=str(app_dir)):
            self.ray = RayHead(workdir)
        try:
            subprocess.run(
                [
                    str(RAY_BIN / "serve"),
                    "start",
                    "--address",
                    self.ray.address,
                    "--http-host",
                    "127.0.0.1",
                    "--http-port",
                    str(self.ray.serve_port),
                ],
                env=self.ray.env(),
                check=True,
                capture_output=True,
                timeout=300,
            )
        except BaseException:
            self.ray.stop()
            raise

    @property
    def dashboard_url(self) -> str:
        return self.ray.dashboard_url

    def serve_details(self) -> Json:
        url = f"{self.dashboard_url}/api/serve/applications/?api_type=declarative"
        with urllib.request.urlopen(url, timeout=20) as reply:
            result: Json = json.loads(reply.read())
            return result

    def app_status(self, app: str) -> str | None:
        try:
            apps = self.serve_details().get("applications") or {}
        except (OSError, ValueError):
            return None
        return (apps.get(app) or {}).get("status")

    def reset(self) -> None:
        """Delete every Serve application; Serve itself (and its proxy's port) stays up."""
        request = urllib.request.Request(
            f"{self.dashboard_url}/api/serve/applications/",
            data=json.dumps({"applications": []}).encode(),
            headers={"Content-Type": "application/json"},
            method="PUT",
        )
        with urllib.request.urlopen(request, timeout=120):
            pass
        deadline = time.monotonic() + 120
        while self.serve_details().get("applications"):
            if time.monotonic() > deadline:
                raise AssertionError("Serve applications were not deleted")
            time.sleep(0.5)

    def get(self, path: str = "/") -> tuple[int, str]:
        """An HTTP request to the app through this head's Serve proxy."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.ray.serve_port}{path}", timeout=10
            ) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")
        except OSError as error:
            return 0, str(error)

    def stop(self) -> None:
        self.ray.stop()


def serve_config(greeting: str, *, delay: float = 0, module: str = APP_MODULE) -> str:
    config = {
        "applications": [
            {
                "name": "greeter",
                "import_path": f"{module}:build",
                "route_prefix": "/",
                "args": {"greeting": greeting, "delay": delay},
            }
        ]
    }
    return yaml.safe_dump(config, sort_keys=False)


def rayservice(
    name: str,
    *,
    greeting: str = "v1",
    image: str = "rayproject/ray:2.60.0",
    deletion_delay: int | None = None,
    **spec: Any,
) -> Json:
    body: Json = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RayService",
        "metadata": {"name": name},
        "spec": {
            "serveConfigV2": serve_config(greeting),
            "rayClusterConfig": {
                "rayVersion": "2.60.0",
                "headGroupSpec": {
                    "rayStartParams": {},
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "ray-head",
                                    "image": image,
                                    "resources": {"limits": {"cpu": "1", "memory": "2Gi"}},
                                }
                            ]
                        }
                    },
                },
                "workerGroupSpecs": [
                    {
                        "groupName": "workers",
                        "replicas": 1,
                        "minReplicas": 0,
                        "maxReplicas": 2,
                        "rayStartParams": {},
                        "template": {
                            "spec": {
                                "containers": [
                                    {
                                        "name": "ray-worker",
                                        "image": image,
                                        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                                    }
                                ]
                            }
                        },
                    }
                ],
            },
            **spec,
        },
    }
    if deletion_delay is not None:
        body["spec"]["rayClusterDeletionDelaySeconds"] = deletion_delay
    return body


class DashboardMap:
    """The operator's --dashboard-map file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, entries: dict[str, str]) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(yaml.safe_dump(entries))
        temporary.replace(self.path)  # never a half-written file


def condition(status: Json, type_: str) -> Json:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), {})


class Services:
    """RayServices and what they own in one namespace."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self.api_client = api_client
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)

    def _plain(self, obj: Any) -> Json:
        result: Json = self.api_client.sanitize_for_serialization(obj)
        return result

    def create(self, body: Json) -> Json:
        result: Json = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "rayservices", body
        )
        return result

    def get(self, name: str) -> Json:
        result: Json = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "rayservices", name
        )
        return result

    def status(self, name: str) -> Json:
        result: Json = self.get(name).get("status") or {}
        return result

    def patch(self, name: str, patch: Json) -> Json:
        result: Json = self.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            "rayservices",
            name,
            patch,
            _content_type="application/merge-patch+json",
        )
        return result

    def ready(self, name: str) -> Json | None:
        """The status once Ready is True for the current generation."""
        body = self.get(name)
        status = body.get("status") or {}
        current = status.get("observedGeneration") == body["metadata"]["generation"]
        return status if current and condition(status, "Ready").get("status") == "True" else None

    def clusters(self, service: str) -> dict[str, Json]:
        selector = f"ray.io/originated-from-cr-name={service}"
        listed = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "rayclusters", label_selector=selector
        )
        return {c["metadata"]["name"]: c for c in listed["items"]}

    def cluster(self, name: str) -> Json | None:
        try:
            result: Json = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "rayclusters", name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return result

    def service(self, name: str) -> Json | None:
        try:
            return self._plain(self.core.read_namespaced_service(name, self.namespace))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def selector(self, service: str) -> str | None:
        svc = self.service(f"{service}-serve-svc")
        return (svc or {}).get("spec", {}).get("selector", {}).get("ray.io/cluster")

    def pods(self, cluster: str) -> list[Json]:
        items = self.core.list_namespaced_pod(
            self.namespace, label_selector=f"ray.io/cluster={cluster}"
        ).items
        return [self._plain(p) for p in items]

    def events(self, service: str, reason: str | None = None) -> list[Json]:
        selector = f"involvedObject.kind=RayService,involvedObject.name={service}"
        items = self.core.list_namespaced_event(self.namespace, field_selector=selector).items
        events = [self._plain(e) for e in items]
        return [e for e in events if reason is None or e.get("reason") == reason]


@dataclass
class Sampler:
    """Calls `observe()` about every `interval` seconds in a thread; keeps what it returns,
    with `t` (monotonic time before the call) and `t_end` (after it)."""

    observe: Callable[[], Json]
    interval: float = 0.25
    samples: list[Json] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        if self.errors:
            raise AssertionError(f"sampler failed: {self.errors[0]!r}") from self.errors[0]

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                sample = self.observe()
            except Exception as error:
                self.errors.append(error)
                return
            sample["t"], sample["t_end"] = began, time.monotonic()
            self.samples.append(sample)
            self._stop.wait(self.interval)
