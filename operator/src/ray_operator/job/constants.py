"""Names of the RayJob API: deployment statuses, failure reasons, modes, labels, event reasons.

Values follow KubeRay's ray.io/v1 so manifests, label selectors and dashboards written for
KubeRay keep working.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

GROUP: Final = "ray.io"
VERSION: Final = "v1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "RayJob"
PLURAL: Final = "rayjobs"
COMPONENT: Final = "rayjob-controller"

# Labels on the child RayCluster and the submitter Job.
LABEL_ORIGINATED_FROM_CRD: Final = "ray.io/originated-from-crd"
LABEL_ORIGINATED_FROM_CR_NAME: Final = "ray.io/originated-from-cr-name"
LABEL_CREATED_BY: Final = "app.kubernetes.io/created-by"
CREATED_BY: Final = "ray-operator"
# clusterSelector names the existing cluster with this key.
CLUSTER_SELECTOR_KEY: Final = "ray.io/cluster"
# Annotations of the RayJob not copied to the child cluster.
NOT_INHERITED_ANNOTATIONS: Final = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})

# The submitter container's environment.
ENV_DASHBOARD_ADDRESS: Final = "RAY_DASHBOARD_ADDRESS"
ENV_SUBMISSION_ID: Final = "RAY_JOB_SUBMISSION_ID"
SUBMITTER_CONTAINER: Final = "ray-job-submitter"
DEFAULT_SUBMITTER_BACKOFF_LIMIT: Final = 2

MAX_JOB_NAME_LENGTH: Final = 47  # leaves room for "-xxxxx" within a cluster name's 53
NAME_SUFFIX_LENGTH: Final = 5
MAX_ATTEMPT_HISTORY: Final = 50
# KubeRay's DefaultSubmitterFinishedTimeout: how long after the submitter Job finished the
# Ray job may take to reach a terminal status (as the dashboard reports it) before the attempt
# fails with JobDeploymentStatusTransitionGracePeriodExceeded.
SUBMITTER_FINISHED_TIMEOUT_SECONDS: Final = 30


class DeploymentStatus(StrEnum):
    NEW = ""
    INITIALIZING = "Initializing"
    RUNNING = "Running"
    COMPLETE = "Complete"
    FAILED = "Failed"
    VALIDATION_FAILED = "ValidationFailed"
    SUSPENDING = "Suspending"
    SUSPENDED = "Suspended"
    RETRYING = "Retrying"
    WAITING = "Waiting"


FINISHED: Final = frozenset({DeploymentStatus.COMPLETE, DeploymentStatus.FAILED})


class JobStatus(StrEnum):
    """`status.jobStatus`: Ray's job status, or "" before this attempt's job exists."""

    NEW = ""
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


TERMINAL_JOB_STATUSES: Final = frozenset({JobStatus.STOPPED, JobStatus.SUCCEEDED, JobStatus.FAILED})
ACTIVE_JOB_STATUSES: Final = frozenset({JobStatus.PENDING, JobStatus.RUNNING})


class FailureReason(StrEnum):
    """`status.reason` of a failed attempt."""

    SUBMISSION_FAILED = "SubmissionFailed"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    APP_FAILED = "AppFailed"
    VALIDATION_FAILED = "ValidationFailed"
    CLUSTER_NOT_FOUND = "RayClusterNotFound"
    GRACE_PERIOD_EXCEEDED = "JobDeploymentStatusTransitionGracePeriodExceeded"


class SubmissionMode(StrEnum):
    K8S_JOB = "K8sJobMode"
    HTTP = "HTTPMode"
    INTERACTIVE = "InteractiveMode"
    SIDECAR = "SidecarMode"


SUPPORTED_MODES: Final = frozenset(
    {SubmissionMode.K8S_JOB, SubmissionMode.HTTP, SubmissionMode.INTERACTIVE}
)
