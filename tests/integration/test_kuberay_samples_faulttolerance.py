"""KubeRay's GCS fault-tolerance samples applied unchanged (`kubectl apply -f` of the whole
file: its Redis Deployment, Service, ConfigMap and Secret with the RayCluster or RayService):
the RayClusters become ready with fault-tolerant head pods and their Redis cleanup record;
the RayService's child cluster gets the same (its Serve app needs a real Ray; the RayService
on real Serve is test_rayservice_ha.py). And both forms of fault tolerance at once: refused
with KubeRay's message, no pod, while a neighbour runs."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from gcsft_harness import ensure_secret
from kuberay_parity import SAMPLES, kuberay_sample
from kubernetes import client
from raycluster_harness import OperatorProcess, Rays, wait_for
from rayservice_harness import Services

pytestmark = pytest.mark.integration


def apply(kube_cluster: Any, namespace: str, name: str) -> None:
    subprocess.run(
        ["kubectl", "apply", "-n", namespace, "-f", str(SAMPLES / name)],
        env=kube_cluster.env(),
        check=True,
        capture_output=True,
        timeout=120,
    )


def only_until_the_secret(events: list[Any]) -> None:
    """The file applies the RayCluster before its Secret: a Warning about the Secret not
    existing yet may come first; nothing else is wrong with the sample."""
    for event in events:
        assert "which does not exist" in event["message"], event["message"]


def records(api_client: client.ApiClient, namespace: str) -> list[Any]:
    listed = client.CoreV1Api(api_client).list_namespaced_config_map(
        namespace, label_selector="ray.io/redis-cleanup=record"
    )
    return list(listed.items)


@pytest.mark.parametrize(
    "sample",
    [
        "ray-cluster.external-redis.yaml",
        "ray-cluster.external-redis-uri.yaml",
        "ray-cluster.persistent-redis.yaml",
    ],
)
def test_the_cluster_samples_apply_and_run(
    sample: str,
    kube_cluster: Any,
    operator: OperatorProcess,
    rays: Rays,
    api_client: client.ApiClient,
) -> None:
    apply(kube_cluster, rays.namespace, sample)
    name = kuberay_sample(sample)["metadata"]["name"]
    status = wait_for(f"{name} ready", lambda: rays.ready(name), 120)
    (head,) = rays.pods(name, node_type="head")
    assert head["metadata"]["annotations"]["ray.io/ft-enabled"] == "true"
    assert status.get("reason") is None
    only_until_the_secret(rays.events(name, "InvalidRayClusterSpec"))
    (record,) = records(api_client, rays.namespace)
    assert record.data["cluster"] == name
    print(f"{sample}: state {status['state']}, record {record.metadata.name}")


def test_the_high_availability_service_sample_applies(
    kube_cluster: Any, operator: OperatorProcess, api_client: client.ApiClient, namespace: str
) -> None:
    apply(kube_cluster, namespace, "ray-service.high-availability.yaml")
    services = Services(api_client, namespace)
    child = wait_for(
        "the child RayCluster", lambda: next(iter(services.clusters("rayservice-ha")), None)
    )
    rays = Rays(api_client, namespace)
    head = wait_for("its head pod", lambda: rays.pods(child, node_type="head"))[0]
    assert head["metadata"]["annotations"]["ray.io/ft-enabled"] == "true"
    env = {e["name"] for e in head["spec"]["containers"][0]["env"]}
    assert {"RAY_REDIS_ADDRESS", "REDIS_PASSWORD", "RAY_external_storage_namespace"} <= env
    assert wait_for("its cleanup record", lambda: records(api_client, namespace))
    only_until_the_secret(rays.events(child, "InvalidRayClusterSpec"))


def test_both_forms_at_once_are_refused_and_a_neighbour_runs(
    operator: OperatorProcess, rays: Rays, api_client: client.ApiClient
) -> None:
    ensure_secret(rays, "5241590000000000")  # the one the samples name
    both = kuberay_sample("ray-cluster.external-redis.yaml")
    both["metadata"] = {"name": "both-forms", "annotations": {"ray.io/ft-enabled": "true"}}
    rays.create(both)
    neighbour = kuberay_sample("ray-cluster.external-redis-uri.yaml")
    rays.create(neighbour)
    name = neighbour["metadata"]["name"]
    wait_for(f"{name} ready", lambda: rays.ready(name), 120)
    status = wait_for("both-forms unhealthy", lambda: rays.status("both-forms").get("reason"))
    print(f"both-forms: state {rays.status('both-forms').get('state')}, reason: {status}")
    assert rays.status("both-forms")["state"] == "unhealthy"
    assert "annotation and GcsFaultToleranceOptions are both set" in status
    (event,) = rays.events("both-forms", "InvalidRayClusterSpec")
    assert event["type"] == "Warning"
    assert rays.pods("both-forms") == []
    assert [r.data["cluster"] for r in records(api_client, rays.namespace)] == [name]
    assert operator.process is not None
    assert operator.process.poll() is None


def test_a_missing_secret_is_reported_until_it_exists(
    operator: OperatorProcess, rays: Rays, api_client: client.ApiClient
) -> None:
    body = kuberay_sample("ray-cluster.external-redis.yaml")
    rays.create(body)
    name = body["metadata"]["name"]
    reason = wait_for("the missing Secret reported", lambda: rays.status(name).get("reason"))
    print(f"{name} without its Secret: {rays.status(name).get('state')}, {reason}")
    assert "refers to the Secret" in reason
    assert "redis-password-secret, which does not exist" in reason
    assert rays.pods(name) == []
    client.CoreV1Api(api_client).create_namespaced_secret(
        rays.namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="redis-password-secret"),
            string_data={"password": "not-logged-0123"},
        ),
    )
    wait_for(f"{name} ready once the Secret exists", lambda: rays.ready(name), 120)
    assert "not-logged-0123" not in operator.log_path.read_text()
