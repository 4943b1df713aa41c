"""The operator's half of autoscaling on the real control plane: KubeRay's autoscaler samples
apply unchanged and get KubeRay's sidecar and RBAC; the autoscaler's writes (made here with
the head pod's own ServiceAccount token, so the Role is proven too) are honoured exactly:
pods up to `replicas`, only the pods `workersToDelete` names deleted, never one the
autoscaler did not name. Ray's real autoscaler process driving the same loop is in
test_autoscaler_real.py."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from raycluster_harness import OperatorProcess, Rays, wait_for
from rayservice_harness import Services

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).parent / "kuberay_samples"
RBAC = "rbac.authorization.k8s.io/v1"


def kuberay_sample(name: str, kind: str) -> dict[str, Any]:
    """The document of `kind` in KubeRay's sample, unchanged."""
    documents = yaml.safe_load_all((SAMPLES / name).read_text())
    return next(d for d in documents if d and d.get("kind") == kind)


def as_service_account(
    api_client: client.ApiClient, namespace: str, account: str
) -> client.ApiClient:
    """A client authenticated as `account`, as the autoscaler in the head pod is."""
    core = client.CoreV1Api(api_client)
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    token = core.create_namespaced_service_account_token(account, namespace, request)
    configuration = client.Configuration()
    base = api_client.configuration
    configuration.host = base.host
    configuration.ssl_ca_cert = base.ssl_ca_cert
    configuration.verify_ssl = base.verify_ssl
    configuration.api_key = {"authorization": f"Bearer {token.status.token}"}
    return client.ApiClient(configuration)


def container_names(pod: dict[str, Any]) -> list[str]:
    return [c["name"] for c in pod["spec"]["containers"]]


def warnings(rays: Rays, cluster: str) -> list[str]:
    return [e["message"] for e in rays.events(cluster) if e["type"] == "Warning"]


def test_kuberay_autoscaler_sample_scales_only_as_the_autoscaler_says(
    operator: OperatorProcess, rays: Rays, api_client: client.ApiClient
) -> None:
    name = "raycluster-autoscaler"
    rays.create(kuberay_sample("ray-cluster.autoscaler.yaml", "RayCluster"))
    wait_for("the cluster ready", lambda: rays.ready(name))
    (head,) = rays.pods(name, node_type="head")
    assert container_names(head) == ["ray-head", "autoscaler"]
    assert head["spec"]["serviceAccountName"] == name
    assert "--no-monitor" in head["spec"]["containers"][0]["args"][0].split()
    rbac = client.RbacAuthorizationV1Api(api_client)
    role = rbac.read_namespaced_role(name, rays.namespace)
    binding = rbac.read_namespaced_role_binding(name, rays.namespace)
    assert [(r.resources, r.verbs) for r in role.rules] == [
        (["pods"], ["get", "list", "watch", "patch"]),
        (["pods/resize"], ["patch"]),
        (["rayclusters"], ["get", "patch"]),
    ]
    assert [(s.kind, s.name) for s in binding.subjects] == [("ServiceAccount", name)]
    assert role.metadata.owner_references[0].kind == "RayCluster"
    assert warnings(rays, name) == []

    scaler = as_service_account(api_client, rays.namespace, name)
    custom = client.CustomObjectsApi(scaler)

    def autoscale(replicas: int, workers_to_delete: list[str]) -> None:
        """What Ray's autoscaler writes: a JSON patch of the group's scale fields."""
        patch = [
            {"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": replicas},
            {
                "op": "add",
                "path": "/spec/workerGroupSpecs/0/scaleStrategy",
                "value": {"workersToDelete": workers_to_delete},
            },
        ]
        custom.patch_namespaced_custom_object(
            "ray.io",
            "v1",
            rays.namespace,
            "rayclusters",
            name,
            patch,
            _content_type="application/json-patch+json",
        )

    started = time.monotonic()
    autoscale(3, [])
    wait_for("3 workers", lambda: len(rays.pods(name, node_type="worker")) == 3 or None)
    print(f"0 -> 3 workers: {time.monotonic() - started:.1f} s")
    workers = sorted(p["metadata"]["name"] for p in rays.pods(name, node_type="worker"))
    wait_for("the cluster ready again", lambda: rays.ready(name))

    # Replicas lowered without naming pods: the operator must not pick any.
    autoscale(1, [])
    time.sleep(5)  # passes happen on the change; give them time to (wrongly) delete
    assert sorted(p["metadata"]["name"] for p in rays.pods(name, node_type="worker")) == workers

    victim = workers[1]
    started = time.monotonic()
    autoscale(2, [victim])
    wait_for(
        "exactly the named pod deleted",
        lambda: (
            [p["metadata"]["name"] for p in rays.pods(name, node_type="worker")]
            == [w for w in workers if w != victim]
            or None
        ),
    )
    print(f"named pod deleted: {time.monotonic() - started:.1f} s")
    # A name of no pod of the group (the head's) is reported, and nothing is deleted.
    autoscale(2, [victim, head["metadata"]["name"]])
    wait_for(
        "the Warning for the unknown name",
        lambda: rays.events(name, "WorkerToDeleteNotFound") or None,
    )
    assert rays.pods(name, node_type="head")[0]["metadata"]["uid"] == head["metadata"]["uid"]
    assert len(rays.pods(name, node_type="worker")) == 2
    status = wait_for(
        "status counts",
        lambda: ((s := rays.status(name)).get("desiredWorkerReplicas") == 2 and s) or None,
    )
    assert status["workerGroups"] == [
        {"name": "small-group", "readyReplicas": 2, "availableReplicas": 2}
    ]


def test_kuberay_autoscaler_v2_sample_never_restarts_pods(
    operator: OperatorProcess, rays: Rays
) -> None:
    name = "raycluster-autoscaler"
    body = kuberay_sample("ray-cluster.autoscaler-v2.yaml", "RayCluster")
    body["spec"]["workerGroupSpecs"][0]["replicas"] = 1
    rays.create(body)
    wait_for("the cluster ready", lambda: rays.ready(name))
    (head,) = rays.pods(name, node_type="head")
    (worker,) = rays.pods(name, node_type="worker")
    assert head["spec"]["restartPolicy"] == "Never"
    assert worker["spec"]["restartPolicy"] == "Never"
    env = {e["name"]: e.get("value") for e in head["spec"]["containers"][0]["env"]}
    assert env["RAY_enable_autoscaler_v2"] == "true"
    assert warnings(rays, name) == []


def test_an_autoscaler_that_cannot_start_is_reported(
    operator: OperatorProcess, rays: Rays, api_client: client.ApiClient
) -> None:
    name = "raycluster-autoscaler"
    body = kuberay_sample("ray-cluster.autoscaler.yaml", "RayCluster")
    body["spec"]["autoscalerOptions"]["image"] = "example.invalid/no-such-autoscaler:0"
    rays.create(body)
    (head,) = wait_for("the head pod", lambda: rays.pods(name, node_type="head") or None)
    sidecar = head["spec"]["containers"][1]
    assert sidecar["image"] == "example.invalid/no-such-autoscaler:0"
    wait_for("kwok runs the pod", lambda: rays.ready(name))
    # kwok does not pull images; report what a kubelet reports when the pull fails.
    core = client.CoreV1Api(api_client)
    pod = core.read_namespaced_pod(head["metadata"]["name"], rays.namespace)
    message = "pull access denied for example.invalid/no-such-autoscaler"
    statuses = [
        {
            "name": c.name,
            "image": c.image,
            "imageID": "",
            "ready": c.name != "autoscaler",
            "restartCount": 0,
            "state": (
                {"waiting": {"reason": "ImagePullBackOff", "message": message}}
                if c.name == "autoscaler"
                else {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
            ),
        }
        for c in pod.spec.containers
    ]
    core.patch_namespaced_pod_status(
        pod.metadata.name, rays.namespace, {"status": {"containerStatuses": statuses}}
    )
    status = wait_for(
        "state failed", lambda: ((s := rays.status(name)).get("state") == "failed" and s) or None
    )
    assert "ImagePullBackOff" in status["reason"]
    assert "no-such-autoscaler" in status["reason"]


def test_a_rayservice_with_autoscaling_gets_the_sidecar_and_no_warning(
    operator: OperatorProcess, api_client: client.ApiClient, namespace: str, rays: Rays
) -> None:
    services = Services(api_client, namespace)
    services.create(kuberay_sample("rayservice.autoscaling.yaml", "RayService"))
    clusters = wait_for("the child cluster", lambda: services.clusters("test-rayservice") or None)
    (cluster,) = clusters
    (head,) = wait_for("its head pod", lambda: rays.pods(cluster, node_type="head") or None)
    assert container_names(head) == ["ray-head", "autoscaler"]
    assert head["spec"]["serviceAccountName"] == cluster
    assert not [m for m in warnings(rays, cluster) if "ignored" in m]
