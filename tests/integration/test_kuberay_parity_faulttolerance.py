"""Side by side with KubeRay v1.5.0's real operator: the same fault-tolerant RayClusters (its
three GCS fault-tolerance samples, the legacy `ray.io/ft-enabled` form, a Redis username with
a storage namespace, and a cluster without fault tolerance), one namespace each, and what the
two operators put in the pods for GCS fault tolerance compared field by field: the head's
`ray.io/ft-enabled` and `ray.io/external-storage-namespace` annotations, the fault-tolerance
env of the head's and a worker's Ray container (in order), and the `--redis-*` flags of
`ray start`. Any difference fails the test.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml
from kuberay_parity import Json, ScopedKubeRay, differences, kuberay_sample
from kubernetes import client
from raycluster_harness import OperatorProcess, Rays, wait_for

pytestmark = pytest.mark.integration

FT_ENV = (
    "RAY_REDIS_ADDRESS",
    "REDIS_PASSWORD",
    "REDIS_USERNAME",
    "RAY_external_storage_namespace",
    "RAY_gcs_rpc_server_reconnect_timeout_s",
)
FT_ANNOTATIONS = ("ray.io/ft-enabled", "ray.io/external-storage-namespace")
REDIS_FLAG = re.compile(r"--redis-[a-z-]+=\S+")


def _legacy() -> Json:
    body = copy.deepcopy(kuberay_sample("ray-cluster.external-redis.yaml"))
    del body["spec"]["gcsFaultToleranceOptions"]
    body["metadata"]["annotations"] = {
        "ray.io/ft-enabled": "true",
        "ray.io/external-storage-namespace": "legacy-ns",
    }
    head = body["spec"]["headGroupSpec"]
    head["rayStartParams"]["redis-password"] = "5241590000000000"
    head["template"]["spec"]["containers"][0]["env"] = [
        {"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"}
    ]
    return body


def _username() -> Json:
    body = copy.deepcopy(kuberay_sample("ray-cluster.external-redis-uri.yaml"))
    body["spec"]["gcsFaultToleranceOptions"].update(
        redisUsername={"value": "ray"}, externalStorageNamespace="shared"
    )
    return body


def _without() -> Json:
    body = copy.deepcopy(kuberay_sample("ray-cluster.external-redis.yaml"))
    del body["spec"]["gcsFaultToleranceOptions"]
    return body


CASES = {
    "external-redis": lambda: kuberay_sample("ray-cluster.external-redis.yaml"),
    "external-redis-uri": lambda: kuberay_sample("ray-cluster.external-redis-uri.yaml"),
    "persistent-redis": lambda: kuberay_sample("ray-cluster.persistent-redis.yaml"),
    "legacy-annotation": _legacy,
    "username-and-namespace": _username,
    "no-fault-tolerance": _without,
}


def _ft_part(pod: Json, uid: str) -> Json:
    ray = pod["spec"]["containers"][0]
    command = " ".join([*(ray.get("command") or []), *(ray.get("args") or [])])
    annotations = pod["metadata"].get("annotations") or {}
    part = {
        "annotations": {k: annotations[k] for k in FT_ANNOTATIONS if k in annotations},
        "env": [e for e in ray.get("env") or [] if e["name"] in FT_ENV],
        "flags": sorted(REDIS_FLAG.findall(command)),
    }
    result: Json = yaml.safe_load(yaml.safe_dump(part).replace(uid, "UID"))
    return result


def built(rays: Rays, name: str) -> Json:
    """What an operator put in the pods of `name` for GCS fault tolerance."""

    def both() -> tuple[Json, Json] | None:
        heads, workers = rays.pods(name, node_type="head"), rays.pods(name, node_type="worker")
        return (heads[0], workers[0]) if heads and workers else None

    head, worker = wait_for("a head and a worker pod", both)
    uid = (rays.get(name) or {})["metadata"]["uid"]
    return {"head": _ft_part(head, uid), "worker": _ft_part(worker, uid)}


def _secret(api_client: client.ApiClient, namespace: str) -> None:
    client.CoreV1Api(api_client).create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="redis-password-secret"),
            string_data={"password": "5241590000000000"},
        ),
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_fault_tolerance_is_configured_as_kuberay_does_it(
    case: str,
    kuberay: ScopedKubeRay,
    kuberay_namespace: str,
    operator: OperatorProcess,
    rays: Rays,
    api_client: client.ApiClient,
) -> None:
    body: Any = CASES[case]()
    theirs_rays = Rays(api_client, kuberay_namespace)
    for ns in (rays.namespace, kuberay_namespace):
        _secret(api_client, ns)
    theirs_rays.create(body)
    rays.create(body)
    name = body["metadata"]["name"]
    ours, theirs = built(rays, name), built(theirs_rays, name)
    print(yaml.safe_dump({"ours": ours, "kuberay": theirs}))
    found = differences(ours, theirs)
    print("\n".join(found))
    assert found == []
    fault_tolerant = case != "no-fault-tolerance"
    assert ours["head"]["annotations"]["ray.io/ft-enabled"] == str(fault_tolerant).lower()
    assert bool(ours["worker"]["env"]) is fault_tolerant
