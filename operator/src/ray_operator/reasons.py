"""Kubernetes Event reasons the operator emits, with the same names as KubeRay's catalogue.

See seed 001 §8.3: `Normal` for successful actions, `Warning` for failures and invalid input.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


class Reason(StrEnum):
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
    CREATED_SERVICE = "CreatedService"
    UPDATED_SERVICE = "UpdatedService"
    FAILED_TO_CREATE_SERVICE = "FailedToCreateService"
    FAILED_TO_UPDATE_SERVICE = "FailedToUpdateService"
