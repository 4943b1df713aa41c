"""GCS fault tolerance as KubeRay v1.5 configures it: the head's GCS keeps its state in an
external Redis, so a new head pod recovers the cluster (actors, jobs, Serve applications)
and the workers reconnect to it instead of dying with the old head.

Two forms switch it on: `spec.gcsFaultToleranceOptions` (`redisAddress`, `redisPassword` and
`redisUsername` as a value or an env `valueFrom`, `externalStorageNamespace`), or the legacy
annotation `ray.io/ft-enabled: "true"` with `RAY_REDIS_ADDRESS` in the head container's env.
What the pods get (KubeRay's `configureGCSFaultTolerance`):

- the head pod's annotation `ray.io/ft-enabled` ("true" or "false", on every head pod);
- with fault tolerance, the head's annotation `ray.io/external-storage-namespace` and env
  `RAY_external_storage_namespace` (the cluster's UID unless the options or the annotation
  name one), `RAY_REDIS_ADDRESS`, `REDIS_USERNAME`/`REDIS_PASSWORD` with
  `--redis-username=$REDIS_USERNAME`/`--redis-password=$REDIS_PASSWORD` in `ray start`
  (the shell expands them, so a Secret's value never appears in the pod's command);
- every worker's `RAY_gcs_rpc_server_reconnect_timeout_s=600` (unless set), so its raylet
  waits for the new head rather than exiting after Ray's default 60 s.

Everything here is pure: cluster in, manifests changed in place or problems out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from ray_operator.cluster import constants as c
from ray_operator.cluster.spec import Body, head_group, mapping, spec_of
from ray_operator.problems import Problem
from ray_operator.reasons import Reason

Manifest = dict[str, Any]

ANNOTATION_FT_ENABLED = "ray.io/ft-enabled"
ANNOTATION_STORAGE_NAMESPACE = "ray.io/external-storage-namespace"
ENV_REDIS_ADDRESS = "RAY_REDIS_ADDRESS"
ENV_REDIS_PASSWORD = "REDIS_PASSWORD"
ENV_REDIS_USERNAME = "REDIS_USERNAME"
ENV_STORAGE_NAMESPACE = "RAY_external_storage_namespace"
ENV_RECONNECT_TIMEOUT = "RAY_gcs_rpc_server_reconnect_timeout_s"
WORKER_RECONNECT_TIMEOUT_S = "600"


def options(cluster: Body) -> Mapping[str, Any] | None:
    """`spec.gcsFaultToleranceOptions` (None when absent)."""
    value = spec_of(cluster).get("gcsFaultToleranceOptions")
    return value if isinstance(value, Mapping) else None


def _annotations(cluster: Body) -> Mapping[str, Any]:
    return mapping(mapping(cluster.get("metadata")).get("annotations"))


def enabled(cluster: Body) -> bool:
    """KubeRay's `IsGCSFaultToleranceEnabled`: the options, or the annotation set to true."""
    flag = _annotations(cluster).get(ANNOTATION_FT_ENABLED)
    return options(cluster) is not None or str(flag or "").lower() == "true"


def storage_namespace(cluster: Body) -> str:
    """The Redis storage namespace of the cluster's GCS: the options', else the annotation's,
    else the cluster's UID."""
    opts = options(cluster) or {}
    if opts.get("externalStorageNamespace"):
        return str(opts["externalStorageNamespace"])
    annotations = _annotations(cluster)
    if ANNOTATION_STORAGE_NAMESPACE in annotations:
        return str(annotations[ANNOTATION_STORAGE_NAMESPACE])
    return str(mapping(cluster.get("metadata")).get("uid", ""))


def _has_env(container: Mapping[str, Any], name: str) -> bool:
    return any(isinstance(e, Mapping) and e.get("name") == name for e in container.get("env") or [])


def _credential_env(name: str, credential: Mapping[str, Any]) -> Manifest:
    env: Manifest = {"name": name}
    if credential.get("value"):
        env["value"] = str(credential["value"])
    if isinstance(credential.get("valueFrom"), Mapping):
        env["valueFrom"] = dict(credential["valueFrom"])
    return env


def configure(
    cluster: Body,
    node_type: str,
    container: Manifest,
    params: dict[str, str],
    annotations: MutableMapping[str, str],
) -> None:
    """Add fault tolerance's annotations, env and `ray start` flags to one pod (in place).

    Called before the operator's own env is added, so these entries come right after the
    user's, in KubeRay's order."""
    on = enabled(cluster)
    if node_type == c.NODE_TYPE_HEAD:
        annotations[ANNOTATION_FT_ENABLED] = "true" if on else "false"
    if not on:
        return
    env: list[Manifest] = list(container.get("env") or [])
    if node_type == c.NODE_TYPE_WORKER:
        if not _has_env(container, ENV_RECONNECT_TIMEOUT):
            env.append({"name": ENV_RECONNECT_TIMEOUT, "value": WORKER_RECONNECT_TIMEOUT_S})
        container["env"] = env
        return
    namespace = storage_namespace(cluster)
    annotations[ANNOTATION_STORAGE_NAMESPACE] = namespace
    if not _has_env(container, ENV_STORAGE_NAMESPACE):
        env.append({"name": ENV_STORAGE_NAMESPACE, "value": namespace})
    opts = options(cluster)
    if opts is not None:
        env.append({"name": ENV_REDIS_ADDRESS, "value": str(opts.get("redisAddress", ""))})
        username, password = mapping(opts.get("redisUsername")), mapping(opts.get("redisPassword"))
        if opts.get("redisUsername") is not None:
            params["redis-username"] = f"${ENV_REDIS_USERNAME}"
            env.append(_credential_env(ENV_REDIS_USERNAME, username))
        if opts.get("redisPassword") is not None:
            params["redis-password"] = f"${ENV_REDIS_PASSWORD}"
            env.append(_credential_env(ENV_REDIS_PASSWORD, password))
    elif not _has_env(container, ENV_REDIS_PASSWORD) and "redis-password" in params:
        # The legacy form with the password in rayStartParams: the cleanup Job reads the env.
        env.append({"name": ENV_REDIS_PASSWORD, "value": params["redis-password"]})
    container["env"] = env


def secret_names(cluster: Body) -> list[tuple[str, str]]:
    """(field, Secret name) of each credential of the options given by `secretKeyRef`."""
    found = []
    for key in ("redisPassword", "redisUsername"):
        ref = mapping(mapping(mapping(options(cluster)).get(key)).get("valueFrom")).get(
            "secretKeyRef"
        )
        if isinstance(ref, Mapping) and ref.get("name") and not ref.get("optional"):
            found.append((f"spec.gcsFaultToleranceOptions.{key}", str(ref["name"])))
    return found


def missing_secret_problem(namespace: str, where: str, secret: str) -> Problem:
    return Problem(
        Reason.INVALID_RAY_CLUSTER_SPEC,
        f"{where} refers to the Secret {namespace}/{secret}, which does not exist; no pod is "
        "created until it does",
    )


def _head_env_names(cluster: Body) -> set[str]:
    template = mapping(head_group(cluster).get("template"))
    containers = mapping(template.get("spec")).get("containers")
    if not isinstance(containers, list) or not containers:
        return set()
    ray = mapping(containers[c.RAY_CONTAINER_INDEX])
    entries = ray.get("env")
    return {
        str(e.get("name"))
        for e in (entries if isinstance(entries, list) else [])
        if isinstance(e, Mapping)
    }


def problems(cluster: Body) -> Iterator[Problem]:
    """KubeRay's checks of the fault-tolerance settings (its `ValidateRayClusterSpec`), with
    its messages, plus an empty `redisAddress` (KubeRay's CRD requires the field but admits
    ""; Ray would then fall back to in-memory storage and recover nothing) and, not blocking,
    the legacy annotation without `RAY_REDIS_ADDRESS`."""
    opts = options(cluster)
    annotations = _annotations(cluster)
    env = _head_env_names(cluster)
    params = mapping(head_group(cluster).get("rayStartParams"))

    def bad(message: str) -> Problem:
        return Problem(Reason.INVALID_RAY_CLUSTER_SPEC, message)

    if annotations.get(ANNOTATION_FT_ENABLED) and opts is not None:
        yield bad(
            f"{ANNOTATION_FT_ENABLED} annotation and GcsFaultToleranceOptions are both set. "
            "Please use only GcsFaultToleranceOptions to configure GCS fault tolerance"
        )
    if not enabled(cluster) and ENV_REDIS_ADDRESS in env:
        yield bad(
            f"{ENV_REDIS_ADDRESS} is set which implicitly enables GCS fault tolerance, but "
            "GcsFaultToleranceOptions is not set. Please set GcsFaultToleranceOptions to "
            "enable GCS fault tolerance"
        )
    if opts is not None:
        if not str(opts.get("redisAddress") or "").strip():
            yield bad("spec.gcsFaultToleranceOptions.redisAddress must name a Redis server")
        if params.get("redis-password"):
            yield bad(
                "cannot set `redis-password` in rayStartParams when GcsFaultToleranceOptions "
                "is enabled - use GcsFaultToleranceOptions.RedisPassword instead"
            )
        if ENV_REDIS_PASSWORD in env:
            yield bad(
                "cannot set `REDIS_PASSWORD` env var in head Pod when GcsFaultToleranceOptions "
                "is enabled - use GcsFaultToleranceOptions.RedisPassword instead"
            )
        if ENV_REDIS_ADDRESS in env:
            yield bad(
                "cannot set `RAY_REDIS_ADDRESS` env var in head Pod when "
                "GcsFaultToleranceOptions is enabled - use GcsFaultToleranceOptions.RedisAddress "
                "instead"
            )
        if annotations.get(ANNOTATION_STORAGE_NAMESPACE):
            yield bad(
                "cannot set `ray.io/external-storage-namespace` annotation when "
                "GcsFaultToleranceOptions is enabled - use "
                "GcsFaultToleranceOptions.ExternalStorageNamespace instead"
            )
    elif enabled(cluster) and ENV_REDIS_ADDRESS not in env:
        # KubeRay runs such a cluster; so does this operator, but says what it lacks.
        yield Problem(
            Reason.INVALID_RAY_CLUSTER_SPEC,
            f"the {ANNOTATION_FT_ENABLED} annotation turns GCS fault tolerance on, but the head "
            f"container has no {ENV_REDIS_ADDRESS}: the GCS keeps its state in memory and a new "
            "head recovers nothing; set spec.gcsFaultToleranceOptions.redisAddress",
            blocking=False,
        )
    if params.get("redis-username") or ENV_REDIS_USERNAME in env:
        yield bad(
            "cannot set redis username in rayStartParams or environment variables - use "
            "GcsFaultToleranceOptions.RedisUsername instead"
        )
