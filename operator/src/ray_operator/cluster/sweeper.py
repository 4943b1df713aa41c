"""The Redis cleanup sweeper: acts on the records of `redis_cleanup.py` once their
RayCluster is gone (the steps are listed there).

A record's key is queued when the record or its Job changes, when a RayCluster is deleted,
at every start (the informers list every record) and at every resync. Whether the cluster
still exists is asked of the apiserver (a GET by name), never of a cache that may not have
seen it yet: cleaning the Redis of a live cluster would lose its state. Events are posted on
the record (the RayCluster is gone by then).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loguru import logger

from ray_operator.cluster import constants as c
from ray_operator.cluster import redis_cleanup as rc
from ray_operator.core.store import Key, Store, meta
from ray_operator.events import EventRecorder, ObjectRef
from ray_operator.kubeapi import ApiError, Json, KubeApi, namespaced
from ray_operator.reasons import EventType, Reason

RECHECK_SECONDS = 2.0  # while pods go or the Job runs (their events also queue the key)


@dataclass
class Sweeper:
    api: KubeApi
    events: EventRecorder
    records: Store
    jobs: Store
    pods: Store
    clusters: Store

    async def cluster_uid(self, namespace: str, name: str) -> str | None:
        path = namespaced(c.API_VERSION, c.PLURAL, namespace, name)
        try:
            body = await self.api.get(path)
        except ApiError as error:
            if error.not_found:
                return None
            raise
        return str(meta(body).get("uid", ""))

    def _shared_with_live(self, rec: Json) -> bool:
        storage, uid = rc.storage_of(rec), rc.recorded_uid(rec)
        for other in self.records.objects():
            if rc.storage_of(other) != storage or rc.recorded_uid(other) == uid:
                continue
            namespace = str(meta(other).get("namespace", ""))
            if self.clusters.get(namespace, rc.recorded_cluster(other)) is not None:
                return True
        return False

    async def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        rec = self.records.get(namespace, name)
        if rec is None:
            return None
        uid = rc.recorded_uid(rec)
        cluster_uid = await self.cluster_uid(namespace, rc.recorded_cluster(rec))
        job = self.jobs.get(namespace, name)
        step = rc.next_step(
            rec,
            cluster_uid=cluster_uid,
            pods_left=len(self.pods.owned_by(uid)),
            job=job,
            shared_with_live=self._shared_with_live(rec),
        )
        log = logger.bind(kind="RedisCleanup", namespace=namespace, name=name)
        ref = ObjectRef.of(rec)
        storage = rc.storage_of(rec)
        if step is rc.Step.WAIT:
            return None if cluster_uid == uid else RECHECK_SECONDS
        if step is rc.Step.RUNNING:
            return RECHECK_SECONDS
        if step is rc.Step.START:
            return await self._start(rec, ref, storage, log)
        if step is rc.Step.DONE:
            await self.events.emit(
                ref,
                EventType.NORMAL,
                Reason.REDIS_CLEANUP_COMPLETED,
                f"The Redis storage namespace {storage} of the deleted RayCluster "
                f"{namespace}/{rc.recorded_cluster(rec)} was deleted",
            )
            await self._delete(namespaced("v1", "configmaps", namespace, name))
            log.info("redis cleanup of {storage} done; record deleted", storage=storage)
            return None
        await self.events.emit(
            ref,
            EventType.WARNING,
            Reason.REDIS_CLEANUP_FAILED,
            f"The cleanup Job {namespace}/{name} failed: the Redis storage namespace {storage} "
            "is left; delete the Job to try again, or the record to give up",
        )
        return None

    async def _start(self, rec: Json, ref: ObjectRef, storage: str, log: Any) -> float | None:
        job = rc.job_of(rec)
        namespace = str(meta(rec).get("namespace", ""))
        try:
            await self.api.create(namespaced("batch/v1", "jobs", namespace), job)
        except ApiError as error:
            if error.conflict:
                return RECHECK_SECONDS  # created by an earlier pass, not cached yet
            await self.events.emit(
                ref,
                EventType.WARNING,
                Reason.FAILED_TO_CREATE_REDIS_CLEANUP_JOB,
                f"Failed to create Redis cleanup Job {namespace}/{job['metadata']['name']}: "
                f"{error.message}",
            )
            raise
        await self.events.emit(
            ref,
            EventType.NORMAL,
            Reason.CREATED_REDIS_CLEANUP_JOB,
            f"Created Redis cleanup Job {namespace}/{job['metadata']['name']} for the storage "
            f"namespace {storage}",
        )
        log.info("created the redis cleanup job of {storage}", storage=storage)
        return RECHECK_SECONDS

    async def _delete(self, path: str) -> None:
        try:
            await self.api.delete(path)
        except ApiError as error:
            if not error.not_found:
                raise
