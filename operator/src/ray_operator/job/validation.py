"""Checks of a RayJob the CRD schema cannot express, and of fields this operator lacks.

A problem makes a new RayJob `ValidationFailed` (reason ValidationFailed, a Warning event
InvalidRayJobSpec or InvalidRayJobMetadata) before anything is created. The rules follow
KubeRay's, plus a refusal of the fields this operator does not implement (SidecarMode,
deletionStrategy, preRunningDeadlineSeconds), so nothing is silently ignored.
"""

from __future__ import annotations

from ray_operator.cluster.shapes import CLUSTER_SPEC, METADATA, POD_TEMPLATE, STRING_MAP
from ray_operator.cluster.validation import DNS1035, validate_cluster
from ray_operator.job import constants as c
from ray_operator.job.spec import JobSpec
from ray_operator.problems import Problem, blocking
from ray_operator.reasons import Reason
from ray_operator.shape import (
    INTEGER,
    NUMBER,
    SCALAR,
    STRING,
    Obj,
    depth_problem,
    shape_problems,
    shown_key,
)

RAYJOB = Obj(
    {
        "metadata": METADATA,
        "spec": Obj(
            {
                "entrypoint": STRING,
                "submissionMode": STRING,
                "runtimeEnvYAML": STRING,
                "entrypointResources": STRING,
                "entrypointNumCpus": NUMBER,
                "entrypointNumGpus": NUMBER,
                "jobId": STRING,
                "managedBy": STRING,
                "metadata": Obj(values=SCALAR),
                "rayClusterSpec": CLUSTER_SPEC,
                "clusterSelector": STRING_MAP,
                "submitterPodTemplate": POD_TEMPLATE,
                "submitterConfig": Obj({"backoffLimit": INTEGER}),
                "backoffLimit": INTEGER,
                "activeDeadlineSeconds": INTEGER,
                "ttlSecondsAfterFinished": INTEGER,
                "shutdownAfterJobFinishes": SCALAR,
                "suspend": SCALAR,
            }
        ),
    }
)


def _meta(spec: JobSpec) -> list[Problem]:
    problems = []
    if len(spec.name) > c.MAX_JOB_NAME_LENGTH:
        problems.append(
            Problem(
                Reason.INVALID_RAY_JOB_METADATA,
                f"RayJob name should be no more than {c.MAX_JOB_NAME_LENGTH} characters",
            )
        )
    if not DNS1035.match(spec.name):
        problems.append(
            Problem(
                Reason.INVALID_RAY_JOB_METADATA,
                "RayJob name should be a valid DNS-1035 label",
            )
        )
    return problems


def _spec(spec: JobSpec) -> list[str]:
    raw_spec = spec.raw.get("spec") or {}
    messages: list[str] = []
    if spec.mode not in c.SUPPORTED_MODES:
        messages.append(f"submissionMode {shown_key(spec.mode)} is not supported by this operator")
    if spec.suspend and not spec.shutdown_after_job_finishes:
        messages.append(
            "a RayJob with shutdownAfterJobFinishes set to false is not allowed to be suspended"
        )
    if spec.uses_selector:
        if not spec.selected_cluster:
            messages.append(
                f"clusterSelector must name the cluster with key {c.CLUSTER_SELECTOR_KEY}"
            )
        if spec.suspend:
            messages.append("the clusterSelector mode does not support the suspend operation")
    elif spec.cluster_spec is None:
        messages.append("one of rayClusterSpec or clusterSelector must be set")
    # No entrypoint is not refused, as KubeRay does not refuse it: a submitterPodTemplate with
    # its own command (KubeRay's light-weight submitter) needs none, and otherwise Ray's
    # submission reports the missing entrypoint the way it would under KubeRay.
    if spec.mode == c.SubmissionMode.INTERACTIVE and spec.backoff_limit > 0:
        messages.append("backoffLimit is incompatible with InteractiveMode")
    if spec.ttl_seconds_after_finished < 0:
        messages.append("ttlSecondsAfterFinished must be a non-negative integer")
    if spec.active_deadline_seconds is not None and spec.active_deadline_seconds <= 0:
        messages.append("activeDeadlineSeconds must be a positive integer")
    if spec.backoff_limit < 0:
        messages.append("backoffLimit must be a non-negative integer")
    if spec.submitter_backoff_limit < 0:
        messages.append("submitterConfig.backoffLimit must be a non-negative integer")
    if "preRunningDeadlineSeconds" in raw_spec:
        messages.append(
            "preRunningDeadlineSeconds is not supported by this operator; use activeDeadlineSeconds"
        )
    if "deletionStrategy" in raw_spec:
        messages.append(
            "deletionStrategy is not supported by this operator; "
            "use shutdownAfterJobFinishes and ttlSecondsAfterFinished"
        )
    template = spec.submitter_template
    if template is not None:
        containers = (template.get("spec") or {}).get("containers") or []
        if not containers:
            messages.append("submitterPodTemplate must have at least one container")
    for parse in (spec.runtime_env, spec.resources):
        try:
            parse()
        except ValueError as error:
            messages.append(str(error))
    if spec.cluster_spec is not None and spec.owns_cluster:
        child = {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            # The name is checked as the RayJob's own; a placeholder keeps it out of this check.
            "metadata": {"name": "child-xxxxx", "namespace": spec.namespace},
            "spec": spec.cluster_spec,
        }
        messages += [f"rayClusterSpec: {p.message}" for p in blocking(validate_cluster(child))]
    return messages


def _shape(spec: JobSpec) -> list[str]:
    too_deep = depth_problem(spec.raw.get("spec"), "spec")
    return [too_deep] if too_deep else list(shape_problems(spec.raw, RAYJOB, ""))


def validate_job(spec: JobSpec) -> list[Problem]:
    """Everything wrong with the RayJob; empty when it can run. A body whose fields have the
    wrong JSON types gets only those problems: the other checks read typed fields."""
    malformed = _shape(spec)
    problems = _meta(spec) if not malformed else []
    problems += [
        Problem(Reason.INVALID_RAY_JOB_SPEC, f"The RayJob spec is invalid: {message}")
        for message in malformed or _spec(spec)
    ]
    return problems
