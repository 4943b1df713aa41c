"""The RayJob samples are valid for this operator and describe what their comments say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ray_operator.job.builders import child_cluster, submitter_job
from ray_operator.job.spec import JobSpec
from ray_operator.job.validation import validate_job

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def load(name: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((SAMPLES / name).read_text())
    body["metadata"].update(namespace="default", uid="u", generation=1)
    return body


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("rayjob-*.yaml")), ids=lambda p: p.name)
def test_sample_is_valid(path: Path) -> None:
    spec = JobSpec.of(load(path.name))
    assert validate_job(spec) == []
    assert spec.entrypoint


def test_k8s_job_mode_sample() -> None:
    spec = JobSpec.of(load("rayjob-sample.yaml"))
    assert spec.mode == "K8sJobMode"
    assert spec.runtime_env() == {"env_vars": {"GREETING": "hello"}}
    assert (spec.shutdown_after_job_finishes, spec.ttl_seconds_after_finished) == (True, 60)
    cluster = child_cluster(spec, "rayjob-sample-abcde")
    job = submitter_job(spec, "id", "http://x:8265", cluster["spec"])
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "rayproject/ray:2.41.0"


def test_http_and_selector_samples() -> None:
    retry = JobSpec.of(load("rayjob-http-retry.yaml"))
    assert (retry.mode, retry.backoff_limit, retry.active_deadline_seconds) == ("HTTPMode", 2, 600)
    selector = JobSpec.of(load("rayjob-cluster-selector.yaml"))
    assert selector.selected_cluster == "raycluster-minimal"
    assert (SAMPLES / f"{selector.selected_cluster}.yaml").exists()
