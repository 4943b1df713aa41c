"""Fixtures the RayCluster integration tests share: the CRDs applied once per module, a
client for the test's namespace, and a real ray-operator watching only that namespace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from raycluster_harness import OperatorProcess, Rays, apply_crds


@pytest.fixture(scope="module")
def crds(kube_cluster: Any) -> None:
    apply_crds(kube_cluster.env())


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
