"""Carrying out the state machine's actions against the API and Ray's dashboards.

Every action is idempotent: creating what exists (409) or deleting what is gone (404)
counts as done. Each success or failure is an Event on the RayService with KubeRay's
reasons; failures are also returned as messages for the status. Only a failure to point the
Services at a cluster raises, because the status computed for that pass assumed the switch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ray_operator import k8s
from ray_operator.cluster import constants as cc
from ray_operator.dashboard.client import DashboardError
from ray_operator.events import ObjectRef
from ray_operator.kubeapi import ApiError, Json, namespaced
from ray_operator.reasons import EventType, Reason
from ray_operator.service import constants as c
from ray_operator.service.actions import (
    Action,
    ApplyServe,
    CreateCluster,
    DeleteCluster,
    Emit,
    Observed,
    PointServices,
    ScheduleDeletion,
    SetServeLabel,
    UpdateCluster,
)
from ray_operator.service.builders import (
    child_selector,
    desired_cluster,
    desired_head_service_for,
    desired_serve_service,
    in_place_patch,
    is_owned_by,
    retarget_patch,
)
from ray_operator.service.serve import ServeConfigError, parse_serve_config, serve_config_hash
from ray_operator.service.spec import serve_config_text

if TYPE_CHECKING:
    from ray_operator.service.reconciler import ServiceReconciler

NORMAL, WARNING = EventType.NORMAL, EventType.WARNING


def count_ready_endpoints(slices: Iterable[Mapping[str, Any]]) -> int:
    """Ready endpoints of a Service's EndpointSlices, one per pod (dual-stack lists a pod in
    one slice per address family)."""
    pods: set[str] = set()
    for endpoint_slice in slices:
        for endpoint in endpoint_slice.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is not True:
                continue
            target = endpoint.get("targetRef") or {}
            identity = (
                target.get("uid") or target.get("name") or ",".join(endpoint.get("addresses") or [])
            )
            if identity:
                pods.add(str(identity))
    return len(pods)


class Actions:
    def __init__(
        self,
        reconciler: ServiceReconciler,
        service: Json,
        ref: ObjectRef,
        log: Any,
        observed: Observed | None = None,
    ) -> None:
        self.r = reconciler
        self.service = service
        self.ref = ref
        self.log = log
        self.observed = observed
        self.failures: list[str] = []
        self.namespace = ref.namespace

    def cluster(self, name: str) -> Json | None:
        clusters = self.observed.clusters if self.observed else {}
        return dict(clusters[name]) if name in clusters else None

    def where(self, name: str) -> str:
        return f"{self.namespace}/{name}"

    async def event(self, type_: EventType, reason: Reason, message: str) -> None:
        await self.r.events.emit(self.ref, type_, reason, message)
        (self.log.warning if type_ is WARNING else self.log.info)(message)

    async def fail(self, reason: Reason, message: str) -> None:
        self.failures.append(message)
        await self.event(WARNING, reason, message)

    async def run(self, actions: Sequence[Action]) -> list[str]:
        for action in actions:
            match action:
                case CreateCluster(name=name):
                    await self.create_cluster(name)
                case UpdateCluster(name=name):
                    await self.update_cluster(name)
                case ApplyServe(cluster=name, why=why):
                    await self.apply_serve(name, why)
                case SetServeLabel():
                    await self.set_label(action)
                case PointServices(cluster=name):
                    await self.point_services(name)
                case ScheduleDeletion(cluster=name, at=at):
                    await self.schedule_deletion(name, at)
                case DeleteCluster(cluster=name, why=why):
                    await self.delete_cluster(name, why)
                case Emit(type_=type_, reason=reason, message=message):
                    await self.event(type_, reason, message)
        return self.failures

    async def create_cluster(self, name: str) -> None:
        body = desired_cluster(self.service, name)
        try:
            await self.r.api.create(namespaced(cc.API_VERSION, cc.PLURAL, self.namespace), body)
        except ApiError as error:
            if error.already_exists:
                return
            await self.fail(
                Reason.FAILED_TO_CREATE_RAY_CLUSTER,
                f"Failed to create the RayCluster {self.where(name)}: {error.message}",
            )
            return
        await self.event(
            NORMAL, Reason.CREATED_RAY_CLUSTER, f"Created the RayCluster {self.where(name)}"
        )

    async def update_cluster(self, name: str) -> None:
        cluster = self.cluster(name)
        patch = in_place_patch(self.service, cluster) if cluster else None
        if patch is None:
            return
        try:
            await self.r.api.merge_patch(
                namespaced(cc.API_VERSION, cc.PLURAL, self.namespace, name), patch
            )
        except ApiError as error:
            await self.fail(
                Reason.FAILED_TO_UPDATE_RAY_CLUSTER,
                f"Failed to update the RayCluster {self.where(name)}: {error.message}",
            )
            return
        await self.event(
            NORMAL, Reason.UPDATED_RAY_CLUSTER, f"Updated the RayCluster {self.where(name)}"
        )

    async def annotate_cluster(self, name: str, annotations: Mapping[str, str]) -> None:
        await self.r.api.merge_patch(
            namespaced(cc.API_VERSION, cc.PLURAL, self.namespace, name),
            {"metadata": {"annotations": dict(annotations)}},
        )

    async def apply_serve(self, name: str, why: str) -> None:
        cluster = self.cluster(name)
        if cluster is None:
            return
        text = serve_config_text(self.service)
        prefix = f"Failed to update serve applications to the RayCluster {self.where(name)}"
        try:
            config = parse_serve_config(text)
        except ServeConfigError as error:
            await self.fail(Reason.FAILED_TO_UPDATE_SERVE_APPLICATIONS, f"{prefix}: {error}")
            return
        url = self.r.resolver.for_cluster(cluster)
        self.log.info(
            "applying serveConfigV2 to {cluster} at {url}: {why}", cluster=name, url=url, why=why
        )
        try:
            await self.r.dashboards.client(url).put_serve_applications(config)
        except DashboardError as error:
            await self.fail(
                Reason.FAILED_TO_UPDATE_SERVE_APPLICATIONS, f"{prefix}: {error.message}"
            )
            return
        try:
            await self.annotate_cluster(
                name, {c.ANNOTATION_SERVE_CONFIG_HASH: serve_config_hash(text)}
            )
        except ApiError as error:
            if not error.not_found:
                raise
        await self.event(
            NORMAL,
            Reason.UPDATED_SERVE_APPLICATIONS,
            f"Updated serve applications to the RayCluster {self.where(name)}",
        )

    async def set_label(self, action: SetServeLabel) -> None:
        path = namespaced("v1", "pods", self.namespace, action.pod)
        what = f"{'the Head Pod' if action.head else 'the Pod'} {self.where(action.pod)}"
        try:
            await self.r.api.merge_patch(
                path, {"metadata": {"labels": {c.LABEL_SERVE: action.value}}}
            )
        except ApiError as error:
            if error.not_found:
                return
            if action.head:
                await self.fail(
                    Reason.FAILED_TO_UPDATE_HEAD_POD_SERVE_LABEL,
                    f"Failed to update the serve label to {action.value!r} for {what}: "
                    f"{error.message}",
                )
            else:
                self.failures.append(f"Failed to update the serve label of {what}: {error.message}")
            return
        message = f"Updated the serve label to {action.value!r} for {what}"
        if action.head:
            await self.event(NORMAL, Reason.UPDATED_HEAD_POD_SERVE_LABEL, message)
        else:
            self.log.info(message)

    async def point_services(self, name: str) -> None:
        for desired in (
            desired_head_service_for(self.service, name),
            desired_serve_service(self.service, name),
        ):
            await self.ensure_service(desired, name)

    async def ensure_service(self, desired: Json, cluster: str) -> None:
        name = str(desired["metadata"]["name"])
        path = namespaced("v1", "services", self.namespace, name)
        where = self.where(name)
        current = await k8s.get_or_none(self.r.api, path)
        if current is None:
            try:
                await self.r.api.create(namespaced("v1", "services", self.namespace), desired)
            except ApiError as error:
                if error.already_exists:
                    return  # created meanwhile; the next pass checks its selector
                message = f"Failed to create the service {where}: {error.message}"
                await self.fail(Reason.FAILED_TO_CREATE_SERVICE, message)
                raise
            await self.event(NORMAL, Reason.CREATED_SERVICE, f"Created the service {where}")
            return
        patch = retarget_patch(desired, current)
        if patch is None:
            return
        try:
            await self.r.api.merge_patch(path, patch)
        except ApiError as error:
            message = f"Failed to update the service {where}: {error.message}"
            await self.fail(Reason.FAILED_TO_UPDATE_SERVICE, message)
            raise
        message = f"Updated the service {where} to select RayCluster {cluster}"
        await self.event(NORMAL, Reason.UPDATED_SERVICE, message)

    async def schedule_deletion(self, name: str, at: str) -> None:
        try:
            await self.annotate_cluster(name, {c.ANNOTATION_DELETE_AFTER: at})
        except ApiError as error:
            if not error.not_found:
                raise
            return
        self.log.info(
            "RayCluster {cluster} is no longer used; deleting it after {at}", cluster=name, at=at
        )

    async def delete_cluster(self, name: str, why: str) -> None:
        try:
            await self.r.api.delete(namespaced(cc.API_VERSION, cc.PLURAL, self.namespace, name))
        except ApiError as error:
            if error.not_found:
                return
            await self.fail(
                Reason.FAILED_TO_DELETE_RAY_CLUSTER,
                f"Failed to delete the RayCluster {self.where(name)}: {error.message}",
            )
            return
        await self.event(
            NORMAL,
            Reason.DELETED_RAY_CLUSTER,
            f"Deleted the RayCluster {self.where(name)}: {why}",
        )

    async def delete_owned(self) -> int:
        """Suspension: delete the service's clusters and Services; how many are still there."""
        remaining = 0
        selector = child_selector(self.service)
        for plural, group_version, kind, failed, deleted in (
            (
                cc.PLURAL,
                cc.API_VERSION,
                "RayCluster",
                Reason.FAILED_TO_DELETE_RAY_CLUSTER,
                Reason.DELETED_RAY_CLUSTER,
            ),
            (
                "services",
                "v1",
                "Service",
                Reason.FAILED_TO_DELETE_SERVICE,
                Reason.DELETED_SERVICE,
            ),
        ):
            items = await self.r.api.list(
                namespaced(group_version, plural, self.namespace), label_selector=selector
            )
            for item in items:
                if not is_owned_by(item, self.service):
                    continue
                remaining += 1
                meta = item["metadata"]
                if meta.get("deletionTimestamp"):
                    continue
                where = self.where(str(meta["name"]))
                try:
                    await self.r.api.delete(
                        namespaced(group_version, plural, self.namespace, meta["name"])
                    )
                except ApiError as error:
                    if error.not_found:
                        continue
                    await self.fail(
                        failed,
                        f"Failed to delete the {kind} {where} during suspend: {error.message}",
                    )
                    continue
                await self.event(NORMAL, deleted, f"Deleted the {kind} {where} during suspend")
        return remaining
