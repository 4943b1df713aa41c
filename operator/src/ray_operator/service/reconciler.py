"""One reconcile pass of a RayService: read, validate, suspend or observe, step, act, report.

Observation reads the child RayClusters, the pods of the active and pending clusters, each of
those clusters' Serve status from its dashboard, the serve Service's selector and its ready
endpoints (EndpointSlices). `upgrade.step` turns that into a status and actions; `Actions`
carries them out. The RayService itself is only ever written through its status subresource.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from ray_operator import k8s
from ray_operator.clock import Clock, rfc3339, utc_now
from ray_operator.cluster import constants as cc
from ray_operator.cluster.spec import conditions_of, status_of
from ray_operator.controller import backoff_delay
from ray_operator.dashboard.addresses import DashboardResolver
from ray_operator.dashboard.client import DashboardError, DashboardHttp
from ray_operator.events import EventRecorder, ObjectRef
from ray_operator.kubeapi import ApiError, Json, KubeApi, namespaced
from ray_operator.reasons import EventType
from ray_operator.service import constants as c
from ray_operator.service import status as st
from ray_operator.service.actions import Observed, ServeView
from ray_operator.service.builders import (
    child_selector,
    is_owned_by,
    new_cluster_name,
    selected_cluster,
    serve_service_name,
)
from ray_operator.service.effects import Actions, count_ready_endpoints
from ray_operator.service.serve import Proxies, application_statuses
from ray_operator.service.spec import generation_of, managed_by_us, suspend_requested
from ray_operator.service.upgrade import head_ready, step
from ray_operator.service.validation import validate_service

Key = tuple[str, str]  # (namespace, name)


@dataclass
class ServiceReconciler:
    api: KubeApi
    events: EventRecorder
    dashboards: DashboardHttp
    resolver: DashboardResolver
    clock: Clock = utc_now
    monotonic: Callable[[], float] = time.monotonic
    base_delay: float = 2.0
    max_delay: float = 300.0
    failures: dict[Key, int] = field(default_factory=dict)

    async def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        log = logger.bind(kind=c.KIND, namespace=namespace, name=name)
        service = await k8s.get_or_none(
            self.api, namespaced(c.API_VERSION, c.PLURAL, namespace, name)
        )
        if service is None:
            self.failures.pop(key, None)
            return None
        meta = service.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return None  # garbage collection removes the clusters and services
        if not managed_by_us(service):
            log.debug("managed by {manager}; skipped", manager=service["spec"].get("managedBy"))
            return None
        ref = ObjectRef.of(service)
        now = self.clock()
        old = status_of(service)
        generation = generation_of(service)
        conditions = conditions_of(old)

        problems = validate_service(service)
        if problems:
            for problem in problems:
                await self.events.emit(ref, EventType.WARNING, problem.reason, problem.message)
            message = "; ".join(p.message for p in problems)
            log.warning("spec is invalid: {problems}", problems=message)
            endpoints = await self._endpoints(service)
            status = st.invalid(old, message, endpoints, rfc3339(now), generation)
            return await self._write(service, status, None, log)

        if st.suspended(conditions):
            if suspend_requested(service):
                return None
            log.info("resuming")
            return await self._write(service, st.resume(old, rfc3339(now), generation), 0.0, log)
        if st.suspending(conditions):
            remaining = await Actions(self, service, ref, log).delete_owned()
            status = st.continue_suspend(old, remaining, rfc3339(now), generation)
            return await self._write(service, status, c.REQUEUE_SECONDS if remaining else 0, log)
        if suspend_requested(service):
            log.info("suspending")
            status = st.begin_suspend(old, rfc3339(now), generation)
            return await self._write(service, status, 0.0, log)

        observed = await self._observe(service, log)
        result = step(service, observed)
        actions = Actions(self, service, ref, log, observed)
        try:
            failures = await actions.run(result.actions)
        except ApiError as error:
            if error.conflict:
                return 0.2
            raise
        status = st.with_failures(result.status, failures, rfc3339(now), generation)
        requeue = result.requeue
        if failures:
            count = self.failures.get(key, 0) + 1
            self.failures[key] = count
            requeue = backoff_delay(count, self.base_delay, self.max_delay)
        else:
            self.failures.pop(key, None)
        return await self._write(service, status, requeue, log)

    async def _write(
        self, service: Json, status: Json, requeue: float | None, log: Any
    ) -> float | None:
        meta = service.get("metadata") or {}
        old = status_of(service)
        patch = st.finalize(old, status, rfc3339(self.clock()))
        if patch is None:
            return requeue
        try:
            await k8s.patch_status(
                self.api,
                c.API_VERSION,
                c.PLURAL,
                str(meta.get("namespace")),
                str(meta.get("name")),
                patch,
                meta.get("resourceVersion"),
            )
        except ApiError as error:
            if error.conflict:
                return 0.2  # the RayService changed meanwhile: look again
            if error.not_found:
                return None
            raise
        ready: Json = next(
            (x for x in status.get("conditions") or [] if x.get("type") == "Ready"), {}
        )
        log.info(
            "status: ready={ready} ({reason}) endpoints={endpoints} "
            "active={active} pending={pending}",
            ready=ready.get("status", "-"),
            reason=ready.get("reason", "-"),
            endpoints=status.get("numServeEndpoints", 0),
            active=(status.get("activeServiceStatus") or {}).get("rayClusterName") or "-",
            pending=(status.get("pendingServiceStatus") or {}).get("rayClusterName") or "-",
        )
        return requeue

    async def _observe(self, service: Json, log: Any) -> Observed:
        meta = service["metadata"]
        namespace = str(meta["namespace"])
        old = status_of(service)
        listed = await self.api.list(
            namespaced(cc.API_VERSION, cc.PLURAL, namespace), label_selector=child_selector(service)
        )
        clusters = {str(x["metadata"]["name"]): x for x in listed if is_owned_by(x, service)}
        named = [
            str((old.get(block) or {}).get("rayClusterName") or "")
            for block in ("activeServiceStatus", "pendingServiceStatus")
        ]
        current = [n for n in named if n and n in clusters]
        pods: dict[str, list[Json]] = {}
        serve: dict[str, ServeView] = {}
        errors: dict[str, str] = {}

        async def look(name: str) -> None:
            cluster = clusters[name]
            pods[name] = [
                p
                for p in await k8s.list_pods(self.api, namespace, f"{cc.LABEL_CLUSTER}={name}")
                if any(
                    r.get("uid") == cluster["metadata"].get("uid")
                    for r in p["metadata"].get("ownerReferences") or []
                )
            ]
            if not head_ready(cluster):
                return
            url = self.resolver.for_cluster(cluster)
            try:
                details = await self.dashboards.client(url).serve_applications()
            except DashboardError as error:
                errors[name] = error.message
                log.warning(
                    "cannot read Serve status of {cluster} at {url}: {error}",
                    cluster=name,
                    url=url,
                    error=error.message,
                )
                return
            serve[name] = ServeView(application_statuses(details), Proxies.of(details))

        await asyncio.gather(*(look(n) for n in current))
        svc = await k8s.get_or_none(
            self.api, namespaced("v1", "services", namespace, serve_service_name(service))
        )
        return Observed(
            clusters=clusters,
            pods=pods,
            serve=serve,
            serve_errors=errors,
            serving_cluster=selected_cluster(svc) if svc and is_owned_by(svc, service) else None,
            num_serve_endpoints=await self._endpoints(service) if svc else 0,
            now=self.clock(),
            new_cluster_name=new_cluster_name(service),
        )

    async def _endpoints(self, service: Json) -> int:
        namespace = str(service["metadata"]["namespace"])
        slices = await self.api.list(
            namespaced("discovery.k8s.io/v1", "endpointslices", namespace),
            label_selector=f"kubernetes.io/service-name={serve_service_name(service)}",
        )
        return count_ready_endpoints(slices)
