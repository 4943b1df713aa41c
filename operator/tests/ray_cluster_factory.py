"""Builders of RayCluster and pod bodies for the operator's unit tests."""

from __future__ import annotations

import copy
from typing import Any

UID = "11111111-2222-3333-4444-555555555555"


def container(name: str = "ray", **resources: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "image": "rayproject/ray:2.41.0"}
    if resources:
        body["resources"] = resources
    return body


def worker_group(
    name: str = "small",
    *,
    replicas: int | None = 2,
    min_replicas: int = 0,
    max_replicas: int = 10,
    **extra: Any,
) -> dict[str, Any]:
    group: dict[str, Any] = {
        "groupName": name,
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "rayStartParams": {},
        "template": {
            "spec": {
                "containers": [container(limits={"cpu": "2", "memory": "4Gi"})],
            }
        },
    }
    if replicas is not None:
        group["replicas"] = replicas
    group.update(extra)
    return group


def cluster(
    name: str = "demo",
    namespace: str = "ns",
    *,
    groups: list[dict[str, Any]] | None = None,
    status: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    generation: int = 1,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": UID,
            "generation": generation,
            "creationTimestamp": "2024-01-01T00:00:00Z",
        },
        "spec": {
            "rayVersion": "2.41.0",
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {
                    "spec": {
                        "containers": [container("ray-head", limits={"cpu": "1", "memory": "2Gi"})]
                    }
                },
            },
            "workerGroupSpecs": groups if groups is not None else [worker_group()],
        },
    }
    body["spec"].update(spec)
    if annotations:
        body["metadata"]["annotations"] = annotations
    if status is not None:
        body["status"] = copy.deepcopy(status)
    return body


def pod(
    name: str,
    *,
    node_type: str = "worker",
    group: str = "small",
    cluster_name: str = "demo",
    phase: str = "Running",
    ready: bool = True,
    created: str = "2024-01-01T00:00:00Z",
    restart: str = "",
    spec_hash: str | None = None,
    terminating: bool = False,
    waiting: str | None = None,
    ip: str = "10.0.0.1",
) -> dict[str, Any]:
    annotations = {"ray.io/restarted-at": restart}
    if spec_hash is not None:
        annotations["ray.io/cluster-spec-hash"] = spec_hash
    body: dict[str, Any] = {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "creationTimestamp": created,
            "labels": {
                "ray.io/cluster": cluster_name,
                "ray.io/node-type": node_type,
                "ray.io/group": "headgroup" if node_type == "head" else group,
            },
            "annotations": annotations,
            "ownerReferences": [{"uid": UID, "controller": True}],
        },
        "status": {
            "phase": phase,
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }
    if terminating:
        body["metadata"]["deletionTimestamp"] = "2024-01-01T00:01:00Z"
    if waiting:
        body["status"]["containerStatuses"] = [
            {"name": "ray", "state": {"waiting": {"reason": waiting, "message": "details"}}}
        ]
    return body


def head(name: str = "demo-head-abcde", **kwargs: Any) -> dict[str, Any]:
    return pod(name, node_type="head", **kwargs)
