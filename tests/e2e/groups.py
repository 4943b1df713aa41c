"""Worker groups of the e2e spread's RayClusters: what is written, and what follows from it.

A `GroupSpec` is one entry of `spec.workerGroupSpecs` plus the counts the test writes
for it into `status.workerGroups` (as this operator will). The pod counts the exporter
must serve are restated here from the fields, independently of the exporter's code:
replicas raised to minReplicas and lowered to maxReplicas, times numOfHosts, 0 while
suspended; max capped at 2147483647.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from integration.exporter_harness import POD_TEMPLATE

MAX_INT32 = 2147483647


@dataclass(frozen=True)
class GroupSpec:
    name: str
    replicas: int | None = None
    min_replicas: int = 0
    max_replicas: int = MAX_INT32
    hosts: int = 1
    suspend: bool = False
    ready: int | None = None
    """Pods ready as written to `status.workerGroups`; None: no status entry for the group."""
    available: int | None = None

    @property
    def min_pods(self) -> int:
        return self.min_replicas * self.hosts

    @property
    def max_pods(self) -> int:
        return min(self.max_replicas * self.hosts, MAX_INT32)

    @property
    def desired_pods(self) -> int:
        if self.suspend:
            return 0
        replicas = self.replicas if self.replicas is not None else self.min_replicas
        return max(self.min_replicas, min(replicas, self.max_replicas)) * self.hosts

    def spec(self) -> dict[str, Any]:
        """The `spec.workerGroupSpecs` entry (defaults left out, as users write them)."""
        entry: dict[str, Any] = {"groupName": self.name, "template": POD_TEMPLATE}
        optional = {
            "replicas": self.replicas,
            "minReplicas": self.min_replicas or None,
            "maxReplicas": self.max_replicas if self.max_replicas != MAX_INT32 else None,
            "numOfHosts": self.hosts if self.hosts != 1 else None,
            "suspend": self.suspend or None,
        }
        entry.update({key: value for key, value in optional.items() if value is not None})
        return entry

    def status(self) -> dict[str, Any] | None:
        """The `status.workerGroups` entry, or None when the test writes none."""
        if self.ready is None:
            return None
        return {"name": self.name, "readyReplicas": self.ready, "availableReplicas": self.available}


def spec_fields(groups: tuple[GroupSpec, ...], autoscaling: bool) -> dict[str, Any]:
    """What a RayCluster's spec gets besides its head group."""
    fields: dict[str, Any] = {}
    if autoscaling:
        fields["enableInTreeAutoscaling"] = True
    if groups:
        fields["workerGroupSpecs"] = [group.spec() for group in groups]
    return fields


def status_fields(groups: tuple[GroupSpec, ...]) -> dict[str, Any]:
    """`status.workerGroups` when any group has counts; nothing (absent) otherwise."""
    entries = [entry for group in groups if (entry := group.status()) is not None]
    return {"workerGroups": entries} if entries else {}
