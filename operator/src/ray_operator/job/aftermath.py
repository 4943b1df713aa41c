"""What a running RayJob does once its submitter Job has finished (K8sJobMode), as KubeRay.

The submitter follows the Ray job's logs, so it finishes when the Ray job does; the attempt
itself ends on the Ray job's status, which only the dashboard reports. When the dashboard is
unreachable, or still reports a job that is not terminal, KubeRay waits a bounded time
(`SUBMITTER_FINISHED_TIMEOUT_SECONDS` after the submitter's Complete or Failed condition)
and then fails the attempt with `JobDeploymentStatusTransitionGracePeriodExceeded` (retried
per `backoffLimit`). Meanwhile the status message says what is awaited, and one Warning
Event says the wait started. Pure: the state machine fails the attempt when told to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ray_operator.clock import rfc3339
from ray_operator.job import constants as c
from ray_operator.job.draft import Draft
from ray_operator.job.observations import SubmitterView
from ray_operator.reasons import Reason

WAIT_PREFIX = "The submitter Job finished at"


@dataclass(frozen=True)
class Verdict:
    """`failed`: the attempt fails with `message`; otherwise the job waits `remaining`
    seconds more, and `started` says this pass is the first to see the wait."""

    failed: bool
    message: str
    remaining: float = 0.0
    started: bool = False


def after_submitter(
    submitter: SubmitterView | None, now: datetime, why: str, old_message: str
) -> Verdict | None:
    """None while the submitter runs (or in another mode); else wait or fail. `why` says
    why the Ray job's status is not terminal (for the message)."""
    if submitter is None or not submitter.exists or submitter.finished_at is None:
        return None
    finished = submitter.finished_at
    timeout = timedelta(seconds=c.SUBMITTER_FINISHED_TIMEOUT_SECONDS)
    due = finished + timeout
    if now >= due:
        return Verdict(
            failed=True,
            message=(
                f"The RayJob submitter finished at {finished:%Y-%m-%d %H:%M:%S} but the ray job "
                f"did not reach terminal state within {c.SUBMITTER_FINISHED_TIMEOUT_SECONDS}s"
            ),
        )
    head = f"{WAIT_PREFIX} {rfc3339(finished)}"
    return Verdict(
        failed=False,
        message=(
            f"{head}; waiting until {rfc3339(due)} for the Ray job to reach a terminal status "
            f"({why}), then the attempt fails with {c.FailureReason.GRACE_PERIOD_EXCEEDED}"
        ),
        remaining=(due - now).total_seconds(),
        started=not old_message.startswith(head),
    )


def await_terminal(d: Draft, why: str) -> str | None:
    """Apply the wait to the draft (K8sJobMode only): its message, the Event that starts it,
    the requeue at its end. Returns the failure message once the wait is over."""
    if d.spec.mode != c.SubmissionMode.K8S_JOB:
        return None
    verdict = after_submitter(d.obs.submitter, d.obs.now, why, str(d.old.get("message") or ""))
    if verdict is None:
        return None
    if verdict.failed:
        return verdict.message
    d.message(verdict.message)
    if verdict.started:
        d.warn(Reason.SUBMITTER_FINISHED, verdict.message)
    d.again(verdict.remaining)
    return None
