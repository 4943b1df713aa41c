"""A real Prometheus and Alertmanager on loopback, and a webhook receiver owned by the test.

Prometheus scrapes the targets it is given, loads rule files and sends alerts
to the Alertmanager; the Alertmanager routes every alert to a small HTTP server
in the test process, which records each notification it receives.
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from localkube.cluster import TOOLS_BIN, _die_with_parent, free_ports
from localkube.waiting import wait_for


def free_port() -> int:
    return free_ports(("port",))["port"]


def wait_until(what: str, check: Callable[[], Any], timeout: float = 60, every: float = 0.2) -> Any:
    """`wait_for` that also treats connection and decoding errors as "not yet"."""
    return wait_for(what, check, timeout, every, ignore=(OSError, ValueError))


def _http_json(url: str, data: bytes | None = None) -> Any:
    req = urllib.request.Request(url, data=data)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


class _Process:
    """A tools binary started with its log in `workdir`, stopped by `stop()`."""

    url: str

    def __init__(self, name: str, args: list[str], workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{name}.log"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(TOOLS_BIN / name), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=workdir,
                preexec_fn=_die_with_parent,
            )

    def check(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.log_path.stem} exited with {self.proc.returncode}:\n{tail}")

    def _ready(self) -> bool:
        self.check()
        with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
            return bool(resp.status == 200)

    def _wait_ready(self, what: str) -> None:
        """Wait for /-/ready; a process that never gets there is stopped, not left running."""
        try:
            wait_until(what, self._ready, timeout=60)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class WebhookReceiver:
    """An Alertmanager webhook endpoint that records every notification it gets."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.notifications.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def alerts(self, status: str = "firing") -> dict[str, dict[str, Any]]:
        """The latest notified alert per alertname+labels, filtered by status."""
        latest: dict[str, dict[str, Any]] = {}
        with self._lock:
            for note in self.notifications:
                for alert in note.get("alerts", []):
                    key = json.dumps(alert["labels"], sort_keys=True)
                    latest[key] = alert
        return {k: a for k, a in latest.items() if a["status"] == status}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Alertmanager(_Process):
    def __init__(self, workdir: Path, webhook_url: str) -> None:
        self.port, cluster_port = free_port(), free_port()
        config = {
            "route": {
                "receiver": "test",
                "group_by": ["..."],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [{"name": "test", "webhook_configs": [{"url": webhook_url}]}],
        }
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config))
        super().__init__(
            "alertmanager",
            [
                f"--config.file={workdir / 'alertmanager.yml'}",
                f"--storage.path={workdir / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--cluster.listen-address=127.0.0.1:{cluster_port}",
            ],
            workdir,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self._wait_ready("alertmanager ready")


class Prometheus(_Process):
    """Prometheus scraping `targets` (job -> host:port list) every second, with rules, plus
    any whole `scrape_configs` given (a `kubernetes_sd_configs` job, say)."""

    def __init__(
        self,
        workdir: Path,
        targets: dict[str, list[str]],
        rule_files: Sequence[Path] = (),
        alertmanager_url: str | None = None,
        interval: str = "1s",
        port: int | None = None,
        scrape_configs: Sequence[dict[str, Any]] = (),
    ) -> None:
        self.port = port or free_port()
        config: dict[str, Any] = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": hosts}]}
                for job, hosts in targets.items()
            ]
            + list(scrape_configs),
        }
        if alertmanager_url:
            host = urllib.parse.urlparse(alertmanager_url).netloc
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [host]}]}]}
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        super().__init__(
            "prometheus",
            [
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
            ],
            workdir,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self._wait_ready("prometheus ready")

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        body = _http_json(f"{self.url}/api/v1/{path}?{query}")
        if body.get("status") != "success":
            raise ValueError(f"prometheus {path} {params}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; returns the result vector (or the scalar as a one-item list)."""
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    def targets_up(self) -> bool:
        active = self.api("targets")["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)

    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return alerts
