"""Conditions keep lastTransitionTime unless their status changes."""

from __future__ import annotations

from ray_operator.conditions import find_condition, is_true, remove_condition, set_condition

T0 = "2024-01-01T00:00:00Z"
T1 = "2024-01-01T00:05:00Z"


def test_new_condition_gets_the_current_time() -> None:
    conditions = set_condition([], type_="HeadPodReady", status="False", reason="X", now=T0)
    assert conditions == [
        {
            "type": "HeadPodReady",
            "status": "False",
            "reason": "X",
            "message": "",
            "lastTransitionTime": T0,
        }
    ]


def test_same_status_keeps_the_transition_time_even_when_reason_changes() -> None:
    first = set_condition([], type_="A", status="False", reason="Pending", now=T0)
    second = set_condition(first, type_="A", status="False", reason="Other", message="m", now=T1)
    found = find_condition(second, "A")
    assert found is not None
    assert found["lastTransitionTime"] == T0
    assert found["reason"] == "Other"
    assert found["message"] == "m"


def test_status_change_moves_the_transition_time() -> None:
    first = set_condition([], type_="A", status="False", reason="Pending", now=T0)
    second = set_condition(first, type_="A", status="True", reason="Done", now=T1)
    assert find_condition(second, "A") == {
        "type": "A",
        "status": "True",
        "reason": "Done",
        "message": "",
        "lastTransitionTime": T1,
    }
    assert is_true(second, "A")


def test_order_is_kept_and_input_is_not_mutated() -> None:
    conditions = set_condition([], type_="A", status="True", reason="r", now=T0)
    conditions = set_condition(conditions, type_="B", status="True", reason="r", now=T0)
    before = [dict(c) for c in conditions]
    updated = set_condition(conditions, type_="A", status="False", reason="r", now=T1)
    assert [c["type"] for c in updated] == ["A", "B"]
    assert conditions == before
    assert [c["type"] for c in remove_condition(updated, "A")] == ["B"]
