"""Fixtures the integration tests share.

- `crds`: the chart's CRDs applied once per module.
- `rays` and `jobs`: RayClusters, RayJobs and what they own in the test's namespace.
- `operator`: a real ray-operator for one test, watching only the test's namespace. The RayJob
  modules import rayjob_fixtures.job_operator, their own `operator`, which also maps that
  namespace to the module's Ray head.
- `ray_head`: one real Ray head per test module (it takes 20-60 s to start on this machine),
  started only for the modules that ask for it; `dashboard_map`: the module's --dashboard-map
  file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from raycluster_harness import OperatorProcess, Rays, apply_crds
from rayjob_harness import RayJobs

from localkube.ray import RayHead


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
