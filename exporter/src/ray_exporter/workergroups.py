"""RayCluster worker-group families: the replica bounds, the desired count and the pods ready.

One series per entry of `spec.workerGroupSpecs` (label `group` = its `groupName`), every
value counted in pods, like KubeRay's cluster-level desired/min/maxWorkerReplicas (a
multi-host group of `numOfHosts` hosts has that many pods per replica):

- `ray_worker_group_info{autoscaling}`: 1; `autoscaling` is "true" iff
  `spec.enableInTreeAutoscaling` is true.
- `ray_worker_group_min_replicas`: `minReplicas` (default 0) x hosts.
- `ray_worker_group_max_replicas`: `maxReplicas` (default 2147483647) x hosts, capped at
  2147483647.
- `ray_worker_group_desired_replicas`: 0 while the group or the cluster is suspended;
  else `replicas`, raised to `minReplicas` when absent or below it and lowered to
  `maxReplicas` when above it, x hosts.

`hosts` is `numOfHosts` (default 1). A count that is not an int64 (a bool, a string, a
float), or is negative (a host count below 1), reads as absent and is reported. A group
that is not an object or has no text `groupName` is skipped and reported; two groups with
one name would be one series twice: the later wins and the duplicate is reported.

From `status.workerGroups`, which this operator writes (`[{name, readyReplicas,
availableReplicas}]`; KubeRay's CRDs prune it): `ray_worker_group_ready_replicas` and
`ray_worker_group_available_replicas`, one series per entry and count present. Without
the field these two families have no series for the cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ray_exporter import fields
from ray_exporter.exposition import Family, sample
from ray_exporter.families import (
    WORKER_GROUP_AVAILABLE_REPLICAS,
    WORKER_GROUP_DESIRED_REPLICAS,
    WORKER_GROUP_INFO,
    WORKER_GROUP_MAX_REPLICAS,
    WORKER_GROUP_MIN_REPLICAS,
    WORKER_GROUP_READY_REPLICAS,
    FamilyFunction,
    View,
)
from ray_exporter.fields import Problem

MAX_INT32 = 2147483647


@dataclass(frozen=True, slots=True)
class Group:
    """One worker group's counts, in pods."""

    name: str
    minimum: int
    maximum: int
    desired: int


def _count(entry: Mapping[str, Any], key: str, view: View, lowest: int = 0) -> int | None:
    """`entry[key]` as an integer >= `lowest`; anything else reads as absent (and is reported)."""
    value = fields.integer(entry, key, view.problems, Problem.INVALID_REPLICAS)
    if value is not None and value < lowest:
        view.problems.add(Problem.INVALID_REPLICAS)
        return None
    return value


def _entries(section: Mapping[str, Any], key: str, view: View) -> list[Any]:
    """`section[key]` as a list: absent is empty, anything else is reported and empty."""
    raw = section.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        view.problems.add(Problem.WORKER_GROUPS_NOT_LIST)
        return []
    return raw


def _named(entries: list[Any], key: str, view: View) -> dict[str, Mapping[str, Any]]:
    """The object entries by their text `key`; the later of two with one name wins."""
    named: dict[str, Mapping[str, Any]] = {}
    for entry in entries:
        name = entry.get(key) if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not name:
            view.problems.add(Problem.INVALID_WORKER_GROUP)
            continue
        if name in named:
            view.problems.add(Problem.DUPLICATE_WORKER_GROUP)
            del named[name]
        named[name] = entry
    return named


def _group(name: str, spec: Mapping[str, Any], suspended: bool, view: View) -> Group:
    hosts = _count(spec, "numOfHosts", view, lowest=1) or 1
    minimum = _count(spec, "minReplicas", view)
    minimum = 0 if minimum is None else minimum
    maximum = _count(spec, "maxReplicas", view)
    maximum = MAX_INT32 if maximum is None else maximum
    replicas = _count(spec, "replicas", view)
    if spec.get("suspend") is True or suspended:
        desired = 0
    elif replicas is None or replicas < minimum:
        desired = minimum * hosts
    else:
        desired = min(replicas, maximum) * hosts
    return Group(name, minimum * hosts, min(maximum * hosts, MAX_INT32), desired)


def worker_groups(view: View) -> list[Group]:
    """The valid groups of `spec.workerGroupSpecs`, in spec order."""
    suspended = view.spec.get("suspend") is True
    specs = _named(_entries(view.spec, "workerGroupSpecs", view), "groupName", view)
    return [_group(name, spec, suspended, view) for name, spec in specs.items()]


def worker_group_info(view: View) -> str:
    """One series per group; `autoscaling` says whether Ray's autoscaler drives it."""
    autoscaling = "true" if view.spec.get("enableInTreeAutoscaling") is True else "false"
    return "".join(
        sample(WORKER_GROUP_INFO.name, view.labels(group=g.name, autoscaling=autoscaling), 1)
        for g in worker_groups(view)
    )


def _spec_count(family: Family, attribute: str) -> FamilyFunction:
    def render(view: View) -> str:
        return "".join(
            sample(family.name, view.labels(group=g.name), getattr(g, attribute))
            for g in worker_groups(view)
        )

    render.__name__ = family.name
    return render


def _status_count(family: Family, key: str) -> FamilyFunction:
    def render(view: View) -> str:
        if not view.status_valid:
            return ""
        entries = _named(_entries(view.status, "workerGroups", view), "name", view)
        lines = []
        for name, entry in entries.items():
            value = _count(entry, key, view)
            if value is not None:
                lines.append(sample(family.name, view.labels(group=name), value))
        return "".join(lines)

    render.__name__ = family.name
    return render


WORKER_GROUP_FAMILIES: tuple[tuple[Family, FamilyFunction], ...] = (
    (WORKER_GROUP_INFO, worker_group_info),
    (WORKER_GROUP_DESIRED_REPLICAS, _spec_count(WORKER_GROUP_DESIRED_REPLICAS, "desired")),
    (WORKER_GROUP_MIN_REPLICAS, _spec_count(WORKER_GROUP_MIN_REPLICAS, "minimum")),
    (WORKER_GROUP_MAX_REPLICAS, _spec_count(WORKER_GROUP_MAX_REPLICAS, "maximum")),
    (WORKER_GROUP_READY_REPLICAS, _status_count(WORKER_GROUP_READY_REPLICAS, "readyReplicas")),
    (
        WORKER_GROUP_AVAILABLE_REPLICAS,
        _status_count(WORKER_GROUP_AVAILABLE_REPLICAS, "availableReplicas"),
    ),
)
"""The families in scrape order, each with its renderer; RAYCLUSTERS lists them last."""
