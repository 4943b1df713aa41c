"""metav1.Condition lists: set, find and compare, with Kubernetes' lastTransitionTime rule.

`lastTransitionTime` changes when, and only when, a condition's `status` changes (or the
condition appears). Reason and message updates keep the old time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Condition = dict[str, Any]


def find_condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    for condition in conditions:
        if condition.get("type") == type_:
            return condition
    return None


def is_true(conditions: Sequence[Condition], type_: str) -> bool:
    found = find_condition(conditions, type_)
    return found is not None and found.get("status") == "True"


def set_condition(
    conditions: Sequence[Condition],
    *,
    type_: str,
    status: str,
    reason: str,
    message: str = "",
    now: str,
    observed_generation: int | None = None,
) -> list[Condition]:
    """A new list with `type_` set; the order of existing conditions is kept."""
    previous = find_condition(conditions, type_)
    transition = now
    if previous is not None and previous.get("status") == status:
        transition = previous.get("lastTransitionTime") or now
    updated: Condition = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if observed_generation is not None:
        updated["observedGeneration"] = observed_generation
    result = [dict(c) for c in conditions if c.get("type") != type_]
    if previous is None:
        return [*result, updated]
    index = [c.get("type") for c in conditions].index(type_)
    result.insert(index, updated)
    return result


def remove_condition(conditions: Sequence[Condition], type_: str) -> list[Condition]:
    return [dict(c) for c in conditions if c.get("type") != type_]
