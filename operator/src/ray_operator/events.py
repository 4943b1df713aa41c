"""Kubernetes Events about Ray resources, aggregated like the kubelet's recorder does.

An event is identified by (object uid, type, reason, message). The first occurrence creates
an Event with count 1; repeats patch that Event's count and lastTimestamp instead of
creating a new one. The Event's name is derived from that identity, so aggregation also
survives an operator restart (the create answers 409 and the existing Event is bumped).
Recording never fails a reconcile: API errors are logged and dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loguru import logger

from ray_operator.clock import Clock, rfc3339, utc_now
from ray_operator.kubeapi import ApiError, Json, KubeApi, namespaced
from ray_operator.shape import bounded


@dataclass(frozen=True)
class ObjectRef:
    """The object an event is about."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> ObjectRef:
        meta = body.get("metadata") or {}
        return cls(
            api_version=str(body.get("apiVersion", "")),
            kind=str(body.get("kind", "")),
            namespace=str(meta.get("namespace", "")),
            name=str(meta.get("name", "")),
            uid=str(meta.get("uid", "")),
        )


def event_name(ref: ObjectRef, component: str, type_: str, reason: str, message: str) -> str:
    identity = "\x00".join((ref.uid, component, type_, reason, message))
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return f"{ref.name[:200]}.{digest}"


def new_event(
    ref: ObjectRef,
    *,
    name: str,
    component: str,
    instance: str,
    type_: str,
    reason: str,
    message: str,
    now: str,
) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": ref.namespace},
        "involvedObject": {
            "apiVersion": ref.api_version,
            "kind": ref.kind,
            "namespace": ref.namespace,
            "name": ref.name,
            "uid": ref.uid,
        },
        "type": type_,
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": instance,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


class EventRecorder:
    """Emits aggregated Events for one component (e.g. raycluster-controller)."""

    def __init__(
        self,
        api: KubeApi,
        *,
        component: str,
        instance: str,
        clock: Clock = utc_now,
        cache_size: int = 4096,
        background: bool = False,
        concurrency: int = 16,
    ) -> None:
        self._api = api
        self.component = component
        self._instance = instance
        self._clock = clock
        self._cache_size = cache_size
        self._counts: OrderedDict[tuple[str, str, str, str], int] = OrderedDict()
        self._background = background
        self._slots = asyncio.Semaphore(concurrency)
        self._locks: dict[tuple[str, str, str, str], asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def emit(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        """Record an event. In background mode this returns at once and the API calls happen
        in a task, so a reconcile never waits for its Events."""
        if not self._background:
            await self._emit_now(ref, type_, reason, message)
            return
        task = asyncio.create_task(self._emit_now(ref, type_, reason, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for background events still being recorded."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _emit_now(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        message = bounded(message)
        key = (ref.uid, type_, reason, message)
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with self._slots, lock:
                await self._emit_locked(ref, key, type_, reason, message)
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]

    async def _emit_locked(
        self, ref: ObjectRef, key: tuple[str, str, str, str], type_: str, reason: str, message: str
    ) -> None:
        name = event_name(ref, self.component, type_, reason, message)
        now = rfc3339(self._clock())
        try:
            count = await self._record(ref, key, name, type_, reason, message, now)
        except ApiError as error:
            logger.bind(kind=ref.kind, namespace=ref.namespace, name=ref.name).warning(
                "could not record event {reason}: {error}", reason=reason, error=error
            )
            return
        self._counts[key] = count
        self._counts.move_to_end(key)
        while len(self._counts) > self._cache_size:
            self._counts.popitem(last=False)

    async def _record(
        self,
        ref: ObjectRef,
        key: tuple[str, str, str, str],
        name: str,
        type_: str,
        reason: str,
        message: str,
        now: str,
    ) -> int:
        events = namespaced("v1", "events", ref.namespace)
        known = self._counts.get(key)
        if known is not None:
            try:
                await self._bump(ref.namespace, name, known + 1, now)
                return known + 1
            except ApiError as error:
                if not error.not_found:  # expired (event TTL): create it again below
                    raise
        body = new_event(
            ref,
            name=name,
            component=self.component,
            instance=self._instance,
            type_=type_,
            reason=reason,
            message=message,
            now=now,
        )
        try:
            await self._api.create(events, body)
            return 1
        except ApiError as error:
            if not error.already_exists:
                raise
        existing = await self._api.get(namespaced("v1", "events", ref.namespace, name))
        count = int(existing.get("count") or 1) + 1
        await self._bump(ref.namespace, name, count, now)
        return count

    async def _bump(self, namespace: str, name: str, count: int, now: str) -> None:
        await self._api.merge_patch(
            namespaced("v1", "events", namespace, name), {"count": count, "lastTimestamp": now}
        )

    def forget(self, uid: str) -> None:
        """Drop the counts of a deleted object."""
        for key in [k for k in self._counts if k[0] == uid]:
            del self._counts[key]
