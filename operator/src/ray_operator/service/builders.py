"""Desired objects of a RayService, as pure functions: child RayClusters and two Services.

- A child RayCluster `<service>-<5 random characters>` built from `rayClusterConfig`, owned by
  the RayService (controller ownerReference, so garbage collection removes it), labelled
  `ray.io/originated-from-crd: RayService` and `ray.io/originated-from-cr-name: <service>`,
  annotated with the config hash that decides whether a later change needs a new cluster.
  Its pod templates carry `ray.io/serve: "false"`; the reconciler flips a pod's label to
  "true" once Serve's proxy on that pod is healthy.
- The serve Service `<service>-serve-svc` (or `spec.serveService`'s name) selecting
  `ray.io/cluster: <serving cluster>, ray.io/serve: "true"`, with the head's serve ports.
- The RayService's head Service `<service>-head-svc`, selecting the serving cluster's head.

Switching traffic during an upgrade is a change of the `ray.io/cluster` selector value.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from ray_operator.cluster import constants as cc
from ray_operator.cluster.service import desired_head_service
from ray_operator.patches import merge_diff
from ray_operator.service import constants as c
from ray_operator.service.changes import (
    autoscaled,
    config_hash,
    keep_autoscaler_fields,
    num_worker_groups,
)
from ray_operator.service.spec import (
    Body,
    cluster_config,
    metadata_of,
    name_of,
    namespace_of,
    spec_of,
)

Manifest = dict[str, Any]
# The alphabet Kubernetes uses for generated names (no vowels, no look-alikes).
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
SKIPPED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(NAME_ALPHABET) for _ in range(length))


def new_cluster_name(service: Body, suffix: str | None = None) -> str:
    return f"{name_of(service)}-{suffix or random_suffix()}"


def owner_reference(service: Body) -> Manifest:
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND,
        "name": name_of(service),
        "uid": str(metadata_of(service).get("uid", "")),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def origin_labels(service: Body) -> dict[str, str]:
    return {
        c.LABEL_ORIGINATED_FROM_CR_NAME: name_of(service),
        c.LABEL_ORIGINATED_FROM_CRD: c.ORIGINATED_FROM_CRD,
    }


def child_selector(service: Body) -> str:
    """Label selector of the service's child RayClusters and Services."""
    return ",".join(f"{k}={v}" for k, v in origin_labels(service).items())


def is_owned_by(body: Body, service: Body) -> bool:
    uid = metadata_of(service).get("uid")
    refs = metadata_of(body).get("ownerReferences") or []
    return any(ref.get("uid") == uid and ref.get("controller") for ref in refs)


def _label_template(group: dict[str, Any]) -> None:
    template = group.setdefault("template", {})
    metadata = template.setdefault("metadata", {})
    labels = metadata.setdefault("labels", {})
    labels[c.LABEL_SERVE] = "false"


def cluster_labels(service: Body) -> dict[str, str]:
    return {**(metadata_of(service).get("labels") or {}), **origin_labels(service)}


def cluster_annotations(service: Body) -> dict[str, str]:
    config = cluster_config(service)
    inherited = {
        k: v
        for k, v in (metadata_of(service).get("annotations") or {}).items()
        if k not in SKIPPED_ANNOTATIONS
    }
    return {
        **inherited,
        c.ANNOTATION_CONFIG_HASH: config_hash(config),
        c.ANNOTATION_NUM_WORKER_GROUPS: str(num_worker_groups(config)),
    }


def cluster_spec(service: Body) -> Manifest:
    """`rayClusterConfig` with the initial `ray.io/serve: "false"` label on every pod template."""
    spec = copy.deepcopy(dict(cluster_config(service)))
    head = spec.get("headGroupSpec")
    if isinstance(head, dict):
        _label_template(head)
    for group in spec.get("workerGroupSpecs") or []:
        if isinstance(group, dict):
            _label_template(group)
    return spec


def desired_cluster(service: Body, name: str) -> Manifest:
    return {
        "apiVersion": cc.API_VERSION,
        "kind": cc.KIND,
        "metadata": {
            "name": name,
            "namespace": namespace_of(service),
            "labels": cluster_labels(service),
            "annotations": cluster_annotations(service),
            "ownerReferences": [owner_reference(service)],
        },
        "spec": cluster_spec(service),
    }


def in_place_patch(service: Body, cluster: Body) -> Manifest | None:
    """The merge patch updating an existing child cluster to the service's config, keeping its
    `suspend` (a queueing controller may own it) and the reconciler's own annotations."""
    goal = cluster_spec(service)
    current: Mapping[str, Any] = cluster.get("spec") or {}
    if "suspend" in current:
        goal["suspend"] = current["suspend"]
    else:
        goal.pop("suspend", None)
    if autoscaled(goal):
        keep_autoscaler_fields(goal, current)
    patch: Manifest = {}
    spec_patch = merge_diff(current, goal)
    if spec_patch:
        patch["spec"] = spec_patch
    meta = metadata_of(cluster)
    labels = {
        k: v for k, v in cluster_labels(service).items() if (meta.get("labels") or {}).get(k) != v
    }
    annotations = {
        k: v
        for k, v in cluster_annotations(service).items()
        if (meta.get("annotations") or {}).get(k) != v
    }
    if labels or annotations:
        patch["metadata"] = {}
        if labels:
            patch["metadata"]["labels"] = labels
        if annotations:
            patch["metadata"]["annotations"] = annotations
    return patch or None


def _as_cluster(service: Body, cluster_name: str) -> Manifest:
    """A RayCluster body from the service's config, for reusing the cluster builders."""
    return {
        "apiVersion": cc.API_VERSION,
        "kind": cc.KIND,
        "metadata": {"name": cluster_name, "namespace": namespace_of(service)},
        "spec": cluster_spec(service),
    }


def serve_service_name(service: Body) -> str:
    custom = spec_of(service).get("serveService") or {}
    name = (custom.get("metadata") or {}).get("name") if isinstance(custom, Mapping) else None
    return str(name) if name else f"{name_of(service)}-serve-svc"


def head_service_name(service: Body) -> str:
    return f"{name_of(service)}-head-svc"


def is_serve_port(name: str) -> bool:
    return name == c.SERVE_PORT_NAME or name.startswith(f"{c.SERVE_PORT_NAME}-")


def serve_ports(service: Body, cluster_name: str) -> list[Manifest]:
    """The head's ports named `serve` or `serve-*` (declared, else the default 8000)."""
    head = desired_head_service(_as_cluster(service, cluster_name))
    return [
        {"name": p["name"], "port": p["port"], "targetPort": p["targetPort"], "protocol": "TCP"}
        for p in head["spec"]["ports"]
        if is_serve_port(str(p.get("name", "")))
    ]


def desired_serve_service(service: Body, cluster_name: str) -> Manifest:
    custom = copy.deepcopy(dict(spec_of(service).get("serveService") or {}))
    custom_meta = custom.get("metadata") or {}
    spec: Manifest = dict(custom.get("spec") or {})
    ours = serve_ports(service, cluster_name)
    by_name = {p.get("name"): p for p in spec.get("ports") or [] if isinstance(p, Mapping)}
    ports = [dict(by_name.get(p["name"], p)) for p in ours] or [dict(p) for p in by_name.values()]
    head_type = (cluster_config(service).get("headGroupSpec") or {}).get("serviceType")
    spec.update(
        {
            "type": spec.get("type") or head_type or "ClusterIP",
            "selector": {cc.LABEL_CLUSTER: cluster_name, c.LABEL_SERVE: "true"},
            "ports": ports,
        }
    )
    metadata: Manifest = {
        "name": serve_service_name(service),
        "namespace": namespace_of(service),
        "labels": {
            **(custom_meta.get("labels") or {}),
            **origin_labels(service),
            c.LABEL_SERVE: f"{name_of(service)}-serve",
        },
        "ownerReferences": [owner_reference(service)],
    }
    if custom_meta.get("annotations"):
        metadata["annotations"] = dict(custom_meta["annotations"])
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def desired_head_service_for(service: Body, cluster_name: str) -> Manifest:
    """The RayService's own head Service: the serving cluster's head Service, renamed."""
    head = desired_head_service(_as_cluster(service, cluster_name))
    head["metadata"] = {
        "name": head_service_name(service),
        "namespace": namespace_of(service),
        "labels": {
            **origin_labels(service),
            cc.LABEL_NODE_TYPE: cc.NODE_TYPE_HEAD,
            cc.LABEL_IDENTIFIER: f"{name_of(service)}-{cc.NODE_TYPE_HEAD}"[:63].rstrip("-._"),
        },
        "ownerReferences": [owner_reference(service)],
    }
    return head


def selected_cluster(service_body: Body | None) -> str | None:
    """The cluster a Service's selector points at (None when the Service does not exist)."""
    if not service_body:
        return None
    selector = (service_body.get("spec") or {}).get("selector") or {}
    value = selector.get(cc.LABEL_CLUSTER)
    return str(value) if value else None


def retarget_operations(desired: Body, current: Body) -> list[Manifest]:
    """JSON patch operations switching an existing Service to the desired one's selector and
    ports (owned whole, so a key someone else added is removed), or [] when it already points
    there. Allocated fields are the apiserver's."""
    want = desired.get("spec") or {}
    have = current.get("spec") or {}
    ops: list[Manifest] = []
    if want.get("selector") != have.get("selector"):
        ops.append({"op": "add", "path": "/spec/selector", "value": want.get("selector")})
    if _port_keys(want.get("ports") or []) != _port_keys(have.get("ports") or []):
        ops.append({"op": "add", "path": "/spec/ports", "value": want.get("ports")})
    return ops


def _port_keys(ports: list[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((p.get("name"), p.get("port"), p.get("targetPort", p.get("port"))) for p in ports)


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
