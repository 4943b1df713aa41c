"""List, then watch, one resource into a `Store`, the way client-go's reflector does.

One loop per watched namespace (or one for all namespaces): LIST with a label selector, hand
the listing to the store (objects it lacks were deleted while nobody watched), then WATCH
from the listing's resourceVersion with bookmarks, following the version as events arrive.
A watch that ends is resumed from the last version; an expired version (410) means a fresh
LIST. Errors (apiserver down, connection reset) are retried with jittered backoff, so an
apiserver restart costs one re-watch, not a crash. `store.synced` is set once every
namespace has been listed: the controllers take no work before that, so no reconcile acts
on a partial view.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from loguru import logger

from ray_operator.core.store import Store
from ray_operator.kubeapi import ApiError, KubeApi

WATCH_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Resource:
    group_version: str  # "v1" for the core group, else "group/version"
    plural: str
    label_selector: str | None = None

    def path(self, namespace: str | None) -> str:
        root = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        if namespace is None:
            return f"{root}/{self.plural}"
        return f"{root}/namespaces/{namespace}/{self.plural}"


class ExpiredError(Exception):
    """The watched resourceVersion is too old (410): list again."""


def _backoff(failures: int) -> float:
    return float(min(30.0, 0.5 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.5))


class Informer:
    def __init__(
        self,
        api: KubeApi,
        resource: Resource,
        store: Store,
        namespaces: tuple[str, ...] = (),
    ) -> None:
        self._api = api
        self.resource = resource
        self.store = store
        self._namespaces: tuple[str | None, ...] = namespaces or (None,)
        self._listed: set[str | None] = set()

    async def run(self) -> None:
        await asyncio.gather(*(self._run(ns) for ns in self._namespaces))

    async def _run(self, namespace: str | None) -> None:
        path = self.resource.path(namespace)
        log = logger.bind(resource=self.resource.plural, namespace=namespace or "*")
        version = ""
        failures = 0
        while True:
            try:
                if not version:
                    version = await self._list(path, namespace)
                version = await self._watch(path, version)
                failures = 0
            except ExpiredError:
                log.debug("watch of {path} expired; listing again", path=path)
                version = ""
            except asyncio.CancelledError:
                raise
            except (ApiError, aiohttp.ClientError, TimeoutError, ValueError) as error:
                failures += 1
                delay = _backoff(failures)
                log.warning(
                    "watching {path} failed ({error}); retrying in {delay:.1f}s",
                    path=path,
                    error=str(error) or type(error).__name__,
                    delay=delay,
                )
                await asyncio.sleep(delay)

    async def _list(self, path: str, namespace: str | None) -> str:
        items, version = await self._api.list_with_version(
            path, label_selector=self.resource.label_selector
        )
        self.store.replace(items, namespace)
        self._listed.add(namespace)
        if len(self._listed) == len(self._namespaces):
            self.store.synced.set()
        return version

    async def _watch(self, path: str, version: str) -> str:
        """Follow the watch until the server ends it; the last version seen."""
        async for event in self._api.watch(
            path,
            resource_version=version,
            label_selector=self.resource.label_selector,
            timeout_seconds=WATCH_TIMEOUT_SECONDS,
        ):
            kind = event.get("type")
            obj = event.get("object")
            if not isinstance(obj, Mapping):
                continue
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise ExpiredError
                raise ApiError(
                    int(obj.get("code") or 500),
                    str(obj.get("reason") or ""),
                    str(obj.get("message") or ""),
                )
            version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
            if kind == "DELETED":
                self.store.delete(obj)
            elif kind in ("ADDED", "MODIFIED"):
                self.store.put(dict(obj))
        return version
