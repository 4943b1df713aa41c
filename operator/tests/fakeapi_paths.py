"""What a request path names in the fake apiserver (`fakeapi.py`), and the per-resource facts
the fake needs: kinds, scope, which groups are built in, the Status bodies of errors.

Paths are those of `ray_operator.kubeapi.namespaced`: `/api/v1/namespaces/{ns}/{plural}`
and `/apis/{group}/{version}/namespaces/{ns}/{plural}`, then `/{name}` and `/{subresource}`;
without `namespaces/{ns}` a path names a cluster-scoped resource or, for a namespaced
plural, the collection across all namespaces (list and watch only, as in Kubernetes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ray_operator.kubeapi import ApiError

Json = dict[str, Any]
Key = tuple[str, str, str, str]  # group, plural, namespace ("" if cluster-scoped), name

KINDS = {
    "pods": "Pod",
    "services": "Service",
    "endpoints": "Endpoints",
    "events": "Event",
    "configmaps": "ConfigMap",
    "secrets": "Secret",
    "serviceaccounts": "ServiceAccount",
    "persistentvolumeclaims": "PersistentVolumeClaim",
    "persistentvolumes": "PersistentVolume",
    "namespaces": "Namespace",
    "nodes": "Node",
    "jobs": "Job",
    "deployments": "Deployment",
    "replicasets": "ReplicaSet",
    "statefulsets": "StatefulSet",
    "endpointslices": "EndpointSlice",
    "leases": "Lease",
    "ingresses": "Ingress",
    "networkpolicies": "NetworkPolicy",
    "poddisruptionbudgets": "PodDisruptionBudget",
    "roles": "Role",
    "rolebindings": "RoleBinding",
    "clusterroles": "ClusterRole",
    "clusterrolebindings": "ClusterRoleBinding",
    "customresourcedefinitions": "CustomResourceDefinition",
    "rayclusters": "RayCluster",
    "rayjobs": "RayJob",
    "rayservices": "RayService",
}
PLURALS = {kind: plural for plural, kind in KINDS.items()}
CLUSTER_SCOPED = frozenset(
    {
        "namespaces",
        "nodes",
        "persistentvolumes",
        "clusterroles",
        "clusterrolebindings",
        "customresourcedefinitions",
    }
)
BUILTIN_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "networking.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "apiextensions.k8s.io",
        "autoscaling",
        "scheduling.k8s.io",
        "storage.k8s.io",
    }
)
DEFAULT_STATUS_SUBRESOURCES = frozenset(
    {"rayclusters", "rayjobs", "rayservices", "pods", "services", "jobs"}
)
# Built-in kinds whose PUT needs metadata.resourceVersion (AllowUnconditionalUpdate false);
# custom resources always need it.
CONDITIONAL_PUT_ONLY = frozenset({"leases"})


def kind_of(plural: str) -> str:
    return KINDS.get(plural) or plural[:1].upper() + plural[1:].removesuffix("s")


def plural_of(kind: str) -> str:
    return PLURALS.get(kind) or kind.lower() + "s"


@dataclass(frozen=True)
class Target:
    """The resource a path names."""

    group: str
    version: str
    plural: str
    namespace: str | None  # None: cluster-scoped, or a collection across namespaces
    name: str | None
    subresource: str | None
    params: tuple[tuple[str, str], ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        """How apiserver messages name the resource: `pods`, `rayclusters.ray.io`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def kind(self) -> str:
        return kind_of(self.plural)

    @property
    def builtin(self) -> bool:
        return self.group in BUILTIN_GROUPS

    def key(self, name: str | None = None) -> Key:
        return (self.group, self.plural, self.namespace or "", name or self.name or "")

    def param(self, name: str) -> str | None:
        return dict(self.params).get(name)


def status_body(code: int, reason: str, message: str, details: Json | None = None) -> Json:
    body: Json = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def api_error(code: int, reason: str, message: str, details: Json | None = None) -> ApiError:
    """The error `KubeApi` raises for this answer: the Status body, its reason and message."""
    return ApiError(code, reason, message, status_body(code, reason, message, details))


def no_such_resource() -> ApiError:
    return api_error(404, "NotFound", "the server could not find the requested resource")


def not_found(target: Target, name: str) -> ApiError:
    details = {"name": name, "group": target.group, "kind": target.plural}
    return api_error(404, "NotFound", f'{target.resource} "{name}" not found', details)


def already_exists(target: Target, name: str) -> ApiError:
    details = {"name": name, "group": target.group, "kind": target.plural}
    return api_error(409, "AlreadyExists", f'{target.resource} "{name}" already exists', details)


def conflict(target: Target, name: str, why: str) -> ApiError:
    details = {"name": name, "group": target.group, "kind": target.plural}
    message = f'Operation cannot be fulfilled on {target.resource} "{name}": {why}'
    return api_error(409, "Conflict", message, details)


def invalid(target: Target, name: str, field: str, problem: str) -> ApiError:
    details = {
        "name": name,
        "group": target.group,
        "kind": target.kind,
        "causes": [{"reason": "FieldValueInvalid", "message": problem, "field": field}],
    }
    message = f'{target.kind} "{name}" is invalid: {field}: {problem}'
    return api_error(422, "Invalid", message, details)


def bad_request(message: str) -> ApiError:
    return api_error(400, "BadRequest", message)


def parse_path(
    path: str, params: dict[str, str] | None, cluster_scoped: frozenset[str] = CLUSTER_SCOPED
) -> Target:
    """The target of `path` (a query string in it joins `params`); 404 for no resource."""
    split = urlsplit(path)
    query = (*parse_qsl(split.query), *(params or {}).items())
    parts = [unquote(part) for part in split.path.strip("/").split("/")]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise no_such_resource()
    if not rest or not all(rest):
        raise no_such_resource()
    namespace: str | None = None
    namespace_subresource = group == "" and len(rest) == 3 and rest[2] in ("status", "finalize")
    if rest[0] == "namespaces" and len(rest) >= 3 and not namespace_subresource:
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        raise no_such_resource()
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if namespace is None and plural not in cluster_scoped and name is not None:
        raise no_such_resource()  # /api/v1/pods/x: namespaced objects need their namespace
    if namespace is not None and plural in cluster_scoped:
        raise no_such_resource()
    return Target(group, version, plural, namespace, name, sub, tuple(query))
