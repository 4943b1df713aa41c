"""A real Redis server on a free loopback port with a password (Debian's `redis-server`,
installed by hack/redis.sh), for the GCS fault-tolerance tests: Ray's GCS keeps its tables
there, and the tests scan it for the keys a cluster's storage namespace leaves."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import subprocess
from pathlib import Path

from localkube.cluster import _die_with_parent, free_ports
from localkube.waiting import wait_for


class RedisServer:
    """`redis-server` in the foreground, no persistence; `stop()` ends it."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("no redis-server: run `bash hack/redis.sh`")
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_ports(("redis",))["redis"]
        self.password = secrets.token_hex(16)
        self.address = f"127.0.0.1:{self.port}"
        self.log_path = workdir / "redis.log"
        args = [
            binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--requirepass", self.password,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(workdir),
            "--logfile", str(self.log_path),
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent
        )
        try:
            wait_for(
                "redis to answer PING",
                lambda: self.cli("PING") == "PONG",
                ignore=(OSError, subprocess.CalledProcessError),
            )
        except BaseException:
            self.stop()
            raise

    def cli(self, *command: str) -> str:
        """One command through redis-cli, authenticated; its output stripped."""
        result = subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "--no-auth-warning",
             "-a", self.password, *command],
            capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip
        return result.stdout.strip()

    def scan(self, pattern: str = "*") -> list[str]:
        """Every key matching `pattern` (SCAN, as a cleanup check should, not KEYS)."""
        result = subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "--no-auth-warning",
             "-a", self.password, "--scan", "--pattern", pattern],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        return sorted(line for line in result.stdout.splitlines() if line)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait(timeout=10)
