"""Ray jobs as the dashboard's job API describes them: a submission request and job details.

Ray's job states are PENDING, RUNNING, STOPPED, SUCCEEDED and FAILED; the last three are
terminal. Times in the API are milliseconds since the epoch; `JobInfo` keeps them as UTC
datetimes (None when Ray has not set them yet).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

Json = dict[str, Any]
MAX_ERROR_LENGTH = 512


class JobStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_JOB_STATUSES


TERMINAL_JOB_STATUSES = frozenset({JobStatus.STOPPED, JobStatus.SUCCEEDED, JobStatus.FAILED})


@dataclass(frozen=True)
class JobSubmission:
    """The body of `POST /api/jobs/`; None fields are left out so Ray applies its defaults."""

    entrypoint: str
    submission_id: str
    runtime_env: Mapping[str, Any] | None = None
    metadata: Mapping[str, str] | None = None
    entrypoint_num_cpus: float | None = None
    entrypoint_num_gpus: float | None = None
    entrypoint_resources: Mapping[str, float] | None = None

    def body(self) -> Json:
        body: Json = {"entrypoint": self.entrypoint, "submission_id": self.submission_id}
        optional: dict[str, Any] = {
            "runtime_env": dict(self.runtime_env) if self.runtime_env else None,
            "metadata": dict(self.metadata) if self.metadata else None,
            "entrypoint_num_cpus": self.entrypoint_num_cpus,
            "entrypoint_num_gpus": self.entrypoint_num_gpus,
            "entrypoint_resources": (
                dict(self.entrypoint_resources) if self.entrypoint_resources else None
            ),
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        return body


def _millis(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return datetime.fromtimestamp(value / 1000, UTC)


@dataclass(frozen=True)
class JobInfo:
    """What `GET /api/jobs/<id>` says about one job."""

    submission_id: str
    status: JobStatus
    message: str = ""
    error_type: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None
    entrypoint: str = ""
    raw: Json = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def parse(cls, payload: Mapping[str, Any]) -> JobInfo:
        """A JobInfo from the API's JSON; an unknown status raises ValueError."""
        status = JobStatus(str(payload.get("status", "")))
        return cls(
            submission_id=str(payload.get("submission_id") or payload.get("job_id") or ""),
            status=status,
            message=str(payload.get("message") or ""),
            error_type=str(payload.get("error_type") or ""),
            start_time=_millis(payload.get("start_time")),
            end_time=_millis(payload.get("end_time")),
            entrypoint=str(payload.get("entrypoint") or ""),
            raw=dict(payload),
        )


def error_text(text: str) -> str:
    """Ray answers errors with plain text, often a whole traceback: keep its last line."""
    lines = [line.strip() for line in text.strip().splitlines() if len(line.strip()) > 1]
    # pydantic (Serve's config schema): "1 validation error for X", field, message, doc link
    start = next(
        (i for i, line in enumerate(lines) if re.match(r"^\d+ validation errors? ", line)), None
    )
    if start is not None:
        details = [line for line in lines[start:] if not line.startswith("For further information")]
        return ": ".join(details)[:MAX_ERROR_LENGTH]
    errors = [line for line in lines if re.match(r"^[\w.]*(Error|Exception)\b", line)]
    chosen = errors[-1] if errors else (lines[-1] if lines else "")
    return chosen[:MAX_ERROR_LENGTH]
