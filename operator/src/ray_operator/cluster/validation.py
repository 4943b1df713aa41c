"""Checks of a RayCluster the CRD schema cannot express, and of fields this operator lacks.

Each finding is a `Problem`. A blocking problem makes the cluster `unhealthy`: the operator
reports it (Warning event, `status.reason`) and leaves existing pods alone until the spec is
fixed. A non-blocking problem names a KubeRay field this operator accepts but ignores; it is
reported with a Warning event and the cluster is reconciled without it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from ray_operator.cluster import autoscaler, faulttolerance
from ray_operator.cluster import constants as c
from ray_operator.cluster.shapes import RAYCLUSTER
from ray_operator.cluster.spec import MAX_INT32, Body, head_group, spec_of, worker_groups
from ray_operator.problems import Problem
from ray_operator.quantity import QuantityError, parse_quantity
from ray_operator.reasons import Reason
from ray_operator.shape import depth_problem, shape_problems, shown, shown_key

# A DNS-1035 label (Service names; RayJob and RayService names become RayCluster names).
DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_GROUP_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$")
_FLAG = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_]*$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_NUMERIC_PARAMS = ("num-cpus", "num-gpus", "memory", "object-store-memory")
_PORT_PARAMS = (
    "port",
    "dashboard-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "metrics-export-port",
    "ray-client-server-port",
    "node-manager-port",
    "object-manager-port",
    "runtime-env-agent-port",
    "min-worker-port",
    "max-worker-port",
)
_RESOURCE_PARAMS = ("num-cpus", "num-gpus", "memory", "resources")
_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,2})?$")


def validate_cluster(cluster: Body) -> list[Problem]:
    """Everything wrong with the RayCluster. A body whose fields have the wrong JSON types (or
    nest without bound) gets only those problems: the other checks read typed fields."""
    malformed = _shape(cluster)
    if malformed:
        return malformed
    return [
        *_metadata_problems(cluster),
        *_spec_problems(cluster),
        *autoscaler_problems(cluster),
        *faulttolerance.problems(cluster),
        *_unsupported(cluster),
    ]


def _shape(cluster: Body) -> list[Problem]:
    too_deep = depth_problem(cluster.get("spec"), "spec")
    if too_deep:
        return [Problem(Reason.INVALID_RAY_CLUSTER_SPEC, too_deep)]
    return [
        Problem(Reason.INVALID_RAY_CLUSTER_SPEC, message)
        for message in shape_problems(cluster, RAYCLUSTER, "")
    ]


def _metadata_problems(cluster: Body) -> Iterator[Problem]:
    name = str((cluster.get("metadata") or {}).get("name", ""))
    if len(name) > c.MAX_CLUSTER_NAME_LENGTH:
        yield Problem(
            Reason.INVALID_RAY_CLUSTER_METADATA,
            f"RayCluster name {shown(name)} is longer than {c.MAX_CLUSTER_NAME_LENGTH} characters",
        )
    if not DNS1035.match(name):
        yield Problem(
            Reason.INVALID_RAY_CLUSTER_METADATA,
            f"RayCluster name {shown(name)} is not a DNS-1035 label (lowercase letters, digits and "
            "'-', starting with a letter); it is used in service and pod names",
        )


def _containers(template: Any) -> list[Any]:
    if not isinstance(template, Mapping):
        return []
    containers = (template.get("spec") or {}).get("containers")
    return list(containers) if isinstance(containers, list) else []


def _spec_problems(cluster: Body) -> Iterator[Problem]:
    head = head_group(cluster)
    if not _containers(head.get("template")):
        yield Problem(
            Reason.INVALID_RAY_CLUSTER_SPEC,
            "spec.headGroupSpec.template must have at least one container",
        )
    yield from _group_problems("spec.headGroupSpec", head)
    seen: set[str] = set()
    for group in worker_groups(cluster):
        where = f"spec.workerGroupSpecs[{group.index}] ({shown(group.name)})"
        if not _GROUP_NAME.match(group.name) or len(group.name) > 63:
            yield Problem(
                Reason.INVALID_RAY_CLUSTER_SPEC,
                f"{where}: groupName must be 1-63 letters, digits, '-' or '.', starting and "
                "ending with a letter or digit (it becomes a label value and part of pod names)",
            )
        if group.name in seen:
            yield Problem(Reason.INVALID_RAY_CLUSTER_SPEC, f"{where}: duplicate groupName")
        seen.add(group.name)
        if not _containers(group.spec.get("template")):
            yield Problem(
                Reason.INVALID_RAY_CLUSTER_SPEC, f"{where}: template must have a container"
            )
        counts = {k: group.spec.get(k) for k in ("replicas", "minReplicas", "maxReplicas")}
        for key, count in {**counts, "numOfHosts": group.spec.get("numOfHosts")}.items():
            if count is not None and not 0 <= count <= MAX_INT32:
                yield Problem(
                    Reason.INVALID_RAY_CLUSTER_SPEC,
                    f"{where}: {key} {shown(count)} is outside 0-{MAX_INT32}",
                )
        if group.min_replicas > group.max_replicas:
            yield Problem(
                Reason.INVALID_RAY_CLUSTER_SPEC,
                f"{where}: minReplicas {group.min_replicas} is greater than maxReplicas "
                f"{group.max_replicas}",
            )
        elif group.replicas is not None and not (
            group.min_replicas <= group.replicas <= group.max_replicas
        ):
            yield Problem(
                Reason.INVALID_RAY_CLUSTER_SPEC,
                f"{where}: replicas {group.replicas} is outside minReplicas-maxReplicas "
                f"({group.min_replicas}-{group.max_replicas}); the group runs "
                f"{group.desired_replicas}",
                blocking=False,
            )
        yield from _group_problems(where, group.spec)


def _group_problems(where: str, group: Mapping[str, Any]) -> Iterator[Problem]:
    params = group.get("rayStartParams") or {}
    resources = group.get("resources") or {}
    labels = group.get("labels") or {}
    if resources and any(params.get(k) for k in _RESOURCE_PARAMS):
        yield Problem(
            Reason.INVALID_RAY_CLUSTER_SPEC,
            f"{where}: resources are set both in rayStartParams and in resources; use only one",
        )
    if "labels" in params:
        yield Problem(
            Reason.INVALID_RAY_CLUSTER_SPEC,
            f"{where}: rayStartParams.labels is not supported; use the labels field",
        )
    for name, value in resources.items():
        try:
            parse_quantity(str(value))
        except QuantityError:
            yield Problem(
                Reason.INVALID_RAY_CLUSTER_SPEC,
                f"{where}: resources.{shown_key(name)} {shown(value)} is not a quantity",
            )
    for key, value in labels.items():
        if not _valid_label_key(str(key)) or not _valid_label_value(str(value)):
            yield Problem(
                Reason.INVALID_RAY_CLUSTER_SPEC,
                f"{where}: label {shown(key)}={shown(value)} is not a valid Kubernetes label",
            )
    yield from _ray_start_param_problems(where, params)


def _ray_start_param_problems(where: str, params: Mapping[str, Any]) -> Iterator[Problem]:
    for key, value in params.items():
        text = str(value)
        if not _FLAG.match(str(key)):
            yield Problem(
                Reason.INVALID_RAY_CLUSTER_SPEC,
                f"{where}: rayStartParams key {shown(key)} is not a `ray start` flag name",
            )
        if "\n" in text or "\r" in text:
            yield Problem(
                Reason.INVALID_RAY_CLUSTER_SPEC,
                f"{where}: rayStartParams.{shown_key(key)} contains a line break",
            )
    for key in _NUMERIC_PARAMS:
        if key in params and not _is_number(str(params[key])):
            yield Problem(
                Reason.INVALID_RAY_CLUSTER_SPEC,
                f"{where}: rayStartParams.{key} must be a number, got {shown(params[key])}",
            )
    for key in _PORT_PARAMS:
        if key in params and not _is_port(str(params[key])):
            yield Problem(
                Reason.INVALID_RAY_CLUSTER_SPEC,
                f"{where}: rayStartParams.{key} must be a port number (1-65535), "
                f"got {shown(params[key])}",
            )


def _unsupported(cluster: Body) -> Iterator[Problem]:
    spec = spec_of(cluster)
    head = head_group(cluster)
    auth = spec.get("authOptions")
    refused = {
        "tlsOptions.enabled": (spec.get("tlsOptions") or {}).get("enabled") is True,
        # KubeRay's default auth mode is "token" as soon as authOptions is present.
        "authOptions": isinstance(auth, Mapping) and auth.get("mode", "token") != "disabled",
        "networkPolicy": spec.get("networkPolicy") is not None,
    }
    for field, present in refused.items():
        if present:
            yield Problem(
                Reason.INVALID_RAY_CLUSTER_SPEC,
                f"spec.{field} is not supported by this operator; running the cluster without "
                "it would silently weaken it, so no pods are changed until it is removed",
            )
    ignored = {
        "historyServerOptions": spec.get("historyServerOptions") is not None,
        "headGroupSpec.enableIngress": head.get("enableIngress") is True,
        "headGroupSpec.ingressOptions": head.get("ingressOptions") is not None,
    }
    for group in worker_groups(cluster):
        # KubeRay's CRDs that know the field default it to 0 on every group ("no preference"),
        # so only another value asks for something this operator does not do.
        if group.spec.get("priority") not in (None, 0):
            ignored[f"workerGroupSpecs[{group.index}].priority"] = True
    names = [field for field, present in ignored.items() if present]
    if names:
        yield Problem(
            Reason.INVALID_RAY_CLUSTER_SPEC,
            "not supported by this operator and ignored: " + ", ".join(f"spec.{n}" for n in names),
            blocking=False,
        )


def autoscaler_problems(cluster: Body) -> Iterator[Problem]:
    """KubeRay's checks of the autoscaler settings, and the values its CRD enumerates (a body
    stored under an older or opaque schema reaches the operator unchecked)."""
    opts = autoscaler.options(cluster)
    allowed = {
        "version": autoscaler.VERSIONS,
        "upscalingMode": autoscaler.UPSCALING_MODES,
        "imagePullPolicy": autoscaler.PULL_POLICIES,
    }
    for key, values in allowed.items():
        if key in opts and opts[key] not in values:
            yield Problem(
                Reason.INVALID_RAY_CLUSTER_SPEC,
                f"spec.autoscalerOptions.{key} {shown(opts[key])} is not one of "
                + ", ".join(values),
            )
    timeouts = {"spec.autoscalerOptions": opts.get("idleTimeoutSeconds")}
    for group in worker_groups(cluster):
        timeouts[f"spec.workerGroupSpecs[{group.index}]"] = group.spec.get("idleTimeoutSeconds")
    for where, timeout in timeouts.items():
        if timeout is not None and not 0 <= timeout <= MAX_INT32:
            yield Problem(
                Reason.INVALID_RAY_CLUSTER_SPEC,
                f"{where}.idleTimeoutSeconds {shown(timeout)} is outside 0-{MAX_INT32}",
            )
    head_env = _env_value(head_group(cluster), autoscaler.ENV_V2)
    if not autoscaler.enabled(cluster):
        if head_env in ("1", "true"):
            yield Problem(
                Reason.INVALID_RAY_CLUSTER_SPEC,
                f"environment variable {autoscaler.ENV_V2} cannot be set to {shown(head_env)} "
                "when enableInTreeAutoscaling is false; set enableInTreeAutoscaling: true to "
                "use autoscaler v2",
            )
        return
    for group in worker_groups(cluster):
        if group.suspended:
            yield Problem(
                Reason.INVALID_RAY_CLUSTER_SPEC,
                f"worker group {shown(group.name)} cannot be suspended with the autoscaler "
                "enabled (the autoscaler would scale it back up)",
            )
    if "version" in opts and head_env is not None:
        yield Problem(
            Reason.INVALID_RAY_CLUSTER_SPEC,
            f"both spec.autoscalerOptions.version and the head container's env "
            f"{autoscaler.ENV_V2} are set; use only the former",
        )
    if autoscaler.v2(cluster):
        templates = {"head Pod": head_group(cluster).get("template")}
        for group in worker_groups(cluster):
            templates[f"worker group {shown(group.name)}"] = group.spec.get("template")
        for what, template in templates.items():
            policy = ((template or {}).get("spec") or {}).get("restartPolicy")
            if policy not in (None, "", "Never"):
                yield Problem(
                    Reason.INVALID_RAY_CLUSTER_SPEC,
                    f"restartPolicy {shown(policy)} of the {what} must be Never or unset with "
                    "autoscaler v2, which tracks each Ray node by its pod",
                )


def _env_value(group: Mapping[str, Any], name: str) -> str | None:
    """The value of the Ray container's env var `name` (None when it is not set)."""
    containers = _containers(group.get("template"))
    ray = containers[c.RAY_CONTAINER_INDEX] if containers else {}
    for entry in ray.get("env") or [] if isinstance(ray, Mapping) else []:
        if isinstance(entry, Mapping) and entry.get("name") == name:
            return str(entry.get("value", ""))
    return None


def _valid_label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _LABEL_PREFIX.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_LABEL_NAME.match(name))


def _valid_label_value(value: str) -> bool:
    return len(value) <= 63 and bool(_LABEL_VALUE.match(value))


def _is_number(text: str) -> bool:
    """A plain decimal number, as `ray start` parses it (not "nan", "1_0" or "٣")."""
    return _NUMBER.match(text) is not None


def _is_port(text: str) -> bool:
    """1-65535 in ASCII digits (`str.isdigit` also admits "²" and "٣", which `int` refuses)."""
    return 0 < len(text) <= 5 and text.isascii() and text.isdigit() and 0 < int(text) < 65536
