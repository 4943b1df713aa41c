"""Fuzz: hostile custom resources mixed with good ones, through the real renderer, watcher
relist and store.

Properties, for any mix:
- rendering never raises (a bad field costs its own series and is counted as a problem);
- the good objects' series are byte-identical to those of a store fed only the good objects;
- every problem is counted in `ray_exporter_object_errors_total`;
- the whole scrape parses with prometheus_client's parser, and label values (unicode, line
  breaks, quotes, backslashes, braces) come back unchanged.

Deterministic (`derandomize`) and bounded, so it runs in the unit tier.
"""

from __future__ import annotations

import copy
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from exporter_objects import (
    attempt,
    condition,
    group_status,
    raycluster,
    rayjob,
    rayservice,
    worker_group,
)
from hostile_json import HUGE, SPECIAL_TEXT, hostile_values, mutated, sharp_values
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from ray_exporter.exposition import Format
from ray_exporter.families import Rendered, render
from ray_exporter.fields import Problem
from ray_exporter.resources import FAMILY_ORDER, RESOURCES
from ray_exporter.selfmetrics import SelfMetrics, SyncTracker
from ray_exporter.sharding import Shard
from ray_exporter.store import MetricsStore
from ray_exporter.watch import Watcher

PROMTOOL = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "promtool"
FUZZ = settings(
    derandomize=True,
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PLURALS = [resource.plural for resource in RESOURCES]
HISTORY = [
    attempt("Retrying", 0, "2024-05-01T10:00:00Z", "2024-05-01T10:00:09Z"),
    attempt("Failed", 1, "2024-05-01T10:01:00Z", "2024-05-01T10:03:00.5Z"),
]
GOOD = {
    "rayclusters": [
        raycluster(
            "c1",
            labels={"ray.io/originated-from-crd": "RayJob"},
            status={
                "conditions": [condition("RayClusterProvisioned", "True")],
                "workerGroups": [group_status("small", 2, 1)],
            },
            spec={
                "enableInTreeAutoscaling": True,
                "workerGroupSpecs": [
                    worker_group("small", replicas=2, minReplicas=1, maxReplicas=5),
                    worker_group("multi-host", replicas=1, numOfHosts=4, suspend=False),
                ],
            },
        ),
        raycluster("c2", namespace="other", generation=4, status={"observedGeneration": 2}),
    ],
    "rayjobs": [
        rayjob("j1", status={"jobDeploymentStatus": "Failed", "attemptHistory": HISTORY}),
        rayjob("j2"),
    ],
    "rayservices": [
        rayservice(
            "s1",
            status={
                "conditions": [condition("Ready", "True"), condition("UpgradeInProgress", "False")]
            },
        ),
    ],
}
GOOD_UIDS = {obj["metadata"]["uid"] for objects in GOOD.values() for obj in objects}


@st.composite
def hostile_objects(draw: st.DrawFn, plural: str, index: int) -> dict[str, Any]:
    """A mutant of one good object, under its own UID (the apiserver makes UIDs unique)."""
    template = draw(st.sampled_from(GOOD[plural]))
    body = draw(mutated(template))
    metadata = body["metadata"]
    metadata["uid"] = f"hostile-{plural}-{index}"
    metadata["resourceVersion"] = "1"
    return body


# The fields the families read, where a hostile value does the most harm.
READ_FIELDS = [
    ("metadata", "name"),
    ("metadata", "generation"),
    ("metadata", "labels"),
    ("metadata", "creationTimestamp"),
    ("status", "observedGeneration"),
    ("status", "conditions"),
    ("status", "jobDeploymentStatus"),
    ("status", "attemptHistory"),
    ("status", "workerGroups"),
    ("spec", "workerGroupSpecs"),
    ("spec", "enableInTreeAutoscaling"),
    ("spec", "suspend"),
]
ENTRIES = {
    "conditions": [*HISTORY, condition("Ready", "True")],
    "attemptHistory": [*HISTORY, condition("Ready", "True")],
    "workerGroups": [group_status("small", 2, 1)],
    "workerGroupSpecs": [worker_group("small", replicas=2, minReplicas=1, numOfHosts=2)],
}
"""For each list field: good entries, one of which gets a hostile value inside."""


@st.composite
def field_hostile_objects(draw: st.DrawFn, plural: str, index: int) -> dict[str, Any]:
    """A good object with one to three of the fields the families read made hostile; a list
    field gets one good entry with a hostile value inside."""
    body = copy.deepcopy(draw(st.sampled_from(GOOD[plural])))
    body["metadata"]["uid"] = f"fields-{plural}-{index}"
    for section, key in draw(st.lists(st.sampled_from(READ_FIELDS), min_size=1, max_size=3)):
        value = draw(sharp_values | hostile_values)
        if key in ENTRIES:
            entry = dict(draw(st.sampled_from(ENTRIES[key])))
            entry[draw(st.sampled_from(sorted(entry)))] = value
            value = [entry]
        target = body.setdefault(section, {})
        if isinstance(target, dict):
            target[key] = value
    return body


@st.composite
def mixes(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    """Per resource: the good objects and some hostile ones, in a drawn order."""
    result = {}
    for plural in PLURALS:
        count = draw(st.integers(0, 3))
        hostile = [draw(hostile_objects(plural, index)) for index in range(count)]
        hostile += [draw(field_hostile_objects(plural, index)) for index in range(count)]
        result[plural] = draw(st.permutations([*GOOD[plural], *hostile]))
    return result


class ListOnly:
    """The one API call a relist makes, answering fixed pages (a stub of `KubeApi`)."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def list_page(self, scope: Any, limit: int, token: str | None) -> dict[str, Any]:
        return {"items": self.items, "metadata": {"resourceVersion": "9"}}


def fill(objects: dict[str, list[dict[str, Any]]]) -> tuple[MetricsStore, CollectorRegistry]:
    """A store filled the way the exporter fills it: one relist per resource."""
    registry = CollectorRegistry()
    metrics = SelfMetrics(registry, PLURALS, "test")
    store = MetricsStore(RESOURCES, FAMILY_ORDER, Shard())
    tracker = SyncTracker([(plural, None) for plural in PLURALS])
    for resource in RESOURCES:
        api = ListOnly(objects.get(resource.plural, []))
        stop = threading.Event()
        Watcher(resource, None, api, store, tracker, metrics, stop)._relist()  # type: ignore[arg-type]
    return store, registry


def scrape(store: MetricsStore) -> str:
    return store.exposition(Format.TEXT).joined().decode("utf-8")


def lines_of(text: str, uids: set[str]) -> list[str]:
    return [line for line in text.splitlines() if any(f'uid="{uid}"' in line for uid in uids)]


def object_errors(registry: CollectorRegistry) -> float:
    return sum(
        sample.value
        for metric in registry.collect()
        if metric.name == "ray_exporter_object_errors"
        for sample in metric.samples
        if sample.name == "ray_exporter_object_errors_total"
    )


GOOD_TEXT = scrape(fill(GOOD)[0])


def test_the_good_objects_render_every_family() -> None:
    names = {line.split("{")[0] for line in lines_of(GOOD_TEXT, GOOD_UIDS)}
    assert names == {family.name for family in FAMILY_ORDER}


@settings(FUZZ, max_examples=300)
@given(st.sampled_from(PLURALS).flatmap(lambda plural: field_hostile_objects(plural, 0)))
def test_any_value_at_a_read_field_renders(obj: dict[str, Any]) -> None:
    """Cheap and many: one object, rendered directly (no store), never raises."""
    for resource in RESOURCES:
        rendered = render(resource, obj)
        assert len(rendered.lines) == len(resource.families)


@settings(FUZZ, max_examples=60)
@given(mixes())
def test_hostile_objects_cost_only_their_own_series(objects: dict[str, Any]) -> None:
    rendered: list[Rendered] = []
    for resource in RESOURCES:
        rendered += [render(resource, obj) for obj in objects[resource.plural]]  # never raises
    store, registry = fill(objects)
    text = scrape(store)
    assert lines_of(text, GOOD_UIDS) == lines_of(GOOD_TEXT, GOOD_UIDS)
    assert object_errors(registry) == sum(len(item.problems) for item in rendered)
    assert not any(Problem.RENDER_FAILED in item.problems for item in rendered)
    parsed = list(text_string_to_metric_families(text))
    assert {family.name for family in parsed} == {family.name for family in FAMILY_ORDER}


SHORT_TEXT = st.text(max_size=40) | st.sampled_from(SPECIAL_TEXT)


@FUZZ
@example("\u202e\n" * (HUGE // 2), '{}"\\' * (HUGE // 4), "\u200b")
@given(SHORT_TEXT, SHORT_TEXT, st.sampled_from(SPECIAL_TEXT))
def test_label_values_survive_the_parser(name: str, owner: str, status: str) -> None:
    cluster = raycluster(name or "x", labels={"ray.io/originated-from-crd": owner or "x"})
    job = rayjob("j", status={"jobDeploymentStatus": status})
    text = scrape(fill({"rayclusters": [cluster], "rayjobs": [job]})[0])
    samples = {
        sample.name: sample.labels
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples["kuberay_cluster_info"]["name"] == (name or "x")
    assert samples["kuberay_cluster_info"]["owner_kind"] == (owner or "x")
    assert samples["kuberay_job_deployment_status"]["deployment_status"] == status


# -- regressions the fuzzing found --------------------------------------------------------

REGRESSIONS = {
    # format_value(10**400) raised OverflowError: the object lost every series.
    "generation beyond float": (
        "rayclusters",
        raycluster("c", generation=10**400),
        Problem.INVALID_GENERATION,
    ),
    # 2**64 rendered as "1.8446744073709551616e+19", digits no float64 holds.
    "generation beyond int64": (
        "rayjobs",
        rayjob("j", generation=2**64),
        Problem.INVALID_GENERATION,
    ),
    # `result not in frozenset` raised TypeError for an unhashable result.
    "attempt result that is an object": (
        "rayjobs",
        rayjob("j", status={"attemptHistory": [{**HISTORY[0], "result": {}}, HISTORY[1]]}),
        Problem.INVALID_ATTEMPT,
    ),
    # str(retryCount) raised ValueError past 4300 digits.
    "5000-digit retryCount": (
        "rayjobs",
        rayjob(
            "j",
            status={
                "attemptHistory": [
                    {**HISTORY[0], "retryCount": 10**5000},
                    HISTORY[1],
                ]
            },
        ),
        Problem.INVALID_ATTEMPT,
    ),
}


@pytest.mark.parametrize("case", REGRESSIONS)
def test_regression(case: str) -> None:
    plural, obj, problem = REGRESSIONS[case]
    resource = RESOURCES[PLURALS.index(plural)]
    rendered = render(resource, obj)
    assert problem in rendered.problems
    info = rendered.lines[0].decode()
    assert info.startswith(resource.families[0][0].name + "{")  # the other series stay


def test_a_large_hostile_scrape_passes_promtool() -> None:
    if not PROMTOOL.exists():
        pytest.skip(
            f"{PROMTOOL} is not built yet (make tools builds it; make test-unit does first)"
        )
    weird = [text * 3 for text in SPECIAL_TEXT] + ["n" * HUGE]
    objects = {
        "rayclusters": [
            raycluster(f"c{index}", uid=f"u{index}", labels={"ray.io/originated-from-crd": value})
            for index, value in enumerate(weird)
        ],
        "rayjobs": [
            rayjob(f"j{index}", uid=f"v{index}", status={"jobDeploymentStatus": value})
            for index, value in enumerate(weird)
        ],
        "rayservices": GOOD["rayservices"],
    }
    body = scrape(fill(objects)[0]).encode()
    assert body.count(b"\n") > 2 * len(weird)
    result = subprocess.run(
        [str(PROMTOOL), "check", "metrics"], input=body, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stdout.decode()[:2000] + result.stderr.decode()[:2000]
