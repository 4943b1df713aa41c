"""The local control plane is a real one: scheduling, kwok kubelets, controllers, GC, RBAC."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from kubernetes import client

from localkube.waiting import wait_for

pytestmark = pytest.mark.integration


def _pod(name: str, labels: dict[str, str] | None = None) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(
                    name="main",
                    image="busybox",
                    resources=client.V1ResourceRequirements(
                        requests={"cpu": "1", "memory": "1Gi"}, limits={"nvidia.com/gpu": "1"}
                    ),
                )
            ]
        ),
    )


def test_pod_is_scheduled_and_becomes_ready(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_pod(namespace, _pod("scheduled"))

    def ready() -> client.V1Pod | None:
        pod = core.read_namespaced_pod("scheduled", namespace)
        conditions = {c.type: c.status for c in pod.status.conditions or []}
        return pod if pod.status.phase == "Running" and conditions.get("Ready") == "True" else None

    pod = wait_for("pod Running and Ready", ready)
    assert pod.spec.node_name.startswith("kwok-node-")
    assert pod.status.pod_ip, "kwok gives the pod an IP from the pod CIDR"


def test_nodes_offer_cpu_memory_and_gpus(api_client: client.ApiClient) -> None:
    nodes = client.CoreV1Api(api_client).list_node().items
    assert len(nodes) >= 1
    for node in nodes:
        assert node.status.allocatable["nvidia.com/gpu"] == "4"
        assert node.status.allocatable["cpu"] == "32"


def test_unschedulable_pod_stays_pending(api_client: client.ApiClient, namespace: str) -> None:
    """The scheduler is real: a pod asking for more GPUs than any node has is not placed."""
    core = client.CoreV1Api(api_client)
    pod = _pod("too-big")
    pod.spec.containers[0].resources.limits = {"nvidia.com/gpu": "64"}
    core.create_namespaced_pod(namespace, pod)

    def unschedulable() -> bool:
        status = core.read_namespaced_pod("too-big", namespace).status
        return any(
            c.type == "PodScheduled" and c.reason == "Unschedulable"
            for c in status.conditions or []
        )

    wait_for("PodScheduled=False/Unschedulable", unschedulable)
    assert core.read_namespaced_pod("too-big", namespace).spec.node_name is None


def test_deployment_becomes_available(api_client: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api_client)
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1DeploymentSpec(
                replicas=3,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx")]),
                ),
            ),
        ),
    )
    wait_for(
        "deployment with 3 available replicas",
        lambda: (
            apps.read_namespaced_deployment_status("web", namespace).status.available_replicas == 3
        ),
    )


def test_deleting_owner_garbage_collects_dependents(
    api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    ref = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid
    )
    dependent = _pod("dependent")
    dependent.metadata.owner_references = [ref]
    core.create_namespaced_pod(namespace, dependent)
    core.delete_namespaced_config_map("owner", namespace)

    def gone() -> bool:
        return not [
            p for p in core.list_namespaced_pod(namespace).items if p.metadata.name == "dependent"
        ]

    wait_for("garbage collection of the dependent pod", gone)


def test_restricted_service_account_is_denied(
    api_client: client.ApiClient, namespace: str, kube_cluster: Any, tmp_path: Any
) -> None:
    """A real token for a ServiceAccount with read-only pod access cannot create pods."""
    core, rbac = client.CoreV1Api(api_client), client.RbacAuthorizationV1Api(api_client)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="reader"))
    )
    rbac.create_namespaced_role(
        namespace,
        client.V1Role(
            metadata=client.V1ObjectMeta(name="pod-reader"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list"])],
        ),
    )
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="pod-reader"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name="pod-reader"
            ),
            subjects=[
                client.RbacV1Subject(kind="ServiceAccount", name="reader", namespace=namespace)
            ],
        ),
    )
    token = core.create_namespaced_service_account_token(
        "reader",
        namespace,
        client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[])),
    ).status.token

    def kubectl_as_reader(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", f"--token={token}", "--user=", "-n", namespace, *args],
            env=kube_cluster.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )

    listed = kubectl_as_reader("get", "pods", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["items"] == []
    created = kubectl_as_reader("run", "intruder", "--image=busybox")
    assert created.returncode != 0
    assert "forbidden" in created.stderr.lower()
    secrets_read = kubectl_as_reader("get", "secrets")
    assert "forbidden" in secrets_read.stderr.lower()
