"""Fixtures the integration tests share.

- `crds`: the chart's CRDs applied once per module.
- `rays` and `jobs`: RayClusters, RayJobs and what they own in the test's namespace.
- `operator`: a real ray-operator for one test, watching only the test's namespace. The RayJob
  modules import rayjob_fixtures.job_operator, their own `operator`, which also maps that
  namespace to the module's Ray head.
- `kuberay`: KubeRay v1.5.0's real operator watching only `kuberay_namespace`, a namespace
  beside the test's (the side-by-side tests, kuberay_parity.py).
- `redis`: a real Redis server on a free loopback port with a password, for one test.
- `ray_head`: one real Ray head per test module (it takes 20-60 s to start on this machine),
  started only for the modules that ask for it; `dashboard_map`: the module's --dashboard-map
  file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench.operator_rivals import KUBERAY_BINARY
from kuberay_parity import ScopedKubeRay
from kubernetes import client
from raycluster_harness import OperatorProcess, Rays, apply_crds, wait_for
from rayjob_harness import RayJobs

from localkube.ray import RayHead
from localkube.redis import RedisServer


@pytest.fixture(scope="module")
def crds(kube_cluster: Any) -> None:
    apply_crds(kube_cluster.env())


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayHead]:
    head = RayHead(tmp_path_factory.mktemp("ray-head"))
    try:
        yield head
    finally:
        head.stop()


@pytest.fixture(scope="module")
def dashboard_map(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dashboard-map") / "map.yaml"


@pytest.fixture
def jobs(api_client: client.ApiClient, namespace: str) -> RayJobs:
    return RayJobs(api_client, namespace)


@pytest.fixture
def rays(api_client: client.ApiClient, namespace: str) -> Rays:
    return Rays(api_client, namespace)


@pytest.fixture
def operator(
    kube_cluster: Any, crds: None, namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    with OperatorProcess(
        kube_cluster.env(), tmp_path / "operator.log", "--namespaces", namespace
    ) as op:
        yield op


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


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()
