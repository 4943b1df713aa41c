"""One reconcile pass of a RayJob: read, observe, decide, act, report.

Reads the RayJob and what its state needs (its RayCluster, the submitter Job, the Ray job
through the dashboard), asks the state machine for the next status and actions, performs the
actions in order and writes the status only when all of them succeeded, so a failed
creation is retried (with backoff) instead of being recorded as done. Events describe the
actions (CreatedRayCluster, FailedToCreateRayJobSubmitter, ...) and the machine's findings
(InvalidRayJobSpec, RayClusterNotFound). The RayJob itself is only written through its
status subresource; no finalizer is ever added, so stopping the Ray job on deletion is best
effort: from the deletionTimestamp when a finalizer of someone else holds the object, and
from the DELETED watch event (see handlers.py).
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from ray_operator import k8s
from ray_operator.clock import Clock, utc_now
from ray_operator.cluster import constants as cc
from ray_operator.cluster.spec import status_of
from ray_operator.controller import backoff_delay
from ray_operator.dashboard.addresses import DashboardResolver
from ray_operator.dashboard.client import DashboardError, DashboardHttp, JobAlreadyExistsError
from ray_operator.events import EventRecorder, ObjectRef
from ray_operator.job import constants as c
from ray_operator.job.actions import (
    Action,
    CreateCluster,
    CreateSubmitter,
    DeleteCluster,
    DeleteJobRecord,
    DeleteSubmitter,
    StopJob,
    SubmitJob,
)
from ray_operator.job.machine import decide, deletion_actions
from ray_operator.job.observations import (
    ClusterView,
    DashboardView,
    Observed,
    SubmitterView,
    Timing,
    cluster_view,
    needs,
    submitter_view,
)
from ray_operator.job.spec import JobSpec
from ray_operator.job.validation import validate_job
from ray_operator.kubeapi import ApiError, Json, KubeApi, namespaced
from ray_operator.patches import merge_diff
from ray_operator.reasons import Reason

Key = tuple[str, str]  # (namespace, name)
ALPHABET = string.ascii_lowercase + string.digits


def random_suffix() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(c.NAME_SUFFIX_LENGTH))


class ActionFailedError(Exception):
    """An action the status depends on failed; the status is not written this pass."""


@dataclass
class JobReconciler:
    api: KubeApi
    events: EventRecorder
    dashboards: DashboardHttp
    resolver: DashboardResolver
    timing: Timing = field(default_factory=Timing)
    clock: Clock = utc_now
    suffix: Callable[[], str] = random_suffix
    monotonic: Callable[[], float] = time.monotonic
    submission_errors: dict[Key, str] = field(default_factory=dict)
    failures: dict[Key, int] = field(default_factory=dict)
    stopped: set[str] = field(default_factory=set)

    async def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        log = logger.bind(kind=c.KIND, namespace=namespace, name=name)
        job = await k8s.get_or_none(self.api, namespaced(c.API_VERSION, c.PLURAL, namespace, name))
        if job is None:
            self.forget(key)
            return None
        spec = JobSpec.of(job)
        if spec.managed_by not in ("", cc.MANAGED_BY_US):
            log.debug("managed by {manager}; skipped", manager=spec.managed_by)
            return None
        if (job.get("metadata") or {}).get("deletionTimestamp"):
            await self.stop_deleted(job)
            return None
        cluster_body, observed = await self._observe(job, spec, key, log)
        decision = decide(job, observed, self.timing)
        ref = ObjectRef.of(job)
        try:
            for action in decision.actions:
                await self._act(action, ref, spec, cluster_body, key, log)
        except ActionFailedError:
            failures = self.failures.get(key, 0) + 1
            self.failures[key] = failures
            return backoff_delay(failures, self.timing.wait_period, 120.0)
        self.failures.pop(key, None)
        old = {k: v for k, v in status_of(job).items() if k != "kopf"}
        patch = merge_diff(old, decision.status)
        if patch:
            try:
                await k8s.patch_status(
                    self.api,
                    c.API_VERSION,
                    c.PLURAL,
                    namespace,
                    name,
                    patch,
                    (job.get("metadata") or {}).get("resourceVersion"),
                )
            except ApiError as error:
                if error.conflict:
                    return 0.2
                if error.not_found:
                    return None
                raise
            self._log_transition(old, decision.status, log)
        for event in decision.events:
            await self.events.emit(ref, event.type, event.reason, event.message)
        if decision.status.get("jobDeploymentStatus") != c.DeploymentStatus.RUNNING:
            self.submission_errors.pop(key, None)
        return decision.requeue

    def forget(self, key: Key) -> None:
        self.submission_errors.pop(key, None)
        self.failures.pop(key, None)

    async def _observe(
        self, job: Json, spec: JobSpec, key: Key, log: Any
    ) -> tuple[Json | None, Observed]:
        status = status_of(job)
        wanted = needs(job)
        cluster_name = str(status.get("rayClusterName") or "")
        cluster_body: Json | None = None
        cluster: ClusterView | None = None
        address = ""
        if wanted.cluster:
            cluster_body = await k8s.get_or_none(
                self.api, namespaced(cc.API_VERSION, cc.PLURAL, spec.namespace, cluster_name)
            )
            owner = spec.uid if spec.owns_cluster else None
            cluster = cluster_view(cluster_name, cluster_body, owner)
            if not cluster.exists:
                cluster_body = None
            else:
                address = self.resolver.in_cluster_url(cluster_body or {}).removeprefix("http://")
        submitter: SubmitterView | None = None
        if wanted.submitter:
            submitter = submitter_view(
                await k8s.get_or_none(
                    self.api, namespaced("batch/v1", "jobs", spec.namespace, spec.name)
                )
            )
        dashboard = DashboardView()
        if wanted.dashboard and cluster_body is not None:
            dashboard = await self._poll(cluster_body, str(status.get("jobId")), log)
        observed = Observed(
            now=self.clock(),
            cluster=cluster,
            submitter=submitter,
            dashboard=dashboard,
            dashboard_address=address,
            problems=validate_job(spec),
            suffixes=(self.suffix(), self.suffix()),
            submission_error=self.submission_errors.get(key),
        )
        return cluster_body, observed

    async def _poll(self, cluster: Json, job_id: str, log: Any) -> DashboardView:
        url = self.resolver.for_cluster(cluster)
        try:
            info = await self.dashboards.client(url).job_info(job_id)
        except DashboardError as error:
            log.warning("job status of {job_id} unavailable: {error}", job_id=job_id, error=error)
            return DashboardView(asked=True, error=str(error))
        return DashboardView(asked=True, info=info)

    async def _act(
        self,
        action: Action,
        ref: ObjectRef,
        spec: JobSpec,
        cluster: Json | None,
        key: Key,
        log: Any,
    ) -> None:
        ns = spec.namespace
        if isinstance(action, CreateCluster):
            name = str(action.manifest["metadata"]["name"])
            await self._create(
                namespaced(cc.API_VERSION, cc.PLURAL, ns),
                action.manifest,
                ref,
                (Reason.CREATED_RAY_CLUSTER, f"Created RayCluster {ns}/{name}"),
                (
                    Reason.FAILED_TO_CREATE_RAY_CLUSTER,
                    f"Failed to create RayCluster {ns}/{name}",
                ),
                log,
            )
        elif isinstance(action, DeleteCluster):
            await self._delete(
                namespaced(cc.API_VERSION, cc.PLURAL, ns, action.name),
                ref,
                (Reason.DELETED_RAY_CLUSTER, f"Deleted RayCluster {ns}/{action.name}"),
                (
                    Reason.FAILED_TO_DELETE_RAY_CLUSTER,
                    f"Failed to delete RayCluster {ns}/{action.name}",
                ),
                log,
            )
        elif isinstance(action, CreateSubmitter):
            name = str(action.manifest["metadata"]["name"])
            await self._create(
                namespaced("batch/v1", "jobs", ns),
                action.manifest,
                ref,
                (Reason.CREATED_RAY_JOB_SUBMITTER, f"Created Kubernetes Job {ns}/{name}"),
                (
                    Reason.FAILED_TO_CREATE_RAY_JOB_SUBMITTER,
                    f"Failed to create Kubernetes Job {ns}/{name}",
                ),
                log,
            )
        elif isinstance(action, DeleteSubmitter):
            await self._delete(
                namespaced("batch/v1", "jobs", ns, action.name),
                ref,
                (Reason.DELETED_RAY_JOB_SUBMITTER, f"Deleted submitter Job {ns}/{action.name}"),
                (
                    Reason.FAILED_TO_DELETE_RAY_JOB_SUBMITTER,
                    f"Failed to delete submitter Job {ns}/{action.name}",
                ),
                log,
            )
        elif isinstance(action, SubmitJob):
            await self._submit(action, cluster, key, log)
        elif isinstance(action, StopJob | DeleteJobRecord):
            await self._best_effort(action, cluster, log)

    async def _create(
        self,
        path: str,
        manifest: Json,
        ref: ObjectRef,
        success: tuple[str, str],
        failure: tuple[str, str],
        log: Any,
    ) -> None:
        try:
            await self.api.create(path, manifest)
        except ApiError as error:
            if error.already_exists:
                return
            message = f"{failure[1]}: {error.message}"
            await self.events.emit(ref, "Warning", failure[0], message)
            log.error(message)
            raise ActionFailedError(message) from error
        await self.events.emit(ref, "Normal", *success)
        log.info(success[1])

    async def _delete(
        self,
        path: str,
        ref: ObjectRef,
        success: tuple[str, str],
        failure: tuple[str, str],
        log: Any,
    ) -> None:
        try:
            await self.api.delete(path)
        except ApiError as error:
            if error.not_found:
                return
            message = f"{failure[1]}: {error.message}"
            await self.events.emit(ref, "Warning", failure[0], message)
            log.error(message)
            raise ActionFailedError(message) from error
        await self.events.emit(ref, "Normal", *success)
        log.info(success[1])

    async def _submit(self, action: SubmitJob, cluster: Json | None, key: Key, log: Any) -> None:
        job_id = action.submission.submission_id
        if cluster is None:
            raise ActionFailedError("no cluster to submit to")
        client = self.dashboards.client(self.resolver.for_cluster(cluster))
        try:
            await client.submit_job(action.submission)
        except JobAlreadyExistsError:
            log.info("Ray job {job_id} was submitted already", job_id=job_id)
            return
        except DashboardError as error:
            if error.transient:
                log.warning(
                    "submitting Ray job {job_id} failed: {error}", job_id=job_id, error=error
                )
                raise ActionFailedError(str(error)) from error
            log.error("the dashboard refused Ray job {job_id}: {error}", job_id=job_id, error=error)
            self.submission_errors[key] = error.message
            return
        log.info("submitted Ray job {job_id}", job_id=job_id)

    async def _best_effort(
        self, action: StopJob | DeleteJobRecord, cluster: Json | None, log: Any
    ) -> None:
        if cluster is None:
            return
        client = self.dashboards.client(self.resolver.for_cluster(cluster))
        verb = "stop" if isinstance(action, StopJob) else "delete"
        try:
            if isinstance(action, StopJob):
                done = await client.stop_job(action.job_id)
            else:
                done = await client.delete_job(action.job_id)
        except DashboardError as error:
            log.warning(
                "could not {verb} Ray job {job_id}: {error}",
                verb=verb,
                job_id=action.job_id,
                error=error,
            )
            return
        if done:
            log.info("asked Ray to {verb} job {job_id}", verb=verb, job_id=action.job_id)

    async def stop_deleted(self, job: Mapping[str, Any]) -> None:
        """Best effort: stop the Ray job of a RayJob being (or just) deleted, once."""
        meta = job.get("metadata") or {}
        uid = str(meta.get("uid", ""))
        if uid in self.stopped:
            return
        status = status_of(job)
        namespace, cluster = str(meta.get("namespace", "")), str(status.get("rayClusterName") or "")
        log = logger.bind(kind=c.KIND, namespace=namespace, name=meta.get("name"))
        url = self.resolver.mapped(namespace, cluster) if cluster else None
        if url is None and status.get("dashboardURL"):
            url = "http://" + str(status["dashboardURL"]).removeprefix("http://")
        for action in deletion_actions(job):
            if url is None or not isinstance(action, StopJob):
                continue
            self.stopped.add(uid)
            try:
                stopped = await self.dashboards.client(url).stop_job(action.job_id)
            except DashboardError as error:
                log.warning(
                    "RayJob deleted; could not stop Ray job {job_id}: {error}",
                    job_id=action.job_id,
                    error=error,
                )
                continue
            log.info(
                "RayJob deleted; Ray job {job_id} {result}",
                job_id=action.job_id,
                result="stopped" if stopped else "had already ended",
            )
        if len(self.stopped) > 10000:
            self.stopped.clear()

    def _log_transition(self, old: Json, new: Json, log: Any) -> None:
        before = (old.get("jobDeploymentStatus", ""), old.get("jobStatus", ""))
        after = (new.get("jobDeploymentStatus", ""), new.get("jobStatus", ""))
        if before != after:
            log.info(
                "status: jobDeploymentStatus {old_d!r} -> {new_d!r}, "
                "jobStatus {old_j!r} -> {new_j!r}{reason}",
                old_d=before[0],
                new_d=after[0],
                old_j=before[1],
                new_j=after[1],
                reason=f" ({new['reason']}: {new.get('message', '')})" if new.get("reason") else "",
            )
