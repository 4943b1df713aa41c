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

from ray_operator import watching
from ray_operator.cluster import constants as c
from ray_operator.controller import Controller
from ray_operator.watching import Key, owned_handler, primary_handler

OWNED_EVENT_DELAY = 0.2  # coalesces bursts of pod events into one reconcile
ANNOTATIONS = (c.ANNOTATION_RESTARTED_AT,)


def fingerprint(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """What of a RayCluster's metadata matters to the reconciler (status does not)."""
    return watching.fingerprint(body, ANNOTATIONS)


def register(registry: kopf.OperatorRegistry, controller: Controller[Key]) -> None:
    kopf.on.event(c.GROUP, c.VERSION, c.PLURAL, registry=registry, id="rayclusters")(
        primary_handler(controller, ANNOTATIONS)
    )
    owned = owned_handler(controller, c.LABEL_CLUSTER, OWNED_EVENT_DELAY)
    selector = {c.LABEL_CLUSTER: kopf.PRESENT}
    kopf.on.event("v1", "pods", labels=selector, registry=registry, id="raycluster-pods")(owned)
    kopf.on.event("v1", "services", labels=selector, registry=registry, id="raycluster-services")(
        owned
    )


def watch_selectors(settings: kopf.OperatorSettings) -> None:
    """Server-side label selectors, so only the operator's pods and services are streamed."""
    settings.watching.label_selectors["v1", "pods"] = c.LABEL_CLUSTER
    settings.watching.label_selectors["v1", "services"] = c.LABEL_CLUSTER
