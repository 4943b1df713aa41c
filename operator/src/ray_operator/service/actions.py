"""What the RayService state machine observes and the actions it asks the reconciler to take.

`Observed` is everything one pass looked at; a `Step` is the status to write plus the
actions, in the order the reconciler carries them out, and when to look again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ray_operator.reasons import EventType, Reason
from ray_operator.service.serve import Proxies

Json = dict[str, Any]


@dataclass(frozen=True)
class ServeView:
    """What one cluster's Serve reported this pass."""

    apps: Mapping[str, Json]
    proxies: Proxies


@dataclass(frozen=True)
class Observed:
    clusters: Mapping[str, Json]  # the service's child RayClusters by name
    pods: Mapping[str, Sequence[Json]]  # pods of the active and pending clusters
    serve: Mapping[str, ServeView]  # clusters whose Serve answered
    serve_errors: Mapping[str, str]  # clusters whose dashboard did not answer, and why
    serving_cluster: str | None  # what the serve Service selects now (None: no Service)
    num_serve_endpoints: int
    now: datetime
    new_cluster_name: str  # used if a new cluster has to be prepared


@dataclass(frozen=True)
class CreateCluster:
    name: str


@dataclass(frozen=True)
class UpdateCluster:
    name: str


@dataclass(frozen=True)
class ApplyServe:
    cluster: str
    why: str


@dataclass(frozen=True)
class SetServeLabel:
    cluster: str
    pod: str
    value: str
    head: bool


@dataclass(frozen=True)
class PointServices:
    cluster: str


@dataclass(frozen=True)
class ScheduleDeletion:
    cluster: str
    at: str  # RFC 3339


@dataclass(frozen=True)
class DeleteCluster:
    cluster: str
    why: str


@dataclass(frozen=True)
class Emit:
    type_: EventType
    reason: Reason
    message: str


Action = (
    CreateCluster
    | UpdateCluster
    | ApplyServe
    | SetServeLabel
    | PointServices
    | ScheduleDeletion
    | DeleteCluster
    | Emit
)


@dataclass
class Step:
    status: Json
    actions: list[Action] = field(default_factory=list)
    requeue: float | None = None

    def of(self, kind: type[Any]) -> list[Any]:
        return [a for a in self.actions if isinstance(a, kind)]
