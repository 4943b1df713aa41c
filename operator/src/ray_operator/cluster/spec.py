"""Typed read-only views of a RayCluster's spec: worker groups and their desired pod counts.

The apiserver applies the CRD defaults, but these accessors default the same way so a body
that skipped defaulting (a unit test, an old stored object) gives the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ray_operator.cluster import constants as c

Body = Mapping[str, Any]
MAX_INT32 = 2147483647


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` when it is an object, else empty: a field of the wrong type reads as absent
    (validation reports it)."""
    return value if isinstance(value, Mapping) else {}


def status_of(body: Body) -> Mapping[str, Any]:
    return mapping(body.get("status"))


def conditions_of(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Copies of the objects in `status.conditions` (anything else there is dropped)."""
    raw = status.get("conditions")
    return [dict(x) for x in raw if isinstance(x, Mapping)] if isinstance(raw, list) else []


@dataclass(frozen=True)
class WorkerGroup:
    """One entry of `spec.workerGroupSpecs` with its defaults applied."""

    index: int
    name: str
    replicas: int | None
    min_replicas: int
    max_replicas: int
    num_of_hosts: int
    suspended: bool
    workers_to_delete: tuple[str, ...]
    spec: Body

    @property
    def desired_replicas(self) -> int:
        """`replicas` clamped to [minReplicas, maxReplicas]; 0 when the group is suspended."""
        if self.suspended:
            return 0
        if self.replicas is None or self.replicas < self.min_replicas:
            return self.min_replicas
        return min(self.replicas, self.max_replicas)

    @property
    def desired_pods(self) -> int:
        return self.desired_replicas * self.num_of_hosts


def spec_of(cluster: Body) -> Body:
    spec = cluster.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def head_group(cluster: Body) -> Body:
    head = spec_of(cluster).get("headGroupSpec")
    return head if isinstance(head, Mapping) else {}


def worker_groups(cluster: Body) -> list[WorkerGroup]:
    raw = spec_of(cluster).get("workerGroupSpecs")
    groups = []
    for index, group in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(group, Mapping):
            continue
        to_delete = mapping(group.get("scaleStrategy")).get("workersToDelete")
        replicas = group.get("replicas")
        groups.append(
            WorkerGroup(
                index=index,
                name=str(group.get("groupName", "")),
                replicas=_int(replicas, -1) if isinstance(replicas, int) else None,
                min_replicas=_int(group.get("minReplicas"), 0),
                max_replicas=_int(group.get("maxReplicas"), MAX_INT32),
                num_of_hosts=max(1, _int(group.get("numOfHosts"), 1)),
                suspended=group.get("suspend") is True,
                workers_to_delete=tuple(
                    str(n) for n in (to_delete if isinstance(to_delete, list) else ())
                ),
                spec=group,
            )
        )
    return groups


def suspend_requested(cluster: Body) -> bool:
    return spec_of(cluster).get("suspend") is True


def desired_worker_pods(cluster: Body) -> int:
    return sum(group.desired_pods for group in worker_groups(cluster))


def min_worker_pods(cluster: Body) -> int:
    return sum(
        0 if g.suspended else g.min_replicas * g.num_of_hosts for g in worker_groups(cluster)
    )


def max_worker_pods(cluster: Body) -> int:
    total = sum(
        0 if g.suspended else g.max_replicas * g.num_of_hosts for g in worker_groups(cluster)
    )
    return min(total, MAX_INT32)


def restart_token(cluster: Body) -> str:
    """The user's restart annotation value ("" when unset); pods carry the value they saw."""
    annotations = mapping(mapping(cluster.get("metadata")).get("annotations"))
    return str(annotations.get(c.ANNOTATION_RESTARTED_AT, ""))


def recreate_on_change(cluster: Body) -> bool:
    return mapping(spec_of(cluster).get("upgradeStrategy")).get("type") == "Recreate"


def managed_by_us(cluster: Body) -> bool:
    managed_by = spec_of(cluster).get("managedBy")
    return managed_by in (None, "", c.MANAGED_BY_US)


def head_service_name(cluster: Body) -> str:
    name = str(mapping(cluster.get("metadata")).get("name", ""))
    custom = mapping(head_group(cluster).get("headService"))
    custom_name = mapping(custom.get("metadata")).get("name")
    return str(custom_name) if custom_name else f"{name}-head-svc"
