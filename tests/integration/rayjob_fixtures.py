"""Fixtures of the RayJob integration tests (a pytest plugin: `pytest_plugins =
["rayjob_fixtures"]`).

- `ray_head`: one real Ray head per test module (it takes 20-60 s to start on this machine).
- `dashboard_map`: the module's --dashboard-map file.
- `crds`: the chart's CRDs applied once per module.
- `jobs`: RayJobs and what they own in the test's namespace.
- `operator`: a real ray-operator for one test, restricted to the test's namespace, with that
  namespace mapped to the Ray head.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from exporter_harness import apply_crds
from kubernetes import client
from raycluster_harness import OperatorProcess
from rayjob_harness import RayJobs, point_map

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
def operator(
    kube_cluster: Any,
    crds: None,
    namespace: str,
    tmp_path: Path,
    ray_head: RayHead,
    dashboard_map: Path,
) -> Iterator[OperatorProcess]:
    point_map(dashboard_map, namespace, ray_head.dashboard_url)
    with OperatorProcess(
        kube_cluster.env(),
        tmp_path / "operator.log",
        "--namespaces",
        namespace,
        "--dashboard-map",
        str(dashboard_map),
    ) as op:
        yield op
