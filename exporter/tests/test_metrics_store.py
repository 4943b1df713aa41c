"""The store: golden scrape text, deterministic order, caching, deletion, relists, shards."""

from __future__ import annotations

import itertools
import random
import threading
from typing import Any

import pytest
from exporter_objects import (
    attempt,
    condition,
    group_status,
    modified,
    raycluster,
    rayjob,
    rayservice,
    worker_group,
)
from prometheus_client.parser import text_string_to_metric_families

from ray_exporter.exposition import Format
from ray_exporter.families import render
from ray_exporter.rayclusters import RAYCLUSTERS
from ray_exporter.rayjobs import RAYJOBS
from ray_exporter.resources import FAMILY_ORDER, RESOURCES
from ray_exporter.sharding import Shard
from ray_exporter.store import MetricsStore

BY_PLURAL = {resource.plural: resource for resource in RESOURCES}

GOLDEN = """\
# HELP kuberay_cluster_info Metadata information about RayCluster custom resources
# TYPE kuberay_cluster_info gauge
kuberay_cluster_info{name="a",namespace="ns1",owner_kind="RayJob",uid="uid-a"} 1
kuberay_cluster_info{name="b",namespace="ns1",owner_kind="None",uid="uid-b"} 1
# HELP kuberay_cluster_condition_provisioned Indicates whether the RayCluster is provisioned
# TYPE kuberay_cluster_condition_provisioned gauge
kuberay_cluster_condition_provisioned{condition="true",name="a",namespace="ns1",uid="uid-a"} 1
kuberay_cluster_condition_provisioned{condition="false",name="b",namespace="ns1",uid="uid-b"} 1
# HELP kuberay_cluster_provisioned_duration_seconds The time, in seconds, when a RayCluster's \
`RayClusterProvisioned` status transitions from false (or unset) to true
# TYPE kuberay_cluster_provisioned_duration_seconds gauge
kuberay_cluster_provisioned_duration_seconds{name="a",namespace="ns1",uid="uid-a"} 150
# HELP kuberay_job_info Metadata information about RayJob custom resources
# TYPE kuberay_job_info gauge
kuberay_job_info{name="j",namespace="ns2",uid="uid-j"} 1
# HELP kuberay_job_deployment_status The RayJob's current deployment status
# TYPE kuberay_job_deployment_status gauge
kuberay_job_deployment_status{deployment_status="Complete",name="j",namespace="ns2",uid="uid-j"} 1
# HELP kuberay_job_execution_duration_seconds Duration from when the RayJob CR\u2019s \
JobDeploymentStatus transitions from Initializing to either the Retrying state or a terminal \
state, such as Complete or Failed. The Retrying state indicates that the CR previously failed \
and that spec.backoffLimit is enabled.
# TYPE kuberay_job_execution_duration_seconds gauge
kuberay_job_execution_duration_seconds{job_deployment_status="Complete",name="j",namespace="ns2",\
retry_count="0",uid="uid-j"} 42
# HELP kuberay_service_info Metadata information about RayService custom resources
# TYPE kuberay_service_info gauge
kuberay_service_info{name="s",namespace="ns1",uid="uid-s"} 1
# HELP kuberay_service_condition_ready Describes whether the RayService is ready. Ready means \
users can send requests to the underlying cluster and the number of serve endpoints is greater \
than 0.
# TYPE kuberay_service_condition_ready gauge
kuberay_service_condition_ready{condition="true",name="s",namespace="ns1",uid="uid-s"} 1
# HELP kuberay_service_condition_upgrade_in_progress Describes whether the RayService is \
performing a zero-downtime upgrade.
# TYPE kuberay_service_condition_upgrade_in_progress gauge
kuberay_service_condition_upgrade_in_progress{condition="false",name="s",namespace="ns1",\
uid="uid-s"} 1
# HELP ray_resource_generation_lag How many spec generations the operator has not yet observed \
for this Ray resource
# TYPE ray_resource_generation_lag gauge
ray_resource_generation_lag{name="a",namespace="ns1",resource="rayclusters",uid="uid-a"} 0
ray_resource_generation_lag{name="b",namespace="ns1",resource="rayclusters",uid="uid-b"} 1
ray_resource_generation_lag{name="j",namespace="ns2",resource="rayjobs",uid="uid-j"} 2
ray_resource_generation_lag{name="s",namespace="ns1",resource="rayservices",uid="uid-s"} 0
# HELP ray_worker_group_info Worker groups of RayClusters, and whether the cluster's Ray \
autoscaler scales them
# TYPE ray_worker_group_info gauge
ray_worker_group_info{autoscaling="true",group="gpu",name="a",namespace="ns1",uid="uid-a"} 1
ray_worker_group_info{autoscaling="false",group="cpu",name="b",namespace="ns1",uid="uid-b"} 1
# HELP ray_worker_group_desired_replicas Worker pods the RayCluster's spec asks for in this group \
(replicas within minReplicas..maxReplicas, times numOfHosts; 0 while suspended)
# TYPE ray_worker_group_desired_replicas gauge
ray_worker_group_desired_replicas{group="gpu",name="a",namespace="ns1",uid="uid-a"} 6
ray_worker_group_desired_replicas{group="cpu",name="b",namespace="ns1",uid="uid-b"} 1
# HELP ray_worker_group_min_replicas Fewest worker pods of this group the autoscaler may scale to \
(minReplicas times numOfHosts)
# TYPE ray_worker_group_min_replicas gauge
ray_worker_group_min_replicas{group="gpu",name="a",namespace="ns1",uid="uid-a"} 2
ray_worker_group_min_replicas{group="cpu",name="b",namespace="ns1",uid="uid-b"} 0
# HELP ray_worker_group_max_replicas Most worker pods of this group the autoscaler may scale to \
(maxReplicas times numOfHosts)
# TYPE ray_worker_group_max_replicas gauge
ray_worker_group_max_replicas{group="gpu",name="a",namespace="ns1",uid="uid-a"} 8
ray_worker_group_max_replicas{group="cpu",name="b",namespace="ns1",uid="uid-b"} 2.147483647e+09
# HELP ray_worker_group_ready_replicas Worker pods of this group that are running and ready, as \
the operator last reported
# TYPE ray_worker_group_ready_replicas gauge
ray_worker_group_ready_replicas{group="gpu",name="a",namespace="ns1",uid="uid-a"} 4
# HELP ray_worker_group_available_replicas Worker pods of this group that are available, as the \
operator last reported
# TYPE ray_worker_group_available_replicas gauge
ray_worker_group_available_replicas{group="gpu",name="a",namespace="ns1",uid="uid-a"} 2
"""


def objects() -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            "rayclusters",
            raycluster(
                "a",
                namespace="ns1",
                labels={"ray.io/originated-from-crd": "RayJob"},
                status={
                    "observedGeneration": 1,
                    "conditions": [condition("RayClusterProvisioned", "True")],
                    "workerGroups": [group_status("gpu", 4, 2)],
                },
                spec={
                    "enableInTreeAutoscaling": True,
                    "workerGroupSpecs": [
                        worker_group("gpu", replicas=3, minReplicas=1, maxReplicas=4, numOfHosts=2)
                    ],
                },
            ),
        ),
        (
            "rayclusters",
            raycluster(
                "b", namespace="ns1", spec={"workerGroupSpecs": [worker_group("cpu", replicas=1)]}
            ),
        ),
        (
            "rayjobs",
            rayjob(
                "j",
                namespace="ns2",
                generation=3,
                status={
                    "observedGeneration": 1,
                    "jobDeploymentStatus": "Complete",
                    "attemptHistory": [
                        attempt("Complete", 0, "2024-05-01T10:00:00Z", "2024-05-01T10:00:42Z")
                    ],
                },
            ),
        ),
        (
            "rayservices",
            rayservice(
                "s",
                namespace="ns1",
                status={"observedGeneration": 1, "conditions": [condition("Ready", "True")]},
            ),
        ),
    ]


def new_store(shard: Shard | None = None) -> MetricsStore:
    return MetricsStore(RESOURCES, FAMILY_ORDER, shard or Shard())


def fill(store: MetricsStore, items: list[tuple[str, dict[str, Any]]]) -> None:
    for plural, obj in items:
        store.put(plural, render(BY_PLURAL[plural], obj))


def scrape(store: MetricsStore, fmt: Format = Format.TEXT) -> str:
    return store.exposition(fmt).joined().decode()


def test_golden_scrape() -> None:
    store = new_store()
    fill(store, objects())
    assert scrape(store) == GOLDEN


def test_an_empty_store_still_describes_every_family() -> None:
    text = scrape(new_store())
    assert [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")] == [
        family.name for family in FAMILY_ORDER
    ]
    assert not [line for line in text.splitlines() if not line.startswith("#")]


def test_output_does_not_depend_on_event_order() -> None:
    outputs = set()
    for order in itertools.permutations(objects()):
        store = new_store()
        fill(store, list(order))
        outputs.add(scrape(store))
    assert outputs == {GOLDEN}


def test_openmetrics_body_has_the_same_samples() -> None:
    store = new_store()
    fill(store, objects())
    assert scrape(store, Format.OPENMETRICS) == GOLDEN


def test_unchanged_store_serves_cached_bytes() -> None:
    store = new_store()
    fill(store, objects())
    first = store.exposition(Format.TEXT)
    again = store.exposition(Format.TEXT)
    assert again is first
    assert again.generation == first.generation


def test_a_new_version_with_the_same_lines_is_not_a_change() -> None:
    store = new_store()
    fill(store, objects())
    first = store.exposition(Format.TEXT)
    cluster = modified(objects()[1][1], "7", readyWorkerReplicas=3)
    assert store.put("rayclusters", render(RAYCLUSTERS, cluster)) is False
    assert store.exposition(Format.TEXT) is first
    assert store.get("rayclusters", "uid-b").resource_version == "7"  # type: ignore[union-attr]


def test_a_change_rebuilds_and_shows_up() -> None:
    store = new_store()
    fill(store, objects())
    before = store.exposition(Format.TEXT).joined()
    job = modified(objects()[2][1], "9", jobDeploymentStatus="Running")
    assert store.put("rayjobs", render(RAYJOBS, job)) is True
    after = scrape(store)
    assert after == GOLDEN.replace('{deployment_status="Complete"', '{deployment_status="Running"')
    assert after.encode() != before


def test_deleting_an_object_removes_all_its_series() -> None:
    store = new_store()
    fill(store, objects())
    assert store.delete("rayclusters", "uid-a") is True
    assert store.delete("rayclusters", "uid-a") is False
    text = scrape(store)
    assert 'uid="uid-a"' not in text
    assert text.count('uid="uid-b"') == 7
    assert store.count("rayclusters") == 1


def test_replace_drops_objects_that_were_not_listed() -> None:
    store = new_store()
    fill(store, objects())
    listed = [
        render(RAYCLUSTERS, objects()[1][1]),
        render(RAYCLUSTERS, raycluster("c", namespace="ns1")),
    ]
    assert store.replace("rayclusters", listed) == (1, 1)
    text = scrape(store)
    assert 'uid="uid-a"' not in text
    assert 'uid="uid-c"' in text
    assert 'uid="uid-j"' in text  # other resources untouched


def test_replace_in_one_namespace_keeps_the_other_namespaces() -> None:
    store = new_store()
    fill(store, [("rayclusters", raycluster("x", namespace="other")), *objects()])
    store.replace("rayclusters", [], namespace="ns1")
    text = scrape(store)
    assert 'uid="uid-x"' in text
    assert 'uid="uid-a"' not in text
    assert 'uid="uid-b"' not in text


@pytest.mark.parametrize("total", [2, 3, 5])
def test_shards_partition_the_objects(total: int) -> None:
    groups = {"workerGroupSpecs": [worker_group("g", replicas=1)]}
    status = {"workerGroups": [group_status("g", 1, 1)]}
    items = [
        ("rayclusters", raycluster(f"c{i}", uid=f"{i:08x}-uid", spec=groups, status=status))
        for i in range(60)
    ]
    whole = new_store()
    fill(whole, items)
    counts = []
    lines: list[str] = []
    for index in range(total):
        store = new_store(Shard(index, total))
        fill(store, items)
        counts.append(store.count("rayclusters"))
        served = [line for line in scrape(store).splitlines() if not line.startswith("#")]
        # A cluster's worker-group series are on the shard that serves the cluster.
        uids = {line.split('uid="')[1].split('"')[0] for line in served}
        assert all(Shard(index, total).owns(uid) for uid in uids)
        assert len([line for line in served if line.startswith("ray_worker_group_")]) == 6 * len(
            uids
        )
        lines += served
    assert sum(counts) == 60
    assert all(count > 0 for count in counts)
    whole_lines = [line for line in scrape(whole).splitlines() if not line.startswith("#")]
    assert sorted(lines) == sorted(whole_lines)


def test_concurrent_updates_and_scrapes_stay_consistent() -> None:
    store = new_store()
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for step in range(400):
                name = f"c{rng.randrange(30)}"
                if rng.random() < 0.3:
                    store.delete("rayclusters", f"uid-{name}")
                else:
                    obj = raycluster(name, generation=rng.randrange(1, 5))
                    obj["metadata"]["resourceVersion"] = str(step)
                    store.put("rayclusters", render(RAYCLUSTERS, obj))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    def scraper() -> None:
        try:
            while not stop.is_set():
                text = scrape(store)
                for family in text_string_to_metric_families(text):
                    keys = [tuple(sorted(s.labels.items())) for s in family.samples]
                    assert len(keys) == len(set(keys)), family.name
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=churn, args=(seed,)) for seed in range(3)]
    reader = threading.Thread(target=scraper)
    reader.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    reader.join()
    assert errors == []
    final = scrape(store)
    held = store.count("rayclusters")
    assert final.count("kuberay_cluster_info{") == held
    assert final == scrape(store)
