"""Names of the RayService reconciler: labels, annotations, conditions, reasons and defaults.

Label, annotation, condition and reason values follow KubeRay's ray.io/v1 conventions, so
tools and alerts written for KubeRay keep working. The two annotations marked "ours" are this
operator's bookkeeping on the child RayClusters it owns (never on the RayService itself).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

GROUP: Final = "ray.io"
VERSION: Final = "v1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "RayService"
PLURAL: Final = "rayservices"
COMPONENT: Final = "rayservice-controller"

# Labels on the child RayClusters and the services the reconciler creates.
LABEL_ORIGINATED_FROM_CRD: Final = "ray.io/originated-from-crd"
LABEL_ORIGINATED_FROM_CR_NAME: Final = "ray.io/originated-from-cr-name"
ORIGINATED_FROM_CRD: Final = "RayService"
# On pods of child clusters: "true" while the pod's Serve proxy is healthy. The serve Service
# selects ray.io/cluster=<serving cluster>, ray.io/serve=true.
LABEL_SERVE: Final = "ray.io/serve"

# Annotations on child RayClusters. The first two carry KubeRay's names and meaning.
ANNOTATION_CONFIG_HASH: Final = "ray.io/hash-without-replicas-and-workers-to-delete"
ANNOTATION_NUM_WORKER_GROUPS: Final = "ray.io/num-worker-groups"
# Ours: the hash of the serveConfigV2 last applied to the cluster's Serve.
ANNOTATION_SERVE_CONFIG_HASH: Final = "ray.io/serve-config-hash"
# Ours: when a cluster that is neither active nor pending any more will be deleted (RFC 3339).
ANNOTATION_DELETE_AFTER: Final = "ray.io/delete-after"
# The user's: how long the RayService may initialize before it is failed (KubeRay's name).
ANNOTATION_INITIALIZING_TIMEOUT: Final = "ray.io/initializing-timeout"

UPGRADE_NEW_CLUSTER: Final = "NewCluster"
UPGRADE_NONE: Final = "None"
UPGRADE_INCREMENTAL: Final = "NewClusterWithIncrementalUpgrade"

DEFAULT_DELETION_DELAY_SECONDS: Final = 60
DEFAULT_SERVE_APP_NAME: Final = "default"
SERVE_PORT_NAME: Final = "serve"
DEFAULT_SERVE_PORT: Final = 8000
REQUEUE_SECONDS: Final = 2.0  # how often a RayService is looked at while Serve settles


class Condition(StrEnum):
    READY = "Ready"
    UPGRADE_IN_PROGRESS = "UpgradeInProgress"
    SUSPENDING = "Suspending"
    SUSPENDED = "Suspended"


class ConditionReason(StrEnum):
    INITIALIZING = "Initializing"
    INITIALIZING_TIMEOUT = "InitializingTimeout"
    ZERO_SERVE_ENDPOINTS = "ZeroServeEndpoints"
    NON_ZERO_SERVE_ENDPOINTS = "NonZeroServeEndpoints"
    BOTH_ACTIVE_PENDING_CLUSTERS_EXIST = "BothActivePendingClustersExist"
    NO_PENDING_CLUSTER = "NoPendingCluster"
    NO_ACTIVE_CLUSTER = "NoActiveCluster"
    VALIDATION_FAILED = "ValidationFailed"
    SUSPEND_REQUESTED = "SuspendRequested"
    SUSPEND_IN_PROGRESS = "SuspendInProgress"
    SUSPEND_COMPLETE = "SuspendComplete"
    RESUMED = "RayServiceResumed"
