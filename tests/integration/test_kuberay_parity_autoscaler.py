"""Side by side with KubeRay v1.5.0's real operator: the same autoscaler manifests, one
namespace each, and what the two operators build for Ray's autoscaler compared field by field
(the head pod's `autoscaler` container, its ServiceAccount, volumes and `ray start` flags; the
ServiceAccount, Role and RoleBinding). What is expected to differ is listed in `KNOWN`, each
with its reason; anything else that differs fails the test.

KubeRay's operator is built by `hack/tools.sh kuberay` (make test-integration does it).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from bench.operator_rivals import KUBERAY_BINARY, KubeRayOperator, Limits
from kubernetes import client
from raycluster_harness import OperatorProcess, Rays, wait_for

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).parent / "kuberay_samples"
Json = dict[str, Any]
# The projected token volume the ServiceAccount admission plugin adds, named at random.
TOKEN_VOLUME = re.compile(r"kube-api-access-[a-z0-9]+")
# The RayCluster's own generated fields that differ between any two objects.
VOLATILE_METADATA = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation")


class ScopedKubeRay(KubeRayOperator):
    """KubeRay's operator watching one namespace only."""

    def __init__(self, kubeconfig: Path, log_path: Path, namespace: str) -> None:
        super().__init__(kubeconfig, log_path, Limits(concurrency=1, qps=50, burst=100))
        self.namespace = namespace

    def command(self) -> list[str]:
        return [*super().command(), f"--watch-namespace={self.namespace}"]


@pytest.fixture
def kuberay_namespace(api_client: client.ApiClient, namespace: str) -> Iterator[str]:
    core = client.CoreV1Api(api_client)
    name = f"{namespace[:50]}-kr"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    wait_for(
        "the default ServiceAccount",
        lambda: bool(core.list_namespaced_service_account(name).items),
    )
    yield name
    core.delete_namespace(name)


@pytest.fixture
def kuberay(
    kube_cluster: Any, crds: None, kuberay_namespace: str, tmp_path: Path
) -> Iterator[ScopedKubeRay]:
    if not KUBERAY_BINARY.exists():
        pytest.fail(f"{KUBERAY_BINARY} is missing: run `bash hack/tools.sh kuberay`")
    operator = ScopedKubeRay(
        Path(kube_cluster.kubeconfig), tmp_path / "kuberay.log", kuberay_namespace
    )
    with operator:
        yield operator


def kuberay_sample(name: str) -> Json:
    documents = yaml.safe_load_all((SAMPLES / name).read_text())
    return next(d for d in documents if d and d.get("kind") == "RayCluster")


def plain(api_client: client.ApiClient, obj: Any) -> Json:
    result: Json = api_client.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
    return result


def normalized(obj: Json, namespace: str) -> Json:
    """An object without what is unique to its instance, with the namespace as `NS`."""
    body = copy.deepcopy(obj)
    metadata = body.get("metadata") or {}
    for key in (*VOLATILE_METADATA, "namespace"):
        metadata.pop(key, None)
    for ref in metadata.get("ownerReferences") or []:
        ref.pop("uid", None)
    text = yaml.safe_dump(body).replace(namespace, "NS")
    text = TOKEN_VOLUME.sub("kube-api-access", text)
    result: Json = yaml.safe_load(text)
    return result


def built(api_client: client.ApiClient, rays: Rays, cluster: str) -> Json:
    """What an operator built for the autoscaler of `cluster` in `rays.namespace`."""
    (head,) = wait_for("the head pod", lambda: rays.pods(cluster, node_type="head") or None)
    core = client.CoreV1Api(api_client)
    rbac = client.RbacAuthorizationV1Api(api_client)
    ns = rays.namespace

    def read(kind: str) -> Json:
        reader = {
            "ServiceAccount": core.read_namespaced_service_account,
            "Role": rbac.read_namespaced_role,
            "RoleBinding": rbac.read_namespaced_role_binding,
        }[kind]
        return normalized(plain(api_client, reader(cluster, ns)), ns)

    objects = wait_for(
        "the autoscaler's RBAC",
        lambda: _all_present(read),
    )
    head = normalized(head, ns)
    containers = {c["name"]: c for c in head["spec"]["containers"]}
    ray = head["spec"]["containers"][0]
    return {
        "sidecar": containers["autoscaler"],
        "serviceAccountName": head["spec"].get("serviceAccountName"),
        "restartPolicy": head["spec"].get("restartPolicy"),
        "volumes": sorted(v["name"] for v in head["spec"].get("volumes") or []),
        "ray mounts": sorted((m["name"], m["mountPath"]) for m in ray.get("volumeMounts") or []),
        "ray env": {
            e["name"]: e.get("value")
            for e in ray.get("env") or []
            if e["name"].startswith("RAY_enable")
        },
        "no-monitor": "--no-monitor" in " ".join(ray.get("args") or []),
        **objects,
    }


def _all_present(read: Any) -> Json | None:
    try:
        return {kind: read(kind) for kind in ("ServiceAccount", "Role", "RoleBinding")}
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise


# Differences on purpose, by path in `built()`'s result.
KNOWN = {
    # Each operator labels what it creates with its own name.
    ("ServiceAccount", "metadata", "labels", "app.kubernetes.io/created-by"),
    ("Role", "metadata", "labels", "app.kubernetes.io/created-by"),
    ("RoleBinding", "metadata", "labels", "app.kubernetes.io/created-by"),
}


def differences(ours: Any, theirs: Any, path: tuple[str, ...] = ()) -> list[str]:
    if path in KNOWN:
        return []
    if isinstance(ours, dict) and isinstance(theirs, dict):
        found = []
        for key in sorted(set(ours) | set(theirs)):
            found += differences(ours.get(key), theirs.get(key), (*path, str(key)))
        return found
    if ours != theirs:
        return [f"{'.'.join(path)}: ours {ours!r}, KubeRay's {theirs!r}"]
    return []


@pytest.mark.parametrize(
    "sample", ["ray-cluster.autoscaler.yaml", "ray-cluster.autoscaler-v2.yaml"]
)
def test_the_autoscaler_is_built_as_kuberay_builds_it(
    sample: str,
    kuberay: ScopedKubeRay,
    kuberay_namespace: str,
    operator: OperatorProcess,
    rays: Rays,
    api_client: client.ApiClient,
) -> None:
    body = kuberay_sample(sample)
    theirs_rays = Rays(api_client, kuberay_namespace)
    theirs_rays.create(body)
    rays.create(body)
    name = body["metadata"]["name"]
    ours = built(api_client, rays, name)
    theirs = built(api_client, theirs_rays, name)
    print(yaml.safe_dump({"ours": ours["sidecar"], "kuberay": theirs["sidecar"]}))
    found = differences(ours, theirs)
    print("\n".join(found))
    assert found == []
