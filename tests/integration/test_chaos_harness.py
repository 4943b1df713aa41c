"""Unit checks of the chaos test's own logic (no cluster): the schedule keeps its promises and
the audits see orphans, duplicates and unexpected tracebacks."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from chaos_harness import (
    APISERVER_RESTART,
    EXPORTER_KILL,
    OPERATOR_KILL,
    Json,
    expected_pods,
    group,
    ownership_problems,
    raycluster,
    schedule,
    unexpected_tracebacks,
)

FAULTS = {OPERATOR_KILL: 4, EXPORTER_KILL: 3, APISERVER_RESTART: 2}
CHANGES = [f"change-{i}" for i in range(10)]


@pytest.mark.parametrize("seed", range(50))
def test_schedule_keeps_counts_order_and_its_rules(seed: int) -> None:
    steps = schedule(random.Random(seed), CHANGES, FAULTS)
    assert [s.name for s in steps if s.kind == "change"] == CHANGES
    injected = Counter(k for s in steps if s.kind == "fault" for k in (s.name, *s.during))
    assert injected == FAULTS
    faults = [s for s in steps if s.kind == "fault"]
    assert faults[-1].name == APISERVER_RESTART
    assert faults[-1].during == ()  # the survivors ride through the last restart
    assert steps[-1].kind == "change"
    [first_restart] = [s for s in faults[:-1] if s.name == APISERVER_RESTART]
    assert first_restart.during == (OPERATOR_KILL, EXPORTER_KILL)


def test_schedule_is_reproducible_from_its_seed() -> None:
    assert schedule(random.Random(7), CHANGES, FAULTS) == schedule(
        random.Random(7), CHANGES, FAULTS
    )
    assert schedule(random.Random(7), CHANGES, FAULTS) != schedule(
        random.Random(8), CHANGES, FAULTS
    )


def test_expected_pods_follows_replicas_bounds_hosts_and_suspension() -> None:
    cluster = raycluster(
        "c", group("a", 9, max_replicas=4), group("b", 0, min_replicas=2, hosts=2), group("z", 0)
    )
    assert expected_pods(cluster) == {"headgroup": 1, "a": 4, "b": 4}
    cluster["spec"]["suspend"] = True
    assert expected_pods(cluster) == {}


def pod(name: str, cluster: str, uid: str, group_name: str = "workers") -> Json:
    return {
        "metadata": {
            "name": name,
            "labels": {"ray.io/cluster": cluster, "ray.io/group": group_name},
            "ownerReferences": [{"uid": uid, "controller": True}],
        }
    }


def test_ownership_problems_name_orphans_duplicates_and_missing_pods() -> None:
    clusters = [{"metadata": {"name": "c", "uid": "u1"}}]
    want = {"c": {"headgroup": 1, "workers": 1}}
    exact = [pod("h", "c", "u1", "headgroup"), pod("w1", "c", "u1")]
    assert ownership_problems(clusters, exact, want) == []
    duplicate = [*exact, pod("w2", "c", "u1")]
    assert ownership_problems(clusters, duplicate, want) == [
        "c: pods per group {'headgroup': 1, 'workers': 2}, expected {'headgroup': 1, 'workers': 1}"
    ]
    orphan = [*exact, pod("old", "c", "u0")]  # a namesake's pod: same label, deleted owner
    assert ownership_problems(clusters, orphan, want) == ["orphaned pod old (owner u0)"]
    assert ownership_problems(clusters, exact[:1], want) != []


def test_only_connection_errors_may_carry_a_stack(tmp_path: Path) -> None:
    log = tmp_path / "operator.log"
    lines = [
        {"msg": "reconcile failed", "error": "ClientConnectorError: refused", "stack": "..."},
        {"msg": "reconcile failed", "error": "ApiError: 503 ServiceUnavailable: x", "stack": "."},
        {"msg": "status: ready", "level": "info"},
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert unexpected_tracebacks(log) == []
    with log.open("a") as out:
        out.write(json.dumps({"msg": "boom", "error": "KeyError: 'x'", "stack": "..."}) + "\n")
        out.write("Traceback (most recent call last):\n")
    assert unexpected_tracebacks(log) == [
        "boom: KeyError: 'x'",
        "Traceback (most recent call last):",
    ]
