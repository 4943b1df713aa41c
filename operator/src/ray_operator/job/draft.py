"""The decision being made in one RayJob pass: a copy of the status being edited, plus the
actions, Events and requeue delay the state machine's steps add to it."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from ray_operator.clock import rfc3339
from ray_operator.job.actions import Action, Event
from ray_operator.job.observations import Observed, Timing
from ray_operator.job.spec import JobSpec
from ray_operator.shape import bounded

RESET_FIELDS = (
    "rayClusterName",
    "jobId",
    "dashboardURL",
    "message",
    "reason",
    "rayJobInfo",
    "rayClusterStatus",
    "jobStatusCheckFailureStartTime",
    "endTime",
)


class Draft:
    """The decision being made: a copy of the status plus actions, events and requeue."""

    def __init__(self, spec: JobSpec, old: Mapping[str, Any], obs: Observed, timing: Timing):
        self.spec = spec
        self.old = old
        self.obs = obs
        self.timing = timing
        self.now = rfc3339(obs.now)
        self.status: dict[str, Any] = {k: v for k, v in old.items() if k != "kopf"}
        self.actions: list[Action] = []
        self.events: list[Event] = []
        self.requeue: float | None = None
        self.spec_changed = old.get("observedGeneration") != spec.generation

    def get(self, key: str) -> Any:
        return self.status.get(key)

    def set(self, **values: Any) -> None:
        for key, value in values.items():
            if value is None:
                self.status.pop(key, None)
            else:
                # Plain strings: the status is JSON, and logs show it with repr().
                self.status[key] = str(value) if isinstance(value, StrEnum) else value

    def again(self, seconds: float) -> None:
        self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)

    def warn(self, reason: str, message: str) -> None:
        # Messages can quote the status (a cluster name, a job id): bounded and printable.
        self.events.append(Event("Warning", reason, bounded(message)))

    @property
    def deployment(self) -> str:
        return str(self.status.get("jobDeploymentStatus") or "")

    @property
    def job_status(self) -> str:
        return str(self.status.get("jobStatus") or "")

    @property
    def valid(self) -> bool:
        return not self.obs.problems

    def message(self, text: str) -> None:
        self.set(message=bounded(text) or None)

    def reset_attempt(self, deployment: str) -> None:
        for key in RESET_FIELDS:
            self.status.pop(key, None)
        self.set(jobDeploymentStatus=deployment, jobStatus="")
