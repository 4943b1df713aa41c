"""RayCluster families: info (with owner kind), provisioned condition and its duration.

- `kuberay_cluster_info{owner_kind}`: the label `ray.io/originated-from-crd`
  (`RayJob` or `RayService` on clusters the operator made for those), else `None`.
- `kuberay_cluster_condition_provisioned{condition}`: "true" iff the
  `RayClusterProvisioned` condition is True.
- `kuberay_cluster_provisioned_duration_seconds`: once `RayClusterProvisioned`
  is True, its `lastTransitionTime` minus `metadata.creationTimestamp`. The
  operator sets `lastTransitionTime` only when the status value changes, so the
  value is fixed from the first provisioning on.

Then the per-worker-group families of workergroups.py.
"""

from __future__ import annotations

from ray_exporter import fields
from ray_exporter.exposition import sample
from ray_exporter.families import (
    CLUSTER_CONDITION_PROVISIONED,
    CLUSTER_INFO,
    CLUSTER_PROVISIONED_DURATION_SECONDS,
    RESOURCE_GENERATION_LAG,
    Resource,
    View,
    condition_flag,
    generation_lag,
)
from ray_exporter.workergroups import WORKER_GROUP_FAMILIES

ORIGINATED_FROM_LABEL = "ray.io/originated-from-crd"
PROVISIONED = "RayClusterProvisioned"


def cluster_info(view: View) -> str:
    """One series per cluster; `owner_kind` from the originated-from label, else "None"."""
    labels = fields.section(view.metadata, "labels", fields.Problem.FIELD_WRONG_TYPE, view.problems)
    owner = fields.text(labels, ORIGINATED_FROM_LABEL, view.problems)
    return sample(CLUSTER_INFO.name, view.labels(owner_kind=owner or "None"), 1)


def cluster_provisioned_duration_seconds(view: View) -> str:
    """Seconds from creation to the first time `RayClusterProvisioned` became True."""
    by_type = fields.conditions(view.status, view.problems)
    if not fields.condition_is_true(by_type, PROVISIONED):
        return ""
    created = fields.timestamp(view.metadata, "creationTimestamp", view.problems)
    provisioned = fields.timestamp(by_type[PROVISIONED], "lastTransitionTime", view.problems)
    seconds = fields.duration_seconds(created, provisioned, view.problems)
    if seconds is None:
        return ""
    return sample(CLUSTER_PROVISIONED_DURATION_SECONDS.name, view.labels(), seconds)


RAYCLUSTERS = Resource(
    plural="rayclusters",
    kind="RayCluster",
    families=(
        (CLUSTER_INFO, cluster_info),
        (
            CLUSTER_CONDITION_PROVISIONED,
            condition_flag(CLUSTER_CONDITION_PROVISIONED, PROVISIONED),
        ),
        (CLUSTER_PROVISIONED_DURATION_SECONDS, cluster_provisioned_duration_seconds),
        (RESOURCE_GENERATION_LAG, generation_lag),
        *WORKER_GROUP_FAMILIES,
    ),
)
