"""How watch events reach the controllers.

- The primary kinds (RayCluster, RayJob, RayService) are watched by kopf. Its event handler
  puts the object into the kind's store and enqueues it when something its reconciler acts
  on changed: uid, generation, deletion, and the annotations it reads. The operator's own
  status writes change none of these, so they do not enqueue it again. A DELETED event
  forgets the object: its store entry, its memory (by uid) and its queue entry.
- Owned objects (pods, Services, EndpointSlices, submitter Jobs, child RayClusters) are
  watched by informers (`core/informer.py`). A change enqueues the owner named by the
  object's ownerReferences, shortly after, so bursts of child events coalesce into one
  reconcile; it also settles the owner's expectations (`core/memory.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf

from ray_operator.controller import Controller
from ray_operator.core.memory import Memories
from ray_operator.core.store import Json, Key, Listener, Store, key_of, meta, owner_uids, uid_of

Handler = Callable[..., Awaitable[None]]
OWNED_EVENT_DELAY = 0.2  # seconds: coalesces bursts of child events into one reconcile


def fingerprint(body: Mapping[str, Any], annotations: tuple[str, ...] = ()) -> tuple[Any, ...]:
    """What of an object's metadata matters to its reconciler (its status does not)."""
    m = meta(body)
    values = m.get("annotations") or {}
    return (
        m.get("uid"),
        m.get("generation"),
        m.get("deletionTimestamp"),
        *(values.get(name) for name in annotations),
    )


def primary_handler(
    store: Store,
    controller: Controller[Key],
    memories: Memories,
    annotations: tuple[str, ...] = (),
    on_deleted: Callable[[Key, Json], None] = lambda _key, _body: None,
) -> Handler:
    async def handle(event: Mapping[str, Any], body: kopf.Body, **_: Any) -> None:
        obj: Json = dict(body)
        key = key_of(obj)
        if event.get("type") == "DELETED":
            store.delete(obj)
            memories.drop(uid_of(obj))
            controller.forget(key)
            on_deleted(key, obj)
            return
        before = store.get(*key)
        if store.put(obj) and (
            before is None or fingerprint(before, annotations) != fingerprint(obj, annotations)
        ):
            controller.enqueue(key)

    return handle


def enqueue_owners(
    owners: Store, controller: Controller[Key], via: Store | None = None
) -> Listener:
    """A store listener enqueueing the owners (in `owners`) of a changed object. With `via`,
    the object belongs to a Service held there (an EndpointSlice), whose owners count."""

    def listen(before: Json | None, after: Json | None) -> None:
        obj = after if after is not None else before
        if obj is None:
            return
        holders = [obj]
        if via is not None:
            namespace = str(meta(obj).get("namespace") or "")
            service = str((meta(obj).get("labels") or {}).get("kubernetes.io/service-name") or "")
            found = via.get(namespace, service)
            holders = [found] if found is not None else []
        for holder in holders:
            for uid in owner_uids(holder):
                owner = owners.by_uid(uid)
                if owner is not None:
                    controller.enqueue(key_of(owner), OWNED_EVENT_DELAY)

    return listen
