"""kopf registrations for RayServices: watch events only enqueue work for the controller.

No changing handlers, timers or daemons are registered, so kopf never adds finalizers or
annotations to a RayService. A RayService event enqueues it when something the reconciler
acts on changed (its own status writes are skipped). An event on a RayCluster created for a
RayService (label `ray.io/originated-from-crd: RayService`) enqueues that RayService shortly
after, so a child's head becoming ready moves the service along within a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from ray_operator.cluster import constants as cc
from ray_operator.controller import Controller
from ray_operator.service import constants as c

Key = tuple[str, str]
CHILD_EVENT_DELAY = 0.5  # coalesces bursts of child cluster status updates


def fingerprint(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """What of a RayService's metadata matters to the reconciler (status does not)."""
    meta = body.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return (
        meta.get("uid"),
        meta.get("generation"),
        annotations.get(c.ANNOTATION_INITIALIZING_TIMEOUT),
        meta.get("deletionTimestamp"),
    )


def register(registry: kopf.OperatorRegistry, controller: Controller[Key]) -> None:
    seen: dict[Key, tuple[Any, ...]] = {}

    @kopf.on.event(c.GROUP, c.VERSION, c.PLURAL, registry=registry, id="rayservices")
    async def rayservice_event(event: Mapping[str, Any], body: kopf.Body, **_: Any) -> None:
        key = (str(body.metadata.namespace), str(body.metadata.name))
        if event.get("type") == "DELETED":
            seen.pop(key, None)
            controller.forget(key)
            return
        current = fingerprint(body)
        if seen.get(key) != current:
            seen[key] = current
            controller.enqueue(key)

    @kopf.on.event(
        cc.GROUP,
        cc.VERSION,
        cc.PLURAL,
        labels={c.LABEL_ORIGINATED_FROM_CRD: c.ORIGINATED_FROM_CRD},
        registry=registry,
        id="rayservice-clusters",
    )
    async def child_cluster_event(body: kopf.Body, **_: Any) -> None:
        owner = body.metadata.labels.get(c.LABEL_ORIGINATED_FROM_CR_NAME)
        key = (str(body.metadata.namespace), str(owner))
        if owner and key in controller.known:
            controller.enqueue(key, CHILD_EVENT_DELAY)
