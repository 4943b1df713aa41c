"""Redis cleanup of a fault-tolerant RayCluster's GCS storage namespace, without a finalizer.

KubeRay puts a finalizer on every fault-tolerant RayCluster and runs its cleanup Job while
the deletion waits. This operator writes nothing on the Ray resources, so the cleanup hangs
off a record the operator owns instead: a ConfigMap `<cluster>-redis-cleanup-<uid>` beside the
cluster, labelled `ray.io/redis-cleanup=record`, written before the head pod and holding the
cluster's UID, its storage namespace and the cleanup Job to run (KubeRay's: the head pod's
Ray container running `cleanup_redis_storage` with the head's Redis env). It carries no
ownerReference, so deleting the cluster leaves it; the sweeper (`sweeper.py`) looks at each
record whenever it changes, when a RayCluster is deleted, at every start and every resync:

1. the RayCluster with the record's name and UID still exists: nothing to do;
2. pods the cluster owned are still there (the GCS may still be writing): look again soon;
3. no cleanup Job yet: create it, owned by the record;
   (unless a live cluster's record names the same storage namespace: the last one cleans);
4. the Job succeeded: delete the record (the Job and its pod go with it, by ownership);
5. the Job failed: a Warning Event on the record; it is kept for the user (docs/operations.md).

An operator that is down when the cluster is deleted finds the record at its next start.
Everything here is pure: cluster in, manifests out; record and observations in, step out.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from enum import Enum
from typing import Any

from ray_operator.cluster import constants as c
from ray_operator.cluster import faulttolerance
from ray_operator.cluster.pods import desired_head_pod
from ray_operator.cluster.spec import Body, mapping

Manifest = dict[str, Any]

RECORD_LABEL = "ray.io/redis-cleanup"
RECORD_VALUE = "record"
NODE_TYPE = "redis-cleanup"  # KubeRay's node type of the cleanup Job's pod
_NAME_LIMIT = 63
_SCRIPT = (
    'python -c "from ray._private.gcs_utils import cleanup_redis_storage; '
    "from urllib.parse import urlparse; import os; import sys; "
    "redis_address = os.getenv('RAY_REDIS_ADDRESS', '').split(',')[0]; "
    "redis_address = redis_address if '://' in redis_address else 'redis://' + redis_address; "
    "parsed = urlparse(redis_address); "
    "sys.exit(1) if not cleanup_redis_storage(host=parsed.hostname, port=parsed.port, "
    "{username}password=os.getenv('REDIS_PASSWORD', parsed.password or ''), "
    "use_ssl=parsed.scheme=='rediss', "
    "storage_namespace=os.getenv('RAY_external_storage_namespace')) else None\""
)
_USERNAME = "username=os.getenv('REDIS_USERNAME', parsed.username), "


class Step(Enum):
    WAIT = "wait"  # the cluster lives, or its pods are still going
    START = "start"  # create the cleanup Job
    RUNNING = "running"
    DONE = "done"  # delete the record
    FAILED = "failed"


def record_name(cluster: Body) -> str:
    """`<cluster>-redis-cleanup-<first 8 of the UID>`: a cluster deleted and created again
    under its name has a record of its own."""
    metadata = mapping(cluster.get("metadata"))
    suffix = f"-redis-cleanup-{str(metadata.get('uid', ''))[:8]}"
    stem = str(metadata.get("name", ""))[: _NAME_LIMIT - len(suffix)].rstrip("-.")
    return f"{stem}{suffix}"


def cleanup_job(cluster: Body) -> Manifest:
    """KubeRay's `buildRedisCleanupJob`: the head pod's Ray container (its env reaches
    Redis as the GCS does) running Ray's own cleanup of the storage namespace."""
    head = desired_head_pod(cluster)
    metadata = mapping(cluster.get("metadata"))
    name = str(metadata.get("name", ""))
    spec = copy.deepcopy(head["spec"])
    ray = spec["containers"][c.RAY_CONTAINER_INDEX]
    ray.pop("livenessProbe", None)
    ray.pop("readinessProbe", None)
    env = [e for e in ray.get("env") or [] if e.get("name") != "KUBERAY_GEN_RAY_START_CMD"]
    has_username = any(e.get("name") == faulttolerance.ENV_REDIS_USERNAME for e in env)
    ray["env"] = [
        *env,
        {"name": "RAY_redis_db_connect_retries", "value": "120"},
        {"name": "RAY_redis_db_connect_wait_milliseconds", "value": "500"},
    ]
    ray["command"] = list(c.SHELL)
    ray["args"] = [_SCRIPT.format(username=_USERNAME if has_username else "")]
    ray["resources"] = {
        "limits": {"cpu": "200m", "memory": "256Mi"},
        "requests": {"cpu": "200m", "memory": "256Mi"},
    }
    spec["containers"] = [ray]
    spec["restartPolicy"] = "Never"
    labels = {
        c.LABEL_CLUSTER: name,
        c.LABEL_GROUP: c.HEAD_GROUP,
        c.LABEL_NODE_TYPE: NODE_TYPE,
        c.LABEL_APP_NAME: c.APP_NAME,
        c.LABEL_CREATED_BY: c.CREATED_BY,
    }
    annotations = {
        faulttolerance.ANNOTATION_STORAGE_NAMESPACE: faulttolerance.storage_namespace(cluster)
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": record_name(cluster),
            "namespace": str(metadata.get("namespace", "")),
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": 300,
            "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": spec},
        },
    }


def record(cluster: Body) -> Manifest:
    """The record of a fault-tolerant cluster (see the module doc)."""
    metadata = mapping(cluster.get("metadata"))
    name = str(metadata.get("name", ""))
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": record_name(cluster),
            "namespace": str(metadata.get("namespace", "")),
            "labels": {
                c.LABEL_CLUSTER: name,
                RECORD_LABEL: RECORD_VALUE,
                c.LABEL_APP_NAME: c.APP_NAME,
                c.LABEL_CREATED_BY: c.CREATED_BY,
            },
        },
        "data": {
            "cluster": name,
            "uid": str(metadata.get("uid", "")),
            "storageNamespace": faulttolerance.storage_namespace(cluster),
            "job": json.dumps(cleanup_job(cluster), sort_keys=True),
        },
    }


def record_corrections(desired: Mapping[str, Any], actual: Mapping[str, Any]) -> list[Manifest]:
    """A JSON patch bringing the record's data up to date ([] when nothing differs)."""
    if desired.get("data") == actual.get("data"):
        return []
    return [{"op": "add", "path": "/data", "value": desired["data"]}]


def recorded_uid(rec: Mapping[str, Any]) -> str:
    return str(mapping(rec.get("data")).get("uid", ""))


def recorded_cluster(rec: Mapping[str, Any]) -> str:
    return str(mapping(rec.get("data")).get("cluster", ""))


def job_of(rec: Mapping[str, Any]) -> Manifest:
    """The cleanup Job the record holds, owned by the record."""
    job: Manifest = json.loads(str(mapping(rec.get("data")).get("job", "{}")))
    meta = mapping(rec.get("metadata"))
    job.setdefault("metadata", {})["ownerReferences"] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": str(meta.get("name", "")),
            "uid": str(meta.get("uid", "")),
            "controller": True,
            "blockOwnerDeletion": False,
        }
    ]
    return job


def _job_finished(job: Mapping[str, Any]) -> str | None:
    """ "Complete" or "Failed" once the Job has finished (its conditions), else None."""
    for condition in mapping(job.get("status")).get("conditions") or []:
        if (
            isinstance(condition, Mapping)
            and condition.get("type") in ("Complete", "Failed")
            and condition.get("status") == "True"
        ):
            return str(condition["type"])
    return None


def storage_of(rec: Mapping[str, Any]) -> str:
    return str(mapping(rec.get("data")).get("storageNamespace", ""))


def next_step(
    rec: Mapping[str, Any],
    *,
    cluster_uid: str | None,
    pods_left: int,
    job: Mapping[str, Any] | None,
    shared_with_live: bool = False,
) -> Step:
    """What to do with a record: `cluster_uid` is the UID of the RayCluster of the record's
    name as the apiserver has it now (None when there is none); `shared_with_live` says a
    live cluster uses the same storage namespace (an `externalStorageNamespace` two
    clusters name): then the namespace is left to the last of them."""
    if cluster_uid is not None and cluster_uid == recorded_uid(rec):
        return Step.WAIT
    if job is None:
        return Step.WAIT if pods_left or shared_with_live else Step.START
    finished = _job_finished(job)
    if finished == "Complete":
        return Step.DONE
    if finished == "Failed":
        return Step.FAILED
    return Step.RUNNING
