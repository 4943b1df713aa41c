"""The metric families and the pure machinery that renders one object into them.

A `Resource` (RayCluster, RayJob, RayService) lists its families and one pure
function per family. `render(resource, obj)` turns a custom resource dict into a
`Rendered` object: for each family the exposition lines of that object (possibly
none), plus the problems met on the way. Nothing here talks to the API or keeps
state, so the same object always renders to the same bytes.

The family names, label names and help strings are KubeRay's, byte for byte
(DESIGN §4), so existing dashboards and queries keep working. One family is
ours: `ray_resource_generation_lag`, shared by the three resources. KubeRay has no
per-worker-group families; the `ray_worker_group_*` ones (workergroups.py) are ours too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ray_exporter import fields
from ray_exporter.exposition import Family, encode, sample
from ray_exporter.fields import Problem, Problems

CLUSTER_INFO = Family(
    "kuberay_cluster_info", "Metadata information about RayCluster custom resources"
)
CLUSTER_CONDITION_PROVISIONED = Family(
    "kuberay_cluster_condition_provisioned", "Indicates whether the RayCluster is provisioned"
)
CLUSTER_PROVISIONED_DURATION_SECONDS = Family(
    "kuberay_cluster_provisioned_duration_seconds",
    "The time, in seconds, when a RayCluster's `RayClusterProvisioned` status transitions"
    " from false (or unset) to true",
)
JOB_INFO = Family("kuberay_job_info", "Metadata information about RayJob custom resources")
JOB_DEPLOYMENT_STATUS = Family(
    "kuberay_job_deployment_status", "The RayJob's current deployment status"
)
JOB_EXECUTION_DURATION_SECONDS = Family(
    "kuberay_job_execution_duration_seconds",
    "Duration from when the RayJob CR\u2019s JobDeploymentStatus transitions from Initializing"
    " to either the Retrying state or a terminal state, such as Complete or Failed. The"
    " Retrying state indicates that the CR previously failed and that spec.backoffLimit is"
    " enabled.",
)
SERVICE_INFO = Family(
    "kuberay_service_info", "Metadata information about RayService custom resources"
)
SERVICE_CONDITION_READY = Family(
    "kuberay_service_condition_ready",
    "Describes whether the RayService is ready. Ready means users can send requests to the"
    " underlying cluster and the number of serve endpoints is greater than 0.",
)
SERVICE_CONDITION_UPGRADE_IN_PROGRESS = Family(
    "kuberay_service_condition_upgrade_in_progress",
    "Describes whether the RayService is performing a zero-downtime upgrade.",
)
RESOURCE_GENERATION_LAG = Family(
    "ray_resource_generation_lag",
    "How many spec generations the operator has not yet observed for this Ray resource",
)
WORKER_GROUP_INFO = Family(
    "ray_worker_group_info",
    "Worker groups of RayClusters, and whether the cluster's Ray autoscaler scales them",
)
WORKER_GROUP_DESIRED_REPLICAS = Family(
    "ray_worker_group_desired_replicas",
    "Worker pods the RayCluster's spec asks for in this group (replicas within"
    " minReplicas..maxReplicas, times numOfHosts; 0 while suspended)",
)
WORKER_GROUP_MIN_REPLICAS = Family(
    "ray_worker_group_min_replicas",
    "Fewest worker pods of this group the autoscaler may scale to (minReplicas times numOfHosts)",
)
WORKER_GROUP_MAX_REPLICAS = Family(
    "ray_worker_group_max_replicas",
    "Most worker pods of this group the autoscaler may scale to (maxReplicas times numOfHosts)",
)
WORKER_GROUP_READY_REPLICAS = Family(
    "ray_worker_group_ready_replicas",
    "Worker pods of this group that are running and ready, as the operator last reported",
)
WORKER_GROUP_AVAILABLE_REPLICAS = Family(
    "ray_worker_group_available_replicas",
    "Worker pods of this group that are available, as the operator last reported",
)


@dataclass(frozen=True, slots=True)
class View:
    """One object as the family functions see it: its identity labels and sections."""

    plural: str
    identity: dict[str, str]
    metadata: Mapping[str, Any]
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    status_valid: bool
    problems: Problems

    def labels(self, **extra: str) -> dict[str, str]:
        """The identity labels (name, namespace, uid) plus `extra`."""
        return {**self.identity, **extra}


FamilyFunction = Callable[[View], str]


@dataclass(frozen=True)
class Resource:
    """A watched resource: its API names and its families, each with its pure renderer."""

    plural: str
    kind: str
    families: tuple[tuple[Family, FamilyFunction], ...]


@dataclass(frozen=True, slots=True)
class Rendered:
    """One object rendered: sort key, version and per-family exposition lines."""

    key: str
    namespace: str
    name: str
    resource_version: str
    lines: tuple[bytes, ...]
    problems: tuple[Problem, ...]

    @property
    def sort_key(self) -> tuple[str, str, str]:
        return (self.namespace, self.name, self.key)


def object_key(obj: Mapping[str, Any]) -> str:
    """The store key of an object: its UID, or namespace/name if it has none."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        return ""
    uid = metadata.get("uid")
    if isinstance(uid, str) and uid:
        return uid
    namespace, name = metadata.get("namespace"), metadata.get("name")
    return (
        f"{namespace if isinstance(namespace, str) else ''}/{name if isinstance(name, str) else ''}"
    )


def resource_version(obj: Mapping[str, Any]) -> str:
    """`metadata.resourceVersion`, or "" when absent or not text."""
    metadata = obj.get("metadata")
    if isinstance(metadata, Mapping):
        value = metadata.get("resourceVersion")
        if isinstance(value, str):
            return value
    return ""


def view(plural: str, obj: Mapping[str, Any], found: Problems) -> View | None:
    """The `View` of an object, or None when it lacks the name or UID every series needs."""
    metadata = fields.section(obj, "metadata", Problem.METADATA_NOT_OBJECT, found)
    spec = fields.section(obj, "spec", Problem.SPEC_NOT_OBJECT, found)
    status = fields.section(obj, "status", Problem.STATUS_NOT_OBJECT, found)
    name = fields.text(metadata, "name", found)
    namespace = fields.text(metadata, "namespace", found, default="")
    uid = fields.text(metadata, "uid", found)
    if not name or namespace is None or not uid:
        found.add(Problem.MISSING_IDENTITY)
        return None
    status_valid = obj.get("status") is None or isinstance(obj.get("status"), Mapping)
    identity = {"name": name, "namespace": namespace, "uid": uid}
    return View(plural, identity, metadata, spec, status, status_valid, found)


def render(resource: Resource, obj: Mapping[str, Any]) -> Rendered:
    """Render every family of `resource` for one object. Never raises on bad input."""
    found = Problems()
    current = view(resource.plural, obj, found)
    lines: list[bytes] = []
    for _family, function in resource.families:
        text = function(current) if current is not None else ""
        data, replaced = encode(text)
        if replaced:
            found.add(Problem.INVALID_TEXT)
        lines.append(data)
    identity = current.identity if current is not None else {}
    return Rendered(
        key=object_key(obj),
        namespace=identity.get("namespace", ""),
        name=identity.get("name", ""),
        resource_version=resource_version(obj),
        lines=tuple(lines),
        problems=found.as_tuple(),
    )


def unrenderable(resource: Resource, obj: Mapping[str, Any]) -> Rendered:
    """An object that made a family function fail: held in the store, but with no series."""
    return Rendered(
        key=object_key(obj),
        namespace="",
        name="",
        resource_version=resource_version(obj),
        lines=(b"",) * len(resource.families),
        problems=(Problem.RENDER_FAILED,),
    )


def generation_lag(view: View) -> str:
    """`metadata.generation - status.observedGeneration` (missing observedGeneration is 0)."""
    generation = fields.integer(
        view.metadata, "generation", view.problems, Problem.INVALID_GENERATION
    )
    if generation is None:
        view.problems.add(Problem.INVALID_GENERATION)
        return ""
    if not view.status_valid:
        return ""
    observed = fields.integer(
        view.status, "observedGeneration", view.problems, Problem.INVALID_GENERATION
    )
    if observed is None and view.status.get("observedGeneration") is not None:
        return ""
    lag = generation - (observed or 0)
    return sample(RESOURCE_GENERATION_LAG.name, view.labels(resource=view.plural), lag)


def info(family: Family) -> FamilyFunction:
    """A family with one series of value 1 per object and only the identity labels."""

    def render_info(view: View) -> str:
        return sample(family.name, view.labels(), 1)

    render_info.__name__ = family.name
    return render_info


def condition_flag(family: Family, condition_type: str) -> FamilyFunction:
    """A family with one series per object: `condition` is "true" iff the condition is True."""

    def render_condition(view: View) -> str:
        by_type = fields.conditions(view.status, view.problems)
        flag = "true" if fields.condition_is_true(by_type, condition_type) else "false"
        return sample(family.name, view.labels(condition=flag), 1)

    render_condition.__name__ = family.name
    return render_condition
