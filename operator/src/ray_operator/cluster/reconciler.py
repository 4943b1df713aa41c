"""One reconcile pass of a RayCluster: read, validate, plan, act, report.

Reads the cluster and its pods from the apiserver, validates the spec, executes the plan
(deletions, then creations), ensures the head service, emits Events, and writes the status
when it changed. Failed pods and rejected creations start a per-cluster backoff: pods are
not re-created before it expires, so a broken template or an exhausted quota never turns
into a hot loop. The RayCluster itself is only ever written through its status subresource.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from ray_operator import k8s
from ray_operator.clock import Clock, rfc3339, utc_now
from ray_operator.cluster import constants as c
from ray_operator.cluster import podstate
from ray_operator.cluster.plan import CreatePod, DeletePod, Plan, plan_pods
from ray_operator.cluster.service import desired_head_service, service_drift
from ray_operator.cluster.spec import head_service_name, managed_by_us, status_of
from ray_operator.cluster.status import Failure, Observed, compute_status, finalize
from ray_operator.cluster.validation import validate_cluster
from ray_operator.controller import backoff_delay
from ray_operator.events import EventRecorder, ObjectRef
from ray_operator.kubeapi import ApiError, Json, KubeApi, namespaced
from ray_operator.problems import blocking
from ray_operator.reasons import EventType, Reason

Key = tuple[str, str]  # (namespace, name)


def without_generated_name(message: str, generate_name: str) -> str:
    """The apiserver names the would-be pod ("c-workers-worker-x7k2p") in its errors; drop the
    random suffix so repeated failures read the same and aggregate into one Event."""
    if not generate_name:
        return message
    return re.sub(re.escape(generate_name) + r"[a-z0-9]{5}\b", generate_name, message)


@dataclass
class CreationGate:
    """Per-cluster backoff of pod creation after failures."""

    failures: int = 0
    not_before: float = 0.0


@dataclass
class ClusterReconciler:
    api: KubeApi
    events: EventRecorder
    cluster_domain: str = "cluster.local"
    clock: Clock = utc_now
    monotonic: Callable[[], float] = time.monotonic
    base_delay: float = 2.0
    max_delay: float = 300.0
    gates: dict[Key, CreationGate] = field(default_factory=dict)

    async def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        log = logger.bind(kind=c.KIND, namespace=namespace, name=name)
        cluster = await k8s.get_or_none(
            self.api, namespaced(c.API_VERSION, c.PLURAL, namespace, name)
        )
        if cluster is None:
            self.gates.pop(key, None)
            return None
        meta = cluster.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return None  # garbage collection removes the owned objects
        if not managed_by_us(cluster):
            log.debug(
                "managed by {manager}; skipped",
                manager=(cluster.get("spec") or {}).get("managedBy"),
            )
            return None
        ref = ObjectRef.of(cluster)
        problems = validate_cluster(cluster)
        for problem in problems:
            await self.events.emit(ref, EventType.WARNING, problem.reason, problem.message)
        refused = blocking(problems)
        selector = f"{c.LABEL_CLUSTER}={name}"
        pods = [
            p
            for p in await k8s.list_pods(self.api, namespace, selector)
            if podstate.is_owned_by(p, str(meta.get("uid")))
        ]
        gate = self.gates.get(key)
        allow_create = gate is None or gate.not_before <= self.monotonic()
        failures: list[Failure] = []
        plan = Plan()
        if refused:
            log.warning("spec is invalid: {reasons}", reasons="; ".join(p.message for p in refused))
            service = await k8s.get_or_none(
                self.api, namespaced("v1", "services", namespace, head_service_name(cluster))
            )
        else:
            plan = plan_pods(
                cluster, pods, allow_create=allow_create, cluster_domain=self.cluster_domain
            )
            pods, service = await asyncio.gather(
                self._execute(ref, plan, pods, failures, log),
                self._ensure_service(cluster, ref, failures, log),
            )

        now = rfc3339(self.clock())
        observed = Observed(pods, service, [p.message for p in refused], failures, now)
        status = compute_status(cluster, observed)
        patch = finalize(status_of(cluster), status, now)
        if patch is not None:
            try:
                await k8s.patch_status(
                    self.api,
                    c.API_VERSION,
                    c.PLURAL,
                    namespace,
                    name,
                    patch,
                    meta.get("resourceVersion"),
                )
            except ApiError as error:
                if error.conflict:
                    return 0.2  # the cluster changed meanwhile: look again
                if error.not_found:
                    return None
                raise
            log.info(
                "status: state={state} ready workers {ready}/{desired}",
                state=status.get("state", "-"),
                ready=status["readyWorkerReplicas"],
                desired=status["desiredWorkerReplicas"],
            )
        return self._next_pass(key, plan, failures, status)

    def _next_pass(
        self, key: Key, plan: Plan, failures: list[Failure], status: Json
    ) -> float | None:
        gate = self.gates.get(key)
        if failures or any(d.failed for d in plan.deletes):
            gate = gate or CreationGate()
            gate.failures += 1
            delay = backoff_delay(gate.failures, self.base_delay, self.max_delay)
            gate.not_before = self.monotonic() + delay
            self.gates[key] = gate
            return delay
        if status.get("state") == "ready":
            self.gates.pop(key, None)
        if plan.deferred and gate is not None:
            return max(0.0, gate.not_before - self.monotonic())
        return None

    async def _execute(
        self,
        ref: ObjectRef,
        plan: Plan,
        pods: list[Json],
        failures: list[Failure],
        log: Any,
    ) -> list[Json]:
        """Deletions first (they may free quota), then creations; returns the pods after."""
        deleted = await asyncio.gather(*(self._delete(ref, d, failures, log) for d in plan.deletes))
        gone = {d.name for d, ok in zip(plan.deletes, deleted, strict=True) if ok}
        by_group: dict[tuple[str, str], list[CreatePod]] = {}
        for create in plan.creates:
            by_group.setdefault((create.node_type, create.group), []).append(create)
        batches = await asyncio.gather(
            *(self._slow_start(ref, creates, failures, log) for creates in by_group.values())
        )
        created = [pod for batch in batches for pod in batch]
        return [p for p in pods if podstate.name(p) not in gone] + created

    async def _slow_start(
        self, ref: ObjectRef, creates: list[CreatePod], failures: list[Failure], log: Any
    ) -> list[Json]:
        """Create in batches of 1, 2, 4, ... and stop at the first failure, so a template the
        apiserver rejects (or an exhausted quota) costs one request per pass, not one per pod."""
        created: list[Json] = []
        size, index = 1, 0
        while index < len(creates):
            batch = creates[index : index + size]
            results = await asyncio.gather(*(self._create(ref, cp, failures, log) for cp in batch))
            created += [pod for pod in results if pod is not None]
            if any(pod is None for pod in results):
                break
            index += len(batch)
            size *= 2
        return created

    async def _delete(
        self, ref: ObjectRef, delete: DeletePod, failures: list[Failure], log: Any
    ) -> bool:
        head = delete.node_type == c.NODE_TYPE_HEAD
        what = "head Pod" if head else "worker Pod"
        try:
            await k8s.delete_pod(self.api, ref.namespace, delete.name)
        except ApiError as error:
            reason = (
                Reason.FAILED_TO_DELETE_HEAD_POD if head else Reason.FAILED_TO_DELETE_WORKER_POD
            )
            message = f"Failed to delete {what} {ref.namespace}/{delete.name}: {error.message}"
            failures.append(
                Failure("FailedDeleteHeadPod" if head else "FailedDeleteWorkerPod", message)
            )
            await self.events.emit(ref, EventType.WARNING, reason, message)
            log.error(message)
            return False
        if delete.suspension:
            reason = Reason.DELETED_POD
        else:
            reason = Reason.DELETED_HEAD_POD if head else Reason.DELETED_WORKER_POD
        message = f"Deleted {what} {ref.namespace}/{delete.name}: {delete.why}"
        await self.events.emit(ref, EventType.NORMAL, reason, message)
        log.info(message)
        return True

    async def _create(
        self, ref: ObjectRef, create: CreatePod, failures: list[Failure], log: Any
    ) -> Json | None:
        head = create.node_type == c.NODE_TYPE_HEAD
        what = "head Pod" if head else "worker Pod"
        try:
            pod = await k8s.create_pod(self.api, create.manifest)
        except ApiError as error:
            reason = (
                Reason.FAILED_TO_CREATE_HEAD_POD if head else Reason.FAILED_TO_CREATE_WORKER_POD
            )
            prefix = str(create.manifest["metadata"].get("generateName", ""))
            message = f"Failed to create {what}: {without_generated_name(error.message, prefix)}"
            failures.append(
                Failure("FailedCreateHeadPod" if head else "FailedCreateWorkerPod", message)
            )
            await self.events.emit(ref, EventType.WARNING, reason, message)
            log.error(message)
            return None
        name = podstate.name(pod)
        message = f"Created {what} {ref.namespace}/{name}" + (
            "" if head else f" (group {create.group})"
        )
        await self.events.emit(
            ref,
            EventType.NORMAL,
            Reason.CREATED_HEAD_POD if head else Reason.CREATED_WORKER_POD,
            message,
        )
        log.info(message)
        return pod

    async def _ensure_service(
        self, cluster: Json, ref: ObjectRef, failures: list[Failure], log: Any
    ) -> Json | None:
        desired = desired_head_service(cluster)
        name = str(desired["metadata"]["name"])
        try:
            service, outcome = await k8s.ensure_service(self.api, desired, service_drift)
        except ApiError as error:
            exists = await k8s.get_or_none(
                self.api, namespaced("v1", "services", ref.namespace, name)
            )
            verb, reason = (
                ("update", Reason.FAILED_TO_UPDATE_SERVICE)
                if exists
                else ("create", Reason.FAILED_TO_CREATE_SERVICE)
            )
            message = f"Failed to {verb} head Service {ref.namespace}/{name}: {error.message}"
            failures.append(Failure(f"Failed{verb.capitalize()}Service", message))
            await self.events.emit(ref, EventType.WARNING, reason, message)
            log.error(message)
            return exists
        if outcome is not k8s.Outcome.UNCHANGED:
            reason = (
                Reason.CREATED_SERVICE if outcome is k8s.Outcome.CREATED else Reason.UPDATED_SERVICE
            )
            message = f"{outcome.value.capitalize()} head Service {ref.namespace}/{name}"
            await self.events.emit(ref, EventType.NORMAL, reason, message)
            log.info(message)
        return service
