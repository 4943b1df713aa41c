"""Golden text for the worker-group families: spec and status in, exact exposition lines out.

Covers the replica semantics (defaults, clamping to min and max, numOfHosts, suspend at
group and cluster level, the int32 cap), the autoscaling label, absent status (KubeRay's
CRDs prune `status.workerGroups`) and malformed groups, which cost only their own series.
"""

from __future__ import annotations

from typing import Any

import pytest
from exporter_objects import group_status, raycluster, worker_group

from ray_exporter.families import render
from ray_exporter.fields import Problem
from ray_exporter.rayclusters import RAYCLUSTERS
from ray_exporter.workergroups import WORKER_GROUP_FAMILIES

FIRST = len(RAYCLUSTERS.families) - len(WORKER_GROUP_FAMILIES)
"""Index of the first worker-group family in a RayCluster's rendered lines."""
ID = 'name="c1",namespace="ns",uid="uid-c1"'


def groups(spec: dict[str, Any], status: Any = None) -> tuple[str, tuple[Problem, ...]]:
    """The worker-group part of the exposition of a cluster, and the problems met."""
    rendered = render(RAYCLUSTERS, raycluster("c1", spec=spec, status=status))
    return b"".join(rendered.lines[FIRST:]).decode(), rendered.problems


def counts(group: dict[str, Any], **cluster: Any) -> tuple[int, int, int]:
    """(desired, min, max) of one group, read back from its exposition lines."""
    text, _ = groups({"workerGroupSpecs": [group], **cluster})
    values = {line.split("{")[0]: line.rsplit(" ", 1)[1] for line in text.splitlines()}
    return tuple(  # type: ignore[return-value]
        int(float(values[f"ray_worker_group_{kind}_replicas"]))
        for kind in ("desired", "min", "max")
    )


def test_an_autoscaled_multi_host_group_with_status() -> None:
    spec = {
        "enableInTreeAutoscaling": True,
        "workerGroupSpecs": [
            worker_group("tpu", replicas=3, minReplicas=1, maxReplicas=4, numOfHosts=2),
            worker_group("cpu", replicas=1),
        ],
    }
    status = {"workerGroups": [group_status("tpu", 5, 4), group_status("cpu", 0, 0)]}
    assert groups(spec, status) == (
        f'ray_worker_group_info{{autoscaling="true",group="tpu",{ID}}} 1\n'
        f'ray_worker_group_info{{autoscaling="true",group="cpu",{ID}}} 1\n'
        f'ray_worker_group_desired_replicas{{group="tpu",{ID}}} 6\n'
        f'ray_worker_group_desired_replicas{{group="cpu",{ID}}} 1\n'
        f'ray_worker_group_min_replicas{{group="tpu",{ID}}} 2\n'
        f'ray_worker_group_min_replicas{{group="cpu",{ID}}} 0\n'
        f'ray_worker_group_max_replicas{{group="tpu",{ID}}} 8\n'
        f'ray_worker_group_max_replicas{{group="cpu",{ID}}} 2.147483647e+09\n'
        f'ray_worker_group_ready_replicas{{group="tpu",{ID}}} 5\n'
        f'ray_worker_group_ready_replicas{{group="cpu",{ID}}} 0\n'
        f'ray_worker_group_available_replicas{{group="tpu",{ID}}} 4\n'
        f'ray_worker_group_available_replicas{{group="cpu",{ID}}} 0\n',
        (),
    )


def test_without_status_workergroups_ready_and_available_are_absent() -> None:
    spec = {"workerGroupSpecs": [worker_group("g", replicas=2)]}
    for status in (None, {}, {"readyWorkerReplicas": 2, "availableWorkerReplicas": 2}):
        text, problems = groups(spec, status)
        assert text == (
            f'ray_worker_group_info{{autoscaling="false",group="g",{ID}}} 1\n'
            f'ray_worker_group_desired_replicas{{group="g",{ID}}} 2\n'
            f'ray_worker_group_min_replicas{{group="g",{ID}}} 0\n'
            f'ray_worker_group_max_replicas{{group="g",{ID}}} 2.147483647e+09\n'
        )
        assert problems == ()


def test_a_head_only_cluster_has_no_worker_group_series() -> None:
    assert groups({}) == ("", ())
    assert groups({"workerGroupSpecs": []}, {"workerGroups": []}) == ("", ())


@pytest.mark.parametrize(
    ("group", "want"),
    [
        ({}, (0, 0, 2147483647)),  # every default
        ({"replicas": 3}, (3, 0, 2147483647)),
        ({"replicas": 0, "minReplicas": 2, "maxReplicas": 5}, (2, 2, 5)),  # raised to min
        ({"minReplicas": 2, "maxReplicas": 5}, (2, 2, 5)),  # absent: min
        ({"replicas": 9, "minReplicas": 2, "maxReplicas": 5}, (5, 2, 5)),  # lowered to max
        ({"replicas": 4, "minReplicas": 2, "maxReplicas": 5}, (4, 2, 5)),
        ({"replicas": 4, "minReplicas": 2, "maxReplicas": 5, "numOfHosts": 3}, (12, 6, 15)),
        ({"replicas": 4, "maxReplicas": 4, "numOfHosts": 2}, (8, 0, 8)),
        ({"numOfHosts": 2}, (0, 0, 2147483647)),  # max x hosts capped at int32
        ({"replicas": 3, "maxReplicas": 2147483647, "numOfHosts": 4}, (12, 0, 2147483647)),
        ({"replicas": 3, "minReplicas": 1, "suspend": True}, (0, 1, 2147483647)),
        ({"replicas": 3, "suspend": False}, (3, 0, 2147483647)),
    ],
)
def test_desired_min_and_max_in_pods(group: dict[str, Any], want: tuple[int, int, int]) -> None:
    assert counts(worker_group("g", **group)) == want


def test_a_suspended_cluster_wants_no_workers_but_keeps_its_bounds() -> None:
    group = worker_group("g", replicas=3, minReplicas=1, maxReplicas=4)
    assert counts(group, suspend=True) == (0, 1, 4)
    assert counts(group, suspend=False) == (3, 1, 4)


@pytest.mark.parametrize("value", [True, "2", 2.0, -1, 2**64, {"n": 2}])
def test_a_count_of_the_wrong_type_reads_as_absent_and_is_reported(value: Any) -> None:
    for key, want in [
        ("replicas", (1, 1, 4)),  # absent: minReplicas
        ("minReplicas", (3, 0, 4)),
        ("maxReplicas", (3, 1, 2147483647)),
        ("numOfHosts", (3, 1, 4)),
    ]:
        fields = {"replicas": 3, "minReplicas": 1, "maxReplicas": 4, key: value}
        assert counts(worker_group("g", **fields)) == want, key
        _, problems = groups({"workerGroupSpecs": [worker_group("g", **fields)]})
        assert problems == (Problem.INVALID_REPLICAS,), key


def test_a_zero_host_count_reads_as_one_host() -> None:
    assert counts(worker_group("g", replicas=3, numOfHosts=0)) == (3, 0, 2147483647)


@pytest.mark.parametrize("flag", [True, "true", 1, None])
def test_autoscaling_is_true_only_for_the_boolean_true(flag: Any) -> None:
    text, _ = groups({"enableInTreeAutoscaling": flag, "workerGroupSpecs": [worker_group("g")]})
    expected = "true" if flag is True else "false"
    assert (
        text.splitlines()[0]
        == f'ray_worker_group_info{{autoscaling="{expected}",group="g",{ID}}} 1'
    )


@pytest.mark.parametrize(
    "bad",
    ["gpu", 3, None, [], {"replicas": 2}, {"groupName": 7}, {"groupName": ""}],
)
def test_a_malformed_group_is_skipped_and_the_others_render(bad: Any) -> None:
    spec = {"workerGroupSpecs": [bad, worker_group("good", replicas=1)]}
    text, problems = groups(spec, {"workerGroups": [bad, group_status("good", 1, 1)]})
    assert text == (
        f'ray_worker_group_info{{autoscaling="false",group="good",{ID}}} 1\n'
        f'ray_worker_group_desired_replicas{{group="good",{ID}}} 1\n'
        f'ray_worker_group_min_replicas{{group="good",{ID}}} 0\n'
        f'ray_worker_group_max_replicas{{group="good",{ID}}} 2.147483647e+09\n'
        f'ray_worker_group_ready_replicas{{group="good",{ID}}} 1\n'
        f'ray_worker_group_available_replicas{{group="good",{ID}}} 1\n'
    )
    assert problems == (Problem.INVALID_WORKER_GROUP,)


def test_a_malformed_group_leaves_the_cluster_families_alone() -> None:
    plain = render(RAYCLUSTERS, raycluster("c1"))
    broken = render(RAYCLUSTERS, raycluster("c1", spec={"workerGroupSpecs": ["x"]}))
    assert broken.lines[:FIRST] == plain.lines[:FIRST]
    assert broken.lines[FIRST:] == (b"",) * len(WORKER_GROUP_FAMILIES)


@pytest.mark.parametrize("where", ["spec", "status"])
@pytest.mark.parametrize("value", ["g", {"groupName": "g"}, 3])
def test_group_lists_that_are_not_lists(where: str, value: Any) -> None:
    spec: dict[str, Any] = {"workerGroupSpecs": [worker_group("g")]}
    status: dict[str, Any] = {"workerGroups": [group_status("g", 1, 1)]}
    (spec if where == "spec" else status)[
        "workerGroupSpecs" if where == "spec" else "workerGroups"
    ] = value
    text, problems = groups(spec, status)
    assert problems == (Problem.WORKER_GROUPS_NOT_LIST,)
    assert ("ray_worker_group_desired_replicas" in text) is (where == "status")
    assert ("ray_worker_group_ready_replicas" in text) is (where == "spec")


def test_duplicate_group_names_serve_the_later_entry_once() -> None:
    spec = {"workerGroupSpecs": [worker_group("g", replicas=1), worker_group("g", replicas=2)]}
    status = {"workerGroups": [group_status("g", 1, 1), group_status("g", 2, 0)]}
    text, problems = groups(spec, status)
    assert f'ray_worker_group_desired_replicas{{group="g",{ID}}} 2\n' in text
    assert f'ray_worker_group_ready_replicas{{group="g",{ID}}} 2\n' in text
    assert f'ray_worker_group_available_replicas{{group="g",{ID}}} 0\n' in text
    assert len(text.splitlines()) == len(WORKER_GROUP_FAMILIES)
    assert problems == (Problem.DUPLICATE_WORKER_GROUP,)


def test_a_status_count_of_the_wrong_type_drops_only_that_series() -> None:
    spec = {"workerGroupSpecs": [worker_group("g", replicas=1)]}
    text, problems = groups(spec, {"workerGroups": [group_status("g", "1", 1)]})
    assert "ray_worker_group_ready_replicas" not in text
    assert f'ray_worker_group_available_replicas{{group="g",{ID}}} 1\n' in text
    assert problems == (Problem.INVALID_REPLICAS,)
    text, problems = groups(spec, {"workerGroups": [{"name": "g", "readyReplicas": 1}]})
    assert f'ray_worker_group_ready_replicas{{group="g",{ID}}} 1\n' in text
    assert "ray_worker_group_available_replicas" not in text
    assert problems == ()


@pytest.mark.parametrize("spec", ["cluster", 3, ["workerGroupSpecs"]])
def test_a_spec_that_is_not_an_object(spec: Any) -> None:
    obj = raycluster("c1")
    obj["spec"] = spec
    rendered = render(RAYCLUSTERS, obj)
    assert rendered.lines[0].startswith(b"kuberay_cluster_info{")
    assert rendered.lines[FIRST:] == (b"",) * len(WORKER_GROUP_FAMILIES)
    assert rendered.problems == (Problem.SPEC_NOT_OBJECT,)


def test_group_names_are_escaped_label_values() -> None:
    text, _ = groups({"workerGroupSpecs": [worker_group('a"b\\c\nd')]})
    assert text.splitlines()[0] == (
        f'ray_worker_group_info{{autoscaling="false",group="a\\"b\\\\c\\nd",{ID}}} 1'
    )
