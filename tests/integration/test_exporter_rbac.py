"""ray-exporter runs with a ServiceAccount token that may only get/list/watch the three
Ray resources (cluster-wide, or in one namespace with --namespaces); without `watch`
it never becomes ready and says why."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from exporter_harness import (
    RayObjects,
    apply_crds,
    exporter_env,
    exporter_running,
    raycluster,
    value,
    wait_for,
)
from kubernetes import client, config

pytestmark = pytest.mark.integration
RULE = client.V1PolicyRule(
    api_groups=["ray.io"],
    resources=["rayclusters", "rayjobs", "rayservices"],
    verbs=["get", "list", "watch"],
)


def token_kubeconfig(
    api_client: client.ApiClient, admin: Path, namespace: str, account: str, path: Path
) -> Path:
    """A kubeconfig for `account` with a short-lived token from the TokenRequest API."""
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    token = client.CoreV1Api(api_client).create_namespaced_service_account_token(
        account, namespace, request
    )
    data = yaml.safe_load(admin.read_text())
    assert token.status is not None
    data["users"] = [{"name": account, "user": {"token": token.status.token}}]
    for context in data["contexts"]:
        context["context"]["user"] = account
    path.write_text(yaml.safe_dump(data))
    path.chmod(0o600)
    return path


@pytest.fixture
def account(api_client: client.ApiClient, namespace: str) -> str:
    name = "ray-exporter"
    client.CoreV1Api(api_client).create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
    )
    return name


@pytest.fixture
def cluster_role(api_client: client.ApiClient, namespace: str, account: str) -> Iterator[None]:
    rbac = client.RbacAuthorizationV1Api(api_client)
    name = f"ray-exporter-test-{secrets.token_hex(3)}"
    rbac.create_cluster_role(
        client.V1ClusterRole(metadata=client.V1ObjectMeta(name=name), rules=[RULE])
    )
    rbac.create_cluster_role_binding(
        client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(name=name),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=name
            ),
            subjects=[
                client.RbacV1Subject(kind="ServiceAccount", name=account, namespace=namespace)
            ],
        )
    )
    try:
        yield
    finally:
        rbac.delete_cluster_role_binding(name)
        rbac.delete_cluster_role(name)


def bind_role(
    api_client: client.ApiClient, namespace: str, account: str, rule: client.V1PolicyRule
) -> None:
    rbac = client.RbacAuthorizationV1Api(api_client)
    rbac.create_namespaced_role(
        namespace, client.V1Role(metadata=client.V1ObjectMeta(name="exporter"), rules=[rule])
    )
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="exporter"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name="exporter"
            ),
            subjects=[
                client.RbacV1Subject(kind="ServiceAccount", name=account, namespace=namespace)
            ],
        ),
    )


def assert_cannot_list_pods(kubeconfig: Path, namespace: str) -> None:
    restricted = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    try:
        with pytest.raises(client.ApiException) as refused:
            client.CoreV1Api(restricted).list_namespaced_pod(namespace)
        assert refused.value.status == 403
    finally:
        restricted.close()


def test_cluster_wide_with_only_get_list_watch(
    kube_cluster: Any,
    api_client: client.ApiClient,
    namespace: str,
    account: str,
    cluster_role: None,
    tmp_path: Path,
) -> None:
    apply_crds(kube_cluster.env())
    kubeconfig = token_kubeconfig(
        api_client, kube_cluster.kubeconfig, namespace, account, tmp_path / "kc"
    )
    assert_cannot_list_pods(kubeconfig, namespace)
    ray = RayObjects(api_client, namespace)
    uid = ray.create("rayclusters", raycluster("rbac"))["metadata"]["uid"]
    with exporter_running(
        exporter_env(kube_cluster.env(), kubeconfig), tmp_path / "exporter.log"
    ) as exporter:
        exporter.wait_ready()
        exporter.wait_metrics(
            "the cluster", lambda b: value(b, "kuberay_cluster_info", uid=uid) == 1
        )
        ray.delete("rayclusters", "rbac")
        exporter.wait_metrics(
            "the deletion", lambda b: value(b, "kuberay_cluster_info", uid=uid) is None
        )
        body = exporter.metrics()
        assert value(body, "ray_exporter_watch_errors_total", reason="http_403") is None


def test_one_namespace_with_a_namespaced_role(
    kube_cluster: Any, api_client: client.ApiClient, namespace: str, account: str, tmp_path: Path
) -> None:
    apply_crds(kube_cluster.env())
    bind_role(api_client, namespace, account, RULE)
    kubeconfig = token_kubeconfig(
        api_client, kube_cluster.kubeconfig, namespace, account, tmp_path / "kc"
    )
    uid = RayObjects(api_client, namespace).create(
        "rayjobs",
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayJob",
            "metadata": {"name": "j"},
            "spec": {"entrypoint": "true"},
        },
    )["metadata"]["uid"]
    env = exporter_env(kube_cluster.env(), kubeconfig)
    with exporter_running(env, tmp_path / "exporter.log", "--namespaces", namespace) as exporter:
        exporter.wait_ready()
        exporter.wait_metrics("the job", lambda b: value(b, "kuberay_job_info", uid=uid) == 1)


def test_without_watch_it_is_not_ready_and_counts_403(
    kube_cluster: Any, api_client: client.ApiClient, namespace: str, account: str, tmp_path: Path
) -> None:
    apply_crds(kube_cluster.env())
    rule = client.V1PolicyRule(
        api_groups=["ray.io"], resources=["rayclusters", "rayjobs"], verbs=["get", "list", "watch"]
    )
    bind_role(api_client, namespace, account, rule)
    kubeconfig = token_kubeconfig(
        api_client, kube_cluster.kubeconfig, namespace, account, tmp_path / "kc"
    )
    env = exporter_env(kube_cluster.env(), kubeconfig)
    with exporter_running(env, tmp_path / "exporter.log", "--namespaces", namespace) as exporter:
        body = exporter.wait_metrics(
            "a 403 on rayservices",
            lambda b: (
                (
                    value(
                        b,
                        "ray_exporter_watch_errors_total",
                        resource="rayservices",
                        reason="http_403",
                    )
                    or 0
                )
                > 0
            ),
        )
        assert exporter.get("/readyz")[0] == 503
        assert value(body, "ray_exporter_synced") == 0
        assert value(body, "ray_exporter_watch_up", resource="rayservices") == 0
        wait_for(
            "the other resources to be up",
            lambda: value(exporter.metrics(), "ray_exporter_watch_up", resource="rayjobs") == 1,
        )
