"""Regression cases the fuzzing found in the operator: each crashed, hung or flooded a
reconcile before its fix, and must now be a clear problem (or nothing) instead."""

from __future__ import annotations

from typing import Any

import pytest
from fuzz_kinds import KINDS, run_hostile, well_formed
from hostile_json import HUGE, nest

# -- regressions the fuzzing found (each crashed or hung a reconcile before its fix) ------

YAML_BOMB = "\n".join(
    [f"a0: &a0 [{', '.join(['x'] * 9)}]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 7)]
)


def _with(kind: str, edit: Any) -> dict[str, Any]:
    body = well_formed(kind)[0]
    edit(body)
    return body


def _group(body: dict[str, Any]) -> dict[str, Any]:
    group: dict[str, Any] = body["spec"]["workerGroupSpecs"][0]
    return group


REGRESSIONS = {
    "workerGroupSpecs not a list": (
        "RayCluster",
        lambda b: b["spec"].update(workerGroupSpecs=True),
        "spec.workerGroupSpecs must be a list, not a boolean",
    ),
    "null worker group": (
        "RayCluster",
        lambda b: b["spec"].update(workerGroupSpecs=[None]),
        "spec.workerGroupSpecs[0] must be an object, not null",
    ),
    "container not an object": (
        "RayCluster",
        lambda b: _group(b)["template"]["spec"].update(containers=[[]]),
        "template.spec.containers[0] must be an object, not a list",
    ),
    "status not an object": ("RayCluster", lambda b: b.update(status=[1]), None),
    "failed = nan (int() raised) in a running job's status": (
        "RayJob",
        lambda b: b.update(status={"jobDeploymentStatus": "Running", "failed": float("nan")}),
        None,
    ),
    "a running job's rayClusterName quoted in a Warning event": (
        "RayJob",
        lambda b: b.update(
            status={
                "jobDeploymentStatus": "Running",
                "rayClusterName": {"a": "\n" * HUGE},
                "observedGeneration": 1,
            }
        ),
        None,
    ),
    "a finished job's endTime not a time (fromisoformat raised)": (
        "RayJob",
        lambda b: (
            b["spec"].update(shutdownAfterJobFinishes=True),
            b.update(status={"jobDeploymentStatus": "Complete", "endTime": "garbage"}),
        ),
        None,
    ),
    "ttlSecondsAfterFinished 10**30 (timedelta overflowed)": (
        "RayJob",
        lambda b: (
            b["spec"].update(shutdownAfterJobFinishes=True, ttlSecondsAfterFinished=10**30),
            b.update(status={"jobDeploymentStatus": "Complete", "endTime": "2025-01-01T11:00:00Z"}),
        ),
        None,
    ),
    "initializing timeout of 400 nines (timedelta overflowed in validation)": (
        "RayService",
        lambda b: b["metadata"].update(
            annotations={"ray.io/initializing-timeout": "9" * 400 + "s"}
        ),
        "must be a positive duration",
    ),
    "applicationStatuses not objects in the old status": (
        "RayService",
        lambda b: b.update(
            status={"activeServiceStatus": {"rayClusterName": "c", "applicationStatuses": {"a": 1}}}
        ),
        None,
    ),
    "10**30 replicas (planned 10**30 pod creations)": (
        "RayCluster",
        lambda b: _group(b).update(replicas=10**30, maxReplicas=10**30),
        "replicas 1000000000000000000000000000000 is outside 0-2147483647",
    ),
    "superscript digit port (isdigit, then int() raised)": (
        "RayCluster",
        lambda b: _group(b).update(rayStartParams={"port": "²"}),
        "must be a port number (1-65535), got '²'",
    ),
    "5000-digit port (int() raised)": (
        "RayCluster",
        lambda b: _group(b).update(rayStartParams={"port": "9" * 5000}),
        "must be a port number",
    ),
    "nan CPUs": (
        "RayCluster",
        lambda b: _group(b).update(rayStartParams={"num-cpus": "nan"}),
        "rayStartParams.num-cpus must be a number, got 'nan'",
    ),
    "num-cpus 1e400 (float() gives inf)": (
        "RayCluster",
        lambda b: _group(b).update(rayStartParams={"num-cpus": "1e400"}),
        "rayStartParams.num-cpus must be a number, got '1e400'",
    ),
    "100k-character label in a message": (
        "RayCluster",
        lambda b: _group(b).update(labels={"k": "\u202e" * HUGE}),
        "is not a valid Kubernetes label",
    ),
    "template nested 600 deep": (
        "RayCluster",
        lambda b: _group(b)["template"].update(extra=nest(600, "list", 1)),
        "spec nests objects and lists more than 64 levels deep",
    ),
    "job status not an object": ("RayJob", lambda b: b.update(status=[]), None),
    "job spec not an object": (
        "RayJob",
        lambda b: b.update(spec=3),
        "spec must be an object, not a number",
    ),
    "runtimeEnvYAML alias bomb": (
        "RayJob",
        lambda b: b["spec"].update(runtimeEnvYAML=YAML_BOMB),
        "runtimeEnvYAML is too large or nests too deeply once parsed",
    ),
    "runtimeEnvYAML nested 400 deep by indentation": (
        "RayJob",
        lambda b: b["spec"].update(
            runtimeEnvYAML="".join(f"{' ' * i}k:\n" for i in range(400)) + " " * 400 + "v"
        ),
        "nests too deeply",
    ),
    "runtimeEnvYAML nested 5000 deep (slow, then RecursionError)": (
        "RayJob",
        lambda b: b["spec"].update(runtimeEnvYAML="[" * 5000 + "]" * 5000),
        "runtimeEnvYAML nests too deeply",
    ),
    "entrypointResources nested 100k deep (RecursionError)": (
        "RayJob",
        lambda b: b["spec"].update(entrypointResources="[" * HUGE + "]" * HUGE),
        "entrypointResources is not JSON",
    ),
    "service annotations not an object": (
        "RayService",
        lambda b: b["metadata"].update(annotations=[1]),
        "metadata.annotations must be an object, not a list",
    ),
    "service status conditions not objects": (
        "RayService",
        lambda b: b.update(status={"conditions": [["Ready"]]}),
        None,
    ),
}


@pytest.mark.parametrize("case", REGRESSIONS)
def test_regression(case: str) -> None:
    kind, edit, expected = REGRESSIONS[case]
    body = _with(kind, edit)
    run_hostile(kind, body)
    messages, _ = KINDS[kind][0](body)
    if expected is not None:
        assert any(expected in message for message in messages), messages
