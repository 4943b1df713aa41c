"""Builders of RayService, child RayCluster, pod and Serve-details bodies for unit tests."""

from __future__ import annotations

import copy
from typing import Any

from ray_operator.service.builders import desired_cluster

SERVICE_UID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
SERVE_CONFIG = """\
applications:
  - name: app1
    import_path: tiny.app
    route_prefix: /
"""


def head_group(image: str = "rayproject/ray:2.60.0", **extra: Any) -> dict[str, Any]:
    group: dict[str, Any] = {
        "rayStartParams": {},
        "template": {"spec": {"containers": [{"name": "ray-head", "image": image}]}},
    }
    group.update(extra)
    return group


def worker_group(
    name: str = "small", *, replicas: int = 1, image: str = "rayproject/ray:2.60.0"
) -> dict[str, Any]:
    return {
        "groupName": name,
        "replicas": replicas,
        "minReplicas": 0,
        "maxReplicas": 5,
        "rayStartParams": {},
        "template": {"spec": {"containers": [{"name": "ray-worker", "image": image}]}},
    }


def config(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "rayVersion": "2.60.0",
        "headGroupSpec": head_group(),
        "workerGroupSpecs": [worker_group()],
    }
    body.update(changes)
    return body


def service(
    name: str = "svc",
    *,
    cluster_config: dict[str, Any] | None = None,
    serve_config: str = SERVE_CONFIG,
    status: dict[str, Any] | None = None,
    generation: int = 1,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": SERVICE_UID,
            "generation": generation,
        },
        "spec": {
            "serveConfigV2": serve_config,
            "rayClusterConfig": cluster_config if cluster_config is not None else config(),
            **spec,
        },
    }
    if annotations:
        body["metadata"]["annotations"] = annotations
    if status is not None:
        body["status"] = status
    return body


def child(
    owner: dict[str, Any],
    name: str,
    *,
    head_ready: bool = True,
    serve_hash: str | None = None,
    delete_after: str | None = None,
) -> dict[str, Any]:
    """The child RayCluster as the apiserver would return it after the operator created it."""
    body = copy.deepcopy(desired_cluster(owner, name))
    body["metadata"]["uid"] = f"uid-{name}"
    if serve_hash:
        body["metadata"]["annotations"]["ray.io/serve-config-hash"] = serve_hash
    if delete_after:
        body["metadata"]["annotations"]["ray.io/delete-after"] = delete_after
    body["status"] = {
        "state": "ready" if head_ready else "",
        "conditions": [
            {
                "type": "HeadPodReady",
                "status": "True" if head_ready else "False",
                "reason": "HeadPodRunningAndReady" if head_ready else "HeadPodNotFound",
                "message": "",
                "lastTransitionTime": "2025-01-01T00:00:00Z",
            }
        ],
        "readyWorkerReplicas": 1,
        "kopf": {"progress": {}},
    }
    return body


def pod(
    cluster: str,
    name: str,
    *,
    node_type: str = "head",
    ip: str = "10.0.0.1",
    serve: str | None = "false",
    ready: bool = True,
) -> dict[str, Any]:
    labels = {"ray.io/cluster": cluster, "ray.io/node-type": node_type}
    if serve is not None:
        labels["ray.io/serve"] = serve
    return {
        "metadata": {"name": name, "namespace": "ns", "labels": labels},
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def serve_details(
    apps: dict[str, str] | None = None,
    *,
    proxy_ip: str = "10.0.0.1",
    proxy: str = "HEALTHY",
    messages: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A trimmed `GET /api/serve/applications/?api_type=declarative` answer."""
    messages = messages or {}
    return {
        "controller_info": {"node_id": "node-head", "node_ip": proxy_ip},
        "proxies": {
            "node-head": {"node_id": "node-head", "node_ip": proxy_ip, "status": proxy},
        },
        "applications": {
            name: {
                "name": name,
                "status": status,
                "message": messages.get(name, ""),
                "deployments": {
                    "Tiny": {
                        "name": "Tiny",
                        "status": "HEALTHY" if status == "RUNNING" else "UPDATING",
                        "message": "",
                    }
                },
            }
            for name, status in (apps or {}).items()
        },
    }
