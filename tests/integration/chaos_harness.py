"""The chaos test's pieces: a seeded fault schedule, the fault tally, the fleet's manifests, the
processes under fire, and the checks that everything converged with nothing duplicated or left
behind.

- `schedule` interleaves an ordered list of changes with a fixed count of faults, drawn from a
  seeded `random.Random` so a failing run can be replayed from its printed seed.
- `Tally` counts faults injected and survived (the component came back and reported healthy).
- `raycluster` builds the fleet's RayClusters from a compact description of their groups.
- `Fleet` runs the operator and the exporter and injects their faults; a process that exits
  without having been killed fails the test.
- `ownership_problems` and `unexpected_tracebacks` are the end-of-run audits.
"""

from __future__ import annotations

import json
import random
import signal
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from exporter_harness import ExporterProcess, samples
from kubernetes import client
from raycluster_harness import OperatorProcess, wait_for

Json = dict[str, Any]
GROUP, VERSION = "ray.io", "v1"
OPERATOR_KILL = "operator SIGKILL"
EXPORTER_KILL = "exporter SIGKILL"
APISERVER_RESTART = "apiserver restart"
RESOURCES = ("rayclusters", "rayjobs", "rayservices")
# What a client sees while kube-apiserver restarts: refused, reset or dropped connections,
# timeouts, and 503 while the new apiserver is not ready yet.
CONNECTION_ERRORS = frozenset(
    {
        "ClientConnectorError",
        "ClientOSError",
        "ClientPayloadError",
        "ConnectionRefusedError",
        "ConnectionResetError",
        "ServerDisconnectedError",
        "TimeoutError",
    }
)
UNAVAILABLE = "ApiError: 503 "


@dataclass(frozen=True)
class Step:
    kind: str  # "change" or "fault"
    name: str
    pause: float  # seconds to let things move after the step
    during: tuple[str, ...] = ()  # kills while kube-apiserver is down (an apiserver restart's)

    def describe(self) -> str:
        inside = f" (+ {' and '.join(self.during)} during the outage)" if self.during else ""
        return f"{self.kind}: {self.name}{inside}"


def schedule(
    rng: random.Random,
    changes: Sequence[str],
    faults: Mapping[str, int],
    pause: tuple[float, float] = (0.5, 3.0),
) -> list[Step]:
    """Every change in order, and `faults[kind]` faults of each kind, randomly interleaved.

    Rules that keep the run meaningful: the last fault restarts kube-apiserver (the surviving
    operator and exporter must come through one) and a change follows it (the exporter that
    is compared with a fresh one must have caught up by watching); every earlier apiserver
    restart carries one operator and one exporter kill inside its outage (a node reboot: they
    start again while the apiserver is still down)."""
    pending = [kind for kind, count in faults.items() for _ in range(count)]
    rng.shuffle(pending)
    if APISERVER_RESTART in pending:
        last = max(i for i, kind in enumerate(pending) if kind == APISERVER_RESTART)
        pending.append(pending.pop(last))
    outages: list[tuple[str, ...]] = []
    for _ in range(pending.count(APISERVER_RESTART) - 1):
        kills = [k for k in (OPERATOR_KILL, EXPORTER_KILL) if k in pending]
        for kill in kills:
            pending.remove(kill)
        outages.append(tuple(kills))
    outages.append(())  # the last restart: the survivors ride through it
    carried = [(kind, outages.pop(0) if kind == APISERVER_RESTART else ()) for kind in pending]
    steps: list[Step] = []
    todo_changes, todo_faults = list(changes), carried
    while todo_changes or todo_faults:
        total = len(todo_changes) + len(todo_faults)
        if todo_faults and rng.randrange(total) < len(todo_faults):
            kind, during = todo_faults.pop(0)
            steps.append(Step("fault", kind, rng.uniform(*pause), during))
        else:
            steps.append(Step("change", todo_changes.pop(0), rng.uniform(*pause)))
    if steps and steps[-1].kind == "fault" and changes:
        final_change = max(i for i, s in enumerate(steps) if s.kind == "change")
        steps.append(steps.pop(final_change))
    return steps


@dataclass
class Tally:
    injected: Counter[str] = field(default_factory=Counter)
    survived: Counter[str] = field(default_factory=Counter)

    def summary(self, seed: int) -> str:
        kinds = ", ".join(f"{k} {self.injected[k]}" for k in sorted(self.injected))
        return (
            f"chaos: seed={seed}, faults injected={sum(self.injected.values())} ({kinds}), "
            f"survived={sum(self.survived.values())}"
        )


def group(
    name: str,
    replicas: int,
    *,
    min_replicas: int = 0,
    max_replicas: int = 8,
    hosts: int = 1,
    gpus: int = 0,
) -> Json:
    limits = {"cpu": "1", "memory": "1Gi"}
    if gpus:
        limits["nvidia.com/gpu"] = str(gpus)
    container = {"name": "ray-worker", "image": "rayproject/ray:2.41.0"}
    body: Json = {
        "groupName": name,
        "replicas": replicas,
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "rayStartParams": {},
        "template": {"spec": {"containers": [{**container, "resources": {"limits": limits}}]}},
    }
    if hosts > 1:
        body["numOfHosts"] = hosts
    return body


def raycluster(name: str, *groups: Json) -> Json:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RayCluster",
        "metadata": {"name": name},
        "spec": {
            "rayVersion": "2.41.0",
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "ray-head",
                                "image": "rayproject/ray:2.41.0",
                                "resources": {"limits": {"cpu": "1", "memory": "2Gi"}},
                            }
                        ]
                    }
                },
            },
            "workerGroupSpecs": list(groups),
        },
    }


def expected_pods(cluster: Json) -> dict[str, int]:
    """Pods per group label the spec asks for (the test's own oracle, not the operator's)."""
    spec = cluster.get("spec") or {}
    if spec.get("suspend"):
        return {}
    counts = {"headgroup": 1}
    for g in spec.get("workerGroupSpecs") or []:
        replicas = min(max(g.get("replicas", 0), g.get("minReplicas", 0)), g["maxReplicas"])
        pods = 0 if g.get("suspend") else replicas * g.get("numOfHosts", 1)
        if pods:
            counts[g["groupName"]] = pods
    return counts


class Fleet:
    """The operator and the exporter under fire, each restarted after every kill."""

    def __init__(
        self, operator: OperatorProcess, exporter_env: dict[str, str], workdir: Path, *args: str
    ) -> None:
        self.operator = operator
        self.exporter_env = exporter_env
        self.exporter_args = args
        self.exporter_log = workdir / "exporter.log"
        self.exporter: ExporterProcess | None = None

    def start(self) -> None:
        self.operator.start()
        self.exporter = ExporterProcess(self.exporter_env, self.exporter_log, *self.exporter_args)
        self.exporter.wait_ready()

    def assert_alive(self) -> None:
        """Nothing may exit on its own: only the test kills these processes."""
        process = self.operator.process
        assert process is not None
        assert process.poll() is None, (
            f"the operator exited on its own ({process.returncode}):\n{self.operator.log_tail()}"
        )
        assert self.exporter is not None
        code = self.exporter.process.poll()
        assert code is None, f"the exporter exited on its own ({code}):\n{self.exporter.logs()}"

    def kill_operator(self, *, wait_ready: bool = True) -> None:
        self.operator.kill()
        self.operator.start(wait_ready=wait_ready)

    def operator_ready(self) -> bool:
        return self.operator.ready()

    def kill_exporter(self, *, wait_ready: bool = True) -> None:
        assert self.exporter is not None
        self.exporter.process.send_signal(signal.SIGKILL)
        self.exporter.process.wait(timeout=30)
        self.exporter.stop()  # closes its log handle; the process is already gone
        self.exporter = ExporterProcess(self.exporter_env, self.exporter_log, *self.exporter_args)
        if wait_ready:
            self.exporter.wait_ready()

    def kill(self, fault: str, *, wait_ready: bool = True) -> None:
        if fault == OPERATOR_KILL:
            self.kill_operator(wait_ready=wait_ready)
        else:
            self.kill_exporter(wait_ready=wait_ready)

    def watches_up(self) -> bool:
        assert self.exporter is not None
        body = self.exporter.metrics()
        up = {
            dict(labels)["resource"]: value
            for name, labels, value in samples(body)
            if name == "ray_exporter_watch_up"
        }
        return all(up.get(resource) == 1 for resource in RESOURCES)

    def stop(self) -> tuple[int | None, int | None]:
        """SIGTERM both; their exit codes (0 is a clean shutdown)."""
        self.operator.stop()
        process = self.operator.process
        exporter = self.exporter.stop() if self.exporter is not None else None
        return (process.returncode if process is not None else None), exporter

    def recovered(self, fault: str, timeout: float = 120) -> None:
        """Wait until the component a fault hit reports healthy again."""
        if fault == EXPORTER_KILL:
            self.exporter_ready(timeout)
            wait_for("the exporter's watches", self.watches_up, timeout=timeout)
        elif fault == OPERATOR_KILL:
            wait_for("the operator to be ready again", self.operator_ready, timeout=timeout)
        else:
            self.exporter_ready(timeout)
            wait_for("the exporter's watches after the restart", self.watches_up, timeout)
            wait_for("the operator after the restart", self.operator_ready, timeout=timeout)

    def exporter_ready(self, timeout: float) -> None:
        assert self.exporter is not None
        self.exporter.wait_ready(timeout)


def listed(api_client: client.ApiClient, namespace: str, plural: str) -> list[Json]:
    """The Ray custom resources of one kind in a namespace, or its pods/services (core)."""
    if plural in ("pods", "services"):
        core = client.CoreV1Api(api_client)
        read = core.list_namespaced_pod if plural == "pods" else core.list_namespaced_service
        items = read(namespace).items
        return [api_client.sanitize_for_serialization(i) for i in items]  # type: ignore[no-untyped-call]
    custom = client.CustomObjectsApi(api_client)
    result = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)
    return cast(list[Json], cast(Json, result)["items"])


def owner_uid(obj: Mapping[str, Any]) -> str | None:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    controller = [r for r in refs if r.get("controller")] or refs
    return str(controller[0]["uid"]) if controller else None


def ownership_problems(
    clusters: Iterable[Json], pods: Iterable[Json], expected: Mapping[str, Mapping[str, int]]
) -> list[str]:
    """Orphans, strays and duplicates: every pod is owned by a RayCluster that exists and
    carries its name, and each cluster has exactly the pods per group it should have."""
    by_uid = {str(c["metadata"]["uid"]): c["metadata"]["name"] for c in clusters}
    problems: list[str] = []
    counts: dict[str, Counter[str]] = {name: Counter() for name in by_uid.values()}
    for pod in pods:
        meta = pod["metadata"]
        owner = by_uid.get(owner_uid(pod) or "")
        labels = meta.get("labels") or {}
        if owner is None:
            problems.append(f"orphaned pod {meta['name']} (owner {owner_uid(pod)})")
            continue
        if labels.get("ray.io/cluster") != owner:
            problems.append(f"pod {meta['name']} labelled {labels.get('ray.io/cluster')}")
        if meta.get("deletionTimestamp"):
            problems.append(f"pod {meta['name']} still terminating")
        counts[owner][labels.get("ray.io/group", "?")] += 1
    for name, groups in counts.items():
        want = dict(expected.get(name, {}))
        if dict(groups) != want:
            problems.append(f"{name}: pods per group {dict(groups)}, expected {want}")
    return problems


def unexpected_tracebacks(log: Path) -> list[str]:
    """Stack traces in a JSON log that are not a dropped or refused API connection, and any
    text that is not a JSON line but mentions a traceback (a crash printed to stderr)."""
    found: list[str] = []
    for raw in log.read_text(errors="replace").splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            if "Traceback" in raw:
                found.append(raw)
            continue
        if not isinstance(line, dict) or "stack" not in line:
            continue
        error = str(line.get("error", ""))
        kind = error.split(":", 1)[0].rsplit(".", 1)[-1]
        if kind not in CONNECTION_ERRORS and not error.startswith(UNAVAILABLE):
            found.append(f"{line.get('msg')}: {error}")
    return found
