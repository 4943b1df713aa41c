"""A RayCluster's status computed from what was observed: pods in, status out (DESIGN §3).

`compute_status` is pure. It gets the cluster (spec, generation, previous status), the
cluster's pods as they are after this pass's actions, the head service, the blocking
validation problems and the API failures of this pass, and the current time.

State: `unhealthy` for spec problems, `suspended` once suspension has deleted every pod,
`failed` when pods cannot be created or started, `ready` when every desired pod is running
and ready; otherwise the cluster is (re)provisioning: a `ready` cluster stays `ready` (the
replica counts and conditions tell the details) and any other state is cleared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ray_operator.cluster import constants as c
from ray_operator.cluster import podstate
from ray_operator.cluster.service import endpoints
from ray_operator.cluster.spec import (
    Body,
    conditions_of,
    desired_worker_pods,
    head_group,
    mapping,
    max_worker_pods,
    min_worker_pods,
    status_of,
    suspend_requested,
    worker_groups,
)
from ray_operator.conditions import Condition, is_true, remove_condition, set_condition
from ray_operator.core.actions import Failure
from ray_operator.patches import merge_diff
from ray_operator.quantity import (
    QuantityError,
    format_bytes,
    format_count,
    format_cpu,
    parse_quantity,
)
from ray_operator.shape import bounded

Status = dict[str, Any]
PROVISIONED = "RayClusterProvisioned"
HEAD_POD_READY = "HeadPodReady"
REPLICA_FAILURE = "ReplicaFailure"
SUSPENDING = "RayClusterSuspending"
SUSPENDED = "RayClusterSuspended"


@dataclass(frozen=True)
class Observed:
    """Everything the status is computed from, besides the cluster itself."""

    pods: Sequence[podstate.Pod]  # the cluster's pods after this pass (terminating included)
    service: Mapping[str, Any] | None
    problems: Sequence[str]  # blocking validation messages
    failures: Sequence[Failure]
    now: str  # RFC 3339, seconds precision


# The fields a RayJob's or RayService's `rayClusterStatus` keeps (their CRDs prune the others,
# and a mirror with pruned fields would differ from the stored one forever).
MIRRORED_STATUS_FIELDS = (
    "state",
    "reason",
    "desiredCPU",
    "desiredMemory",
    "desiredGPU",
    "desiredTPU",
    "lastUpdateTime",
    "stateTransitionTimes",
    "endpoints",
    "head",
    "conditions",
    "readyWorkerReplicas",
    "availableWorkerReplicas",
    "desiredWorkerReplicas",
    "minWorkerReplicas",
    "maxWorkerReplicas",
    "observedGeneration",
)


def mirror_cluster_status(cluster_status: Mapping[str, Any]) -> dict[str, Any]:
    """A RayCluster's status as a RayJob or RayService keeps it in `rayClusterStatus`."""
    return {k: cluster_status[k] for k in MIRRORED_STATUS_FIELDS if k in cluster_status}


def compute_status(cluster: Body, observed: Observed) -> Status:
    old = status_of(cluster)
    active = [p for p in observed.pods if not podstate.is_terminating(p)]
    heads = sorted(
        (p for p in active if podstate.node_type(p) == c.NODE_TYPE_HEAD),
        key=lambda p: (podstate.created(p), podstate.name(p)),
    )
    workers = [p for p in active if podstate.node_type(p) == c.NODE_TYPE_WORKER]
    head = heads[0] if heads else None
    all_ready = _all_ready(cluster, heads, workers)
    conditions = _conditions(cluster, old, observed, head, all_ready)
    startup = [msg for p in active if (msg := podstate.startup_failure(p))]

    state: str | None
    reason = ""
    if observed.problems:
        state, reason = "unhealthy", "; ".join(observed.problems)
    elif is_true(conditions, SUSPENDED):
        state = "suspended"
    elif observed.failures or startup:
        state = "failed"
        reason = "; ".join([f.message for f in observed.failures] + startup)
    elif all_ready:
        state = "ready"
    else:
        state = "ready" if old.get("state") == "ready" else None

    status: Status = {
        "observedGeneration": mapping(cluster.get("metadata")).get("generation", 0),
        "conditions": conditions,
        "readyWorkerReplicas": sum(1 for p in workers if podstate.is_running_and_ready(p)),
        "availableWorkerReplicas": sum(1 for p in workers if podstate.phase(p) == "Running"),
        "desiredWorkerReplicas": desired_worker_pods(cluster),
        "minWorkerReplicas": min_worker_pods(cluster),
        "maxWorkerReplicas": max_worker_pods(cluster),
        "workerGroups": _group_counts(cluster, workers),
        **desired_resources(cluster),
        "endpoints": endpoints(observed.service),
        "head": _head_info(head, observed.service),
    }
    if state is not None:
        status["state"] = state
    if reason:
        status["reason"] = bounded(reason)
    transitions = dict(mapping(old.get("stateTransitionTimes")))
    if state is not None and state != old.get("state"):
        transitions[state] = observed.now
    if transitions:
        status["stateTransitionTimes"] = transitions
    return status


def _group_counts(cluster: Body, workers: list[podstate.Pod]) -> list[dict[str, Any]]:
    """Ready and available (running) pods per worker group of the spec, as the cluster-wide
    `readyWorkerReplicas` and `availableWorkerReplicas` count them (an extension of ours:
    KubeRay reports only the totals)."""
    counts = []
    for group in worker_groups(cluster):
        members = [p for p in workers if podstate.group(p) == group.name]
        counts.append(
            {
                "name": group.name,
                "readyReplicas": sum(1 for p in members if podstate.is_running_and_ready(p)),
                "availableReplicas": sum(1 for p in members if podstate.phase(p) == "Running"),
            }
        )
    return counts


def _all_ready(cluster: Body, heads: list[podstate.Pod], workers: list[podstate.Pod]) -> bool:
    if len(heads) != 1 or suspend_requested(cluster):
        return False
    for group in worker_groups(cluster):
        members = [p for p in workers if podstate.group(p) == group.name]
        if len(members) != group.desired_pods:
            return False
    expected = 1 + desired_worker_pods(cluster)
    pods = [*heads, *workers]
    return len(pods) == expected and all(podstate.is_running_and_ready(p) for p in pods)


def _conditions(
    cluster: Body,
    old: Mapping[str, Any],
    observed: Observed,
    head: podstate.Pod | None,
    all_ready: bool,
) -> list[Condition]:
    now = observed.now
    conditions: list[Condition] = conditions_of(old)
    if observed.failures:
        first = observed.failures[0]
        conditions = set_condition(
            conditions,
            type_=REPLICA_FAILURE,
            status="True",
            reason=first.reason,
            message=bounded("; ".join(f.message for f in observed.failures)),
            now=now,
        )
    else:
        conditions = remove_condition(conditions, REPLICA_FAILURE)

    status, reason, message = _head_ready(head)
    conditions = set_condition(
        conditions, type_=HEAD_POD_READY, status=status, reason=reason, message=message, now=now
    )

    was_suspending = is_true(conditions, SUSPENDING)
    was_suspended = is_true(conditions, SUSPENDED)
    if not is_true(conditions, PROVISIONED) and not was_suspended:
        if all_ready:
            conditions = set_condition(
                conditions,
                type_=PROVISIONED,
                status="True",
                reason="AllPodRunningAndReadyFirstTime",
                message="All Ray Pods are ready for the first time",
                now=now,
            )
        else:
            conditions = set_condition(
                conditions,
                type_=PROVISIONED,
                status="False",
                reason="RayClusterPodsProvisioning",
                message="RayCluster Pods are being provisioned for first time",
                now=now,
            )

    def mark(type_: str, value: bool) -> None:
        nonlocal conditions
        conditions = set_condition(
            conditions, type_=type_, status=str(value), reason=type_, now=now
        )

    if was_suspending:
        if not observed.pods:
            conditions = set_condition(
                conditions,
                type_=PROVISIONED,
                status="False",
                reason="RayClusterPodsProvisioning",
                message="RayCluster has been suspended",
                now=now,
            )
            mark(SUSPENDING, False)
            mark(SUSPENDED, True)
    elif was_suspended:
        if not suspend_requested(cluster):
            mark(SUSPENDED, False)
    else:
        mark(SUSPENDED, False)
        mark(SUSPENDING, suspend_requested(cluster))
    return conditions


def _head_ready(head: podstate.Pod | None) -> tuple[str, str, str]:
    if head is None:
        return "False", "HeadPodNotFound", "Head Pod not found"
    ready = podstate.ready_condition(head)
    if ready is not None and ready.get("status") == "True":
        return "True", "HeadPodRunningAndReady", ""
    waiting = podstate.waiting_reason(head)
    if waiting is not None:
        return "False", waiting[0], waiting[1]
    if ready is not None:
        return "False", str(ready.get("reason") or "Unknown"), str(ready.get("message") or "")
    return "False", "Unknown", f"head Pod is {podstate.phase(head)}"


def _head_info(head: podstate.Pod | None, service: Mapping[str, Any] | None) -> dict[str, str]:
    info: dict[str, str] = {}
    pod_ip = str(((head or {}).get("status") or {}).get("podIP") or "")
    if head is not None:
        info["podName"] = podstate.name(head)
    if pod_ip:
        info["podIP"] = pod_ip
    if service:
        info["serviceName"] = str((service.get("metadata") or {}).get("name", ""))
        cluster_ip = str((service.get("spec") or {}).get("clusterIP") or "")
        service_ip = pod_ip if cluster_ip == "None" else cluster_ip
        if service_ip:
            info["serviceIP"] = service_ip
    return info


def _pod_resources(template: Any) -> dict[str, Fraction]:
    """Requests of all containers of a pod template, limits where a request is missing."""
    totals: dict[str, Fraction] = {}
    containers = mapping(mapping(template).get("spec")).get("containers")
    for container in containers if isinstance(containers, list) else []:
        resources = mapping(mapping(container).get("resources"))
        merged = {**mapping(resources.get("limits")), **mapping(resources.get("requests"))}
        for name, value in merged.items():
            if not isinstance(value, str | int | float):
                continue
            try:
                totals[name] = totals.get(name, Fraction(0)) + parse_quantity(value)
            except QuantityError:
                continue
    return totals


def desired_resources(cluster: Body) -> dict[str, str]:
    """desiredCPU/Memory/GPU/TPU: the head plus every desired worker pod."""
    totals: dict[str, Fraction] = dict(_pod_resources(head_group(cluster).get("template")))
    for group in worker_groups(cluster):
        for name, value in _pod_resources(group.spec.get("template")).items():
            totals[name] = totals.get(name, Fraction(0)) + value * group.desired_pods
    gpus = sum((v for k, v in totals.items() if k.lower().endswith("gpu")), Fraction(0))
    return {
        "desiredCPU": format_cpu(totals.get("cpu", Fraction(0))),
        "desiredMemory": format_bytes(totals.get("memory", Fraction(0))),
        "desiredGPU": format_count(gpus),
        "desiredTPU": format_count(totals.get("google.com/tpu", Fraction(0))),
    }


def finalize(old: Mapping[str, Any], new: Status, now: str) -> dict[str, Any] | None:
    """The merge patch of `status` to write, with lastUpdateTime, or None when only the time
    would change. kopf's bookkeeping (`status.kopf`) is left alone."""
    current = {k: v for k, v in old.items() if k not in ("lastUpdateTime", "kopf")}
    patch = merge_diff(current, new)
    if not patch:
        return None
    patch["lastUpdateTime"] = now
    return patch


def log_status(log: Any, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    log.info(
        "status: state={state} ready workers {ready}/{desired}",
        state=new.get("state", "-"),
        ready=new.get("readyWorkerReplicas"),
        desired=new.get("desiredWorkerReplicas"),
    )
