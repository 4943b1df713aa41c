"""What an observed pod is: its role in the cluster, and whether it runs, waits or has failed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ray_operator.cluster import constants as c

Pod = Mapping[str, Any]

# Container waiting reasons that mean the pod cannot start without a change (image, config).
STARTUP_FAILURES = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


def name(pod: Pod) -> str:
    return str((pod.get("metadata") or {}).get("name", ""))


def pod_labels(pod: Pod) -> Mapping[str, str]:
    return (pod.get("metadata") or {}).get("labels") or {}


def pod_annotations(pod: Pod) -> Mapping[str, str]:
    return (pod.get("metadata") or {}).get("annotations") or {}


def node_type(pod: Pod) -> str:
    return pod_labels(pod).get(c.LABEL_NODE_TYPE, "")


def group(pod: Pod) -> str:
    return pod_labels(pod).get(c.LABEL_GROUP, "")


def created(pod: Pod) -> str:
    return str((pod.get("metadata") or {}).get("creationTimestamp", ""))


def phase(pod: Pod) -> str:
    return str((pod.get("status") or {}).get("phase", "Pending"))


def is_owned_by(pod: Pod, uid: str) -> bool:
    refs = (pod.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid and ref.get("controller") for ref in refs)


def is_terminating(pod: Pod) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def is_terminal(pod: Pod) -> bool:
    """Failed or Succeeded: the kubelet will not restart it; it must be replaced."""
    return phase(pod) in ("Failed", "Succeeded")


def ready_condition(pod: Pod) -> Mapping[str, Any] | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition  # type: ignore[no-any-return]
    return None


def is_running_and_ready(pod: Pod) -> bool:
    ready = ready_condition(pod)
    return phase(pod) == "Running" and ready is not None and ready.get("status") == "True"


def waiting_reason(pod: Pod) -> tuple[str, str] | None:
    """(reason, message) of the first waiting container, init containers first."""
    status = pod.get("status") or {}
    for key in ("initContainerStatuses", "containerStatuses"):
        for container in status.get(key) or []:
            waiting = (container.get("state") or {}).get("waiting")
            if waiting and waiting.get("reason"):
                return str(waiting["reason"]), str(waiting.get("message", ""))
    return None


def startup_failure(pod: Pod) -> str | None:
    """Why the pod cannot start (image, crash loop, bad config), or None."""
    waiting = waiting_reason(pod)
    if waiting and waiting[0] in STARTUP_FAILURES:
        reason, message = waiting
        return f"pod {name(pod)}: {reason}" + (f": {message}" if message else "")
    return None


def terminal_reason(pod: Pod) -> str:
    status = pod.get("status") or {}
    detail = status.get("reason") or status.get("message") or ""
    return f"pod {name(pod)} is {phase(pod)}" + (f" ({detail})" if detail else "")


def is_outdated(pod: Pod, *, restart_token: str, spec_hash: str, recreate: bool) -> bool:
    """The pod predates a restart request, or (Recreate strategy) a spec change."""
    stamps = pod_annotations(pod)
    if stamps.get(c.POD_ANNOTATION_RESTARTED_AT, "") != restart_token:
        return True
    stamped_hash = stamps.get(c.POD_ANNOTATION_SPEC_HASH)
    return recreate and stamped_hash is not None and stamped_hash != spec_hash
