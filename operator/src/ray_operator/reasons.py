"""The one catalogue of Kubernetes Event reasons the operator emits, with KubeRay's names.

`Normal` for successful actions, `Warning` for failures and invalid input (docs/api.md lists
which controller emits which). The three controllers share this enum, so one reason has one
spelling everywhere.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


class Reason(StrEnum):
    # raycluster-controller
    INVALID_RAY_CLUSTER_STATUS = "InvalidRayClusterStatus"
    INVALID_RAY_CLUSTER_SPEC = "InvalidRayClusterSpec"
    INVALID_RAY_CLUSTER_METADATA = "InvalidRayClusterMetadata"
    CREATED_HEAD_POD = "CreatedHeadPod"
    FAILED_TO_CREATE_HEAD_POD = "FailedToCreateHeadPod"
    DELETED_HEAD_POD = "DeletedHeadPod"
    FAILED_TO_DELETE_HEAD_POD = "FailedToDeleteHeadPod"
    CREATED_WORKER_POD = "CreatedWorkerPod"
    FAILED_TO_CREATE_WORKER_POD = "FailedToCreateWorkerPod"
    DELETED_WORKER_POD = "DeletedWorkerPod"
    FAILED_TO_DELETE_WORKER_POD = "FailedToDeleteWorkerPod"
    FAILED_TO_DELETE_WORKER_POD_COLLECTION = "FailedToDeleteWorkerPodCollection"
    DELETED_POD = "DeletedPod"
    FAILED_TO_DELETE_POD = "FailedToDeletePod"
    FAILED_TO_DELETE_POD_COLLECTION = "FailedToDeletePodCollection"
    # raycluster-controller: the Redis cleanup of fault-tolerant clusters (KubeRay's names
    # for the Job; the others are this operator's: it has no finalizer to remove)
    CREATED_REDIS_CLEANUP_RECORD = "CreatedRedisCleanupRecord"
    UPDATED_REDIS_CLEANUP_RECORD = "UpdatedRedisCleanupRecord"
    FAILED_TO_CREATE_REDIS_CLEANUP_RECORD = "FailedToCreateRedisCleanupRecord"
    FAILED_TO_UPDATE_REDIS_CLEANUP_RECORD = "FailedToUpdateRedisCleanupRecord"
    CREATED_REDIS_CLEANUP_JOB = "CreatedRedisCleanupJob"
    FAILED_TO_CREATE_REDIS_CLEANUP_JOB = "FailedToCreateRedisCleanupJob"
    REDIS_CLEANUP_COMPLETED = "RedisCleanupCompleted"
    REDIS_CLEANUP_FAILED = "RedisCleanupFailed"
    # raycluster-controller and rayservice-controller
    CREATED_SERVICE = "CreatedService"
    UPDATED_SERVICE = "UpdatedService"
    DELETED_SERVICE = "DeletedService"
    FAILED_TO_CREATE_SERVICE = "FailedToCreateService"
    FAILED_TO_UPDATE_SERVICE = "FailedToUpdateService"
    FAILED_TO_DELETE_SERVICE = "FailedToDeleteService"
    # rayjob-controller and rayservice-controller
    # The autoscaler's ServiceAccount, Role and RoleBinding (KubeRay's names), and a
    # scaleStrategy.workersToDelete entry that names no pod of its group (ours).
    CREATED_SERVICE_ACCOUNT = "CreatedServiceAccount"
    FAILED_TO_CREATE_SERVICE_ACCOUNT = "FailedToCreateServiceAccount"
    CREATED_ROLE = "CreatedRole"
    UPDATED_ROLE = "UpdatedRole"
    FAILED_TO_CREATE_ROLE = "FailedToCreateRole"
    FAILED_TO_UPDATE_ROLE = "FailedToUpdateRole"
    CREATED_ROLE_BINDING = "CreatedRoleBinding"
    UPDATED_ROLE_BINDING = "UpdatedRoleBinding"
    FAILED_TO_CREATE_ROLE_BINDING = "FailedToCreateRoleBinding"
    FAILED_TO_UPDATE_ROLE_BINDING = "FailedToUpdateRoleBinding"
    WORKER_TO_DELETE_NOT_FOUND = "WorkerToDeleteNotFound"

    CREATED_RAY_CLUSTER = "CreatedRayCluster"
    UPDATED_RAY_CLUSTER = "UpdatedRayCluster"
    DELETED_RAY_CLUSTER = "DeletedRayCluster"
    FAILED_TO_CREATE_RAY_CLUSTER = "FailedToCreateRayCluster"
    FAILED_TO_UPDATE_RAY_CLUSTER = "FailedToUpdateRayCluster"
    FAILED_TO_DELETE_RAY_CLUSTER = "FailedToDeleteRayCluster"
    # rayjob-controller
    INVALID_RAY_JOB_SPEC = "InvalidRayJobSpec"
    INVALID_RAY_JOB_METADATA = "InvalidRayJobMetadata"
    INVALID_RAY_JOB_STATUS = "InvalidRayJobStatus"
    CREATED_RAY_JOB_SUBMITTER = "CreatedRayJobSubmitter"
    DELETED_RAY_JOB_SUBMITTER = "DeletedRayJobSubmitter"
    FAILED_TO_CREATE_RAY_JOB_SUBMITTER = "FailedToCreateRayJobSubmitter"
    FAILED_TO_DELETE_RAY_JOB_SUBMITTER = "FailedToDeleteRayJobSubmitter"
    RAY_CLUSTER_NOT_FOUND = "RayClusterNotFound"
    SUBMITTER_FINISHED = "RayJobSubmitterFinished"
    # rayservice-controller
    INVALID_RAY_SERVICE_SPEC = "InvalidRayServiceSpec"
    INVALID_RAY_SERVICE_METADATA = "InvalidRayServiceMetadata"
    RAY_SERVICE_INITIALIZING_TIMEOUT = "RayServiceInitializingTimeout"
    UPDATED_HEAD_POD_SERVE_LABEL = "UpdatedHeadPodServeLabel"
    FAILED_TO_UPDATE_HEAD_POD_SERVE_LABEL = "FailedToUpdateHeadPodServeLabel"
    UPDATED_SERVE_APPLICATIONS = "UpdatedServeApplications"
    FAILED_TO_UPDATE_SERVE_APPLICATIONS = "FailedToUpdateServeApplications"
