"""The local control plane cleans up after itself: no process and no listening port left."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from localkube import Cluster, ClusterError
from localkube.cluster import REPO_ROOT, Proc, _alive

pytestmark = pytest.mark.integration


def _recorded(state_dir: Path) -> tuple[list[Proc], list[int]]:
    state = json.loads((state_dir / "state.json").read_text())
    return [Proc(**p) for p in state["procs"]], list(state["ports"].values())


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_gone(procs: list[Proc], ports: list[int], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in procs) and not any(_listening(p) for p in ports):
            return
        time.sleep(0.1)
    alive = [p.name for p in procs if _alive(p)]
    busy = [p for p in ports if _listening(p)]
    pytest.fail(f"left behind: processes {alive}, listening ports {busy}")


def test_up_then_down_leaves_nothing(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path / "c", nodes=1)
    cluster.up(detached=True)
    procs, ports = _recorded(cluster.dir)
    assert {p.name for p in procs} == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    }
    assert all(_alive(p) for p in procs)
    assert _listening(ports[0])
    with pytest.raises(ClusterError, match="already running"):
        cluster.up()
    assert sorted(cluster.down()) == sorted(p.name for p in procs)
    _wait_gone(procs, ports)


def test_killed_owner_takes_its_cluster_along(tmp_path: Path) -> None:
    """A test session that dies by SIGKILL leaves no control-plane process behind."""
    state_dir = tmp_path / "owned"
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from localkube import Cluster; "
            "Cluster(__import__('pathlib').Path(sys.argv[1]), nodes=1).up(detached=False); "
            "print('up', flush=True); time.sleep(600)",
            str(state_dir),
        ],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "tests")},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == "up"
        procs, ports = _recorded(state_dir)
        assert len(procs) == 5
        assert all(_alive(p) for p in procs)
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    _wait_gone(procs, ports)
