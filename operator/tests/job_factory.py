"""Builders of RayJob bodies and observations for the RayJob unit tests."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from ray_operator.dashboard.jobs import JobInfo, JobStatus
from ray_operator.job.actions import Decision
from ray_operator.job.machine import decide
from ray_operator.job.observations import (
    ClusterView,
    DashboardView,
    Observed,
    SubmitterView,
)
from ray_operator.job.spec import JobSpec
from ray_operator.job.validation import validate_job

UID = "99999999-8888-7777-6666-555555555555"
T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def cluster_spec() -> dict[str, Any]:
    return {
        "rayVersion": "2.41.0",
        "headGroupSpec": {
            "rayStartParams": {},
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "ray-head",
                            "image": "rayproject/ray:2.41.0",
                            "imagePullPolicy": "IfNotPresent",
                        }
                    ]
                }
            },
        },
        "workerGroupSpecs": [],
    }


def rayjob(name: str = "job", namespace: str = "ns", **spec: Any) -> dict[str, Any]:
    body_spec: dict[str, Any] = {
        "entrypoint": "python -c 'print(1)'",
        "rayClusterSpec": cluster_spec(),
    }
    body_spec.update(spec)
    body_spec = {k: v for k, v in body_spec.items() if v is not None}
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": UID,
            "generation": 1,
            "labels": {"team": "a"},
        },
        "spec": body_spec,
    }


def ready_cluster(name: str) -> ClusterView:
    return ClusterView(
        name=name, exists=True, ready=True, status={"state": "ready"}, spec=cluster_spec()
    )


def info(status: str, message: str = "", start: int = 1_735_732_800_000) -> JobInfo:
    end = start + 5_000 if JobStatus(status).terminal else None
    return JobInfo(
        submission_id="x",
        status=JobStatus(status),
        message=message,
        start_time=datetime.fromtimestamp(start / 1000, UTC),
        end_time=datetime.fromtimestamp(end / 1000, UTC) if end else None,
    )


class Run:
    """Steps a RayJob through the state machine, applying each decision's status."""

    def __init__(self, body: dict[str, Any], now: datetime = T0) -> None:
        self.body = copy.deepcopy(body)
        self.now = now
        self.decisions: list[Decision] = []
        self.counter = 0

    @property
    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.body.setdefault("status", {})
        return result

    def later(self, seconds: float) -> Run:
        self.now += timedelta(seconds=seconds)
        return self

    def step(
        self,
        *,
        cluster: ClusterView | str | None = "auto",
        submitter: SubmitterView | None = None,
        dashboard: DashboardView | None = None,
        submission_error: str | None = None,
    ) -> Decision:
        self.counter += 1
        name = str(self.status.get("rayClusterName") or "")
        if cluster == "auto":
            cluster = ready_cluster(name) if name else None
        observed = Observed(
            now=self.now,
            cluster=cluster if not isinstance(cluster, str) else None,
            submitter=submitter,
            dashboard=dashboard or DashboardView(),
            dashboard_address=f"{name}-head-svc.ns.svc.cluster.local:8265",
            problems=validate_job(JobSpec.of(self.body)),
            suffixes=(f"c{self.counter:04d}", f"j{self.counter:04d}"),
            submission_error=submission_error,
        )
        decision = decide(self.body, observed)
        self.body["status"] = decision.status
        self.decisions.append(decision)
        return decision

    def bump_generation(self, **spec: Any) -> None:
        self.body["spec"].update(spec)
        self.body["metadata"]["generation"] += 1
