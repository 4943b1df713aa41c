"""The two kinds of kopf event handler every reconciler registers, built once.

- A primary handler (RayCluster, RayJob, RayService events) enqueues the object when what the
  reconciler acts on changed: uid, generation, deletion, and the annotations it reads. The
  operator's own status writes change none of these, so they do not enqueue it again. A
  DELETED event forgets the object (and runs `on_deleted`).
- An owned-object handler (pods, services, Jobs, child RayClusters) enqueues the owner named
  by a label, shortly after, so bursts of child events coalesce into one reconcile.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf

from ray_operator.controller import Controller

Key = tuple[str, str]
Handler = Callable[..., Awaitable[None]]


def fingerprint(body: Mapping[str, Any], annotations: tuple[str, ...] = ()) -> tuple[Any, ...]:
    """What of an object's metadata matters to its reconciler (its status does not)."""
    meta = body.get("metadata") or {}
    values = meta.get("annotations") or {}
    return (
        meta.get("uid"),
        meta.get("generation"),
        meta.get("deletionTimestamp"),
        *(values.get(name) for name in annotations),
    )


def primary_handler(
    controller: Controller[Key],
    annotations: tuple[str, ...] = (),
    on_deleted: Callable[[Key, kopf.Body], None] = lambda _key, _body: None,
) -> Handler:
    seen: dict[Key, tuple[Any, ...]] = {}

    async def handle(event: Mapping[str, Any], body: kopf.Body, **_: Any) -> None:
        key = (str(body.metadata.namespace), str(body.metadata.name))
        if event.get("type") == "DELETED":
            seen.pop(key, None)
            controller.forget(key)
            on_deleted(key, body)
            return
        current = fingerprint(body, annotations)
        if seen.get(key) != current:
            seen[key] = current
            controller.enqueue(key)

    return handle


def owned_handler(controller: Controller[Key], owner_label: str, delay: float) -> Handler:
    async def handle(body: kopf.Body, **_: Any) -> None:
        owner = body.metadata.labels.get(owner_label)
        key = (str(body.metadata.namespace), str(owner))
        if owner and key in controller.known:
            controller.enqueue(key, delay)

    return handle
