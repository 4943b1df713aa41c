"""Chaos on the local control plane: a mixed fleet of RayClusters, RayJobs and a RayService goes
through changes while the operator is SIGKILLed, the exporter is SIGKILLed and kube-apiserver
restarts; afterwards everything converges, nothing is duplicated or orphaned, and the surviving
exporter's object series equal a fresh exporter's byte for byte.

Bounded: fixed counts of changes and faults (4 operator SIGKILLs, 3 exporter SIGKILLs, 2
apiserver restarts; the first restart's outage also takes one kill of each, the processes
starting again while the apiserver is down), bounded waits. The interleaving comes from a
seeded random.Random; the seed is printed (CHAOS_SEED=<seed> replays a run's schedule).

The operator runs as the chart runs one replica: without --leader-election. With it, a leader
that cannot renew its Lease for the lease duration (15 s) stops on purpose, since it can no
longer prove it is the only one reconciling; a kube-apiserver restart on this machine can take
that long (SIGTERM, then a SIGKILL after 30 s, then a start: about 35 s), so the test would
count a designed exit as a crash. Leader failover has its own test (test_raycluster_leader.py).
RayJobs (HTTPMode) and the RayService run on one real Ray head with Serve on this machine; the
dashboard map sends every RayCluster of the test's namespace to it. RayCluster pods are kwok's.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from chaos_harness import (
    APISERVER_RESTART,
    EXPORTER_KILL,
    OPERATOR_KILL,
    Fleet,
    Json,
    Step,
    Tally,
    expected_pods,
    group,
    listed,
    owner_uid,
    ownership_problems,
    raycluster,
    schedule,
    unexpected_tracebacks,
)
from exporter_harness import apply_crds, exporter_running, object_part, samples
from kubernetes import client
from raycluster_harness import OperatorProcess, Rays, wait_for
from rayjob_harness import RayJobs, ray_jobs, rayjob
from rayservice_harness import (
    DashboardMap,
    ServeHead,
    Services,
    condition,
    rayservice,
    serve_config,
    write_app,
)

from localkube import Cluster

pytestmark = pytest.mark.integration
FAULTS = {OPERATOR_KILL: 4, EXPORTER_KILL: 3, APISERVER_RESTART: 2}
SERVE_TIMEOUT = 240  # a first Serve deployment on a busy 2-core machine
CONVERGE_TIMEOUT = 240
OUTAGE_GRACE = 3.0  # how long processes started during an outage face a missing apiserver
JOBS = ("early", "late", "retry")


@pytest.fixture
def head(tmp_path: Path) -> Iterator[ServeHead]:
    serve_head = ServeHead(tmp_path / "ray-head", write_app(tmp_path / "serve-app"))
    yield serve_head
    serve_head.stop()


def fail_once(counter: Path) -> str:
    """An entrypoint that fails its first run and succeeds after (a counter on this machine)."""
    return (
        f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; "
        'echo "run $n"; test "$n" -gt 1'
    )


def fleet_clusters() -> dict[str, Json]:
    return {
        "scaled": raycluster("scaled", group("workers", 2)),
        "shapes": raycluster(
            "shapes",
            group("small", 2, min_replicas=1),
            group("multi", 1, hosts=2),
            group("gpu", 1, gpus=1),
        ),
        "paused": raycluster("paused", group("workers", 2)),
        "reborn": raycluster("reborn", group("workers", 2)),
        "headonly": raycluster("headonly"),
        "doomed": raycluster("doomed", group("workers", 2)),
        "auto": autoscaled(raycluster("auto", group("workers", 3))),
    }


def autoscaled(body: Json) -> Json:
    body["spec"]["enableInTreeAutoscaling"] = True
    return body


# What the fleet's RayClusters must look like after every change (pods per group label).
FINAL_PODS = {
    "scaled": {"headgroup": 1, "workers": 1},
    "shapes": {"headgroup": 1, "small": 3, "multi": 4, "gpu": 1},
    "paused": {"headgroup": 1, "workers": 2},
    "reborn": {"headgroup": 1, "workers": 3},
    "headonly": {"headgroup": 1},
    "auto": {"headgroup": 1, "workers": 2},
}


def set_replicas(rays: Rays, name: str, **replicas: int) -> None:
    groups = (rays.get(name) or {})["spec"]["workerGroupSpecs"]
    for g in groups:
        g["replicas"] = replicas.get(g["groupName"], g["replicas"])
    rays.patch(name, {"spec": {"workerGroupSpecs": groups}})


class NamedDeletions:
    """The autoscaled cluster's worker pods, sampled after every step, and the pods this test
    (playing Ray's autoscaler) named in workersToDelete: with the autoscaler on, a pod that
    disappeared must be one it named, whatever happened to the operator meanwhile."""

    def __init__(self, rays: Rays, cluster: str) -> None:
        self.rays, self.cluster = rays, cluster
        self.seen: dict[str, str] = {}  # uid -> name
        self.named: set[str] = set()

    def sample(self) -> None:
        for pod in self.rays.pods(self.cluster, terminating=True, node_type="worker"):
            self.seen[str(pod["metadata"]["uid"])] = str(pod["metadata"]["name"])

    def scale_down(self, by: int) -> None:
        """What the autoscaler writes to drop `by` idle workers: fewer replicas, and their names."""
        self.sample()
        names = sorted(
            p["metadata"]["name"] for p in self.rays.pods(self.cluster, node_type="worker")
        )
        victims = names[:by]
        self.named.update(victims)
        groups = (self.rays.get(self.cluster) or {})["spec"]["workerGroupSpecs"]
        groups[0]["replicas"] = len(names) - by
        groups[0]["scaleStrategy"] = {"workersToDelete": victims}
        self.rays.patch(self.cluster, {"spec": {"workerGroupSpecs": groups}})

    def unnamed_deletions(self) -> list[str]:
        self.sample()
        live = {str(p["metadata"]["uid"]) for p in self.rays.pods(self.cluster, node_type="worker")}
        return sorted(n for uid, n in self.seen.items() if uid not in live and n not in self.named)


def changes(
    rays: Rays, jobs: RayJobs, services: Services, auto: NamedDeletions
) -> dict[str, Callable[[], object]]:
    """The fleet's changes, in the order they happen."""

    def resume_paused() -> None:
        wait_for(
            "paused to be suspended", lambda: rays.status("paused").get("state") == "suspended"
        )
        rays.patch("paused", {"spec": {"suspend": False}})

    def update_serve_config() -> None:
        wait_for("svc Ready before its update", partial(services.ready, "svc"), SERVE_TIMEOUT)
        services.patch("svc", {"spec": {"serveConfigV2": serve_config("v2")}})

    def recreate_reborn() -> None:
        rays.create(raycluster("reborn", group("workers", 3)))

    return {
        "scale scaled up to 4": lambda: set_replicas(rays, "scaled", workers=4),
        "autoscale auto up to 4": lambda: set_replicas(rays, "auto", workers=4),
        "suspend paused": lambda: rays.patch("paused", {"spec": {"suspend": True}}),
        "delete reborn": lambda: rays.delete("reborn"),
        "create RayJob late": lambda: http_job(jobs, "late", "python -c 'print(2)'"),
        "reshape shapes": lambda: set_replicas(rays, "shapes", small=3, multi=2),
        "delete doomed": lambda: rays.delete("doomed"),
        "resume paused": resume_paused,
        "recreate reborn with 3 workers": recreate_reborn,
        "update svc's Serve config in place": update_serve_config,
        "scale scaled down to 1": lambda: set_replicas(rays, "scaled", workers=1),
        "autoscaler names two of auto's workers": lambda: auto.scale_down(2),
    }


def http_job(jobs: RayJobs, name: str, entrypoint: str, **spec: Any) -> None:
    """A RayJob the operator submits itself (HTTPMode: no submitter pod, which kwok cannot
    run) to the Ray head the dashboard map names."""
    jobs.create(rayjob(name, submissionMode="HTTPMode", entrypoint=entrypoint, **spec))


def inject(step: Step, fleet: Fleet, cluster: Cluster) -> None:
    if step.name != APISERVER_RESTART:
        fleet.kill(step.name)
        return
    cluster.stop_apiserver()
    for kill in step.during:  # started again at once, against an apiserver that is down
        fleet.kill(kill, wait_ready=False)
    if step.during:
        time.sleep(OUTAGE_GRACE)
        fleet.assert_alive()
    cluster.start_apiserver()


def converged_cluster(rays: Rays, name: str, want: dict[str, int]) -> Json | None:
    status = rays.ready(name)
    if status is None or rays.all_running_ready(name, want) is None:
        return None
    workers = sum(n for g, n in want.items() if g != "headgroup")
    if (status.get("readyWorkerReplicas"), status.get("desiredWorkerReplicas")) != (
        workers,
        workers,
    ):
        return None
    return status


def finished_job(jobs: RayJobs, name: str) -> Json | None:
    job = jobs.get(name) or {}
    status = job.get("status") or {}
    current = status.get("observedGeneration") == (job.get("metadata") or {}).get("generation")
    done = status.get("jobDeploymentStatus") in ("Complete", "Failed", "ValidationFailed")
    return status if current and done else None


def serving(services: Services, head: ServeHead, greeting: str) -> Json | None:
    status = services.ready("svc")
    if status is None or head.get("/") != (200, greeting):
        return None
    apps = (status.get("activeServiceStatus") or {}).get("applicationStatuses") or {}
    return status if (apps.get("greeter") or {}).get("status") == "RUNNING" else None


def test_fleet_converges_through_operator_exporter_and_apiserver_faults(
    local_cluster: Cluster,
    api_client: client.ApiClient,
    namespace: str,
    tmp_path: Path,
    head: ServeHead,
) -> None:
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1, 2**31))
    rng = random.Random(seed)
    print(f"\nchaos: seed={seed} (CHAOS_SEED={seed} replays this schedule)")
    began = time.monotonic()
    apply_crds(local_cluster.env())
    rays, jobs = Rays(api_client, namespace), RayJobs(api_client, namespace)
    services = Services(api_client, namespace)
    dashboards = DashboardMap(tmp_path / "dashboards.yaml")
    dashboards.write({f"{namespace}/*": head.dashboard_url})
    operator = OperatorProcess(
        local_cluster.env(),
        tmp_path / "operator.log",
        *("--namespaces", namespace, "--dashboard-map", str(dashboards.path)),
    )
    exporter_env = {**local_cluster.env(), "RAY_EXPORTER_LOG_LEVEL": "INFO"}
    fleet = Fleet(operator, exporter_env, tmp_path, "--namespaces", namespace)
    counter = tmp_path / "retry-runs"
    auto = NamedDeletions(rays, "auto")
    actions = changes(rays, jobs, services, auto)
    steps = schedule(rng, list(actions), FAULTS)
    tally = Tally()
    fleet.start()
    try:
        for body in fleet_clusters().values():
            rays.create(body)
        http_job(jobs, "early", "python -c 'print(1)'")
        http_job(jobs, "retry", fail_once(counter), backoffLimit=1)
        services.create(rayservice("svc", greeting="v1"))
        for step in steps:
            fleet.assert_alive()
            at = time.monotonic()
            if step.kind == "change":
                actions[step.name]()
                print(f"chaos: {at - began:6.1f}s change: {step.name}")
            else:
                tally.injected.update((step.name, *step.during))
                inject(step, fleet, local_cluster)
                injected = time.monotonic()
                fleet.recovered(step.name)
                tally.survived.update((step.name, *step.during))
                print(
                    f"chaos: {at - began:6.1f}s {step.describe()} (injected in "
                    f"{injected - at:.1f}s, recovered {time.monotonic() - injected:.1f}s later)"
                )
            auto.sample()
            time.sleep(step.pause)
        fleet.assert_alive()
        print(f"chaos: {time.monotonic() - began:6.1f}s last step done; waiting for convergence")
        verify_convergence(api_client, rays, jobs, services, head, counter)
        print(f"chaos: {time.monotonic() - began:6.1f}s converged")
        assert auto.unnamed_deletions() == [], "only the pods the autoscaler named were deleted"
        reasons = [e["message"] for e in rays.events("auto", "DeletedWorkerPod")]
        assert reasons, "the named pods were deleted"
        assert all("workersToDelete" in r for r in reasons), reasons
        verify_exporter(fleet, exporter_env, tmp_path, namespace, api_client)
        fleet.assert_alive()
    finally:
        print(tally.summary(seed))
        exit_codes = fleet.stop()
    assert exit_codes == (0, 0), "operator and exporter shut down cleanly on SIGTERM"
    assert tally.injected == tally.survived == FAULTS
    assert unexpected_tracebacks(operator.log_path) == []
    assert unexpected_tracebacks(fleet.exporter_log) == []
    print(f"chaos: {time.monotonic() - began:6.1f}s done")


def verify_convergence(
    api_client: client.ApiClient,
    rays: Rays,
    jobs: RayJobs,
    services: Services,
    head: ServeHead,
    counter: Path,
) -> None:
    for name, want in FINAL_PODS.items():
        wait_for(
            f"{name} converged", partial(converged_cluster, rays, name, want), CONVERGE_TIMEOUT
        )
    for name in JOBS:
        wait_for(f"RayJob {name} finished", partial(finished_job, jobs, name), CONVERGE_TIMEOUT)
    wait_for("svc serving v2", partial(serving, services, head, "v2"), SERVE_TIMEOUT)

    submitted = [j["submission_id"] for j in ray_jobs(head.ray) if j.get("submission_id")]
    for name in JOBS:
        status = jobs.status(name)
        history = status["attemptHistory"]
        retried = name == "retry"
        assert (status["jobDeploymentStatus"], status["jobStatus"]) == ("Complete", "SUCCEEDED")
        assert (status["failed"], status["succeeded"]) == ((1, 1) if retried else (0, 1)), name
        assert [(e["result"], e["retryCount"]) for e in history] == (
            [("Retrying", 0), ("Complete", 1)] if retried else [("Complete", 0)]
        )
        ours = sorted(j for j in submitted if j.startswith(f"{name}-"))
        assert ours == sorted(e["jobId"] for e in history), f"{name}: one submission per attempt"
    assert counter.read_text().strip() == "2", "the retried entrypoint ran exactly twice"

    svc = services.ready("svc")
    assert svc is not None
    active = svc["activeServiceStatus"]["rayClusterName"]
    assert not (svc.get("pendingServiceStatus") or {}).get("rayClusterName")
    assert condition(svc, "UpgradeInProgress")["status"] == "False"
    assert list(services.clusters("svc")) == [active]

    # Every RayCluster is one of the fleet's or the child its owner names; each has exactly the
    # pods its spec asks for, and every pod and Service belongs to an object that exists.
    owners = {
        str(j["metadata"]["uid"]): j["status"]["rayClusterName"]
        for j in listed(api_client, rays.namespace, "rayjobs")
    }
    owners[str(services.get("svc")["metadata"]["uid"])] = active
    clusters = listed(api_client, rays.namespace, "rayclusters")
    expected: dict[str, dict[str, int]] = dict(FINAL_PODS)
    for cluster in clusters:
        name = cluster["metadata"]["name"]
        if name not in FINAL_PODS:
            assert owners.get(owner_uid(cluster) or "") == name, f"stray RayCluster {name}"
            expected[name] = expected_pods(cluster)
            wait_for(f"child {name} ready", partial(converged_cluster, rays, name, expected[name]))
    assert len(clusters) == len(FINAL_PODS) + len(owners)
    wait_for(
        "no orphaned or duplicate pod (pods of deleted clusters are being collected)",
        lambda: (
            not ownership_problems(clusters, listed(api_client, rays.namespace, "pods"), expected)
        ),
        timeout=120,
    )
    assert_nothing_was_ever_duplicated(rays, jobs, services, clusters)
    live = {str(c["metadata"]["uid"]) for c in clusters} | set(owners)
    wait_for(
        "no orphaned Service",
        lambda: all(owner_uid(s) in live for s in listed(api_client, rays.namespace, "services")),
        timeout=120,
    )


def event_count(events: list[Json]) -> int:
    return sum(int(e.get("count") or 1) for e in events)


def assert_nothing_was_ever_duplicated(
    rays: Rays, jobs: RayJobs, services: Services, clusters: list[Json]
) -> None:
    """A duplicate that was cleaned up before the end leaves a trace in the Events: the
    operator deleted a surplus pod, or created a child RayCluster more often than there were
    attempts. (An Event can be lost when the operator dies right after its action, so created
    clusters are counted with <=; a surplus cannot hide that way.)"""
    never_scaled_down = [c["metadata"]["name"] for c in clusters] + ["doomed"]
    for name in never_scaled_down:
        if name in ("scaled", "auto"):  # auto: see NamedDeletions
            continue
        deleted = rays.events(name, "DeletedWorkerPod") + rays.events(name, "DeletedHeadPod")
        assert deleted == [], f"{name}: a surplus pod had to be deleted"
    for name in JOBS:
        attempts = len(jobs.status(name)["attemptHistory"])
        assert event_count(jobs.events(name, "CreatedRayCluster")) <= attempts, name
    assert event_count(services.events("svc", "CreatedRayCluster")) <= 1


def verify_exporter(
    fleet: Fleet, env: dict[str, str], workdir: Path, namespace: str, api_client: client.ApiClient
) -> None:
    old = fleet.exporter
    assert old is not None
    with exporter_running(env, workdir / "fresh-exporter.log", "--namespaces", namespace) as fresh:
        fresh.wait_ready()
        wait_for(
            "the surviving and the fresh exporter to agree",
            lambda: object_part(old.metrics()) == object_part(fresh.metrics()),
            timeout=60,
        )
        surviving, newcomer = old.metrics(), fresh.metrics()
    assert object_part(surviving) == object_part(newcomer)
    lines = object_part(surviving).count(b"\n")
    print(f"chaos: the surviving exporter's {lines} object lines equal a fresh exporter's")
    names = {
        dict(labels)["name"]
        for name, labels, _ in samples(surviving)
        if name == "kuberay_cluster_info"
    }
    assert names == {c["metadata"]["name"] for c in listed(api_client, namespace, "rayclusters")}
    for body in (surviving, newcomer):
        errors = [s for s in samples(body) if s[0] == "ray_exporter_object_errors_total"]
        assert errors, "the exporter starts every object_errors series at 0"
        assert all(value == 0 for _, _, value in errors), errors
