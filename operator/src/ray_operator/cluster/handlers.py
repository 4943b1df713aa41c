"""kopf registrations for RayClusters: watch events only enqueue work for the controller.

No changing handlers (on.create/update/delete), timers or daemons are registered, so kopf
never adds finalizers or annotations to a RayCluster. A RayCluster event enqueues the
cluster when something the reconciler acts on changed (its status echoes are skipped);
an event on a pod or service labelled `ray.io/cluster` enqueues its cluster shortly after,
so a deleted or failed pod is replaced within seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from ray_operator.cluster import constants as c
from ray_operator.controller import Controller

Key = tuple[str, str]
OWNED_EVENT_DELAY = 0.2  # coalesces bursts of pod events into one reconcile


def fingerprint(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """What of a RayCluster's metadata matters to the reconciler (status does not)."""
    meta = body.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return (
        meta.get("uid"),
        meta.get("generation"),
        annotations.get(c.ANNOTATION_RESTARTED_AT),
        meta.get("deletionTimestamp"),
    )


def register(registry: kopf.OperatorRegistry, controller: Controller[Key]) -> None:
    seen: dict[Key, tuple[Any, ...]] = {}

    @kopf.on.event(c.GROUP, c.VERSION, c.PLURAL, registry=registry, id="rayclusters")
    async def raycluster_event(event: Mapping[str, Any], body: kopf.Body, **_: Any) -> None:
        key = (str(body.metadata.namespace), str(body.metadata.name))
        if event.get("type") == "DELETED":
            seen.pop(key, None)
            controller.forget(key)
            return
        current = fingerprint(body)
        if seen.get(key) != current:
            seen[key] = current
            controller.enqueue(key)

    async def owned_object_event(body: kopf.Body, **_: Any) -> None:
        cluster = body.metadata.labels.get(c.LABEL_CLUSTER)
        key = (str(body.metadata.namespace), str(cluster))
        if key in controller.known:
            controller.enqueue(key, OWNED_EVENT_DELAY)

    selector = {c.LABEL_CLUSTER: kopf.PRESENT}
    kopf.on.event("v1", "pods", labels=selector, registry=registry, id="raycluster-pods")(
        owned_object_event
    )
    kopf.on.event("v1", "services", labels=selector, registry=registry, id="raycluster-services")(
        owned_object_event
    )


def watch_selectors(settings: kopf.OperatorSettings) -> None:
    """Server-side label selectors, so only the operator's pods and services are streamed."""
    settings.watching.label_selectors["v1", "pods"] = c.LABEL_CLUSTER
    settings.watching.label_selectors["v1", "services"] = c.LABEL_CLUSTER
