"""The RayService kind in the reconcile core (`core/loop.py`): observe, decide, settle.

Observe reads the child RayClusters, the pods of the active and pending clusters, the serve
Service and its EndpointSlices from the informers' stores, and each of those clusters' Serve
status from its dashboard. Decide handles validation and suspension, else asks the upgrade
step (`upgrade.step`) for the status and actions and turns its API actions into the core's
idempotent writes; applying Serve's config is performed here. When pointing the Services at
a cluster fails, no status is written that pass: the status computed for it assumed the
switch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ray_operator.clock import rfc3339
from ray_operator.cluster import constants as cc
from ray_operator.cluster.spec import conditions_of, status_of
from ray_operator.core.actions import (
    Correct,
    Create,
    Decision,
    Delete,
    Emit,
    Failure,
    MergePatch,
    Outcome,
    Report,
)
from ray_operator.core.executor import Executor, Perform
from ray_operator.core.loop import Pass
from ray_operator.core.store import Store, meta, uid_of
from ray_operator.dashboard.addresses import DashboardResolver
from ray_operator.dashboard.client import DashboardError, DashboardHttp
from ray_operator.kubeapi import Json, namespaced
from ray_operator.reasons import EventType, Reason
from ray_operator.service import constants as c
from ray_operator.service import status as st
from ray_operator.service.actions import (
    ApplyServe,
    CreateCluster,
    DeleteCluster,
    Observed,
    PointServices,
    ScheduleDeletion,
    ServeView,
    SetServeLabel,
    UpdateCluster,
)
from ray_operator.service.actions import Emit as ServiceEmit
from ray_operator.service.builders import (
    count_ready_endpoints,
    desired_cluster,
    desired_head_service_for,
    desired_serve_service,
    in_place_patch,
    is_owned_by,
    new_cluster_name,
    retarget_operations,
    selected_cluster,
    serve_service_name,
)
from ray_operator.service.serve import (
    Proxies,
    ServeConfigError,
    application_statuses,
    parse_serve_config,
    serve_config_hash,
)
from ray_operator.service.spec import (
    generation_of,
    managed_by_us,
    serve_config_text,
    suspend_requested,
)
from ray_operator.service.upgrade import head_ready, step
from ray_operator.service.validation import validate_service

POINT_SERVICES = "PointServices"  # the tag of the writes that switch traffic


@dataclass(frozen=True)
class ServiceView:
    observed: Observed
    services: Mapping[str, Json]  # the RayService's own Services by name, as cached


@dataclass
class ServiceKind:
    clusters: Store  # RayClusters created for RayJobs and RayServices
    pods: Store
    services: Store  # Services labelled as a RayService's
    slices: Store  # their EndpointSlices
    dashboards: DashboardHttp
    resolver: DashboardResolver
    base_delay: float = 2.0
    max_delay: float = 300.0
    api_version: str = c.API_VERSION
    plural: str = c.PLURAL
    kind: str = c.KIND
    stop_at_failure: bool = False

    def manager(self, body: Mapping[str, Any]) -> str:
        if managed_by_us(body):
            return ""
        return str((body.get("spec") or {}).get("managedBy"))

    async def deleting(self, body: Json) -> None:
        return None

    def _endpoints(self, service: Json) -> int:
        namespace = str(meta(service).get("namespace"))
        name = serve_service_name(service)
        slices = [
            s
            for s in self.slices.objects()
            if meta(s).get("namespace") == namespace
            and (meta(s).get("labels") or {}).get("kubernetes.io/service-name") == name
        ]
        return count_ready_endpoints(slices)

    async def observe(self, ctx: Pass) -> ServiceView:
        service = ctx.body
        owned = {
            str(meta(x).get("name")): x
            for x in self.clusters.owned_by(uid_of(service))
            if is_owned_by(x, service)
        }
        own_services = {
            str(meta(s).get("name")): s for s in self.services.owned_by(uid_of(service))
        }
        old = status_of(service)
        named = [
            str((old.get(block) or {}).get("rayClusterName") or "")
            for block in ("activeServiceStatus", "pendingServiceStatus")
        ]
        current = [n for n in named if n and n in owned]
        pods = {n: self.pods.owned_by(uid_of(owned[n])) for n in current}
        serve: dict[str, ServeView] = {}
        errors: dict[str, str] = {}

        async def look(name: str) -> None:
            cluster = owned[name]
            if not head_ready(cluster):
                return
            url = self.resolver.for_cluster(cluster)
            try:
                details = await self.dashboards.client(url).serve_applications()
            except DashboardError as error:
                errors[name] = error.message
                ctx.log.warning(
                    "cannot read Serve status of {cluster} at {url}: {error}",
                    cluster=name,
                    url=url,
                    error=error.message,
                )
                return
            serve[name] = ServeView(application_statuses(details), Proxies.of(details))

        await asyncio.gather(*(look(n) for n in current))
        svc = own_services.get(serve_service_name(service))
        observed = Observed(
            clusters=owned,
            pods=pods,
            serve=serve,
            serve_errors=errors,
            serving_cluster=selected_cluster(svc) if svc else None,
            num_serve_endpoints=self._endpoints(service) if svc else 0,
            now=ctx.now,
            new_cluster_name=new_cluster_name(service),
        )
        return ServiceView(observed, own_services)

    def decide(self, ctx: Pass, view: ServiceView) -> Decision:
        service = ctx.body
        now = rfc3339(ctx.now)
        old = status_of(service)
        generation = generation_of(service)
        conditions = conditions_of(old)
        problems = validate_service(service)
        if problems:
            message = "; ".join(p.message for p in problems)
            ctx.log.warning("spec is invalid: {problems}", problems=message)
            endpoints = self._endpoints(service) if view.services else 0
            events = [Emit(EventType.WARNING, p.reason, p.message) for p in problems]
            return Decision(st.invalid(old, message, endpoints, now, generation), events=events)
        if st.suspended(conditions):
            if suspend_requested(service):
                return Decision(None)
            ctx.log.info("resuming")
            return Decision(st.resume(old, now, generation), requeue=0.0)
        if st.suspending(conditions):
            owned = [*view.observed.clusters.values(), *view.services.values()]
            actions = [self._delete_during_suspend(o) for o in owned if not _deleting(o)]
            status = st.continue_suspend(old, len(owned), now, generation)
            return Decision(status, actions, requeue=c.REQUEUE_SECONDS if owned else 0)
        if suspend_requested(service):
            ctx.log.info("suspending")
            return Decision(st.begin_suspend(old, now, generation), requeue=0.0)
        result = step(service, view.observed)
        actions = [a for action in result.actions for a in self._actions(service, view, action)]
        return Decision(result.status, actions, requeue=result.requeue)

    def _delete_during_suspend(self, obj: Json) -> Delete:
        m = meta(obj)
        cluster = obj.get("kind") == "RayCluster"
        kind = "RayCluster" if cluster else "Service"
        where = f"{m.get('namespace')}/{m.get('name')}"
        path = (
            namespaced(cc.API_VERSION, cc.PLURAL, str(m["namespace"]), str(m["name"]))
            if cluster
            else namespaced("v1", "services", str(m["namespace"]), str(m["name"]))
        )
        return Delete(
            path,
            Report(
                Reason.DELETED_RAY_CLUSTER if cluster else Reason.DELETED_SERVICE,
                f"Deleted the {kind} {where} during suspend",
            ),
            Report(
                Reason.FAILED_TO_DELETE_RAY_CLUSTER if cluster else Reason.FAILED_TO_DELETE_SERVICE,
                f"Failed to delete the {kind} {where} during suspend",
            ),
        )

    def _actions(self, service: Json, view: ServiceView, action: Any) -> list[Any]:
        ns = str(meta(service).get("namespace"))
        clusters = namespaced(cc.API_VERSION, cc.PLURAL, ns)
        match action:
            case CreateCluster(name=name):
                where = f"{ns}/{name}"
                return [
                    Create(
                        clusters,
                        desired_cluster(service, name),
                        Report(Reason.CREATED_RAY_CLUSTER, f"Created the RayCluster {where}"),
                        Report(
                            Reason.FAILED_TO_CREATE_RAY_CLUSTER,
                            f"Failed to create the RayCluster {where}",
                        ),
                    )
                ]
            case UpdateCluster(name=name):
                cluster = view.observed.clusters.get(name)
                patch = in_place_patch(service, cluster) if cluster else None
                if patch is None:
                    return []
                return [
                    MergePatch(
                        f"{clusters}/{name}",
                        patch,
                        Report(Reason.UPDATED_RAY_CLUSTER, f"Updated the RayCluster {ns}/{name}"),
                        Report(
                            Reason.FAILED_TO_UPDATE_RAY_CLUSTER,
                            f"Failed to update the RayCluster {ns}/{name}",
                        ),
                        missing_ok=False,
                    )
                ]
            case SetServeLabel(pod=pod, value=value, head=head):
                what = f"{'the Head Pod' if head else 'the Pod'} {ns}/{pod}"
                return [
                    MergePatch(
                        namespaced("v1", "pods", ns, pod),
                        {"metadata": {"labels": {c.LABEL_SERVE: value}}},
                        Report(
                            Reason.UPDATED_HEAD_POD_SERVE_LABEL,
                            f"Updated the serve label to {value!r} for {what}",
                        )
                        if head
                        else None,
                        Report(
                            Reason.FAILED_TO_UPDATE_HEAD_POD_SERVE_LABEL,
                            f"Failed to update the serve label to {value!r} for {what}",
                        )
                        if head
                        else None,
                    )
                ]
            case PointServices(cluster=name):
                return [
                    self._point(ns, desired, view.services, name)
                    for desired in (
                        desired_head_service_for(service, name),
                        desired_serve_service(service, name),
                    )
                ]
            case ScheduleDeletion(cluster=name, at=at):
                return [
                    MergePatch(
                        f"{clusters}/{name}",
                        {"metadata": {"annotations": {c.ANNOTATION_DELETE_AFTER: at}}},
                        None,
                        None,
                    )
                ]
            case DeleteCluster(cluster=name, why=why):
                return [
                    Delete(
                        f"{clusters}/{name}",
                        Report(
                            Reason.DELETED_RAY_CLUSTER, f"Deleted the RayCluster {ns}/{name}: {why}"
                        ),
                        Report(
                            Reason.FAILED_TO_DELETE_RAY_CLUSTER,
                            f"Failed to delete the RayCluster {ns}/{name}",
                        ),
                    )
                ]
            case ServiceEmit(type_=type_, reason=reason, message=message):
                return [Emit(type_, reason, message)]
        return [action]  # ApplyServe: performed by this kind

    def _point(self, ns: str, desired: Json, cached: Mapping[str, Json], cluster: str) -> Correct:
        name = str(desired["metadata"]["name"])
        where = f"{ns}/{name}"
        return Correct(
            namespaced("v1", "services", ns),
            desired,
            cached.get(name),
            retarget_operations,
            created=Report(Reason.CREATED_SERVICE, f"Created the service {where}"),
            updated=Report(
                Reason.UPDATED_SERVICE,
                f"Updated the service {where} to select RayCluster {cluster}",
            ),
            failed_create=Report(
                Reason.FAILED_TO_CREATE_SERVICE, f"Failed to create the service {where}"
            ),
            failed_update=Report(
                Reason.FAILED_TO_UPDATE_SERVICE, f"Failed to update the service {where}"
            ),
            tag=POINT_SERVICES,
        )

    def settle(
        self, ctx: Pass, view: ServiceView, decision: Decision, outcome: Outcome
    ) -> tuple[Json | None, float | None]:
        if decision.status is None:
            return None, decision.requeue
        if any(f.reason == POINT_SERVICES for f in outcome.failures):
            return None, ctx.memory.failed(ctx.monotonic, [], self.base_delay, self.max_delay)
        status = st.with_failures(
            decision.status,
            [f.message for f in outcome.failures],
            rfc3339(ctx.now),
            generation_of(ctx.body),
        )
        requeue = decision.requeue
        if outcome.failures:
            problems = [(f.reason, f.message) for f in outcome.failures]
            requeue = ctx.memory.failed(ctx.monotonic, problems, self.base_delay, self.max_delay)
        else:
            ctx.memory.succeeded()
        return status, requeue

    def perform(self, ctx: Pass, view: ServiceView) -> Perform | None:
        async def perform(action: Any, executor: Executor, outcome: Outcome) -> None:
            if isinstance(action, ApplyServe):
                await self._apply_serve(ctx, view, action, executor, outcome)
            else:  # pragma: no cover
                raise TypeError(f"no way to perform {action!r}")

        return perform

    async def _apply_serve(
        self, ctx: Pass, view: ServiceView, action: ApplyServe, executor: Executor, outcome: Outcome
    ) -> None:
        service, name = ctx.body, action.cluster
        cluster = view.observed.clusters.get(name)
        if cluster is None:
            return
        ns = str(meta(service).get("namespace"))
        text = serve_config_text(service)
        failed = Reason.FAILED_TO_UPDATE_SERVE_APPLICATIONS
        prefix = f"Failed to update serve applications to the RayCluster {ns}/{name}"
        try:
            config = parse_serve_config(text)
        except ServeConfigError as error:
            await _fail(executor, outcome, failed, f"{prefix}: {error}")
            return
        url = self.resolver.for_cluster(cluster)
        ctx.log.info(
            "applying serveConfigV2 to {cluster} at {url}: {why}",
            cluster=name,
            url=url,
            why=action.why,
        )
        try:
            await self.dashboards.client(url).put_serve_applications(config)
        except DashboardError as error:
            await _fail(executor, outcome, failed, f"{prefix}: {error.message}")
            return
        annotate = MergePatch(
            namespaced(cc.API_VERSION, cc.PLURAL, ns, name),
            {
                "metadata": {
                    "annotations": {c.ANNOTATION_SERVE_CONFIG_HASH: serve_config_hash(text)}
                }
            },
            Report(
                Reason.UPDATED_SERVE_APPLICATIONS,
                f"Updated serve applications to the RayCluster {ns}/{name}",
            ),
            None,
        )
        await executor.merge_patch(annotate, outcome)


async def _fail(executor: Executor, outcome: Outcome, reason: Reason, message: str) -> None:
    outcome.failures.append(Failure(reason, message))
    await executor.emit(EventType.WARNING, reason, message)


def _deleting(obj: Json) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))
