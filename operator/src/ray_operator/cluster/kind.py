"""The RayCluster kind in the reconcile core (`core/loop.py`): observe, decide, settle.

Observe reads the cluster's pods and head Service from the informers' stores. Decide
validates the spec and plans pods (`plan.plan_pods`): deletions first (they may free quota),
then creations per group in slow start, together with the head Service's correction. Failed
pods and rejected creations start a backoff: pods are not re-created before it expires, so
a broken template or an exhausted quota never turns into a hot loop, and while the backoff
withholds creations the status keeps the failure that caused it (no flapping between
`failed` and no state). Settle computes the status from the pods as they are after acting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ray_operator.clock import rfc3339
from ray_operator.cluster import autoscaler, faulttolerance, podstate, redis_cleanup
from ray_operator.cluster import constants as c
from ray_operator.cluster.plan import CreatePod, DeletePod, Plan, plan_pods
from ray_operator.cluster.service import desired_head_service, service_corrections
from ray_operator.cluster.spec import head_service_name, spec_of
from ray_operator.cluster.status import Observed, compute_status
from ray_operator.cluster.validation import validate_cluster
from ray_operator.core.actions import (
    Correct,
    Create,
    Decision,
    Delete,
    Emit,
    Failure,
    Outcome,
    Parallel,
    Report,
    SlowStart,
)
from ray_operator.core.executor import Perform
from ray_operator.core.loop import Pass
from ray_operator.core.store import Store, meta, uid_of
from ray_operator.kubeapi import ApiError, Json, namespaced
from ray_operator.problems import Problem, blocking
from ray_operator.reasons import EventType, Reason
from ray_operator.shape import shown

SECRET_RECHECK_SECONDS = 5.0


@dataclass(frozen=True)
class ClusterView:
    pods: list[Json]
    service: Json | None
    rbac: dict[str, Json | None] = field(default_factory=dict)  # kind -> cached object
    cleanup_record: Json | None = None  # fault tolerance: the Redis cleanup record
    missing_secrets: list[Problem] = field(default_factory=list)  # fault tolerance


@dataclass
class ClusterDecision(Decision):
    plan: Plan = field(default_factory=Plan)
    refused: list[Problem] = field(default_factory=list)
    held: bool = False  # an earlier pass's writes were not cached yet: no pod was planned


@dataclass
class ClusterKind:
    pods: Store
    services: Store
    rbac: Mapping[str, Store] = field(default_factory=dict)  # ServiceAccount, Role, RoleBinding
    cleanup_records: Store | None = None  # fault tolerance (redis_cleanup.py)
    secrets: Any = None  # a KubeApi: the Secrets gcsFaultToleranceOptions names must exist
    cluster_domain: str = "cluster.local"
    base_delay: float = 2.0
    max_delay: float = 300.0
    api_version: str = c.API_VERSION
    plural: str = c.PLURAL
    kind: str = c.KIND
    stop_at_failure: bool = False

    def manager(self, body: Mapping[str, Any]) -> str:
        managed_by = spec_of(body).get("managedBy")
        return "" if managed_by in (None, "", c.MANAGED_BY_US) else str(managed_by)

    async def deleting(self, body: Json) -> None:
        return None

    async def observe(self, ctx: Pass) -> ClusterView:
        namespace = str(meta(ctx.body).get("namespace"))
        rbac: dict[str, Json | None] = {}
        if autoscaler.enabled(ctx.body):
            for kind, name in autoscaler.rbac_names(ctx.body).items():
                store = self.rbac.get(kind)
                rbac[kind] = store.get(namespace, name) if store else None
        record = None
        if faulttolerance.enabled(ctx.body) and self.cleanup_records is not None:
            record = self.cleanup_records.get(namespace, redis_cleanup.record_name(ctx.body))
        missing = []
        if self.secrets is not None:
            for where, secret in faulttolerance.secret_names(ctx.body):
                try:
                    await self.secrets.metadata(namespaced("v1", "secrets", namespace, secret))
                except ApiError as error:
                    if not error.not_found:
                        raise
                    missing.append(faulttolerance.missing_secret_problem(namespace, where, secret))
        return ClusterView(
            pods=self.pods.owned_by(uid_of(ctx.body)),
            service=self.services.get(namespace, head_service_name(ctx.body)),
            rbac=rbac,
            cleanup_record=record,
            missing_secrets=missing,
        )

    def decide(self, ctx: Pass, observed: ClusterView) -> ClusterDecision:
        cluster = ctx.body
        problems = [*validate_cluster(cluster), *observed.missing_secrets]
        events = [Emit(EventType.WARNING, p.reason, p.message) for p in problems]
        refused = blocking(problems)
        if refused:
            ctx.log.warning(
                "spec is invalid: {reasons}", reasons="; ".join(p.message for p in refused)
            )
            return ClusterDecision(None, events=events, refused=refused)
        plan = Plan()
        held = ctx.waiting
        if not held:
            plan = plan_pods(
                cluster,
                observed.pods,
                allow_create=ctx.memory.may_act(ctx.monotonic),
                cluster_domain=self.cluster_domain,
            )
        namespace = str(meta(cluster).get("namespace"))
        service = Correct(
            namespaced("v1", "services", namespace),
            desired_head_service(cluster),
            observed.service,
            service_corrections,
            created=Report(Reason.CREATED_SERVICE, f"Created head Service {namespace}/{{name}}"),
            updated=Report(Reason.UPDATED_SERVICE, f"Updated head Service {namespace}/{{name}}"),
            failed_create=Report(
                Reason.FAILED_TO_CREATE_SERVICE,
                f"Failed to create head Service {namespace}/{{name}}",
            ),
            failed_update=Report(
                Reason.FAILED_TO_UPDATE_SERVICE,
                f"Failed to update head Service {namespace}/{{name}}",
            ),
        )
        groups: dict[tuple[str, str], list[Create]] = {}
        for create in plan.creates:
            groups.setdefault((create.node_type, create.group), []).append(
                _create(namespace, create)
            )
        for group, name in plan.unknown_deletes:
            events.append(
                Emit(
                    EventType.WARNING,
                    Reason.WORKER_TO_DELETE_NOT_FOUND,
                    f"scaleStrategy.workersToDelete of worker group {shown(group)} names "
                    f"{shown(name)}, which is no pod of that group; it is skipped",
                )
            )
        actions: list[Any] = []
        if autoscaler.enabled(cluster) and not held:
            # Before the pods (the head pod runs as this ServiceAccount), and one after the
            # other: the apiserver lets a RoleBinding be created only once its Role exists
            # (the creator must hold the Role's rules, which it cannot check before).
            actions += [
                _correct_rbac(namespace, m, observed.rbac) for m in _autoscaler_rbac(cluster)
            ]
        if faulttolerance.enabled(cluster) and self.cleanup_records is not None and not held:
            # Before the pods: a head that writes to Redis always has a record to clean it.
            actions.append(_correct_record(namespace, cluster, observed.cleanup_record))
        actions += [
            Parallel(tuple(_delete(namespace, d) for d in plan.deletes)),
            Parallel((*(SlowStart(tuple(g)) for g in groups.values()), service)),
        ]
        return ClusterDecision(None, actions=actions, events=events, plan=plan, held=held)

    def settle(
        self, ctx: Pass, observed: ClusterView, decision: Decision, outcome: Outcome
    ) -> tuple[Json | None, float | None]:
        assert isinstance(decision, ClusterDecision)
        memory, plan = ctx.memory, decision.plan
        gone = {path.rsplit("/", 1)[-1] for path in outcome.deleted}
        pods = [p for p in observed.pods if podstate.name(p) not in gone]
        pods += [p for p in outcome.created if p.get("kind") == "Pod"]
        service = observed.service
        for written in outcome.written.values():
            if written.get("kind") == "Service":
                service = written
        failures = list(outcome.failures)
        requeue: float | None = None
        failed_pods = any(d.failed for d in plan.deletes)
        if failures or failed_pods:
            problems = [(f.reason, f.message) for f in failures] or list(memory.problems)
            requeue = memory.failed(ctx.monotonic, problems, self.base_delay, self.max_delay)
        elif plan.creates:
            memory.problems = ()  # the creations went through: the cause is gone
        elif plan.deferred or decision.held:
            # The backoff (or an earlier pass's writes not cached yet) withholds creations:
            # the failure that caused it is still there until they succeed.
            failures = [Failure(reason, message) for reason, message in memory.problems]
            if plan.deferred:
                requeue = max(0.0, memory.not_before - ctx.monotonic)
        observed_now = Observed(
            pods,
            service,
            [p.message for p in decision.refused],
            failures,
            rfc3339(ctx.now),
        )
        status = compute_status(ctx.body, observed_now)
        if status.get("state") == "ready":
            memory.succeeded()
        if observed.missing_secrets:
            # Secrets are not watched (that would need list and watch of every Secret):
            # look again for the one that is missing.
            requeue = (
                SECRET_RECHECK_SECONDS if requeue is None else min(requeue, SECRET_RECHECK_SECONDS)
            )
        return status, requeue

    def perform(self, ctx: Pass, observed: ClusterView) -> Perform | None:
        return None


def _autoscaler_rbac(cluster: Json) -> list[Json]:
    account = autoscaler.service_account(cluster)
    return [
        *([account] if account else []),
        autoscaler.role(cluster),
        autoscaler.role_binding(cluster),
    ]


_RBAC_REASONS = {
    "ServiceAccount": (
        "serviceaccounts",
        Reason.CREATED_SERVICE_ACCOUNT,
        Reason.CREATED_SERVICE_ACCOUNT,  # a ServiceAccount is never corrected
        Reason.FAILED_TO_CREATE_SERVICE_ACCOUNT,
        Reason.FAILED_TO_CREATE_SERVICE_ACCOUNT,
    ),
    "Role": (
        "roles",
        Reason.CREATED_ROLE,
        Reason.UPDATED_ROLE,
        Reason.FAILED_TO_CREATE_ROLE,
        Reason.FAILED_TO_UPDATE_ROLE,
    ),
    "RoleBinding": (
        "rolebindings",
        Reason.CREATED_ROLE_BINDING,
        Reason.UPDATED_ROLE_BINDING,
        Reason.FAILED_TO_CREATE_ROLE_BINDING,
        Reason.FAILED_TO_UPDATE_ROLE_BINDING,
    ),
}


def _correct_rbac(namespace: str, manifest: Json, cached: Mapping[str, Json | None]) -> Correct:
    kind = str(manifest["kind"])
    plural, created, updated, failed_create, failed_update = _RBAC_REASONS[kind]
    group_version = str(manifest["apiVersion"])
    what = f"{kind} {namespace}/{{name}} for the autoscaler"
    return Correct(
        namespaced(group_version, plural, namespace),
        manifest,
        cached.get(kind),
        autoscaler.corrections,
        created=Report(created, f"Created {what}"),
        updated=Report(updated, f"Updated {what}"),
        failed_create=Report(failed_create, f"Failed to create {what}"),
        failed_update=Report(failed_update, f"Failed to update {what}"),
    )


def _correct_record(namespace: str, cluster: Json, cached: Json | None) -> Correct:
    what = f"Redis cleanup record {namespace}/{{name}}"
    return Correct(
        namespaced("v1", "configmaps", namespace),
        redis_cleanup.record(cluster),
        cached,
        redis_cleanup.record_corrections,
        created=Report(Reason.CREATED_REDIS_CLEANUP_RECORD, f"Created {what}"),
        updated=Report(Reason.UPDATED_REDIS_CLEANUP_RECORD, f"Updated {what}"),
        failed_create=Report(
            Reason.FAILED_TO_CREATE_REDIS_CLEANUP_RECORD, f"Failed to create {what}"
        ),
        failed_update=Report(
            Reason.FAILED_TO_UPDATE_REDIS_CLEANUP_RECORD, f"Failed to update {what}"
        ),
    )


def _create(namespace: str, create: CreatePod) -> Create:
    head = create.node_type == c.NODE_TYPE_HEAD
    what = "head Pod" if head else "worker Pod"
    suffix = "" if head else f" (group {create.group})"
    return Create(
        namespaced("v1", "pods", namespace),
        create.manifest,
        done=Report(
            Reason.CREATED_HEAD_POD if head else Reason.CREATED_WORKER_POD,
            f"Created {what} {namespace}/{{name}}{suffix}",
        ),
        failed=Report(
            Reason.FAILED_TO_CREATE_HEAD_POD if head else Reason.FAILED_TO_CREATE_WORKER_POD,
            f"Failed to create {what}",
        ),
        tag="FailedCreateHeadPod" if head else "FailedCreateWorkerPod",
    )


def _delete(namespace: str, delete: DeletePod) -> Delete:
    head = delete.node_type == c.NODE_TYPE_HEAD
    what = "head Pod" if head else "worker Pod"
    if delete.suspension:
        reason = Reason.DELETED_POD
    else:
        reason = Reason.DELETED_HEAD_POD if head else Reason.DELETED_WORKER_POD
    return Delete(
        namespaced("v1", "pods", namespace, delete.name),
        done=Report(reason, f"Deleted {what} {namespace}/{delete.name}: {delete.why}"),
        failed=Report(
            Reason.FAILED_TO_DELETE_HEAD_POD if head else Reason.FAILED_TO_DELETE_WORKER_POD,
            f"Failed to delete {what} {namespace}/{delete.name}",
        ),
        tag="FailedDeleteHeadPod" if head else "FailedDeleteWorkerPod",
    )
