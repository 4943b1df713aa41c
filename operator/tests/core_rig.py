"""A reconcile core wired to the in-memory apiserver (fakeapi.py), for unit tests of each
kind's pass: the real stores, memories, loop, executor and kinds; the informers' part is
played by `sync()`, which lists what the fake holds into the stores (as a relist would)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fakeapi import FakeKubeApi

from ray_operator.cluster.kind import ClusterKind
from ray_operator.core.loop import Loop
from ray_operator.core.memory import Memories
from ray_operator.core.store import Store, uid_of
from ray_operator.dashboard.addresses import DashboardResolver
from ray_operator.dashboard.client import DashboardHttp
from ray_operator.events import EventRecorder
from ray_operator.job.kind import JobKind
from ray_operator.kubeapi import namespaced
from ray_operator.service.kind import ServiceKind
from ray_operator.wiring import Caches

CLUSTERS = "/apis/ray.io/v1/rayclusters"
RBAC = "/apis/rbac.authorization.k8s.io/v1"


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    api: FakeKubeApi
    clock: Clock = field(default_factory=Clock)
    caches: Caches = field(default_factory=Caches)

    def __post_init__(self) -> None:
        self.memories = Memories(monotonic=self.clock)
        owned = [
            self.caches.pods,
            self.caches.head_services,
            *self.caches.rbac.values(),
            self.caches.cleanup_records,
        ]
        for store in owned:
            store.listen(self.memories.observe)
        self.recorder = EventRecorder(self.api, component="raycluster-controller", instance="t")  # type: ignore[arg-type]
        self.loop = Loop(
            ClusterKind(
                self.caches.pods,
                self.caches.head_services,
                self.caches.rbac,
                self.caches.cleanup_records,
                self.api,
            ),
            self.api,  # type: ignore[arg-type]
            self.recorder,
            self.caches.clusters,
            owned,
            self.memories,
            monotonic=self.clock,
        )

    def other_loop(self, plural: str) -> Loop:
        """The RayJob or RayService pass over the same stores (dashboards unreachable)."""
        caches = self.caches
        for store in (
            caches.children,
            caches.submitters,
            caches.serve_services,
            caches.job_services,
        ):
            store.listen(self.memories.observe)
        dashboards, resolver = DashboardHttp(), DashboardResolver("")
        if plural == "rayjobs":
            kind: Any = JobKind(
                caches.children,
                caches.clusters,
                caches.submitters,
                dashboards,
                resolver,
                services=caches.job_services,
            )
            primary = caches.jobs
            owned = [caches.children, caches.submitters, caches.job_services]
        else:
            kind = ServiceKind(
                caches.children,
                caches.pods,
                caches.serve_services,
                caches.slices,
                dashboards,
                resolver,
            )
            primary, owned = caches.services, [caches.children, caches.serve_services]
        return Loop(
            kind, self.api, self.recorder, primary, owned, self.memories, monotonic=self.clock
        )  # type: ignore[arg-type]

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "metadata": {k: v for k, v in body["metadata"].items() if k != "uid"}}
        plural = str(body["kind"]).lower() + "s"
        return await self.api.create(namespaced("ray.io/v1", plural, "ns"), body)

    async def sync(self, *stores: Store) -> None:
        """The informers catch up: every store lists what the apiserver holds."""
        origin = "ray.io/originated-from-crd"
        listed = {
            self.caches.clusters: await self.api.list(CLUSTERS),
            self.caches.jobs: await self.api.list("/apis/ray.io/v1/rayjobs"),
            self.caches.services: await self.api.list("/apis/ray.io/v1/rayservices"),
            self.caches.children: await self.api.list(CLUSTERS, label_selector=origin),
            self.caches.submitters: await self.api.list(
                "/apis/batch/v1/jobs", label_selector=f"{origin}=RayJob"
            ),
            self.caches.serve_services: await self.api.list(
                "/api/v1/services", label_selector=f"{origin}=RayService"
            ),
            self.caches.job_services: await self.api.list(
                "/api/v1/services", label_selector=f"{origin}=RayJob"
            ),
            self.caches.pods: await self.api.list("/api/v1/pods", label_selector="ray.io/cluster"),
            self.caches.head_services: await self.api.list(
                "/api/v1/services", label_selector="ray.io/cluster"
            ),
            self.caches.accounts: await self.api.list(
                "/api/v1/serviceaccounts", label_selector="ray.io/cluster"
            ),
            self.caches.roles: await self.api.list(
                f"{RBAC}/roles", label_selector="ray.io/cluster"
            ),
            self.caches.bindings: await self.api.list(
                f"{RBAC}/rolebindings", label_selector="ray.io/cluster"
            ),
            self.caches.cleanup_records: await self.api.list(
                "/api/v1/configmaps", label_selector="ray.io/redis-cleanup"
            ),
            self.caches.cleanup_jobs: await self.api.list(
                "/apis/batch/v1/jobs", label_selector="ray.io/node-type=redis-cleanup"
            ),
        }
        for store, items in listed.items():
            if not stores or store in stores:
                store.replace(items)

    async def reconcile(self, name: str, *, sync: bool = True) -> tuple[float | None, int]:
        """One pass of RayCluster ns/`name`: its requeue and the API requests it made."""
        if sync:
            await self.sync()
        before = self.api.requests
        requeue = await self.loop.reconcile(("ns", name))
        return requeue, self.api.requests - before

    def deleted(self, body: dict[str, Any]) -> None:
        """What the primary watch handler does on DELETED."""
        self.caches.clusters.delete(body)
        self.memories.drop(uid_of(body))

    def status(self, name: str, plural: str = "rayclusters") -> dict[str, Any]:
        stored = self.api.stored(namespaced("ray.io/v1", plural, "ns", name)) or {}
        return dict(stored.get("status") or {})

    def pods(self) -> list[dict[str, Any]]:
        return [
            p for p in self.api.objects("pods", "ns") if not p["metadata"].get("deletionTimestamp")
        ]

    def ready_pods(self) -> None:
        """kwok's part: every pod runs and is ready."""
        for pod in self.pods():
            self.api.update_status(
                pod,
                {
                    "phase": "Running",
                    "podIP": "10.244.0.9",
                    "conditions": [{"type": "Ready", "status": "True"}],
                },
            )

    def events(self, reason: str) -> list[dict[str, Any]]:
        return [e for e in self.api.objects("events", "ns") if e.get("reason") == reason]
