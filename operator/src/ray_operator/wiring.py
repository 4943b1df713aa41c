"""The operator's parts built from the settings and wired together: the API client, the
caches and their informers, the three controllers over the reconcile core, kopf's registry
of the primary kinds' watches, and the health state. Nothing of this exists at import time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import kopf
from prometheus_client import CollectorRegistry

from ray_operator.cluster import constants as cluster_constants
from ray_operator.cluster import redis_cleanup
from ray_operator.cluster.kind import ClusterKind
from ray_operator.cluster.status import log_status as log_cluster_status
from ray_operator.cluster.sweeper import Sweeper
from ray_operator.controller import Controller
from ray_operator.core.informer import Informer, Resource
from ray_operator.core.loop import Loop
from ray_operator.core.memory import Memories
from ray_operator.core.store import Store
from ray_operator.dashboard.addresses import DashboardResolver
from ray_operator.dashboard.client import DashboardHttp
from ray_operator.events import EventRecorder
from ray_operator.health import HealthState
from ray_operator.job import constants as job_constants
from ray_operator.job.kind import JobKind, log_transition
from ray_operator.kubeapi import Connection, KubeApi
from ray_operator.kubeconfig import load_connection
from ray_operator.leader import LEASE_NAME
from ray_operator.metrics import OperatorMetrics
from ray_operator.service import constants as service_constants
from ray_operator.service.kind import ServiceKind
from ray_operator.service.status import log_status as log_service_status
from ray_operator.settings import Settings
from ray_operator.throttle import RetryDelays
from ray_operator.watching import enqueue_owners, primary_handler


@dataclass
class Runtime:
    """Everything main() builds; passed down instead of module-level globals."""

    settings: Settings
    connection: Connection
    api: KubeApi
    event_api: KubeApi  # Events' own client and rate limiter
    controllers: list[Controller[Any]]
    informers: list[Informer]
    recorders: list[EventRecorder]
    dashboards: DashboardHttp
    registry: kopf.OperatorRegistry
    kopf_settings: kopf.OperatorSettings
    health: HealthState
    metrics: OperatorMetrics


def kopf_settings(settings: Settings) -> kopf.OperatorSettings:
    result = kopf.OperatorSettings()
    # Our own recorder aggregates Events; kopf must not post one per log line.
    result.posting.enabled = False
    # kopf's bookkeeping lives in status.kopf, never in annotations.
    result.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
    result.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(field="status.kopf.diffbase")
    result.watching.server_timeout = 300
    # The resources to watch are fixed; no cluster-wide reads of CRDs or namespaces
    # (which a namespaced install is not granted) to discover them.
    result.scanning.disabled = True
    result.watching.client_timeout = 330
    # An apiserver that is down (not started yet, restarting) is waited for, with jitter.
    result.networking.error_backoffs = RetryDelays()
    return result


def login_handler(connection: Connection) -> Any:
    def login(**kwargs: Any) -> kopf.ConnectionInfo:
        header = connection.authorization() or ""
        scheme, _sep, token = header.partition(" ")
        return kopf.ConnectionInfo(
            server=connection.server,
            ca_path=connection.ca_path,
            insecure=not connection.verify,
            scheme=scheme or None,
            token=token or None,
            certificate_path=connection.cert_path,
            private_key_path=connection.key_path,
        )

    return login


RBAC = "rbac.authorization.k8s.io/v1"


def sweep_listener(sweeping: Controller[tuple[str, str]]) -> Any:
    """Queues the record of a changed record or cleanup Job (a Job is named as its record)."""

    def listen(before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        obj = after or before or {}
        metadata = obj.get("metadata") or {}
        sweeping.enqueue((str(metadata.get("namespace", "")), str(metadata.get("name", ""))))

    return listen


@dataclass
class Caches:
    """The stores the reconcilers read, and the informers that fill the owned ones."""

    clusters: Store = field(default_factory=lambda: Store("RayCluster"))  # kopf-fed
    jobs: Store = field(default_factory=lambda: Store("RayJob"))  # kopf-fed
    services: Store = field(default_factory=lambda: Store("RayService"))  # kopf-fed
    pods: Store = field(default_factory=lambda: Store("Pod"))
    head_services: Store = field(default_factory=lambda: Store("Service"))
    children: Store = field(default_factory=lambda: Store("RayCluster (child)"))
    submitters: Store = field(default_factory=lambda: Store("Job"))
    serve_services: Store = field(default_factory=lambda: Store("Service (RayService)"))
    job_services: Store = field(default_factory=lambda: Store("Service (RayJob)"))
    slices: Store = field(default_factory=lambda: Store("EndpointSlice"))
    # The autoscaler's, per RayCluster with enableInTreeAutoscaling.
    accounts: Store = field(default_factory=lambda: Store("ServiceAccount"))
    roles: Store = field(default_factory=lambda: Store("Role"))
    bindings: Store = field(default_factory=lambda: Store("RoleBinding"))
    # Fault tolerance: the Redis cleanup records and their Jobs (cluster/redis_cleanup.py).
    cleanup_records: Store = field(default_factory=lambda: Store("ConfigMap (Redis cleanup)"))
    cleanup_jobs: Store = field(default_factory=lambda: Store("Job (Redis cleanup)"))

    @property
    def rbac(self) -> dict[str, Store]:
        return {"ServiceAccount": self.accounts, "Role": self.roles, "RoleBinding": self.bindings}

    def informers(self, api: KubeApi, namespaces: tuple[str, ...]) -> list[Informer]:
        origin = cluster_constants.LABEL_ORIGINATED_FROM_CRD
        rayservice = f"{origin}={service_constants.ORIGINATED_FROM_CRD}"
        owned = (
            (self.pods, Resource("v1", "pods", cluster_constants.LABEL_CLUSTER)),
            (self.head_services, Resource("v1", "services", cluster_constants.LABEL_CLUSTER)),
            (
                self.children,
                Resource(cluster_constants.API_VERSION, cluster_constants.PLURAL, origin),
            ),
            (self.submitters, Resource("batch/v1", "jobs", f"{origin}={job_constants.KIND}")),
            (self.serve_services, Resource("v1", "services", rayservice)),
            (self.job_services, Resource("v1", "services", f"{origin}={job_constants.KIND}")),
            (self.slices, Resource("discovery.k8s.io/v1", "endpointslices", rayservice)),
            (self.accounts, Resource("v1", "serviceaccounts", cluster_constants.LABEL_CLUSTER)),
            (self.roles, Resource(RBAC, "roles", cluster_constants.LABEL_CLUSTER)),
            (self.bindings, Resource(RBAC, "rolebindings", cluster_constants.LABEL_CLUSTER)),
            (self.cleanup_records, Resource("v1", "configmaps", redis_cleanup.RECORD_LABEL)),
            (
                self.cleanup_jobs,
                Resource(
                    "batch/v1",
                    "jobs",
                    f"{cluster_constants.LABEL_NODE_TYPE}={redis_cleanup.NODE_TYPE}",
                ),
            ),
        )
        return [Informer(api, resource, store, namespaces) for store, resource in owned]


def build_runtime(settings: Settings) -> Runtime:
    connection = load_connection()
    metrics = OperatorMetrics(CollectorRegistry(), urlsplit(connection.server).netloc, LEASE_NAME)
    api, event_api = (
        KubeApi(
            connection, qps=settings.kube_api_qps, burst=settings.kube_api_burst, recorder=metrics
        )
        for _ in range(2)
    )
    caches = Caches()
    memories = Memories()
    dashboards = DashboardHttp()
    resolver = DashboardResolver(settings.dashboard_map, cluster_domain=settings.cluster_domain)
    registry = kopf.OperatorRegistry()
    kopf.on.login(registry=registry, id="kubeconfig-or-service-account")(login_handler(connection))
    recorders: list[EventRecorder] = []

    def controller(
        name: str, kind: Any, primary: Store, owned: list[Store], **loop: Any
    ) -> Controller[tuple[str, str]]:
        # Events have their own token bucket, as client-go's recorder has a client of its own:
        # 4 Events per new RayCluster must not hold its pods back in the reconcilers' bucket.
        events = EventRecorder(
            event_api, component=f"{name}-controller", instance=settings.identity, background=True
        )
        recorders.append(events)
        reconciler = Loop(kind, api, events, primary, owned, memories, **loop)
        return Controller(
            name,
            reconciler.reconcile,
            workers=settings.workers,
            resync_period=settings.resync_period,
            kind=kind.kind,
            metrics=metrics.reconciles(name),
            queue_metrics=metrics.queue(name),
        )

    cluster_kind = ClusterKind(
        caches.pods,
        caches.head_services,
        caches.rbac,
        caches.cleanup_records,
        api,
        settings.cluster_domain,
    )
    clusters = controller(
        "raycluster",
        cluster_kind,
        caches.clusters,
        [caches.pods, caches.head_services, *caches.rbac.values(), caches.cleanup_records],
        log_status=log_cluster_status,
    )
    sweep_events = EventRecorder(
        event_api, component="raycluster-controller", instance=settings.identity, background=True
    )
    recorders.append(sweep_events)
    sweeper = Sweeper(
        api,
        sweep_events,
        caches.cleanup_records,
        caches.cleanup_jobs,
        caches.pods,
        caches.clusters,
    )
    sweeping = Controller(
        "redis-cleanup",
        sweeper.reconcile,
        workers=settings.workers,
        resync_period=settings.resync_period,
        kind="RedisCleanup",
        metrics=metrics.reconciles("redis-cleanup"),
        queue_metrics=metrics.queue("redis-cleanup"),
    )
    job_kind = JobKind(
        caches.children,
        caches.clusters,
        caches.submitters,
        dashboards,
        resolver,
        services=caches.job_services,
    )
    jobs = controller(
        "rayjob",
        job_kind,
        caches.jobs,
        [caches.children, caches.submitters, caches.job_services],
        stamps_update_time=False,
        log_status=log_transition,
    )
    service_kind = ServiceKind(
        caches.children, caches.pods, caches.serve_services, caches.slices, dashboards, resolver
    )
    services = controller(
        "rayservice",
        service_kind,
        caches.services,
        [caches.children, caches.serve_services, caches.pods],
        log_status=log_service_status,
    )

    def register(
        plural: str, primary: Store, ctl: Controller[Any], annotations: tuple[str, ...], **kw: Any
    ) -> None:
        kopf.on.event(
            cluster_constants.GROUP, cluster_constants.VERSION, plural, registry=registry, id=plural
        )(primary_handler(primary, ctl, memories, annotations, **kw))

    background: set[asyncio.Task[None]] = set()

    def stop_deleted(_key: tuple[str, str], body: dict[str, Any]) -> None:
        task = asyncio.create_task(job_kind.stop_deleted(body))
        background.add(task)
        task.add_done_callback(background.discard)

    def sweep_deleted(_key: tuple[str, str], body: dict[str, Any]) -> None:
        namespace = str((body.get("metadata") or {}).get("namespace", ""))
        sweeping.enqueue((namespace, redis_cleanup.record_name(body)))

    register(
        cluster_constants.PLURAL,
        caches.clusters,
        clusters,
        (cluster_constants.ANNOTATION_RESTARTED_AT,),
        on_deleted=sweep_deleted,
    )
    caches.cleanup_records.listen(sweep_listener(sweeping))
    caches.cleanup_jobs.listen(sweep_listener(sweeping))
    register(job_constants.PLURAL, caches.jobs, jobs, (), on_deleted=stop_deleted)
    register(
        service_constants.PLURAL,
        caches.services,
        services,
        (service_constants.ANNOTATION_INITIALIZING_TIMEOUT,),
    )
    caches.pods.listen(enqueue_owners(caches.clusters, clusters))
    caches.head_services.listen(enqueue_owners(caches.clusters, clusters))
    for store in caches.rbac.values():
        store.listen(enqueue_owners(caches.clusters, clusters))
    caches.children.listen(enqueue_owners(caches.jobs, jobs))
    caches.children.listen(enqueue_owners(caches.services, services))
    caches.submitters.listen(enqueue_owners(caches.jobs, jobs))
    caches.serve_services.listen(enqueue_owners(caches.services, services))
    caches.slices.listen(enqueue_owners(caches.services, services, via=caches.serve_services))
    for store in (
        caches.pods,
        caches.head_services,
        caches.children,
        caches.submitters,
        caches.serve_services,
        *caches.rbac.values(),
    ):
        store.listen(memories.observe)
    controllers: list[Controller[Any]] = [clusters, services, jobs, sweeping]
    informers = caches.informers(api, settings.namespaces)

    def stats() -> dict[str, Any]:
        return {
            "apiRequests": api.requests + event_api.requests,
            "apiThrottledSeconds": round(
                api.limiter.waited_seconds + event_api.limiter.waited_seconds, 3
            ),
            "memories": len(memories),
            "cached": {i.store.name: len(i.store) for i in informers},
            "controllers": {
                c.name: {
                    "reconciles": c.stats.reconciles,
                    "errors": c.stats.errors,
                    "known": len(c.known),
                    "queued": len(c.queue),
                }
                for c in controllers
            },
        }

    health = HealthState(stats=stats)
    metrics.watch(controllers, lambda: health.leader)
    return Runtime(
        settings=settings,
        connection=connection,
        api=api,
        event_api=event_api,
        controllers=controllers,
        informers=informers,
        recorders=recorders,
        dashboards=dashboards,
        registry=registry,
        kopf_settings=kopf_settings(settings),
        health=health,
        metrics=metrics,
    )
