"""The planner: what to create and delete for a set of observed pods."""

from __future__ import annotations

from typing import Any

import ray_cluster_factory as f

from ray_operator.cluster.plan import Plan, plan_pods
from ray_operator.cluster.pods import spec_hash


def created(plan: Plan) -> list[tuple[str, str]]:
    return [(c.node_type, c.group) for c in plan.creates]


def deleted(plan: Plan) -> list[str]:
    return [d.name for d in plan.deletes]


def test_empty_cluster_creates_head_and_workers() -> None:
    plan = plan_pods(f.cluster(), [])
    assert created(plan) == [("head", "headgroup"), ("worker", "small"), ("worker", "small")]
    assert plan.deletes == []


def test_complete_cluster_needs_nothing() -> None:
    pods = [f.head(), f.pod("w1"), f.pod("w2")]
    assert plan_pods(f.cluster(), pods).empty


def test_replicas_are_clamped_and_num_of_hosts_multiplies() -> None:
    groups = [
        f.worker_group("low", replicas=0, min_replicas=2, max_replicas=4),
        f.worker_group("high", replicas=9, min_replicas=0, max_replicas=1, numOfHosts=3),
        f.worker_group("unset", replicas=None, min_replicas=1),
        f.worker_group("off", replicas=3, suspend=True),
    ]
    plan = plan_pods(f.cluster(groups=groups), [f.head()])
    assert created(plan) == [("worker", "low")] * 2 + [("worker", "high")] * 3 + [
        ("worker", "unset")
    ]


def test_scale_down_removes_workers_to_delete_first_then_unready_then_newest() -> None:
    group = f.worker_group(replicas=2, scaleStrategy={"workersToDelete": ["w-old", "gone"]})
    pods = [
        f.head(),
        f.pod("w-old", created="2024-01-01T00:00:00Z"),
        f.pod("w-mid", created="2024-01-02T00:00:00Z"),
        f.pod("w-new", created="2024-01-03T00:00:00Z"),
        f.pod("w-unready", created="2024-01-01T00:00:00Z", ready=False),
        f.pod("w-newest", created="2024-01-04T00:00:00Z"),
    ]
    plan = plan_pods(f.cluster(groups=[group]), pods)
    assert deleted(plan) == ["w-old", "w-unready", "w-newest"]
    assert plan.creates == []


def test_workers_to_delete_are_replaced_when_not_scaling_down() -> None:
    group = f.worker_group(replicas=2, scaleStrategy={"workersToDelete": ["w1"]})
    plan = plan_pods(f.cluster(groups=[group]), [f.head(), f.pod("w1"), f.pod("w2")])
    assert deleted(plan) == ["w1"]
    assert created(plan) == [("worker", "small")]


def test_failed_pods_are_replaced_and_marked_as_failures() -> None:
    pods = [f.head(), f.pod("w1", phase="Failed"), f.pod("w2")]
    plan = plan_pods(f.cluster(), pods)
    assert [(d.name, d.failed) for d in plan.deletes] == [("w1", True)]
    assert created(plan) == [("worker", "small")]


def test_terminating_pods_do_not_count() -> None:
    pods = [f.head(), f.pod("w1", terminating=True), f.pod("w2")]
    plan = plan_pods(f.cluster(), pods)
    assert plan.deletes == []
    assert created(plan) == [("worker", "small")]


def test_extra_heads_and_removed_groups_are_deleted() -> None:
    pods = [
        f.head("h-new", created="2024-01-02T00:00:00Z"),
        f.head("h-old", created="2024-01-01T00:00:00Z"),
        f.pod("w1"),
        f.pod("w2"),
        f.pod("stray", group="removed"),
    ]
    plan = plan_pods(f.cluster(), pods)
    assert sorted(deleted(plan)) == ["h-new", "stray"]


def test_suspension_deletes_everything_and_creates_nothing() -> None:
    pods = [f.head(), f.pod("w1"), f.pod("w2", terminating=True)]
    plan = plan_pods(f.cluster(suspend=True), pods)
    assert sorted(deleted(plan)) == ["demo-head-abcde", "w1"]
    assert plan.creates == []


def test_suspension_in_progress_completes_even_if_withdrawn() -> None:
    status: dict[str, Any] = {
        "conditions": [
            {
                "type": "RayClusterSuspending",
                "status": "True",
                "reason": "x",
                "lastTransitionTime": "t",
            }
        ]
    }
    plan = plan_pods(f.cluster(suspend=False, status=status), [f.pod("w1")])
    assert deleted(plan) == ["w1"]
    assert plan.creates == []


def test_restart_replaces_the_head_first_then_the_workers() -> None:
    token = "2024-05-01T00:00:00Z"
    cluster = f.cluster(annotations={"ray.io/restarted-at": token})
    old = [f.head("h-old"), f.pod("w1"), f.pod("w2")]
    first = plan_pods(cluster, old)
    assert deleted(first) == ["h-old"]
    assert created(first) == [("head", "headgroup")]
    second = plan_pods(cluster, [f.head("h-new", restart=token), f.pod("w1"), f.pod("w2")])
    assert sorted(deleted(second)) == ["w1", "w2"]
    assert created(second) == [("worker", "small")] * 2
    third = plan_pods(
        cluster,
        [f.head("h-new", restart=token), f.pod("w3", restart=token), f.pod("w4", restart=token)],
    )
    assert third.empty


def test_recreate_strategy_replaces_pods_after_a_template_change() -> None:
    cluster = f.cluster(upgradeStrategy={"type": "Recreate"})
    current = spec_hash(cluster)
    assert plan_pods(
        cluster,
        [f.head(spec_hash=current), f.pod("w1", spec_hash=current), f.pod("w2", spec_hash=current)],
    ).empty
    plan = plan_pods(
        cluster,
        [f.head(spec_hash="stale"), f.pod("w1", spec_hash="stale"), f.pod("w2", spec_hash=current)],
    )
    assert deleted(plan) == ["demo-head-abcde"]
    without = f.cluster()
    assert plan_pods(without, [f.head(spec_hash="stale"), f.pod("w1"), f.pod("w2")]).empty


def test_backoff_withholds_creations_but_not_deletions() -> None:
    pods = [f.pod("w1", phase="Failed")]
    plan = plan_pods(f.cluster(), pods, allow_create=False)
    assert plan.creates == []
    assert deleted(plan) == ["w1"]
    assert plan.deferred == 3
