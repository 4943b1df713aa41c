"""What to create and delete so a RayCluster's pods match its spec: a pure function of the
observed pods.

Order of concerns in one pass: suspension (delete everything), the head (replace failed or
outdated heads, keep exactly one), then each worker group (replace failed pods, restart
outdated ones once the head is current, delete `workersToDelete`, then scale to the clamped
replica count, deleting unready and newest pods first). Pods that are already terminating do
not count. Creations can be withheld (`allow_create=False`) while the reconciler backs off.

With the autoscaler on, it alone chooses which pods go: a group with more pods than
`replicas` loses only the pods `workersToDelete` names (the autoscaler lowers `replicas` and
names the idle pods in one write), never pods the operator picks. A name that matches no pod
of its group is skipped and reported, unless it has the group's pod-name prefix (a pod of the
group that is already gone: the autoscaler clears the list once it sees that).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ray_operator.cluster import autoscaler, podstate
from ray_operator.cluster import constants as c
from ray_operator.cluster.pods import (
    desired_head_pod,
    desired_worker_pod,
    pod_context,
    worker_name_prefix,
)
from ray_operator.cluster.spec import (
    Body,
    WorkerGroup,
    conditions_of,
    recreate_on_change,
    spec_of,
    status_of,
    worker_groups,
)
from ray_operator.conditions import is_true

Pod = podstate.Pod
MAX_CREATES_PER_GROUP = 500  # pod creations planned per worker group and pass


@dataclass(frozen=True)
class CreatePod:
    node_type: str
    group: str
    manifest: dict[str, Any]


@dataclass(frozen=True)
class DeletePod:
    name: str
    node_type: str
    group: str
    why: str
    failed: bool = False  # the pod had failed (counts towards the creation backoff)
    suspension: bool = False  # deleted because the cluster is suspended


@dataclass
class Plan:
    creates: list[CreatePod] = field(default_factory=list)
    deletes: list[DeletePod] = field(default_factory=list)
    deferred: int = 0  # pods that should be created but were withheld by the backoff
    unknown_deletes: list[tuple[str, str]] = field(default_factory=list)  # (group, pod name)

    @property
    def empty(self) -> bool:
        return not self.creates and not self.deletes


def suspending(cluster: Body) -> bool:
    """Suspension requested, or in progress (it completes even if the request is withdrawn)."""
    conditions = conditions_of(status_of(cluster))
    return spec_of(cluster).get("suspend") is True or is_true(conditions, "RayClusterSuspending")


def plan_pods(
    cluster: Body,
    pods: Sequence[Pod],
    *,
    allow_create: bool = True,
    cluster_domain: str = "cluster.local",
) -> Plan:
    plan = Plan()
    active = [p for p in pods if not podstate.is_terminating(p)]
    if suspending(cluster):
        for pod in active:
            plan.deletes.append(_delete(pod, "the RayCluster is suspended", suspension=True))
        return plan
    ctx = pod_context(cluster, cluster_domain)
    recreate = recreate_on_change(cluster)

    def outdated(pod: Pod) -> bool:
        return podstate.is_outdated(
            pod, restart_token=ctx.restart_token, spec_hash=ctx.spec_hash, recreate=recreate
        )

    heads = [p for p in active if podstate.node_type(p) == c.NODE_TYPE_HEAD]
    head_is_current = _plan_head(plan, cluster, heads, outdated, allow_create, cluster_domain)
    groups = worker_groups(cluster)
    names = {g.name for g in groups}
    workers = [p for p in active if podstate.node_type(p) == c.NODE_TYPE_WORKER]
    for pod in workers:
        if podstate.group(pod) not in names:
            plan.deletes.append(_delete(pod, "its worker group was removed from the spec"))
    for group in groups:
        members = [p for p in workers if podstate.group(p) == group.name]
        _plan_group(
            plan, cluster, group, members, outdated, head_is_current, allow_create, cluster_domain
        )
        _unknown_deletes(plan, cluster, group, members)
    return plan


def _unknown_deletes(plan: Plan, cluster: Body, group: WorkerGroup, members: list[Pod]) -> None:
    present = {podstate.name(p) for p in members}
    prefix = worker_name_prefix(cluster, group.name)
    for name in group.workers_to_delete:
        if name not in present and not name.startswith(prefix):
            plan.unknown_deletes.append((group.name, name))


def _delete(pod: Pod, why: str, *, failed: bool = False, suspension: bool = False) -> DeletePod:
    return DeletePod(
        podstate.name(pod), podstate.node_type(pod), podstate.group(pod), why, failed, suspension
    )


def _oldest_first(pods: Sequence[Pod]) -> list[Pod]:
    return sorted(pods, key=lambda p: (podstate.created(p), podstate.name(p)))


def _plan_head(
    plan: Plan,
    cluster: Body,
    heads: list[Pod],
    outdated: Any,
    allow_create: bool,
    cluster_domain: str,
) -> bool:
    """Plan the head; True when a current head pod already exists (workers may restart)."""
    live: list[Pod] = []
    for pod in heads:
        if podstate.is_terminal(pod):
            plan.deletes.append(_delete(pod, podstate.terminal_reason(pod), failed=True))
        elif outdated(pod):
            plan.deletes.append(_delete(pod, "the RayCluster is restarting its pods"))
        else:
            live.append(pod)
    ordered = _oldest_first(live)
    for extra in ordered[1:]:
        plan.deletes.append(_delete(extra, "a RayCluster has exactly one head pod"))
    if ordered:
        return True
    if allow_create:
        plan.creates.append(
            CreatePod(c.NODE_TYPE_HEAD, c.HEAD_GROUP, desired_head_pod(cluster, cluster_domain))
        )
    else:
        plan.deferred += 1
    return False


def _plan_group(
    plan: Plan,
    cluster: Body,
    group: WorkerGroup,
    members: list[Pod],
    outdated: Any,
    head_is_current: bool,
    allow_create: bool,
    cluster_domain: str,
) -> None:
    live: list[Pod] = []
    for pod in members:
        if podstate.is_terminal(pod):
            plan.deletes.append(_delete(pod, podstate.terminal_reason(pod), failed=True))
        elif outdated(pod) and head_is_current:
            plan.deletes.append(_delete(pod, "the RayCluster is restarting its pods"))
        elif podstate.name(pod) in group.workers_to_delete:
            plan.deletes.append(_delete(pod, "listed in scaleStrategy.workersToDelete"))
        else:
            live.append(pod)
    surplus = len(live) - group.desired_pods
    if surplus > 0 and not autoscaler.enabled(cluster):
        # Unready pods go first, then the newest: they have done the least work.
        unready = [p for p in live if not podstate.is_running_and_ready(p)]
        ready = [p for p in live if podstate.is_running_and_ready(p)]
        ordered = _oldest_first(unready)[::-1] + _oldest_first(ready)[::-1]
        for pod in ordered[:surplus]:
            plan.deletes.append(_delete(pod, f"scaling {group.name} down to {group.desired_pods}"))
    elif surplus < 0:
        if not allow_create:
            plan.deferred += -surplus
            return
        manifest = desired_worker_pod(cluster, group, cluster_domain)
        # A huge replica count must not become a huge plan: the pods created now trigger
        # the next pass, which creates the next batch.
        for _ in range(min(-surplus, MAX_CREATES_PER_GROUP)):
            plan.creates.append(CreatePod(c.NODE_TYPE_WORKER, group.name, manifest))
