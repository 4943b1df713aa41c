"""Config change detection: which rayClusterConfig changes need a new RayCluster."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import service_factory as f

from ray_operator.service.changes import Change, classify, config_hash

Mutation = Callable[[dict[str, Any]], None]


def _classify(mutate: Mutation) -> Change:
    owner = f.service()
    cluster = f.child(owner, "svc-aaaaa")
    goal = copy.deepcopy(owner["spec"]["rayClusterConfig"])
    mutate(goal)
    return classify(goal, cluster)


def _set(path: str, value: Any) -> Mutation:
    def mutate(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = config
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value

    return mutate


def test_unchanged_config_needs_nothing() -> None:
    assert _classify(lambda config: None) is Change.NONE


@pytest.mark.parametrize(
    "mutate",
    [
        _set("headGroupSpec.template.spec.containers.0.image", "rayproject/ray:2.61.0"),
        _set("workerGroupSpecs.0.template.spec.containers.0.image", "rayproject/ray:2.61.0"),
        _set("headGroupSpec.rayStartParams", {"num-cpus": "0"}),
        _set("workerGroupSpecs.0.rayStartParams", {"num-gpus": "1"}),
        _set("workerGroupSpecs.0.groupName", "renamed"),
        _set("rayVersion", "2.61.0"),
        _set("workerGroupSpecs", []),
        _set(
            "workerGroupSpecs.0.template.spec.containers.0.resources",
            {"limits": {"cpu": "4"}},
        ),
    ],
    ids=[
        "head image",
        "worker image",
        "head rayStartParams",
        "worker rayStartParams",
        "group renamed",
        "rayVersion",
        "group removed",
        "worker resources",
    ],
)
def test_changes_that_need_a_new_cluster(mutate: Mutation) -> None:
    assert _classify(mutate) is Change.NEW_CLUSTER


def test_reordered_groups_need_a_new_cluster() -> None:
    owner = f.service(
        cluster_config=f.config(workerGroupSpecs=[f.worker_group("a"), f.worker_group("b")])
    )
    cluster = f.child(owner, "svc-aaaaa")
    goal = f.config(workerGroupSpecs=[f.worker_group("b"), f.worker_group("a")])
    assert classify(goal, cluster) is Change.NEW_CLUSTER


@pytest.mark.parametrize(
    "mutate",
    [
        _set("workerGroupSpecs.0.replicas", 3),
        _set("workerGroupSpecs.0.minReplicas", 1),
        _set("workerGroupSpecs.0.maxReplicas", 9),
        lambda config: config["workerGroupSpecs"].append(f.worker_group("extra")),
    ],
    ids=["replicas", "minReplicas", "maxReplicas", "group appended"],
)
def test_changes_applied_in_place(mutate: Mutation) -> None:
    assert _classify(mutate) is Change.IN_PLACE


def test_appended_group_with_a_changed_existing_group_needs_a_new_cluster() -> None:
    def mutate(config: dict[str, Any]) -> None:
        config["workerGroupSpecs"][0]["rayStartParams"] = {"num-cpus": "1"}
        config["workerGroupSpecs"].append(f.worker_group("extra"))

    assert _classify(mutate) is Change.NEW_CLUSTER


@pytest.mark.parametrize(
    "mutate",
    [
        _set("suspend", True),
        _set("upgradeStrategy", {"type": "Recreate"}),
        _set("headGroupSpec.template.spec.tolerations", [{"key": "k", "operator": "Exists"}]),
        _set("workerGroupSpecs.0.template.spec.schedulingGates", [{"name": "kueue"}]),
        _set("workerGroupSpecs.0.scaleStrategy", {"workersToDelete": ["p1"]}),
    ],
    ids=["suspend", "cluster upgradeStrategy", "tolerations", "schedulingGates", "workersToDelete"],
)
def test_ignored_changes(mutate: Mutation) -> None:
    assert _classify(mutate) is Change.NONE


def test_cluster_without_hash_annotation_is_replaced() -> None:
    owner = f.service()
    cluster = f.child(owner, "svc-aaaaa")
    del cluster["metadata"]["annotations"]["ray.io/hash-without-replicas-and-workers-to-delete"]
    assert classify(owner["spec"]["rayClusterConfig"], cluster) is Change.NEW_CLUSTER


def test_hash_does_not_depend_on_key_order() -> None:
    config = f.config()
    reordered = dict(reversed(list(config.items())))
    assert config_hash(config) == config_hash(reordered)
    assert config_hash(config) != config_hash(f.config(rayVersion="2.61.0"))
