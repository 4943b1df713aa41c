"""Property tests: whatever JSON a status (or a whole object) holds, rendering never raises,
and what it renders is valid exposition text that parses back to the same labels."""

from __future__ import annotations

from typing import Any

from exporter_objects import raycluster, rayjob, rayservice
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from ray_exporter.exposition import Format
from ray_exporter.families import render
from ray_exporter.resources import FAMILY_ORDER, RESOURCES
from ray_exporter.sharding import Shard
from ray_exporter.store import MetricsStore

KEYS = st.sampled_from(
    [
        "conditions",
        "type",
        "status",
        "lastTransitionTime",
        "jobDeploymentStatus",
        "attemptHistory",
        "retryCount",
        "result",
        "startTime",
        "endTime",
        "observedGeneration",
        "failed",
        "Ready",
        "RayClusterProvisioned",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text()
    | st.sampled_from(["True", "Retrying", "Failed", "Complete", "2024-05-01T10:00:00Z"])
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(KEYS | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
)
BUILDERS = [raycluster, rayjob, rayservice]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(JSON, st.sampled_from([0, 1, 2]))
def test_any_status_renders_without_raising(status: Any, which: int) -> None:
    obj = BUILDERS[which]("x", status=status)
    obj["status"] = status
    rendered = render(RESOURCES[which], obj)
    assert len(rendered.lines) == len(RESOURCES[which].families)
    # The info family never depends on status.
    assert rendered.lines[0].startswith(RESOURCES[which].families[0][0].name.encode())


META = st.dictionaries(
    st.sampled_from(
        ["name", "namespace", "uid", "generation", "labels", "creationTimestamp", "resourceVersion"]
    ),
    JSON,
)
OBJECTS = st.fixed_dictionaries({}, optional={"metadata": META | JSON, "status": JSON})


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(OBJECTS)
def test_any_object_renders_without_raising(obj: dict[str, Any]) -> None:
    for resource in RESOURCES:
        render(resource, obj)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(min_size=1), st.text(), JSON)
def test_rendered_text_parses_back(name: str, owner: str, status: Any) -> None:
    store = MetricsStore(RESOURCES, FAMILY_ORDER, Shard())
    cluster = raycluster(name, labels={"ray.io/originated-from-crd": owner}, status=status)
    store.put("rayclusters", render(RESOURCES[0], cluster))
    body = store.exposition(Format.TEXT).joined()
    families = {family.name: family for family in text_string_to_metric_families(body.decode())}
    assert set(families) == {family.name for family in FAMILY_ORDER}
    (info,) = families["kuberay_cluster_info"].samples
    expected_name = name.encode("utf-8", "replace").decode()
    expected_owner = owner.encode("utf-8", "replace").decode() if owner else "None"
    assert info.labels == {
        "name": expected_name,
        "namespace": "ns",
        "uid": "uid-" + expected_name,
        "owner_kind": expected_owner,
    }
