"""Leader election with a coordination.k8s.io/v1 Lease (--leader-election).

Only the holder of the Lease reconciles; other replicas watch and wait. The holder renews
every `renew_every` seconds; another replica takes over when the Lease has not been renewed
for `lease_seconds`. A holder that cannot renew in time stops (the process exits and is
restarted), so two replicas never reconcile at once. Writes use the Lease's resourceVersion,
so concurrent candidates cannot both win.

An apiserver that cannot be reached (not started yet, restarting) is an unknown outcome, not
an error: a candidate keeps campaigning, a leader keeps leading until its lease would have
expired. A leader that stops gracefully releases the Lease (`release()`), so a standby takes
over at its next attempt instead of waiting out `lease_seconds`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import aiohttp
from loguru import logger

from ray_operator.clock import Clock, parse_rfc3339, utc_now
from ray_operator.kubeapi import ApiError, Json, KubeApi, namespaced

LEASE_NAME = "ray-operator-leader"  # the coordination.k8s.io Lease the replicas campaign for

LEASE_API = "coordination.k8s.io/v1"


class Decision(StrEnum):
    CREATE = "create"
    RENEW = "renew"
    TAKE_OVER = "take-over"
    WAIT = "wait"


def micro_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def decide(lease: Mapping[str, Any] | None, identity: str, now: datetime) -> Decision:
    """What a candidate should do with the Lease it just read."""
    if lease is None:
        return Decision.CREATE
    spec = lease.get("spec") or {}
    if spec.get("holderIdentity") == identity:
        return Decision.RENEW
    renewed = spec.get("renewTime") or spec.get("acquireTime")
    duration = int(spec.get("leaseDurationSeconds") or 0)
    if not spec.get("holderIdentity") or renewed is None:
        return Decision.TAKE_OVER
    if parse_rfc3339(str(renewed)) + timedelta(seconds=duration) < now:
        return Decision.TAKE_OVER
    return Decision.WAIT


class LeaderElector:
    def __init__(
        self,
        api: KubeApi,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_seconds: int = 15,
        renew_every: float = 5.0,
        clock: Clock = utc_now,
    ) -> None:
        self._api = api
        self._namespace = namespace
        self._name = name
        self.identity = identity
        self._lease_seconds = lease_seconds
        self._renew_every = renew_every
        self._clock = clock
        self.elected = asyncio.Event()

    async def run(self) -> None:
        """Campaign, then keep renewing; returns only when leadership is lost."""
        last_renewal: datetime | None = None
        while True:
            now = self._clock()
            held: bool | None
            try:
                held = await self._attempt(now)
            except (ApiError, aiohttp.ClientError, TimeoutError) as error:
                logger.warning("leader election: {error}", error=str(error) or type(error).__name__)
                held = None  # unknown: keep leading until the lease would have expired
            if held:
                last_renewal = now
                if not self.elected.is_set():
                    logger.info("became the leader ({identity})", identity=self.identity)
                    self.elected.set()
            elif self.elected.is_set():
                stale = last_renewal is None or now - last_renewal >= timedelta(
                    seconds=self._lease_seconds
                )
                if held is False or stale:
                    logger.error("lost the leader lease; stopping")
                    return
            await asyncio.sleep(self._renew_every)

    async def release(self) -> bool:
        """Give the Lease up if this replica holds it; whether it was released."""
        path = namespaced(LEASE_API, "leases", self._namespace, self._name)
        try:
            lease = await self._api.get(path)
            if (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return False
            version = (lease.get("metadata") or {}).get("resourceVersion")
            await self._api.merge_patch(
                path, {"metadata": {"resourceVersion": version}, "spec": {"holderIdentity": None}}
            )
        except (ApiError, aiohttp.ClientError, TimeoutError) as error:
            logger.warning("could not release the leader lease: {error}", error=error)
            return False
        logger.info("released the leader lease ({identity})", identity=self.identity)
        return True

    async def _attempt(self, now: datetime) -> bool:
        path = namespaced(LEASE_API, "leases", self._namespace, self._name)
        try:
            lease: Json | None = await self._api.get(path)
        except ApiError as error:
            if not error.not_found:
                raise
            lease = None
        decision = decide(lease, self.identity, now)
        stamp = micro_time(now)
        if decision is Decision.WAIT:
            return False
        if decision is Decision.CREATE:
            body = {
                "apiVersion": LEASE_API,
                "kind": "Lease",
                "metadata": {"name": self._name, "namespace": self._namespace},
                "spec": self._spec(stamp, acquired=True, transitions=0),
            }
            try:
                await self._api.create(namespaced(LEASE_API, "leases", self._namespace), body)
            except ApiError as error:
                if error.conflict:
                    return False
                raise
            return True
        assert lease is not None
        spec = lease.get("spec") or {}
        transitions = int(spec.get("leaseTransitions") or 0)
        taking_over = decision is Decision.TAKE_OVER
        patch = {
            "metadata": {"resourceVersion": (lease.get("metadata") or {}).get("resourceVersion")},
            "spec": self._spec(
                stamp, acquired=taking_over, transitions=transitions + int(taking_over)
            ),
        }
        try:
            await self._api.merge_patch(path, patch)
        except ApiError as error:
            if error.conflict:
                return False
            raise
        return True

    def _spec(self, stamp: str, *, acquired: bool, transitions: int) -> Json:
        spec: Json = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self._lease_seconds,
            "renewTime": stamp,
            "leaseTransitions": transitions,
        }
        if acquired:
            spec["acquireTime"] = stamp
        return spec
