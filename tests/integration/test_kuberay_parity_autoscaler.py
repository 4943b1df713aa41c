"""Side by side with KubeRay v1.5.0's real operator: the same autoscaler manifests, one
namespace each, and what the two operators build for Ray's autoscaler compared field by field
(the head pod's `autoscaler` container, its ServiceAccount, volumes and `ray start` flags; the
ServiceAccount, Role and RoleBinding). What is expected to differ is listed in `KNOWN`, each
with its reason; anything else that differs fails the test.

KubeRay's operator is built by `hack/tools.sh kuberay` (make test-integration does it).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from kuberay_parity import Json, ScopedKubeRay, differences, kuberay_sample, normalized, plain
from kubernetes import client
from raycluster_harness import OperatorProcess, Rays, wait_for

pytestmark = pytest.mark.integration


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
    found = differences(ours, theirs, KNOWN)
    print("\n".join(found))
    assert found == []
