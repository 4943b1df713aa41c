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

from ray_operator import watching
from ray_operator.controller import Controller
from ray_operator.job import constants as c
from ray_operator.watching import Key, owned_handler, primary_handler

OWNED_EVENT_DELAY = 0.2
OWNED_SELECTOR = f"{c.LABEL_ORIGINATED_FROM_CRD}={c.KIND}"


def fingerprint(body: Mapping[str, Any]) -> tuple[Any, ...]:
    return watching.fingerprint(body)


def register(
    registry: kopf.OperatorRegistry,
    controller: Controller[Key],
    *,
    on_deleted: Callable[[Mapping[str, Any]], Coroutine[Any, Any, None]],
    forget: Callable[[Key], None],
) -> None:
    background: set[asyncio.Task[None]] = set()

    def deleted(key: Key, body: kopf.Body) -> None:
        forget(key)
        task = asyncio.create_task(on_deleted(dict(body)), name=f"stop-{key[0]}/{key[1]}")
        background.add(task)
        task.add_done_callback(background.discard)

    kopf.on.event(c.GROUP, c.VERSION, c.PLURAL, registry=registry, id="rayjobs")(
        primary_handler(controller, on_deleted=deleted)
    )
    owned = owned_handler(controller, c.LABEL_ORIGINATED_FROM_CR_NAME, OWNED_EVENT_DELAY)
    labels = {c.LABEL_ORIGINATED_FROM_CRD: c.KIND}
    kopf.on.event(
        c.GROUP, c.VERSION, "rayclusters", labels=labels, registry=registry, id="rayjob-clusters"
    )(owned)
    kopf.on.event("batch", "v1", "jobs", labels=labels, registry=registry, id="rayjob-submitters")(
        owned
    )


def watch_selectors(settings: kopf.OperatorSettings) -> None:
    """Only the operator's submitter Jobs are streamed (RayClusters are all watched anyway)."""
    settings.watching.label_selectors["batch", "v1", "jobs"] = OWNED_SELECTOR
