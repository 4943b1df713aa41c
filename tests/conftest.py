"""Fixtures shared by the cross-cutting tests: the real local control plane and namespaces.

`kube_cluster` starts etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok for the test session (they die with the session, even
on SIGKILL), or reuses the local cluster that `make cluster-up` started when
KUBECONFIG names it. Another cluster named by KUBECONFIG is used only when
LOCALKUBE_USE_KUBECONFIG=1, so a stray KUBECONFIG never points tests at a real
cluster by accident.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from localkube import Cluster
from localkube.cluster import REPO_ROOT
from localkube.waiting import wait_for


class ExternalCluster:
    """A cluster this session did not start: usable, but not for fault injection."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = f"{REPO_ROOT / '.tools' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return env


def _reusable(kubeconfig: str | None) -> Cluster | ExternalCluster | None:
    if not kubeconfig:
        return None
    path = Path(kubeconfig)
    if (path.parent / "state.json").exists():
        local = Cluster(path.parent)
        return local if local.running() else None
    if os.environ.get("LOCALKUBE_USE_KUBECONFIG") == "1":
        return ExternalCluster(path)
    return None


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster | ExternalCluster]:
    reused = _reusable(os.environ.get("KUBECONFIG"))
    if reused is not None:
        yield reused
        return
    cluster = Cluster(tmp_path_factory.mktemp("localkube"))
    cluster.up(detached=False)
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture
def local_cluster(kube_cluster: Cluster | ExternalCluster) -> Cluster:
    """The control plane, for tests that stop or restart its processes (fault injection)."""
    if isinstance(kube_cluster, ExternalCluster):
        pytest.skip(
            "LOCALKUBE_USE_KUBECONFIG=1 runs the tests on a cluster this session does not own;"
            " stopping its kube-apiserver needs the local control plane"
        )
    return kube_cluster


@pytest.fixture(scope="session")
def kubeconfig(kube_cluster: Cluster | ExternalCluster) -> str:
    return str(kube_cluster.kubeconfig)


@pytest.fixture(scope="session")
def api_client(kubeconfig: str) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=kubeconfig)
    yield api
    api.close()


@pytest.fixture
def namespace(api_client: client.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, deleted (with everything in it) afterwards.

    It is handed out once kube-controller-manager has created its `default` ServiceAccount:
    until then pods cannot be created in it (right after an apiserver restart that takes a
    few seconds)."""
    stem = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{stem}-{secrets.token_hex(3)}"
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))

    def default_account() -> list[Any]:
        selector = "metadata.name=default"
        return list(core.list_namespaced_service_account(name, field_selector=selector).items)

    try:
        wait_for(f"the default ServiceAccount of {name}", default_account, timeout=30)
    except AssertionError:
        # After a kube-apiserver restart, kube-controller-manager's ServiceAccount controller
        # can take minutes to resume its watch; the account it would create is created here,
        # as kube-controller-manager would (it leaves an existing one alone).
        try:
            core.create_namespaced_service_account(
                name, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="default"))
            )
        except client.ApiException as error:
            if error.status != 409:
                raise
        wait_for(f"the default ServiceAccount of {name}", default_account)
    yield name
    core.delete_namespace(name, propagation_policy="Background")
