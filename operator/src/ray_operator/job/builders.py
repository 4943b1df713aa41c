"""Pure builders for what a RayJob owns: the child RayCluster, the submitter Job and its
shell command, the dashboard submission of HTTPMode, and `<rayjob>-head-svc`.

The submitter (K8sJobMode) may run more than once (its pod is retried by the Job controller),
so its command first asks `ray job status` whether the submission id is known and only
submits when it is not; it then follows the job's logs. The dashboard address and the
submission id come from the container's environment (RAY_DASHBOARD_ADDRESS,
RAY_JOB_SUBMISSION_ID), so the same command runs anywhere those are set.
"""

from __future__ import annotations

import copy
import json
import shlex
from collections.abc import Mapping
from typing import Any

from ray_operator.cluster import constants as cc
from ray_operator.cluster.service import desired_head_service
from ray_operator.dashboard.jobs import JobSubmission
from ray_operator.job import constants as c
from ray_operator.job.spec import JobSpec

Manifest = dict[str, Any]
RAY_CONTAINER_INDEX = 0
DEFAULT_SUBMITTER_RESOURCES: Manifest = {
    "requests": {"cpu": "500m", "memory": "200Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}


def generated_name(base: str, suffix: str) -> str:
    """`<base>-<suffix>`, the base trimmed so the result fits a RayCluster name (53)."""
    budget = c.MAX_JOB_NAME_LENGTH
    return f"{base[:budget].rstrip('-')}-{suffix}"


def owner_reference(spec: JobSpec) -> Manifest:
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND,
        "name": spec.name,
        "uid": spec.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def child_labels(spec: JobSpec) -> dict[str, str]:
    return {
        c.LABEL_ORIGINATED_FROM_CRD: c.KIND,
        c.LABEL_ORIGINATED_FROM_CR_NAME: spec.name,
    }


def child_cluster(spec: JobSpec, name: str) -> Manifest:
    """The RayCluster a RayJob runs on: its rayClusterSpec, owned by the RayJob."""
    meta = spec.raw.get("metadata") or {}
    labels = {**(meta.get("labels") or {}), **child_labels(spec)}
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if k not in c.NOT_INHERITED_ANNOTATIONS
    }
    metadata: Manifest = {
        "name": name,
        "namespace": spec.namespace,
        "labels": labels,
        "ownerReferences": [owner_reference(spec)],
    }
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": metadata,
        "spec": copy.deepcopy(dict(spec.cluster_spec or {})),
    }


def _number(value: float) -> str:
    return format(value, "g")


def entrypoint_words(entrypoint: str) -> list[str]:
    """The arguments after `ray job submit --` that make Ray run exactly `entrypoint`.

    The CLI joins them with `shlex.join` and Ray runs the result with a shell. When that
    join gives the entrypoint back, its words are passed; otherwise (shell syntax such as
    `&&`, `$VAR` or globs, or quoting in another style) it is passed whole to `sh -c`, so
    the shell sees exactly what the user wrote. No entrypoint passes nothing, as KubeRay's
    `-- ;` does, so Ray's CLI refuses the submission rather than running an empty command.
    """
    if not entrypoint:
        return []
    try:
        words = shlex.split(entrypoint)
    except ValueError:
        words = []
    if words and shlex.join(words) == entrypoint:
        return words
    return ["sh", "-c", entrypoint]


def submit_script(spec: JobSpec) -> str:
    """The submitter's bash script (idempotent: submits only an unknown submission id)."""
    address = f'"${c.ENV_DASHBOARD_ADDRESS}"'
    job = f'"${c.ENV_SUBMISSION_ID}"'
    submit = ["ray", "job", "submit", "--address", address, "--submission-id", job, "--no-wait"]
    runtime_env = spec.runtime_env()
    if runtime_env:
        submit += ["--runtime-env-json", shlex.quote(json.dumps(runtime_env, sort_keys=True))]
    if spec.metadata:
        metadata = json.dumps(spec.string_metadata(), sort_keys=True)
        submit += ["--metadata-json", shlex.quote(metadata)]
    if spec.entrypoint_num_cpus:
        submit += ["--entrypoint-num-cpus", _number(spec.entrypoint_num_cpus)]
    if spec.entrypoint_num_gpus:
        submit += ["--entrypoint-num-gpus", _number(spec.entrypoint_num_gpus)]
    resources = spec.resources()
    if resources:
        submit += ["--entrypoint-resources", shlex.quote(json.dumps(resources, sort_keys=True))]
    submit += ["--", *(shlex.quote(word) for word in entrypoint_words(spec.entrypoint))]
    return "\n".join(
        [
            f"if ! ray job status --address {address} {job} >/dev/null 2>&1; then",
            "  " + " ".join(submit),
            "fi",
            f"ray job logs --address {address} --follow {job}",
        ]
    )


def _env_with(env: list[Manifest], values: Mapping[str, str]) -> list[Manifest]:
    kept = [e for e in env if e.get("name") not in values]
    return kept + [{"name": name, "value": value} for name, value in values.items()]


def default_submitter_template(cluster_spec: Mapping[str, Any]) -> Manifest:
    """A pod template with one container using the Ray head's image."""
    head = ((cluster_spec.get("headGroupSpec") or {}).get("template") or {}).get("spec") or {}
    head_container = (head.get("containers") or [{}])[RAY_CONTAINER_INDEX]
    container: Manifest = {
        "name": c.SUBMITTER_CONTAINER,
        "image": head_container.get("image", "rayproject/ray"),
        "resources": copy.deepcopy(DEFAULT_SUBMITTER_RESOURCES),
    }
    if head_container.get("imagePullPolicy"):
        container["imagePullPolicy"] = head_container["imagePullPolicy"]
    pod_spec: Manifest = {"containers": [container], "restartPolicy": "Never"}
    if head.get("imagePullSecrets"):
        pod_spec["imagePullSecrets"] = copy.deepcopy(head["imagePullSecrets"])
    return {"spec": pod_spec}


def submitter_job(
    spec: JobSpec, job_id: str, dashboard_address: str, cluster_spec: Mapping[str, Any]
) -> Manifest:
    """The batch Job that submits the Ray job (named after the RayJob, owned by it).

    `dashboard_address` is the URL pods use (the head service); `cluster_spec` is the spec
    of the cluster the job runs on (its head image is the default submitter image).
    """
    if spec.submitter_template is not None:
        template = copy.deepcopy(dict(spec.submitter_template))
    else:
        template = default_submitter_template(cluster_spec)
    pod_spec = template.setdefault("spec", {})
    pod_spec.setdefault("restartPolicy", "Never")
    container = pod_spec["containers"][RAY_CONTAINER_INDEX]
    if not container.get("command"):
        container["command"] = ["/bin/bash", "-ec"]
        container["args"] = [submit_script(spec)]
    container["env"] = _env_with(
        list(container.get("env") or []),
        {
            "PYTHONUNBUFFERED": "1",
            c.ENV_DASHBOARD_ADDRESS: dashboard_address,
            c.ENV_SUBMISSION_ID: job_id,
        },
    )
    labels = {**child_labels(spec), c.LABEL_CREATED_BY: c.CREATED_BY}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": spec.name,
            "namespace": spec.namespace,
            "labels": labels,
            "ownerReferences": [owner_reference(spec)],
        },
        "spec": {"backoffLimit": spec.submitter_backoff_limit, "template": template},
    }


def submission(spec: JobSpec, job_id: str) -> JobSubmission:
    """What HTTPMode sends to `POST /api/jobs/`."""
    return JobSubmission(
        entrypoint=spec.entrypoint,
        submission_id=job_id,
        runtime_env=spec.runtime_env(),
        metadata=spec.string_metadata() or None,
        entrypoint_num_cpus=spec.entrypoint_num_cpus or None,
        entrypoint_num_gpus=spec.entrypoint_num_gpus or None,
        entrypoint_resources=spec.resources(),
    )


def head_service_name(spec: JobSpec) -> str:
    return f"{spec.name}-head-svc"


def job_head_service(spec: JobSpec, cluster: Mapping[str, Any]) -> Manifest:
    """`<rayjob>-head-svc`, as KubeRay builds it for a RayJob with its own cluster: the
    cluster's head Service (selector, ports, type), renamed, with the RayJob's labels and
    owned by the RayJob, so the job's dashboard has a name that outlives its attempts."""
    service = desired_head_service(cluster)
    service["metadata"] = {
        "name": head_service_name(spec),
        "namespace": spec.namespace,
        "labels": {
            **child_labels(spec),
            cc.LABEL_NODE_TYPE: cc.NODE_TYPE_HEAD,
            cc.LABEL_IDENTIFIER: f"{spec.name}-{cc.NODE_TYPE_HEAD}"[:63].rstrip("-._"),
        },
        "ownerReferences": [owner_reference(spec)],
    }
    return service
