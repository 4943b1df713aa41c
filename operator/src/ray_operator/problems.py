"""A finding about a custom resource: the Event reason, a message naming the field, and
whether it blocks reconciliation. The three kinds' validations all return these.

The message is bounded when the problem is made (`shape.bounded`: printable, at most 1024
characters), so Events, status reasons and conditions get it as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from ray_operator.reasons import Reason
from ray_operator.shape import bounded


@dataclass(frozen=True)
class Problem:
    reason: Reason
    message: str
    blocking: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", bounded(self.message))


def blocking(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.blocking]
