"""The RayJob kind in the reconcile core (`core/loop.py`): observe, decide, settle.

Observe reads what the job's state needs (`observations.needs`): its RayCluster and its
submitter Job from the informers' stores, and the Ray job's status from the dashboard. The
state machine (`machine.decide`) gives the next status and actions; its API actions become
the core's idempotent writes, the dashboard calls are performed here. A failed action ends
the pass without a status write, so the next pass (after a backoff) retries the same step
instead of recording it as done. The RayJob itself is only written through its status
subresource; no finalizer is ever added, so stopping the Ray job on deletion is best effort:
from the deletionTimestamp when someone else's finalizer holds the object, and from the
DELETED watch event.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from ray_operator.cluster import constants as cc
from ray_operator.cluster.service import service_corrections
from ray_operator.cluster.spec import status_of
from ray_operator.core.actions import (
    Correct,
    Create,
    Decision,
    Delete,
    Emit,
    Failure,
    Outcome,
    Report,
)
from ray_operator.core.executor import Executor, Perform, StopError
from ray_operator.core.loop import Pass
from ray_operator.core.store import Store, meta, owner_uids
from ray_operator.dashboard.addresses import DashboardResolver
from ray_operator.dashboard.client import DashboardError, DashboardHttp, JobAlreadyExistsError
from ray_operator.job import constants as c
from ray_operator.job.actions import (
    CreateCluster,
    CreateSubmitter,
    DeleteCluster,
    DeleteJobRecord,
    DeleteSubmitter,
    StopJob,
    SubmitJob,
)
from ray_operator.job.builders import job_head_service
from ray_operator.job.machine import decide, deletion_actions
from ray_operator.job.observations import (
    DashboardView,
    Observed,
    Timing,
    cluster_view,
    needs,
    submitter_view,
)
from ray_operator.job.spec import JobSpec
from ray_operator.job.validation import validate_job
from ray_operator.kubeapi import Json, namespaced
from ray_operator.reasons import EventType, Reason

ALPHABET = string.ascii_lowercase + string.digits
SUBMISSION_ERROR = "submission_error"  # memory note: the dashboard refused the submission


def random_suffix() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(c.NAME_SUFFIX_LENGTH))


@dataclass(frozen=True)
class JobView:
    cluster: Json | None  # the RayCluster the job runs on, when it exists (and is its own)
    observed: Observed


@dataclass
class JobKind:
    clusters: Store  # RayClusters created for RayJobs
    all_clusters: Store  # every RayCluster (a clusterSelector names one the job does not own)
    submitters: Store
    dashboards: DashboardHttp
    resolver: DashboardResolver
    timing: Timing = field(default_factory=Timing)
    suffix: Callable[[], str] = random_suffix
    stopped: set[str] = field(default_factory=set)
    api_version: str = c.API_VERSION
    plural: str = c.PLURAL
    kind: str = c.KIND
    stop_at_failure: bool = True
    services: Store = field(default_factory=lambda: Store("Service (RayJob)"))

    def manager(self, body: Mapping[str, Any]) -> str:
        managed_by = JobSpec.of(body).managed_by
        return "" if managed_by in ("", cc.MANAGED_BY_US) else managed_by

    async def deleting(self, body: Json) -> None:
        await self.stop_deleted(body)

    async def observe(self, ctx: Pass) -> JobView:
        job = ctx.body
        spec = JobSpec.of(job)
        status = status_of(job)
        wanted = needs(job)
        name = str(status.get("rayClusterName") or "")
        cluster_body: Json | None = None
        cluster = None
        address = ""
        if wanted.cluster:
            store = self.clusters if spec.owns_cluster else self.all_clusters
            cluster_body = store.get(spec.namespace, name)
            owner = spec.uid if spec.owns_cluster else None
            cluster = cluster_view(name, cluster_body, owner)
            if not cluster.exists:
                cluster_body = None
            else:
                address = self.resolver.in_cluster_url(cluster_body or {}).removeprefix("http://")
        submitter = None
        if wanted.submitter:
            held = self.submitters.get(spec.namespace, spec.name)
            submitter = submitter_view(held if held and spec.uid in owner_uids(held) else None)
        dashboard = DashboardView()
        if wanted.dashboard and cluster_body is not None:
            dashboard = await self._poll(cluster_body, str(status.get("jobId")), ctx.log)
        observed = Observed(
            now=ctx.now,
            cluster=cluster,
            submitter=submitter,
            dashboard=dashboard,
            dashboard_address=address,
            problems=validate_job(spec),
            suffixes=(self.suffix(), self.suffix()),
            submission_error=ctx.memory.notes.get(SUBMISSION_ERROR),
        )
        return JobView(cluster_body, observed)

    def decide(self, ctx: Pass, observed: JobView) -> Decision:
        machine = decide(ctx.body, observed.observed, self.timing)
        ns = JobSpec.of(ctx.body).namespace
        actions: list[Any] = []
        for action in machine.actions:
            if isinstance(action, CreateCluster | CreateSubmitter):
                cluster = isinstance(action, CreateCluster)
                name = str(action.manifest["metadata"]["name"])
                what = f"RayCluster {ns}/{name}" if cluster else f"Kubernetes Job {ns}/{name}"
                collection = (
                    namespaced(cc.API_VERSION, cc.PLURAL, ns)
                    if cluster
                    else namespaced("batch/v1", "jobs", ns)
                )
                actions.append(
                    Create(
                        collection,
                        action.manifest,
                        Report(
                            Reason.CREATED_RAY_CLUSTER
                            if cluster
                            else Reason.CREATED_RAY_JOB_SUBMITTER,
                            f"Created {what}",
                        ),
                        Report(
                            Reason.FAILED_TO_CREATE_RAY_CLUSTER
                            if cluster
                            else Reason.FAILED_TO_CREATE_RAY_JOB_SUBMITTER,
                            f"Failed to create {what}",
                        ),
                    )
                )
            elif isinstance(action, DeleteCluster):
                actions.append(
                    Delete(
                        namespaced(cc.API_VERSION, cc.PLURAL, ns, action.name),
                        Report(
                            Reason.DELETED_RAY_CLUSTER, f"Deleted RayCluster {ns}/{action.name}"
                        ),
                        Report(
                            Reason.FAILED_TO_DELETE_RAY_CLUSTER,
                            f"Failed to delete RayCluster {ns}/{action.name}",
                        ),
                    )
                )
            elif isinstance(action, DeleteSubmitter):
                actions.append(
                    Delete(
                        namespaced("batch/v1", "jobs", ns, action.name),
                        Report(
                            Reason.DELETED_RAY_JOB_SUBMITTER,
                            f"Deleted submitter Job {ns}/{action.name}",
                        ),
                        Report(
                            Reason.FAILED_TO_DELETE_RAY_JOB_SUBMITTER,
                            f"Failed to delete submitter Job {ns}/{action.name}",
                        ),
                    )
                )
            else:
                actions.append(action)
        service = self._head_service(ctx.body, observed.cluster)
        if service is not None:
            actions.append(service)
        events = [Emit(EventType(e.type), Reason(e.reason), e.message) for e in machine.events]
        return Decision(machine.status, actions, events, machine.requeue)

    def _head_service(self, job: Json, cluster: Json | None) -> Correct | None:
        """While the job runs on a cluster of its own, `<rayjob>-head-svc` selects its head
        (KubeRay's; with clusterSelector there is none). A retry's new cluster is selected by
        correcting the selector and ports; the allocated clusterIP is kept."""
        spec = JobSpec.of(job)
        running = status_of(job).get("jobDeploymentStatus") == c.DeploymentStatus.RUNNING
        if not running or not spec.owns_cluster or cluster is None:
            return None
        desired = job_head_service(spec, cluster)
        where = f"{spec.namespace}/{desired['metadata']['name']}"
        return Correct(
            namespaced("v1", "services", spec.namespace),
            desired,
            self.services.get(spec.namespace, desired["metadata"]["name"]),
            service_corrections,
            created=Report(Reason.CREATED_SERVICE, f"Created the service {where}"),
            updated=Report(Reason.UPDATED_SERVICE, f"Updated the service {where}"),
            failed_create=Report(
                Reason.FAILED_TO_CREATE_SERVICE, f"Failed to create the service {where}"
            ),
            failed_update=Report(
                Reason.FAILED_TO_UPDATE_SERVICE, f"Failed to update the service {where}"
            ),
        )

    def settle(
        self, ctx: Pass, observed: JobView, decision: Decision, outcome: Outcome
    ) -> tuple[Json | None, float | None]:
        if not outcome.ok:
            problems = [(f.reason, f.message) for f in outcome.failures]
            return None, ctx.memory.failed(ctx.monotonic, problems, self.timing.wait_period, 120.0)
        ctx.memory.succeeded()
        status = decision.status or {}
        if status.get("jobDeploymentStatus") != c.DeploymentStatus.RUNNING:
            ctx.memory.notes.pop(SUBMISSION_ERROR, None)
        return status, decision.requeue

    def perform(self, ctx: Pass, observed: JobView) -> Perform | None:
        async def perform(action: Any, executor: Executor, outcome: Outcome) -> None:
            if isinstance(action, SubmitJob):
                await self._submit(action, observed.cluster, ctx, outcome)
            elif isinstance(action, StopJob | DeleteJobRecord):
                await self._best_effort(action, observed.cluster, ctx.log)
            else:  # pragma: no cover
                raise TypeError(f"no way to perform {action!r}")

        return perform

    async def _poll(self, cluster: Json, job_id: str, log: Any) -> DashboardView:
        url = self.resolver.for_cluster(cluster)
        try:
            info = await self.dashboards.client(url).job_info(job_id)
        except DashboardError as error:
            log.warning("job status of {job_id} unavailable: {error}", job_id=job_id, error=error)
            return DashboardView(asked=True, error=str(error))
        return DashboardView(asked=True, info=info)

    async def _submit(
        self, action: SubmitJob, cluster: Json | None, ctx: Pass, outcome: Outcome
    ) -> None:
        job_id = action.submission.submission_id
        log = ctx.log
        if cluster is None:
            outcome.failures.append(Failure("SubmissionFailed", "no cluster to submit to"))
            raise StopError
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
                outcome.failures.append(Failure("SubmissionFailed", str(error)))
                raise StopError from error
            log.error("the dashboard refused Ray job {job_id}: {error}", job_id=job_id, error=error)
            ctx.memory.notes[SUBMISSION_ERROR] = error.message
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
        m = meta(job)
        uid = str(m.get("uid", ""))
        if uid in self.stopped:
            return
        status = status_of(job)
        namespace, cluster = str(m.get("namespace", "")), str(status.get("rayClusterName") or "")
        log = logger.bind(kind=c.KIND, namespace=namespace, name=m.get("name"))
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


def log_transition(log: Any, old: Json, new: Json) -> None:
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
