"""The RayService status: conditions with KubeRay's reasons, per-cluster blocks, suspension.

Pure functions over plain dicts. `Ready` is True exactly when `numServeEndpoints > 0`
(`NonZeroServeEndpoints`); otherwise False with `Initializing` (never ready yet),
`ZeroServeEndpoints` (was ready), `InitializingTimeout` (gave up, terminal),
`ValidationFailed` or a suspension reason. `UpgradeInProgress` is True exactly when both an
active and a pending cluster are named (`BothActivePendingClustersExist`), False with
`NoPendingCluster` when only an active one is, and keeps `Initializing` until the first
cluster is promoted. Messages say what the reconciler is waiting for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ray_operator.cluster.spec import conditions_of
from ray_operator.cluster.status import mirror_cluster_status
from ray_operator.conditions import Condition as ConditionDict
from ray_operator.conditions import find_condition, is_true, remove_condition, set_condition
from ray_operator.patches import merge_diff
from ray_operator.service.constants import Condition, ConditionReason
from ray_operator.shape import bounded

Status = dict[str, Any]


def cluster_block(
    name: str, cluster: Mapping[str, Any] | None, apps: Mapping[str, Any] | None
) -> Status:
    """One of activeServiceStatus / pendingServiceStatus ({} when no cluster is named)."""
    if not name:
        return {}
    block: Status = {"rayClusterName": name}
    if isinstance(apps, Mapping):  # the last known statuses may come from a hostile status
        kept = {k: dict(v) for k, v in apps.items() if isinstance(v, Mapping)}
        if kept:
            block["applicationStatuses"] = kept
    cluster_status = (cluster or {}).get("status") or {}
    copied = mirror_cluster_status(cluster_status)
    if copied:
        block["rayClusterStatus"] = copied
    return block


def _set(
    conditions: Sequence[ConditionDict],
    type_: Condition,
    status: str,
    reason: ConditionReason,
    message: str,
    now: str,
    generation: int,
) -> list[ConditionDict]:
    return set_condition(
        conditions,
        type_=type_,
        status=status,
        reason=reason,
        message=bounded(message),
        now=now,
        observed_generation=generation,
    )


def initial_conditions(
    conditions: Sequence[ConditionDict], now: str, generation: int
) -> list[ConditionDict]:
    result = list(conditions)
    if not result:
        message = "RayService is initializing"
        for type_ in (Condition.READY, Condition.UPGRADE_IN_PROGRESS):
            result = _set(
                result, type_, "False", ConditionReason.INITIALIZING, message, now, generation
            )
    return result


def ready_condition(
    conditions: Sequence[ConditionDict],
    endpoints: int,
    waiting_for: str,
    now: str,
    generation: int,
) -> list[ConditionDict]:
    """Ready from the endpoint count; `waiting_for` explains a False."""
    if endpoints > 0:
        message = "Number of serve endpoints is greater than 0"
        return _set(
            conditions,
            Condition.READY,
            "True",
            ConditionReason.NON_ZERO_SERVE_ENDPOINTS,
            message,
            now,
            generation,
        )
    if is_true(conditions, Condition.READY):
        reason = ConditionReason.ZERO_SERVE_ENDPOINTS
        message = "Number of serve endpoints dropped to 0"
    else:
        previous = find_condition(conditions, Condition.READY) or {}
        try:
            reason = ConditionReason(previous.get("reason") or ConditionReason.INITIALIZING)
        except ValueError:
            reason = ConditionReason.INITIALIZING
        message = {
            ConditionReason.ZERO_SERVE_ENDPOINTS: "Number of serve endpoints dropped to 0",
            ConditionReason.VALIDATION_FAILED: "No serve endpoints since the spec was invalid",
        }.get(reason, "RayService is initializing")
    if waiting_for:
        message = f"{message}: {waiting_for}"
    return _set(conditions, Condition.READY, "False", reason, message, now, generation)


def upgrade_condition(
    conditions: Sequence[ConditionDict],
    active: str,
    pending: str,
    note: str,
    now: str,
    generation: int,
) -> list[ConditionDict]:
    if active and pending:
        return _set(
            conditions,
            Condition.UPGRADE_IN_PROGRESS,
            "True",
            ConditionReason.BOTH_ACTIVE_PENDING_CLUSTERS_EXIST,
            f"Both active and pending Ray clusters exist: upgrading from {active} to {pending}",
            now,
            generation,
        )
    if active:
        message = "Active Ray cluster exists and no pending Ray cluster"
        return _set(
            conditions,
            Condition.UPGRADE_IN_PROGRESS,
            "False",
            ConditionReason.NO_PENDING_CLUSTER,
            f"{message}; {note}" if note else message,
            now,
            generation,
        )
    current = find_condition(conditions, Condition.UPGRADE_IN_PROGRESS) or {}
    if current.get("reason") in (
        ConditionReason.INITIALIZING,
        ConditionReason.INITIALIZING_TIMEOUT,
    ):
        return list(conditions)
    return _set(
        conditions,
        Condition.UPGRADE_IN_PROGRESS,
        "Unknown",
        ConditionReason.NO_ACTIVE_CLUSTER,
        "No active Ray cluster exists, and the RayService is not initializing",
        now,
        generation,
    )


def set_ready_timeout(
    conditions: Sequence[ConditionDict], message: str, now: str, generation: int
) -> list[ConditionDict]:
    return _set(
        conditions,
        Condition.READY,
        "False",
        ConditionReason.INITIALIZING_TIMEOUT,
        message,
        now,
        generation,
    )


def timed_out(conditions: Sequence[ConditionDict]) -> bool:
    ready = find_condition(conditions, Condition.READY) or {}
    return (
        ready.get("status") == "False"
        and ready.get("reason") == ConditionReason.INITIALIZING_TIMEOUT
    )


def suspending(conditions: Sequence[ConditionDict]) -> bool:
    return is_true(conditions, Condition.SUSPENDING)


def suspended(conditions: Sequence[ConditionDict]) -> bool:
    return is_true(conditions, Condition.SUSPENDED)


def begin_suspend(old: Mapping[str, Any], now: str, generation: int) -> Status:
    """spec.suspend became true: commit to Suspending and clear what described serving."""
    conditions: list[ConditionDict] = conditions_of(old)
    conditions = _set(
        conditions,
        Condition.SUSPENDING,
        "True",
        ConditionReason.SUSPEND_REQUESTED,
        "Spec.Suspend is true; will delete all Kubernetes resources owned by this RayService.",
        now,
        generation,
    )
    conditions = _set(
        conditions,
        Condition.READY,
        "False",
        ConditionReason.SUSPEND_IN_PROGRESS,
        "RayService is suspending.",
        now,
        generation,
    )
    conditions = _set(
        conditions,
        Condition.UPGRADE_IN_PROGRESS,
        "False",
        ConditionReason.SUSPEND_IN_PROGRESS,
        "No upgrade in progress.",
        now,
        generation,
    )
    return _base(old, conditions, generation, active={}, pending={}, endpoints=0)


def continue_suspend(old: Mapping[str, Any], remaining: int, now: str, generation: int) -> Status:
    """Suspending: owned objects are being deleted; Suspended once none remain."""
    conditions: list[ConditionDict] = conditions_of(old)
    if remaining:
        conditions = _set(
            conditions,
            Condition.SUSPENDING,
            "True",
            ConditionReason.SUSPEND_IN_PROGRESS,
            f"Waiting for {remaining} Kubernetes resources owned by this RayService to be deleted.",
            now,
            generation,
        )
        return _base(old, conditions, generation, active={}, pending={}, endpoints=0)
    done = "All owned resources have been deleted."
    for type_, status, message in (
        (Condition.SUSPENDING, "False", done),
        (Condition.SUSPENDED, "True", done),
        (Condition.READY, "False", "RayService is suspended."),
        (Condition.UPGRADE_IN_PROGRESS, "False", "No upgrade in progress."),
    ):
        conditions = _set(
            conditions, type_, status, ConditionReason.SUSPEND_COMPLETE, message, now, generation
        )
    return _base(old, conditions, generation, active={}, pending={}, endpoints=0)


def resume(old: Mapping[str, Any], now: str, generation: int) -> Status:
    """spec.suspend became false while Suspended: start over as a new RayService would."""
    conditions: list[ConditionDict] = conditions_of(old)
    conditions = _set(
        conditions,
        Condition.SUSPENDED,
        "False",
        ConditionReason.RESUMED,
        "Spec.Suspend is false; RayService has resumed.",
        now,
        generation,
    )
    message = "RayService is initializing after resuming from suspend."
    for type_ in (Condition.READY, Condition.UPGRADE_IN_PROGRESS):
        # Removed first so lastTransitionTime restarts the initializing timeout.
        conditions = remove_condition(conditions, type_)
        conditions = _set(
            conditions, type_, "False", ConditionReason.INITIALIZING, message, now, generation
        )
    return _base(old, conditions, generation, active={}, pending={}, endpoints=0)


def invalid(
    old: Mapping[str, Any], message: str, endpoints: int, now: str, generation: int
) -> Status:
    """The spec is invalid. Ready stays True while the existing clusters still serve (Ready is
    True exactly when there are serve endpoints); otherwise it says why nothing is served."""
    conditions = initial_conditions(conditions_of(old), now, generation)
    if endpoints > 0:
        conditions = ready_condition(conditions, endpoints, "", now, generation)
    else:
        conditions = _set(
            conditions,
            Condition.READY,
            "False",
            ConditionReason.VALIDATION_FAILED,
            message,
            now,
            generation,
        )
    status: Status = {
        **{k: v for k, v in old.items() if k not in ("kopf", "lastUpdateTime", "serviceStatus")},
        "conditions": conditions,
        "numServeEndpoints": endpoints,
        "observedGeneration": generation,
    }
    if endpoints > 0:
        status["serviceStatus"] = "Running"
    return status


def _base(
    old: Mapping[str, Any],
    conditions: list[ConditionDict],
    generation: int,
    *,
    active: Status,
    pending: Status,
    endpoints: int,
) -> Status:
    status: Status = {
        "conditions": conditions,
        "activeServiceStatus": active,
        "pendingServiceStatus": pending,
        "numServeEndpoints": endpoints,
        "observedGeneration": generation,
    }
    if is_true(conditions, Condition.READY):
        status["serviceStatus"] = "Running"
    return status


def assemble(
    old: Mapping[str, Any],
    conditions: list[ConditionDict],
    generation: int,
    *,
    active: Status,
    pending: Status,
    endpoints: int,
) -> Status:
    return _base(old, conditions, generation, active=active, pending=pending, endpoints=endpoints)


def with_failures(status: Status, failures: Sequence[str], now: str, generation: int) -> Status:
    """Failed actions of this pass, added to Ready's message while Ready is False."""
    ready = find_condition(status.get("conditions") or [], Condition.READY)
    if not failures or ready is None or ready.get("status") == "True":
        return status
    message = "; ".join([str(ready.get("message") or ""), *failures]).strip("; ")
    conditions = set_condition(
        status["conditions"],
        type_=str(ready["type"]),
        status=str(ready["status"]),
        reason=str(ready["reason"]),
        message=bounded(message),
        now=now,
        observed_generation=generation,
    )
    return {**status, "conditions": conditions}


def finalize(old: Mapping[str, Any], new: Status, now: str) -> dict[str, Any] | None:
    """The merge patch of `status` to write (with lastUpdateTime), or None when nothing but the
    time would change. kopf's bookkeeping (`status.kopf`) is left alone."""
    current = {k: v for k, v in old.items() if k not in ("lastUpdateTime", "kopf")}
    patch = merge_diff(current, new)
    if not patch:
        return None
    patch["lastUpdateTime"] = now
    return patch


def log_status(log: Any, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    ready = find_condition(new.get("conditions") or [], Condition.READY) or {}
    log.info(
        "status: ready={ready} ({reason}) endpoints={endpoints} active={active} pending={pending}",
        ready=ready.get("status", "-"),
        reason=ready.get("reason", "-"),
        endpoints=new.get("numServeEndpoints", 0),
        active=(new.get("activeServiceStatus") or {}).get("rayClusterName") or "-",
        pending=(new.get("pendingServiceStatus") or {}).get("rayClusterName") or "-",
    )
