"""The RayJob integration tests' `operator`: a real ray-operator for one test, watching only the
test's namespace, with that namespace mapped to the module's real Ray head.

Each RayJob test module imports `job_operator`, so the fixture is that module's own and takes
precedence over conftest.py's plain `operator` (a `pytest_plugins` entry would register it for
the whole session, where conftest.py's fixture of the same name wins).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from raycluster_harness import OperatorProcess
from rayjob_harness import point_map

from localkube.ray import RayHead


@pytest.fixture(name="operator")
def job_operator(
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
