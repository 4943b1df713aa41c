"""One bench run: a fresh local control plane, one operator, N RayClusters until all are ready.

`race` starts etcd, kube-apiserver (auditing the operator's ServiceAccount only),
controller-manager, scheduler and kwok in a new state directory, adds kwok nodes with room
for every pod, applies the CRDs, starts the operator, creates N RayClusters (1 head + 2
workers) from 16 threads and polls until each reports `state: ready` for its current
generation. It then leaves everything alone for a settling pause and a steady-state window,
stops the operator and the control plane, and returns an `Outcome`:

- wall time from the first create to all ready, and when the last pod became Ready (the
  scheduler's and kwok's floor, which no operator can beat);
- the operator's CPU seconds from the first create to all ready (startup excluded) and its
  peak RSS (VmHWM, startup included);
- its API requests from the audit log: until all ready, and in the steady-state window,
  watches counted apart.
"""

from __future__ import annotations

import functools
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import yaml
from apiserver_audit import apiserver_flags, read, tally, write_policy
from kubernetes import client, config
from operator_report import Outcome
from operator_rivals import (
    IDENTITY_NAMESPACE,
    Limits,
    OperatorUnderTest,
    service_account_kubeconfig,
)

from localkube import Cluster
from localkube.crds import apply_crds
from localkube.waiting import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
GROUP, VERSION, PLURAL = "ray.io", "v1", "rayclusters"
NAMESPACE = "bench"
PODS_PER_CLUSTER = 3
PODS_PER_NODE = 400
SMALL = {"cpu": "100m", "memory": "128Mi"}
WARMUP_SECONDS = 3


def ray_cluster(index: int) -> dict[str, Any]:
    """samples/raycluster-minimal.yaml, renamed, with small requests so many fit on a node."""
    body: dict[str, Any] = yaml.safe_load(
        (REPO_ROOT / "samples" / "raycluster-minimal.yaml").read_text()
    )
    body["metadata"] = {"name": f"bench-{index:04d}", "namespace": NAMESPACE}
    head = body["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    head["resources"] = {"requests": SMALL, "limits": SMALL}
    group = body["spec"]["workerGroupSpecs"][0]
    group.update(replicas=2, minReplicas=0, maxReplicas=2)
    group["template"]["spec"]["containers"][0]["resources"] = {"requests": SMALL, "limits": SMALL}
    return body


def bench_node(name: str) -> dict[str, Any]:
    """A kwok node (the shape localkube gives its own) with room for PODS_PER_NODE pods."""
    capacity = {"cpu": "64", "memory": "256Gi", "pods": str(PODS_PER_NODE)}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"},
        },
        "status": {"allocatable": capacity, "capacity": capacity},
    }


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _ready(item: dict[str, Any]) -> bool:
    status = item.get("status") or {}
    return bool(
        status.get("state") == "ready"
        and status.get("observedGeneration") == item["metadata"]["generation"]
    )


def _condition_true(conditions: Any, kind: str) -> bool:
    return any(c.type == kind and c.status == "True" for c in conditions or [])


def _add_nodes(core: client.CoreV1Api, clusters: int) -> None:
    """Enough bench nodes for every pod, leaving localkube's own nodes as spare room."""
    count = math.ceil(clusters * PODS_PER_CLUSTER / PODS_PER_NODE)
    names = [f"bench-node-{i}" for i in range(count)]
    for name in names:
        core.create_node(cast(Any, bench_node(name)))

    def all_ready() -> bool:
        ready = {
            n.metadata.name
            for n in core.list_node().items
            if n.metadata and n.status and _condition_true(n.status.conditions, "Ready")
        }
        return ready.issuperset(names)

    wait_for(f"{count} bench nodes Ready", all_ready, timeout=120, interval=0.5)


def _prepare(cluster: Cluster, api: client.ApiClient, clusters: int, crds: Path) -> None:
    core = client.CoreV1Api(api)
    _add_nodes(core, clusters)
    apply_crds(cluster.env(), crds)
    # Right after a CRD is established its watch cache may still answer 429 "storage is
    # (re)initializing"; neither operator should pay for that inside the timed part.
    custom = client.CustomObjectsApi(api)
    for plural in (PLURAL, "rayjobs", "rayservices"):
        wait_for(
            f"{plural} served from the watch cache",
            functools.partial(
                custom.list_cluster_custom_object, GROUP, VERSION, plural, resource_version="0"
            ),
            ignore=(client.ApiException,),
        )
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    wait_for(
        f"the default ServiceAccount of {NAMESPACE}",
        lambda: (
            core.list_namespaced_service_account(
                NAMESPACE, field_selector="metadata.name=default"
            ).items
        ),
    )


def race(
    rival: type[OperatorUnderTest],
    clusters: int,
    workdir: Path,
    *,
    limits: Limits,
    crds: Path,
    settle_seconds: float,
    steady_seconds: float,
) -> Outcome:
    """Run one operator against a fresh control plane; see the module docstring."""
    workdir.mkdir(parents=True, exist_ok=True)
    policy, audit_log = workdir / "audit-policy.yaml", workdir / "audit.log"
    user = f"system:serviceaccount:{IDENTITY_NAMESPACE}:{rival.identity}"
    write_policy(policy, (user,))
    cluster = Cluster(workdir / "localkube", apiserver_args=apiserver_flags(policy, audit_log))
    cluster.up(detached=False)
    api = config.new_client_from_config(config_file=str(cluster.kubeconfig))  # type: ignore[no-untyped-call]
    try:
        _prepare(cluster, api, clusters, crds)
        kubeconfig = workdir / "operator.kubeconfig"
        service_account_kubeconfig(api, cluster.kubeconfig, rival.identity, kubeconfig)
        custom = client.CustomObjectsApi(api)
        bodies = [ray_cluster(i) for i in range(clusters)]
        with rival(kubeconfig, workdir / "operator.log", limits) as operator:
            # /readyz can answer before the informers have listed; give both time to settle.
            time.sleep(WARMUP_SECONDS)
            cpu_before = operator.cpu_seconds()
            start, started = time.time(), time.monotonic()
            with ThreadPoolExecutor(16) as pool:
                list(
                    pool.map(
                        lambda b: custom.create_namespaced_custom_object(
                            GROUP, VERSION, NAMESPACE, PLURAL, b
                        ),
                        bodies,
                    )
                )
            created_in = time.monotonic() - started
            ready: dict[str, dict[str, Any]] = {}

            def all_ready() -> bool:
                assert operator.alive(), f"{operator.label} exited; see {operator.log_path}"
                listing: Any = custom.list_namespaced_custom_object(
                    GROUP, VERSION, NAMESPACE, PLURAL
                )
                ready.update((i["metadata"]["name"], i) for i in listing["items"] if _ready(i))
                return len(ready) == clusters

            wait_for(f"{clusters} RayClusters ready", all_ready, timeout=3600, interval=0.5)
            wall, finished = time.monotonic() - started, time.time()
            cpu = operator.cpu_seconds() - cpu_before
            rss = operator.peak_rss_bytes()
            time.sleep(settle_seconds)
            steady_from = time.time()
            time.sleep(steady_seconds)
            steady_to = time.time()
            assert operator.alive(), f"{operator.label} exited; see {operator.log_path}"
            load = os.getloadavg()
        pods = client.CoreV1Api(api).list_namespaced_pod(NAMESPACE).items
        pod_ready = [
            c.last_transition_time.timestamp()
            for p in pods
            for c in (p.status.conditions if p.status else None) or []
            if c.type == "Ready" and c.status == "True" and c.last_transition_time
        ]
        assert len(pod_ready) == clusters * PODS_PER_CLUSTER, f"{len(pod_ready)} pods Ready"
        requests = read(audit_log)
        return Outcome(
            label=operator.label,
            clusters=clusters,
            created_in=created_in,
            wall=wall,
            last_pod_ready=max(pod_ready) - start,
            per_cluster=sorted(
                _seconds(i["status"]["stateTransitionTimes"]["ready"])
                - _seconds(i["metadata"]["creationTimestamp"])
                for i in ready.values()
                if (i["status"].get("stateTransitionTimes") or {}).get("ready")
            ),
            cpu=cpu,
            peak_rss=rss,
            startup=tally(requests, user, 0, start),
            until_ready=tally(requests, user, start, finished),
            steady=tally(requests, user, steady_from, steady_to),
            steady_seconds=steady_to - steady_from,
            load=load,
        )
    finally:
        api.close()
        cluster.down()
