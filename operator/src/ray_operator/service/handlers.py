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

from ray_operator import watching
from ray_operator.cluster import constants as cc
from ray_operator.controller import Controller
from ray_operator.service import constants as c
from ray_operator.watching import Key, owned_handler, primary_handler

CHILD_EVENT_DELAY = 0.5  # coalesces bursts of child cluster status updates
ANNOTATIONS = (c.ANNOTATION_INITIALIZING_TIMEOUT,)


def fingerprint(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """What of a RayService's metadata matters to the reconciler (status does not)."""
    return watching.fingerprint(body, ANNOTATIONS)


def register(registry: kopf.OperatorRegistry, controller: Controller[Key]) -> None:
    kopf.on.event(c.GROUP, c.VERSION, c.PLURAL, registry=registry, id="rayservices")(
        primary_handler(controller, ANNOTATIONS)
    )
    kopf.on.event(
        cc.GROUP,
        cc.VERSION,
        cc.PLURAL,
        labels={c.LABEL_ORIGINATED_FROM_CRD: c.ORIGINATED_FROM_CRD},
        registry=registry,
        id="rayservice-clusters",
    )(owned_handler(controller, c.LABEL_ORIGINATED_FROM_CR_NAME, CHILD_EVENT_DELAY))
