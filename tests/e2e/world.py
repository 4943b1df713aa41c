"""The spread of Ray objects the dashboards/alerts e2e test creates, and what must follow from it.

A `Spread` describes RayClusters, RayJobs and RayServices per namespace role ("main" is
the namespace the dashboards are checked in, "other" a second one the exporter also
watches). `create_world` creates them in waves and writes their status through the
status subresource (no operator runs). The resulting `World` answers, from the objects
alone, what every panel and alert must show: counts, the exact rows of tables,
quantiles as Prometheus computes them, generation lags.
"""

from __future__ import annotations

import calendar
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from e2e.groups import GroupSpec, spec_fields, status_fields
from integration.exporter_harness import (
    RayObjects,
    condition,
    raycluster,
    rayjob,
    rayservice,
    rfc3339,
)
from kubernetes import client

MAIN, OTHER = "main", "other"
ATTEMPTS_START = 1_700_000_000
"""Attempt timestamps are in the past and fixed: their durations are exact."""


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    owner: str | None
    provisioned_after: int | None
    """Seconds from creation to RayClusterProvisioned=True; None: not provisioned."""
    has_condition: bool = True
    """Without it, a not-provisioned cluster has no RayClusterProvisioned condition at all."""
    unobserved_specs: int = 0
    """Spec changes made after the status was written: the generation lag."""
    groups: tuple[GroupSpec, ...] = ()
    autoscaling: bool = False
    """`spec.enableInTreeAutoscaling`."""


@dataclass(frozen=True)
class Attempt:
    result: str
    retry_count: int
    seconds: int
    """Negative: endTime before startTime, a malformed entry the exporter must skip."""


@dataclass(frozen=True)
class JobSpec:
    name: str
    deployment_status: str | None
    """None: no status at all (a job no operator has picked up)."""
    attempts: tuple[Attempt, ...] = ()


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    ready: str | None
    """Status of the Ready condition; None: no status at all."""
    upgrading: str | None = None
    """Status of UpgradeInProgress; None: no such condition."""


Spec = ClusterSpec | JobSpec | ServiceSpec


@dataclass(frozen=True)
class Created:
    """One object as created: where it lives, its uid, and what it was made from."""

    namespace: str
    uid: str
    spec: Spec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def resource(self) -> str:
        return {ClusterSpec: "rayclusters", JobSpec: "rayjobs", ServiceSpec: "rayservices"}[
            type(self.spec)
        ]

    @property
    def generation_lag(self) -> int:
        spec = self.spec
        if isinstance(spec, ClusterSpec):
            return spec.unobserved_specs
        if isinstance(spec, JobSpec):
            return 1 if spec.deployment_status is None else 0
        return 1 if spec.ready is None else 0


def prom_quantile(q: float, values: Iterable[float]) -> float:
    """PromQL `quantile(q, v)`: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    weight = rank - low
    return ordered[low] * (1 - weight) + ordered[high] * weight


@dataclass
class World:
    """Every object created, in creation order."""

    objects: list[Created] = field(default_factory=list)
    namespaces: dict[str, str] = field(default_factory=dict)
    """Role (MAIN, OTHER) to the real namespace name."""

    def select(self, namespaces: Iterable[str]) -> World:
        wanted = set(namespaces)
        return World([o for o in self.objects if o.namespace in wanted], self.namespaces)

    def clusters(self) -> list[Created]:
        return [o for o in self.objects if isinstance(o.spec, ClusterSpec)]

    def jobs(self) -> list[Created]:
        return [o for o in self.objects if isinstance(o.spec, JobSpec)]

    def services(self) -> list[Created]:
        return [o for o in self.objects if isinstance(o.spec, ServiceSpec)]

    # -- RayClusters ------------------------------------------------------------------

    def provisioned(self) -> list[Created]:
        return [o for o in self.clusters() if cluster(o).provisioned_after is not None]

    def not_provisioned(self) -> list[Created]:
        return [o for o in self.clusters() if cluster(o).provisioned_after is None]

    def provisioning_seconds(self) -> dict[Created, float]:
        return {o: float(cluster(o).provisioned_after or 0) for o in self.provisioned()}

    def worker_groups(self) -> list[tuple[Created, GroupSpec]]:
        return [(o, g) for o in self.clusters() for g in cluster(o).groups]

    def autoscaled_groups(self) -> list[tuple[Created, GroupSpec]]:
        return [(o, g) for o, g in self.worker_groups() if cluster(o).autoscaling]

    def groups_at_max(self) -> list[tuple[Created, GroupSpec]]:
        """Autoscaled groups whose desired pods have reached a non-zero maximum."""
        return [(o, g) for o, g in self.autoscaled_groups() if 0 < g.max_pods <= g.desired_pods]

    # -- RayJobs ----------------------------------------------------------------------

    def jobs_in(self, *statuses: str) -> list[Created]:
        return [o for o in self.jobs() if (job(o).deployment_status or "") in statuses]

    def attempts(self) -> list[tuple[Created, Attempt]]:
        """Finished attempts the exporter serves (malformed ones are skipped)."""
        return [(o, a) for o in self.jobs() for a in job(o).attempts if a.seconds >= 0]

    def malformed_attempts(self) -> list[tuple[Created, Attempt]]:
        return [(o, a) for o in self.jobs() for a in job(o).attempts if a.seconds < 0]

    # -- RayServices ------------------------------------------------------------------

    def ready_services(self) -> list[Created]:
        return [o for o in self.services() if service(o).ready == "True"]

    def unready_services(self) -> list[Created]:
        return [o for o in self.services() if service(o).ready != "True"]

    def upgrading_services(self) -> list[Created]:
        return [o for o in self.services() if service(o).upgrading == "True"]

    def lagging(self) -> list[Created]:
        return [o for o in self.objects if o.generation_lag > 0]


def cluster(o: Created) -> ClusterSpec:
    assert isinstance(o.spec, ClusterSpec)
    return o.spec


def job(o: Created) -> JobSpec:
    assert isinstance(o.spec, JobSpec)
    return o.spec


def service(o: Created) -> ServiceSpec:
    assert isinstance(o.spec, ServiceSpec)
    return o.spec


def rc(name: str, owner: str | None, after: int | None, **kw: Any) -> ClusterSpec:
    return ClusterSpec(name, owner, after, **kw)


SPREAD: dict[str, list[list[Spec]]] = {
    OTHER: [
        [
            rc(
                "c-other",
                None,
                7,
                autoscaling=True,
                groups=(GroupSpec("cpu", 1, 1, 3, ready=1, available=1),),
            ),
            rc("c-other-for-job", "RayJob", 18),
            JobSpec("j-other", "Complete", (Attempt("Complete", 0, 60),)),
            ServiceSpec("s-other", "True", "False"),
        ]
    ],
    MAIN: [
        [
            rc(
                "c-direct",
                None,
                3,
                autoscaling=True,
                groups=(
                    GroupSpec("cpu", 2, 1, 5, ready=2, available=2),
                    GroupSpec("gpu", 4, 0, 4, ready=3, available=2),
                ),
            ),
            rc("c-for-job", "RayJob", 12, groups=(GroupSpec("w", 3, 0, 3, ready=3, available=3),)),
            # Multi-host, at its max; no status.workerGroups (as on KubeRay's CRDs).
            rc(
                "c-for-service",
                "RayService",
                40,
                autoscaling=True,
                groups=(GroupSpec("tpu", 2, 1, 2, hosts=2), GroupSpec("any", 9)),
            ),
            rc(
                "c-slow",
                None,
                95,
                autoscaling=True,
                groups=(
                    GroupSpec("off", 0, 0, 0, ready=0, available=0),
                    GroupSpec("paused", 2, 0, 2, suspend=True, ready=0, available=0),
                ),
            ),
            rc("c-slow-for-service", "RayService", 150),
            rc("c-pending", None, None),
            rc("c-pending-for-job", "RayJob", None, has_condition=False),
            rc("c-spec-unobserved", None, 25, unobserved_specs=2),
        ],
        [
            JobSpec("j-new", None),
            JobSpec("j-initializing", "Initializing"),
            JobSpec("j-running", "Running", (Attempt("Retrying", 0, 45),)),
            JobSpec("j-complete", "Complete", (Attempt("Complete", 0, 120),)),
            JobSpec(
                "j-complete-after-retry",
                "Complete",
                (Attempt("Retrying", 0, 30), Attempt("Complete", 1, 90)),
            ),
            JobSpec(
                "j-failed",
                "Failed",
                (Attempt("Retrying", 0, 20), Attempt("Retrying", 1, 25), Attempt("Failed", 2, 35)),
            ),
            JobSpec("j-validation-failed", "ValidationFailed"),
            JobSpec("j-suspending", "Suspending"),
            JobSpec("j-suspended", "Suspended"),
            JobSpec("j-retrying", "Retrying", (Attempt("Retrying", 0, 50),)),
            JobSpec("j-waiting", "Waiting"),
            JobSpec(
                "j-bad-history",
                "Complete",
                (Attempt("Retrying", 0, 10), Attempt("Complete", 1, -5)),
            ),
        ],
        [
            ServiceSpec("s-ready", "True", "Unknown"),
            ServiceSpec("s-ready-no-upgrade", "True", "False"),
            ServiceSpec("s-upgrading", "True", "True"),
            ServiceSpec("s-not-ready", "False"),
            ServiceSpec("s-not-ready-upgrading", "False", "True"),
            ServiceSpec("s-new", None),
        ],
    ],
}
"""Waves of objects per namespace role. The other namespace comes first, then the main one."""


def waves(spread: dict[str, list[list[Spec]]]) -> list[list[tuple[str, Spec]]]:
    return [[(role, spec) for spec in wave] for role in (OTHER, MAIN) for wave in spread[role]]


# -- writing the objects ---------------------------------------------------------------


def _created_at(obj: dict[str, Any]) -> int:
    stamp = obj["metadata"]["creationTimestamp"]
    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))


def _cluster_status(spec: ClusterSpec, created_at: int) -> dict[str, Any]:
    conditions = []
    if spec.provisioned_after is not None:
        when = rfc3339(created_at + spec.provisioned_after)
        conditions.append(condition("RayClusterProvisioned", "True", when))
        conditions.append(condition("HeadPodReady", "True", when))
    elif spec.has_condition:
        conditions.append(condition("RayClusterProvisioned", "False", rfc3339(created_at)))
    state = "ready" if spec.provisioned_after is not None else "unhealthy"
    status = {"state": state, "conditions": conditions, "observedGeneration": 1}
    return {**status, **status_fields(spec.groups)}


def _job_status(spec: JobSpec) -> dict[str, Any]:
    status: dict[str, Any] = {
        "jobDeploymentStatus": spec.deployment_status,
        "observedGeneration": 1,
    }
    start = ATTEMPTS_START
    history = []
    for attempt in spec.attempts:
        end = start + attempt.seconds
        history.append(
            {
                "retryCount": attempt.retry_count,
                "result": attempt.result,
                "startTime": rfc3339(start),
                "endTime": rfc3339(end),
                "jobId": f"{spec.name}-{attempt.retry_count}",
            }
        )
        start = max(start, end) + 60
    if history:
        status["attemptHistory"] = history
        status["failed"] = sum(1 for a in spec.attempts if a.result != "Complete")
    return status


def _service_status(spec: ServiceSpec, created_at: int) -> dict[str, Any]:
    assert spec.ready is not None
    when = rfc3339(created_at)
    conditions = [condition("Ready", spec.ready, when)]
    if spec.upgrading is not None:
        conditions.append(condition("UpgradeInProgress", spec.upgrading, when))
    return {
        "conditions": conditions,
        "numServeEndpoints": 1 if spec.ready == "True" else 0,
        "observedGeneration": 1,
    }


def create_object(ray: RayObjects, spec: Spec) -> str:
    """Create one object and at once write its status (and later spec changes); its uid."""
    if isinstance(spec, ClusterSpec):
        body = raycluster(spec.name, owner=spec.owner)
        body["spec"].update(spec_fields(spec.groups, spec.autoscaling))
        created = ray.create("rayclusters", body)
        ray.patch_status("rayclusters", spec.name, _cluster_status(spec, _created_at(created)))
        for i in range(spec.unobserved_specs):
            params = {"rayStartParams": {"num-cpus": str(i + 1)}}
            ray.patch("rayclusters", spec.name, {"spec": {"headGroupSpec": params}})
    elif isinstance(spec, JobSpec):
        created = ray.create("rayjobs", rayjob(spec.name))
        if spec.deployment_status is not None:
            ray.patch_status("rayjobs", spec.name, _job_status(spec))
    else:
        created = ray.create("rayservices", rayservice(spec.name))
        if spec.ready is not None:
            ray.patch_status("rayservices", spec.name, _service_status(spec, _created_at(created)))
    return str(created["metadata"]["uid"])


def create_world(
    api: client.ApiClient,
    namespaces: dict[str, str],
    spread: dict[str, list[list[Spec]]],
    after_wave: Callable[[World], object] = lambda world: None,
) -> World:
    """Create every wave in order; `after_wave` waits until the wave is visible."""
    world = World(namespaces=dict(namespaces))
    for wave in waves(spread):
        for role, spec in wave:
            ray = RayObjects(api, namespaces[role])
            world.objects.append(Created(namespaces[role], create_object(ray, spec), spec))
        after_wave(world)
    return world


def names(objects: Sequence[Created]) -> list[str]:
    return sorted(o.name for o in objects)
