"""What a RayJob decision asks for: API and dashboard actions, Events, the next status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ray_operator.dashboard.jobs import JobSubmission


@dataclass(frozen=True)
class CreateCluster:
    manifest: dict[str, Any]


@dataclass(frozen=True)
class DeleteCluster:
    name: str


@dataclass(frozen=True)
class CreateSubmitter:
    manifest: dict[str, Any]


@dataclass(frozen=True)
class DeleteSubmitter:
    name: str


@dataclass(frozen=True)
class SubmitJob:
    submission: JobSubmission


@dataclass(frozen=True)
class StopJob:
    """Best effort: a failure is logged, it never holds the status back."""

    job_id: str


@dataclass(frozen=True)
class DeleteJobRecord:
    """Best effort: frees a reused submission id on a cluster the job does not own."""

    job_id: str


Action = (
    CreateCluster
    | DeleteCluster
    | CreateSubmitter
    | DeleteSubmitter
    | SubmitJob
    | StopJob
    | DeleteJobRecord
)


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str


@dataclass
class Decision:
    status: dict[str, Any]
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    requeue: float | None = None
