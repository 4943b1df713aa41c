"""Checks of a RayService before anything is created: metadata, the cluster config (with the
RayCluster checks), and the fields this operator does not support.

A problem stops the reconcile: a Warning event (`InvalidRayServiceMetadata` or
`InvalidRayServiceSpec`) and, unless existing clusters still serve, `Ready` False with reason
`ValidationFailed`; existing clusters and services are left alone until the spec is fixed.
A serveConfigV2 that is not YAML is not a validation problem: like any config Serve rejects,
it is reported as `FailedToUpdateServeApplications` while the clusters are reconciled.
Fields the RayCluster reconciler only ignores are reported by it on the child cluster.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ray_operator.cluster import constants as cc
from ray_operator.cluster.shapes import CLUSTER_SPEC, HEAD_SERVICE, METADATA
from ray_operator.cluster.validation import DNS1035, validate_cluster
from ray_operator.problems import Problem, blocking
from ray_operator.reasons import Reason
from ray_operator.service import constants as c
from ray_operator.service.builders import is_serve_port
from ray_operator.service.spec import (
    Body,
    cluster_config,
    metadata_of,
    name_of,
    parse_duration,
    spec_of,
    upgrade_type,
)
from ray_operator.shape import (
    NUMBER,
    SCALAR,
    STRING,
    Obj,
    depth_problem,
    shape_problems,
    shown,
)

# Child clusters are named <service>-<5 characters> and must fit the RayCluster limit.
MAX_NAME_LENGTH = cc.MAX_CLUSTER_NAME_LENGTH - 6
RAYSERVICE = Obj(
    {
        "metadata": METADATA,
        "spec": Obj(
            {
                "rayClusterConfig": CLUSTER_SPEC,
                "serveConfigV2": STRING,
                "serveService": HEAD_SERVICE,
                "upgradeStrategy": Obj({"type": STRING}),
                "rayClusterDeletionDelaySeconds": NUMBER,
                "excludeHeadPodFromServeSvc": SCALAR,
                "managedBy": STRING,
                "suspend": SCALAR,
            }
        ),
    }
)


def validate_service(service: Body) -> list[Problem]:
    """Everything wrong with the RayService. A body whose fields have the wrong JSON types gets
    only those problems: the other checks read typed fields."""
    too_deep = depth_problem(service.get("spec"), "spec")
    if too_deep:
        return [Problem(Reason.INVALID_RAY_SERVICE_SPEC, too_deep)]
    malformed = [
        Problem(Reason.INVALID_RAY_SERVICE_SPEC, message)
        for message in shape_problems(service, RAYSERVICE, "")
    ]
    return malformed or [*_metadata(service), *_spec(service)]


def _metadata(service: Body) -> Iterator[Problem]:
    name = name_of(service)
    if len(name) > MAX_NAME_LENGTH:
        yield Problem(
            Reason.INVALID_RAY_SERVICE_METADATA,
            f"RayService name {shown(name)} is longer than {MAX_NAME_LENGTH} characters (its "
            "RayClusters are named <name>-<5 characters>)",
        )
    if not DNS1035.match(name):
        yield Problem(
            Reason.INVALID_RAY_SERVICE_METADATA,
            f"RayService name {shown(name)} is not a DNS-1035 label (lowercase letters, digits and "
            "'-', starting with a letter)",
        )
    annotations = metadata_of(service).get("annotations") or {}
    timeout = annotations.get(c.ANNOTATION_INITIALIZING_TIMEOUT)
    if timeout is not None and parse_duration(str(timeout)) is None:
        yield Problem(
            Reason.INVALID_RAY_SERVICE_METADATA,
            f"annotation {c.ANNOTATION_INITIALIZING_TIMEOUT} must be a positive duration "
            f"(e.g. 30m, 1h) or a number of seconds, got {shown(timeout)}",
        )


def _head_ports(config: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    head = config.get("headGroupSpec") or {}
    containers = ((head.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    ports = containers[cc.RAY_CONTAINER_INDEX].get("ports") if containers else None
    return [p for p in ports or [] if isinstance(p, Mapping)]


def _spec(service: Body) -> Iterator[Problem]:
    config = cluster_config(service)
    invalid = Reason.INVALID_RAY_SERVICE_SPEC
    if not config:
        yield Problem(invalid, "spec.rayClusterConfig is required")
        return
    as_cluster = {"metadata": {"name": f"{name_of(service)}-xxxxx"}, "spec": config}
    for problem in blocking(validate_cluster(as_cluster)):
        if problem.reason is not Reason.INVALID_RAY_CLUSTER_METADATA:  # the name is ours
            yield Problem(invalid, f"spec.rayClusterConfig: {_relative(problem.message)}")
    head_service = (config.get("headGroupSpec") or {}).get("headService") or {}
    if (head_service.get("metadata") or {}).get("name"):
        yield Problem(
            invalid,
            "spec.rayClusterConfig.headGroupSpec.headService.metadata.name must not be set "
            "(the head Services are named after the RayService and its clusters)",
        )
    strategy = upgrade_type(service)
    if strategy == c.UPGRADE_INCREMENTAL:
        yield Problem(
            invalid,
            f"spec.upgradeStrategy.type {strategy} is not supported by this operator (it needs "
            f"the Gateway API); use {c.UPGRADE_NEW_CLUSTER} or {c.UPGRADE_NONE}",
        )
    elif strategy not in (c.UPGRADE_NEW_CLUSTER, c.UPGRADE_NONE):
        yield Problem(
            invalid,
            f"spec.upgradeStrategy.type {shown(strategy)} is invalid; valid values are "
            f"{c.UPGRADE_NEW_CLUSTER} and {c.UPGRADE_NONE}",
        )
    ports = _head_ports(config)
    serve_port = any(is_serve_port(str(p.get("name", ""))) for p in ports)
    if ports and not serve_port and not spec_of(service).get("serveService"):
        yield Problem(
            invalid,
            "the head container declares ports but none named 'serve' (or 'serve-*'); the "
            "serve Service needs one",
        )


def _relative(message: str) -> str:
    """RayCluster messages name fields as spec.x; here they live under rayClusterConfig."""
    return message[len("spec.") :] if message.startswith("spec.") else message
