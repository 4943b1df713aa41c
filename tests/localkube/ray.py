"""A real Ray head on this machine, isolated by its own ports and temp dir.

The RayJob and RayService tests map a RayCluster to one of these through the
operator's dashboard-map setting, so the operator talks to a real Ray
dashboard (job and Serve APIs). Several can run at once: every port is chosen
free and each has its own temp dir. Ray comes from `.venv-ray` (`make ray-env`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from localkube.cluster import REPO_ROOT, _die_with_parent, free_ports
from localkube.monitoring import wait_until

RAY_BIN = REPO_ROOT / ".venv-ray" / "bin"


class RayHead:
    """`ray start --head --block` with free ports; `stop()` ends the whole process group."""

    def __init__(self, workdir: Path, num_cpus: int = 2) -> None:
        if not (RAY_BIN / "ray").exists():
            raise RuntimeError(f"no ray in {RAY_BIN}: run `make ray-env`")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        # Ray's unix sockets live under the temp dir; keep its path short.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
        # Chosen together, so no two of Ray's components are handed the same port.
        ports = free_ports(
            (
                "gcs",
                "dashboard",
                "serve",
                "client",
                "node_manager",
                "object_manager",
                "agent_listen",
                "agent_grpc",
                "runtime_env",
                "metrics",
            )
        )
        self.gcs_port = ports["gcs"]
        self.dashboard_port = ports["dashboard"]
        self.serve_port = ports["serve"]
        self.dashboard_url = f"http://127.0.0.1:{self.dashboard_port}"
        self.address = f"127.0.0.1:{self.gcs_port}"
        args = [
            str(RAY_BIN / "ray"),
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={self.gcs_port}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={self.dashboard_port}",
            f"--ray-client-server-port={ports['client']}",
            f"--node-manager-port={ports['node_manager']}",
            f"--object-manager-port={ports['object_manager']}",
            f"--dashboard-agent-listen-port={ports['agent_listen']}",
            f"--dashboard-agent-grpc-port={ports['agent_grpc']}",
            f"--runtime-env-agent-port={ports['runtime_env']}",
            f"--metrics-export-port={ports['metrics']}",
            f"--num-cpus={num_cpus}",
            "--object-store-memory=100000000",
            f"--temp-dir={self.temp_dir}",
            "--disable-usage-stats",
        ]
        env = {
            **os.environ,
            "RAY_USAGE_STATS_ENABLED": "0",
            "PATH": f"{RAY_BIN}:{os.environ['PATH']}",
        }
        self.log_path = workdir / "ray-head.log"
        self.proc = start_group(args, env, self.log_path)
        try:
            wait_until("ray dashboard job API", self._ready, timeout=120, every=0.5)
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"ray head exited with {self.proc.returncode}:\n{tail}")
        with urllib.request.urlopen(f"{self.dashboard_url}/api/jobs/", timeout=5) as resp:
            return bool(resp.status == 200)

    def env(self) -> dict[str, str]:
        """Environment for the `ray` CLI against this head (e.g. a submitter's command)."""
        return {
            **os.environ,
            "RAY_ADDRESS": self.dashboard_url,
            "PATH": f"{RAY_BIN}:{os.environ['PATH']}",
            "RAY_USAGE_STATS_ENABLED": "0",
        }

    def stop(self) -> None:
        stop_group(self.proc)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def start_group(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start `args` in a session (process group) of its own, output appended to `log_path`;
    the leader dies with this process (PR_SET_PDEATHSIG)."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


def stop_group(proc: subprocess.Popen[bytes], grace: float = 30) -> None:
    """SIGTERM the whole process group (Ray's own children included), SIGKILL what is left
    after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
