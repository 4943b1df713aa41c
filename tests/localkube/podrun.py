"""Runs a pod's Ray container on this machine with exactly the command and env the operator
put in the pod: `command` + `args` as given (the operator's `bash -c`), each env entry's
`value`, or its `valueFrom` resolved as the kubelet does (`fieldRef` to the pod's name,
namespace or labels; `secretKeyRef` through the caller's `secret` lookup). Only `PATH` is
changed, so `ray` is the real Ray of `.venv-ray`. The kwok pod stays a record in the API;
this process is what the pod would run."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from localkube.cluster import _die_with_parent
from localkube.ray import RAY_BIN
from localkube.waiting import wait_for

SecretLookup = Callable[[str, str], str]  # (secret name, key) -> value
_LABEL = re.compile(r"^metadata\.labels\['(.+)'\]$")


def _field(pod: Mapping[str, Any], path: str) -> str:
    metadata = pod["metadata"]
    if path == "metadata.name":
        return str(metadata["name"])
    if path == "metadata.namespace":
        return str(metadata["namespace"])
    label = _LABEL.match(path)
    if label:
        return str(metadata["labels"][label.group(1)])
    raise ValueError(f"fieldRef {path} is not resolved by this runner")


def resolved_env(pod: Mapping[str, Any], secret: SecretLookup) -> dict[str, str]:
    """The Ray container's env as the kubelet would hand it to the process (in order; a
    later entry wins; `$(VAR)` references are not used by the operator's entries)."""
    env: dict[str, str] = {}
    for entry in pod["spec"]["containers"][0].get("env") or []:
        source = entry.get("valueFrom")
        if source is None:
            env[entry["name"]] = str(entry.get("value", ""))
        elif "fieldRef" in source:
            env[entry["name"]] = _field(pod, source["fieldRef"]["fieldPath"])
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            env[entry["name"]] = secret(ref["name"], ref["key"])
        else:
            raise ValueError(f"env {entry['name']}: {sorted(source)} is not resolved")
    return env


def _parents() -> dict[int, int]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def _descendants(root: int) -> list[int]:
    parents = _parents()
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class PodProcess:
    """The pod's Ray container as a local process group; `kill()` ends it like a crash."""

    def __init__(self, pod: Mapping[str, Any], secret: SecretLookup, log_path: Path) -> None:
        container = pod["spec"]["containers"][0]
        argv = [*(container.get("command") or []), *(container.get("args") or [])]
        self.name = str(pod["metadata"]["name"])
        self.env = {
            **os.environ,
            **resolved_env(pod, secret),
            "PATH": f"{RAY_BIN}:{os.environ['PATH']}",
        }
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, size: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-size:]

    def kill(self) -> None:
        """SIGKILL to every process the container started, as when a pod's container dies
        (Ray's GCS, raylet and dashboard each run in a process group of their own, so
        the whole tree is collected first); returns once all of them are gone."""
        tree = [self.proc.pid, *_descendants(self.proc.pid)]
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=30)
        wait_for(
            f"the processes of {self.name} to exit",
            lambda: not any(_running(pid) for pid in tree),
        )

    def stop(self) -> None:
        """Ends it as `kill()` does: a test has no state to drain (Ray's own SIGTERM
        handling waits up to 30 s per node)."""
        self.kill()
