"""Builders of Ray custom resource dicts, as the API would return them, for exporter tests."""

from __future__ import annotations

import copy
from typing import Any

CREATED = "2024-05-01T10:00:00Z"


def metadata(
    name: str, namespace: str = "ns", uid: str | None = None, generation: int = 1, **extra: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid or f"uid-{name}",
        "generation": generation,
        "resourceVersion": "1",
        "creationTimestamp": CREATED,
    }
    meta.update(extra)
    return meta


def raycluster(
    name: str = "c1",
    *,
    status: Any = None,
    labels: dict[str, str] | None = None,
    spec: dict[str, Any] | None = None,
    **meta: Any,
) -> dict[str, Any]:
    """A RayCluster; `spec` adds to (or replaces fields of) the head-only spec."""
    obj: dict[str, Any] = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": metadata(name, **meta),
        "spec": {"headGroupSpec": {"template": {"spec": {"containers": [{"name": "head"}]}}}},
    }
    obj["spec"].update(spec or {})
    if labels is not None:
        obj["metadata"]["labels"] = labels
    if status is not None:
        obj["status"] = status
    return obj


def worker_group(name: str, **fields: Any) -> dict[str, Any]:
    """An entry of `spec.workerGroupSpecs`: `groupName`, a template and the given fields."""
    return {"groupName": name, "template": {"spec": {"containers": [{"name": "w"}]}}, **fields}


def group_status(name: str, ready: Any, available: Any) -> dict[str, Any]:
    """An entry of `status.workerGroups` as this operator writes it."""
    return {"name": name, "readyReplicas": ready, "availableReplicas": available}


def rayjob(name: str = "j1", *, status: Any = None, **meta: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": metadata(name, **meta),
        "spec": {"entrypoint": "python main.py"},
    }
    if status is not None:
        obj["status"] = status
    return obj


def rayservice(name: str = "s1", *, status: Any = None, **meta: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": metadata(name, **meta),
        "spec": {"rayClusterConfig": {"headGroupSpec": {}}},
    }
    if status is not None:
        obj["status"] = status
    return obj


def condition(kind: str, status: str, when: str = "2024-05-01T10:02:30Z") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": "Test", "lastTransitionTime": when}


def attempt(result: str, retry_count: int, start: str, end: str) -> dict[str, Any]:
    return {
        "retryCount": retry_count,
        "result": result,
        "startTime": start,
        "endTime": end,
        "jobId": f"job-{retry_count}",
    }


def modified(obj: dict[str, Any], version: str, **status: Any) -> dict[str, Any]:
    """A copy of `obj` at a new resourceVersion with status fields replaced."""
    new = copy.deepcopy(obj)
    new["metadata"]["resourceVersion"] = version
    new.setdefault("status", {}).update(status)
    return new


def full_exposition(openmetrics: bool = False) -> bytes:
    """A /metrics body in which every family, object and exporter, has at least one sample."""
    from prometheus_client import CollectorRegistry, disable_created_metrics

    from ray_exporter.exposition import Format
    from ray_exporter.families import render
    from ray_exporter.http import MetricsResponder
    from ray_exporter.resources import FAMILY_ORDER, RESOURCES
    from ray_exporter.selfmetrics import SelfMetrics, StateCollector, SyncTracker
    from ray_exporter.sharding import Shard
    from ray_exporter.store import MetricsStore

    disable_created_metrics()  # as main() does
    registry = CollectorRegistry()
    plurals = [resource.plural for resource in RESOURCES]
    metrics = SelfMetrics(registry, plurals, "0.0.0-test")
    store = MetricsStore(RESOURCES, FAMILY_ORDER, Shard())
    tracker = SyncTracker([(plural, None) for plural in plurals])
    registry.register(StateCollector(tracker, store.count))
    provisioned = {"conditions": [condition("RayClusterProvisioned", "True")]}
    history = [attempt("Retrying", 0, CREATED, "2024-05-01T10:00:09Z")]
    provisioned["workerGroups"] = [group_status("g", 1, 1)]
    groups = {"workerGroupSpecs": [worker_group("g", replicas=1, maxReplicas=2)]}
    objects = [
        raycluster(
            "c",
            labels={"ray.io/originated-from-crd": "RayJob"},
            status=provisioned,
            spec=groups,
        ),
        rayjob("j", status={"jobDeploymentStatus": "Retrying", "attemptHistory": history}),
        rayservice("s", status={"conditions": [condition("Ready", "True")]}),
    ]
    for resource, obj in zip(RESOURCES, objects, strict=True):
        store.put(resource.plural, render(resource, obj))
        tracker.listed((resource.plural, None))
        tracker.watching((resource.plural, None))
        metrics.watch_errors.labels(resource.plural, "connection").inc()
        metrics.object_errors.labels(resource.plural, "invalid_timestamp").inc()
        metrics.render_duration.observe(0.0001)
    metrics.scrape_duration.observe(0.002)
    responder = MetricsResponder(store, registry, metrics)
    fmt = Format.OPENMETRICS if openmetrics else Format.TEXT
    return b"".join(responder.body(fmt, gzip=False))
