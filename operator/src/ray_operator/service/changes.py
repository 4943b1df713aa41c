"""Which changes of `rayClusterConfig` need a new RayCluster, and which update it in place.

The child RayCluster carries the hash of the config it was built from (annotation
`ray.io/hash-without-replicas-and-workers-to-delete`, as in KubeRay) and its number of worker
groups. Comparing the RayService's config with that hash gives one of three answers:

- `NONE`: nothing that matters changed. Ignored fields: `suspend`, the cluster's own
  `upgradeStrategy`, pod `tolerations` and `schedulingGates` (queueing controllers such as
  Kueue inject those into the RayCluster) and each worker group's `scaleStrategy`.
- `IN_PLACE`: only worker group sizes (`replicas`, `minReplicas`, `maxReplicas`) changed,
  and/or worker groups were appended after the existing ones. The existing cluster is
  updated; its pods are not replaced. With the autoscaler on, a group's `replicas` and
  `scaleStrategy` in the cluster are the autoscaler's: they are neither compared nor
  overwritten.
- `NEW_CLUSTER`: anything else (images, resources, rayStartParams, the head, removing,
  renaming or reordering groups, ...). With `upgradeStrategy.type: NewCluster` this starts a
  zero-downtime upgrade; with `None` the change is reported and not applied.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from ray_operator.service import constants as c

Body = Mapping[str, Any]
SCALE_FIELDS = ("replicas", "minReplicas", "maxReplicas")
AUTOSCALER_FIELDS = ("replicas", "scaleStrategy")  # written by Ray's autoscaler


class Change(StrEnum):
    NONE = "none"
    IN_PLACE = "in-place"
    NEW_CLUSTER = "new-cluster"


def _strip_template(group: dict[str, Any]) -> None:
    template = group.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        template["spec"].pop("tolerations", None)
        template["spec"].pop("schedulingGates", None)


def hashed_view(config: Body, worker_groups: int | None = None) -> dict[str, Any]:
    """The part of a cluster config whose change needs a new cluster (first N groups only)."""
    view = copy.deepcopy(dict(config))
    view.pop("suspend", None)
    view.pop("upgradeStrategy", None)
    head = view.get("headGroupSpec")
    if isinstance(head, dict):
        _strip_template(head)
    groups = [g for g in view.get("workerGroupSpecs") or [] if isinstance(g, dict)]
    if worker_groups is not None:
        groups = groups[:worker_groups]
    for group in groups:
        for field in (*SCALE_FIELDS, "scaleStrategy"):
            group.pop(field, None)
        _strip_template(group)
    view["workerGroupSpecs"] = groups
    return view


def config_hash(config: Body, worker_groups: int | None = None) -> str:
    encoded = json.dumps(hashed_view(config, worker_groups), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()[:32]


def num_worker_groups(config: Body) -> int:
    return len([g for g in config.get("workerGroupSpecs") or [] if isinstance(g, Mapping)])


def autoscaled(config: Body) -> bool:
    return config.get("enableInTreeAutoscaling") is True


def scale_view(config: Body, *, autoscaler: bool = False) -> list[tuple[Any, ...]]:
    """Worker group sizes in order: (groupName, replicas, minReplicas, maxReplicas), without
    replicas when the autoscaler owns them."""
    fields = [f for f in SCALE_FIELDS if not (autoscaler and f in AUTOSCALER_FIELDS)]
    return [
        (g.get("groupName"), *(g.get(field) for field in fields))
        for g in config.get("workerGroupSpecs") or []
        if isinstance(g, Mapping)
    ]


def keep_autoscaler_fields(goal: dict[str, Any], current: Body) -> None:
    """Give the goal's worker groups the cluster's `replicas` and `scaleStrategy`, which the
    autoscaler writes (by group name; a new group starts with the goal's)."""
    existing = {
        g.get("groupName"): g
        for g in current.get("workerGroupSpecs") or []
        if isinstance(g, Mapping)
    }
    for group in goal.get("workerGroupSpecs") or []:
        now = existing.get(group.get("groupName")) if isinstance(group, dict) else None
        if now is None:
            continue
        for field in AUTOSCALER_FIELDS:
            if field in now:
                group[field] = copy.deepcopy(now[field])
            else:
                group.pop(field, None)


def classify(goal: Body, cluster: Body) -> Change:
    """How the RayService's `rayClusterConfig` (goal) relates to an existing child cluster."""
    annotations = (cluster.get("metadata") or {}).get("annotations") or {}
    stored = annotations.get(c.ANNOTATION_CONFIG_HASH)
    current_spec = cluster.get("spec") or {}
    if stored == config_hash(goal):
        scaler = autoscaled(goal)
        same = scale_view(goal, autoscaler=scaler) == scale_view(current_spec, autoscaler=scaler)
        return Change.NONE if same else Change.IN_PLACE
    try:
        groups = int(annotations.get(c.ANNOTATION_NUM_WORKER_GROUPS, ""))
    except ValueError:
        return Change.NEW_CLUSTER
    if num_worker_groups(goal) > groups and config_hash(goal, groups) == stored:
        return Change.IN_PLACE
    return Change.NEW_CLUSTER
