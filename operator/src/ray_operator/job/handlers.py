"""kopf registrations for RayJobs: watch events only enqueue work for the controller.

No changing handlers, timers or daemons, so kopf never adds finalizers or annotations to a
RayJob. A RayJob event enqueues the job when its spec generation, uid or deletion state
changed (its own status writes are skipped); events on its child RayClusters (label
`ray.io/originated-from-crd=RayJob`) and submitter Jobs enqueue it shortly after. A DELETED
RayJob is forgotten, and its Ray job is stopped, best effort, in the background.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import kopf

from ray_operator.controller import Controller
from ray_operator.job import constants as c

Key = tuple[str, str]
OWNED_EVENT_DELAY = 0.2
OWNED_SELECTOR = f"{c.LABEL_ORIGINATED_FROM_CRD}={c.KIND}"


def fingerprint(body: Mapping[str, Any]) -> tuple[Any, ...]:
    meta = body.get("metadata") or {}
    return (meta.get("uid"), meta.get("generation"), meta.get("deletionTimestamp"))


def register(
    registry: kopf.OperatorRegistry,
    controller: Controller[Key],
    *,
    on_deleted: Callable[[Mapping[str, Any]], Coroutine[Any, Any, None]],
    forget: Callable[[Key], None],
) -> None:
    seen: dict[Key, tuple[Any, ...]] = {}
    background: set[asyncio.Task[None]] = set()

    @kopf.on.event(c.GROUP, c.VERSION, c.PLURAL, registry=registry, id="rayjobs")
    async def rayjob_event(event: Mapping[str, Any], body: kopf.Body, **_: Any) -> None:
        key = (str(body.metadata.namespace), str(body.metadata.name))
        if event.get("type") == "DELETED":
            seen.pop(key, None)
            controller.forget(key)
            forget(key)
            task = asyncio.create_task(on_deleted(dict(body)), name=f"stop-{key[0]}/{key[1]}")
            background.add(task)
            task.add_done_callback(background.discard)
            return
        current = fingerprint(body)
        if seen.get(key) != current:
            seen[key] = current
            controller.enqueue(key)

    async def owned_event(body: kopf.Body, **_: Any) -> None:
        owner = body.metadata.labels.get(c.LABEL_ORIGINATED_FROM_CR_NAME)
        key = (str(body.metadata.namespace), str(owner))
        if key in controller.known:
            controller.enqueue(key, OWNED_EVENT_DELAY)

    labels = {c.LABEL_ORIGINATED_FROM_CRD: c.KIND}
    kopf.on.event(
        c.GROUP, c.VERSION, "rayclusters", labels=labels, registry=registry, id="rayjob-clusters"
    )(owned_event)
    kopf.on.event("batch", "v1", "jobs", labels=labels, registry=registry, id="rayjob-submitters")(
        owned_event
    )


def watch_selectors(settings: kopf.OperatorSettings) -> None:
    """Only the operator's submitter Jobs are streamed (RayClusters are all watched anyway)."""
    settings.watching.label_selectors["batch", "v1", "jobs"] = OWNED_SELECTOR
