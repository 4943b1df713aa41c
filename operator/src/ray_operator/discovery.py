"""Waiting for the API the operator needs before kopf starts watching it.

kopf resolves its watched resources once, at start (scanning of CRD changes is disabled: a
namespaced install may not read CRDs). Against an apiserver that is not up yet, or still
publishing its discovery documents, or before the CRDs are installed, that one resolution
comes back partial and the unresolved resources would never be watched. So the operator
first waits, with jittered retries and not ready, until every resource its handlers watch
is served; and once kopf has resolved them, checks that none is missing (a restart of the
apiserver in that short window is reported as a fatal error, and the pod restarts).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Collection, Iterable

import aiohttp
import kopf
from loguru import logger

from ray_operator.kubeapi import ApiError, KubeApi

# (group, version, plural); group "" is the core API.
ApiResource = tuple[str, str, str]
MAX_DELAY = 15.0


def watched_resources(registry: kopf.OperatorRegistry) -> set[ApiResource]:
    """What the registry's event handlers watch (kopf keeps this in a private attribute)."""
    selectors = registry._watching.get_all_selectors()
    return {
        (s.group or "", str(s.version), str(s.plural or s.any_name))
        for s in selectors
        if s.version is not None
    }


def discovery_path(group: str, version: str) -> str:
    return f"/api/{version}" if not group else f"/apis/{group}/{version}"


async def missing_resources(api: KubeApi, needed: Collection[ApiResource]) -> set[ApiResource]:
    """The needed resources the apiserver does not serve (all of them when it is unreachable)."""
    missing: set[ApiResource] = set()
    for group, version in sorted({(g, v) for g, v, _ in needed}):
        wanted = {r for r in needed if r[:2] == (group, version)}
        try:
            document = await api.get(discovery_path(group, version))
        except (ApiError, aiohttp.ClientError, TimeoutError):
            missing |= wanted
            continue
        served = {str(r.get("name")) for r in document.get("resources") or []}
        missing |= {r for r in wanted if r[2] not in served}
    return missing


def describe(resources: Iterable[ApiResource]) -> str:
    return ", ".join(sorted(f"{p}.{g or 'core'}/{v}" for g, v, p in resources))


async def wait_until_served(
    api: KubeApi, needed: Collection[ApiResource], rng: random.Random | None = None
) -> None:
    """Return once every needed resource is served; log what is missing while waiting."""
    rng = rng or random.Random()
    delay = 0.5
    reported = ""
    while missing := await missing_resources(api, needed):
        text = describe(missing)
        if text != reported:
            logger.warning("waiting for the apiserver to serve: {missing}", missing=text)
            reported = text
        await asyncio.sleep(delay * rng.uniform(0.5, 1.5))
        delay = min(MAX_DELAY, delay * 2)
    if reported:
        logger.info("the apiserver serves every watched resource")


def unresolved(needed: Collection[ApiResource], resolved: Iterable[object]) -> set[ApiResource]:
    """The needed resources absent from kopf's resolved ones (kopf Resource objects)."""
    have = {
        (
            str(getattr(r, "group", "")),
            str(getattr(r, "version", "")),
            str(getattr(r, "plural", "")),
        )
        for r in resolved
    }
    return set(needed) - have
