"""The three watched resources and the order their families appear in a scrape.

The scrape order is fixed: KubeRay's nine families in DESIGN §4's order, then
`ray_resource_generation_lag`, whose series come from all three resources
(RayClusters first, then RayJobs, then RayServices), then the RayCluster worker-group
families of our own.
"""

from __future__ import annotations

from ray_exporter.exposition import Family
from ray_exporter.families import (
    CLUSTER_CONDITION_PROVISIONED,
    CLUSTER_INFO,
    CLUSTER_PROVISIONED_DURATION_SECONDS,
    JOB_DEPLOYMENT_STATUS,
    JOB_EXECUTION_DURATION_SECONDS,
    JOB_INFO,
    RESOURCE_GENERATION_LAG,
    SERVICE_CONDITION_READY,
    SERVICE_CONDITION_UPGRADE_IN_PROGRESS,
    SERVICE_INFO,
    Resource,
)
from ray_exporter.rayclusters import RAYCLUSTERS
from ray_exporter.rayjobs import RAYJOBS
from ray_exporter.rayservices import RAYSERVICES
from ray_exporter.workergroups import WORKER_GROUP_FAMILIES

GROUP = "ray.io"
VERSION = "v1"
RESOURCES: tuple[Resource, ...] = (RAYCLUSTERS, RAYJOBS, RAYSERVICES)
FAMILY_ORDER: tuple[Family, ...] = (
    CLUSTER_INFO,
    CLUSTER_CONDITION_PROVISIONED,
    CLUSTER_PROVISIONED_DURATION_SECONDS,
    JOB_INFO,
    JOB_DEPLOYMENT_STATUS,
    JOB_EXECUTION_DURATION_SECONDS,
    SERVICE_INFO,
    SERVICE_CONDITION_READY,
    SERVICE_CONDITION_UPGRADE_IN_PROGRESS,
    RESOURCE_GENERATION_LAG,
    *(family for family, _ in WORKER_GROUP_FAMILIES),
)
