"""Desired head and worker pods of a RayCluster, built from the user's pod templates.

Pure functions: cluster body in, pod manifest out. The user's template is kept (containers,
volumes, tolerations, affinity, ...); the operator adds its labels, the `ray start` command,
environment variables, the metrics port, a /dev/shm volume, default probes and, for workers,
an init container that waits for the head's GCS.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ray_operator.cluster import autoscaler, faulttolerance
from ray_operator.cluster import constants as c
from ray_operator.cluster.command import complete_params, gcs_port, ray_start_command
from ray_operator.cluster.probes import set_probes
from ray_operator.cluster.spec import (
    Body,
    WorkerGroup,
    head_group,
    head_service_name,
    restart_token,
    spec_of,
)

Manifest = dict[str, Any]
# Fields that scale a group (the autoscaler writes some of them): they never recreate pods.
_VOLATILE_GROUP_FIELDS = (
    "replicas",
    "minReplicas",
    "maxReplicas",
    "scaleStrategy",
    "suspend",
    "idleTimeoutSeconds",
)


@dataclass(frozen=True)
class PodContext:
    """What every pod of one cluster shares: names, owner, head address and stamps."""

    cluster: str
    namespace: str
    uid: str
    head_fqdn: str
    head_service: str
    gcs_port: int
    restart_token: str
    spec_hash: str
    originated_from: str | None


def spec_hash(cluster: Body) -> str:
    """Hash of the spec without the fields that scale or suspend (they never recreate pods)."""
    spec = copy.deepcopy(dict(spec_of(cluster)))
    spec.pop("suspend", None)
    for group in spec.get("workerGroupSpecs") or []:
        for field in _VOLATILE_GROUP_FIELDS:
            group.pop(field, None)
    encoded = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def pod_context(cluster: Body, cluster_domain: str = "cluster.local") -> PodContext:
    metadata = cluster.get("metadata") or {}
    namespace = str(metadata.get("namespace", "default"))
    service = head_service_name(cluster)
    labels = metadata.get("labels") or {}
    return PodContext(
        cluster=str(metadata.get("name", "")),
        namespace=namespace,
        uid=str(metadata.get("uid", "")),
        head_fqdn=f"{service}.{namespace}.svc.{cluster_domain}",
        head_service=service,
        gcs_port=gcs_port(head_group(cluster).get("rayStartParams") or {}),
        restart_token=restart_token(cluster),
        spec_hash=spec_hash(cluster),
        originated_from=labels.get(c.LABEL_ORIGINATED_FROM_CRD),
    )


def owner_reference(ctx: PodContext) -> Manifest:
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND,
        "name": ctx.cluster,
        "uid": ctx.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def node_labels(ctx: PodContext, node_type: str, group_name: str) -> dict[str, str]:
    labels = {
        c.LABEL_CLUSTER: ctx.cluster,
        c.LABEL_NODE_TYPE: node_type,
        c.LABEL_GROUP: group_name,
        c.LABEL_IS_RAY_NODE: "yes",
        c.LABEL_IDENTIFIER: f"{ctx.cluster}-{node_type}"[:63].rstrip("-._"),
        c.LABEL_APP_NAME: c.APP_NAME,
        c.LABEL_CREATED_BY: c.CREATED_BY,
    }
    if ctx.originated_from:
        labels[c.LABEL_ORIGINATED_FROM_CRD] = ctx.originated_from
    return labels


def worker_name_prefix(cluster: Body, group_name: str) -> str:
    """The generateName of the group's worker pods (every pod name of the group starts so)."""
    name = str((cluster.get("metadata") or {}).get("name", ""))
    return f"{name}-{group_name}".lower() + f"-{c.NODE_TYPE_WORKER}-"


def desired_head_pod(cluster: Body, cluster_domain: str = "cluster.local") -> Manifest:
    ctx = pod_context(cluster, cluster_domain)
    return _build_pod(ctx, c.NODE_TYPE_HEAD, c.HEAD_GROUP, head_group(cluster), cluster)


def desired_worker_pod(
    cluster: Body, group: WorkerGroup, cluster_domain: str = "cluster.local"
) -> Manifest:
    ctx = pod_context(cluster, cluster_domain)
    return _build_pod(ctx, c.NODE_TYPE_WORKER, group.name, group.spec, cluster)


def _build_pod(
    ctx: PodContext, node_type: str, group_name: str, group: Mapping[str, Any], cluster: Body
) -> Manifest:
    template = copy.deepcopy(dict(group.get("template") or {}))
    template_meta = template.get("metadata") or {}
    spec: Manifest = template.get("spec") or {}
    spec.setdefault("containers", [{}])
    labels = {
        **(template_meta.get("labels") or {}),
        **(group.get("labels") or {}),
        **node_labels(ctx, node_type, group_name),
    }
    annotations = {
        **(template_meta.get("annotations") or {}),
        c.POD_ANNOTATION_RESTARTED_AT: ctx.restart_token,
        c.POD_ANNOTATION_SPEC_HASH: ctx.spec_hash,
    }
    head_address = f"{ctx.head_fqdn}:{ctx.gcs_port}"
    container: Manifest = spec["containers"][c.RAY_CONTAINER_INDEX]
    params = complete_params(
        node_type=node_type, group=group, container=container, head_address=head_address
    )
    faulttolerance.configure(cluster, node_type, container, params, annotations)
    scaled = autoscaler.enabled(cluster)
    if scaled and node_type == c.NODE_TYPE_HEAD:
        autoscaler.head_params(params)
    start = ray_start_command(node_type, params)
    overwrite = str(template_meta.get("annotations", {}).get(c.ANNOTATION_OVERWRITE_CMD, ""))
    _set_command(container, start, keep=overwrite.lower() == "true")
    _set_env(container, ctx, node_type, start)
    _set_ports(container, node_type, params)
    if "plasma-directory" not in params:
        _add_shared_memory(spec, container)
    set_probes(container, node_type, params, serves=ctx.originated_from == c.SERVICE_CRD)
    if node_type == c.NODE_TYPE_WORKER:
        spec["initContainers"] = [
            _wait_for_gcs(container, ctx, head_address),
            *(spec.get("initContainers") or []),
        ]
    if scaled:
        add = autoscaler.add_to_head if node_type == c.NODE_TYPE_HEAD else autoscaler.add_to_worker
        add(cluster, spec)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": (
                f"{ctx.cluster.lower()}-{node_type}-"
                if node_type == c.NODE_TYPE_HEAD
                else worker_name_prefix(cluster, group_name)
            ),
            "namespace": ctx.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_reference(ctx)],
        },
        "spec": spec,
    }


def _set_command(container: Manifest, start: str, *, keep: bool) -> None:
    user = " ".join(
        [
            *(str(x) for x in container.get("command") or ()),
            *(str(x) for x in container.get("args") or ()),
        ]
    )
    if keep or "ray start" in user:
        return
    generated = f"ulimit -n ${{RAY_START_ULIMIT_OPEN_FILES:-65536}}; {start}"
    container["command"] = list(c.SHELL)
    container["args"] = [f"{user} && {generated}" if user else generated]


def _field_env(name: str, path: str) -> Manifest:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _set_env(container: Manifest, ctx: PodContext, node_type: str, start: str) -> None:
    user_env = [
        e for e in container.get("env") or [] if e.get("name") != "KUBERAY_GEN_RAY_START_CMD"
    ]
    present = {e.get("name") for e in user_env}
    address = "127.0.0.1" if node_type == c.NODE_TYPE_HEAD else ctx.head_fqdn
    ours: list[Manifest] = [
        _field_env("RAY_CLUSTER_NAME", f"metadata.labels['{c.LABEL_CLUSTER}']"),
        _field_env("RAY_CLUSTER_NAMESPACE", "metadata.namespace"),
        _field_env("RAY_CLOUD_INSTANCE_ID", "metadata.name"),
        _field_env("RAY_NODE_TYPE_NAME", f"metadata.labels['{c.LABEL_GROUP}']"),
        {"name": "KUBERAY_GEN_RAY_START_CMD", "value": start},
        {"name": "RAY_PORT", "value": str(ctx.gcs_port)},
        *(dict(e) for e in (c.SERVICE_ENV if ctx.originated_from == c.SERVICE_CRD else ())),
        {"name": "RAY_ADDRESS", "value": f"{address}:{ctx.gcs_port}"},
        {"name": "RAY_USAGE_STATS_KUBERAY_IN_USE", "value": "1"},
        {"name": "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE", "value": "1"},
    ]
    if node_type == c.NODE_TYPE_WORKER:
        ours += [
            {"name": "FQ_RAY_IP", "value": ctx.head_fqdn},
            {"name": "RAY_IP", "value": ctx.head_service},
        ]
    container["env"] = [*user_env, *(e for e in ours if e["name"] not in present)]


def _set_ports(container: Manifest, node_type: str, params: Mapping[str, str]) -> None:
    ports: list[Manifest] = list(container.get("ports") or [])
    if node_type == c.NODE_TYPE_HEAD and not ports:
        ports = [{"name": name, "containerPort": number} for name, number in head_ports(params)]
    if not any(p.get("name") == c.PORT_METRICS for p in ports):
        metrics = int(params.get("metrics-export-port", c.DEFAULT_PORTS[c.PORT_METRICS]))
        ports.append({"name": c.PORT_METRICS, "containerPort": metrics})
    container["ports"] = ports


def head_ports(params: Mapping[str, str]) -> list[tuple[str, int]]:
    """Default head ports, honouring the port flags of rayStartParams."""
    overrides = {
        c.PORT_GCS: params.get("port"),
        c.PORT_DASHBOARD: params.get("dashboard-port"),
        c.PORT_CLIENT: params.get("ray-client-server-port"),
        c.PORT_METRICS: params.get("metrics-export-port"),
    }
    result = []
    for name, default in sorted(c.DEFAULT_PORTS.items()):
        value = overrides.get(name)
        result.append((name, int(value) if value and value.isdigit() else default))
    return result


def _add_shared_memory(spec: Manifest, container: Manifest) -> None:
    mounts: list[Manifest] = list(container.get("volumeMounts") or [])
    volumes: list[Manifest] = list(spec.get("volumes") or [])
    if any(m.get("mountPath") == c.SHM_PATH for m in mounts):
        return
    if not any(v.get("name") == c.SHM_VOLUME for v in volumes):
        empty_dir: Manifest = {"medium": "Memory"}
        resources = container.get("resources") or {}
        size = (resources.get("limits") or {}).get("memory") or (
            resources.get("requests") or {}
        ).get("memory")
        if size:
            empty_dir["sizeLimit"] = size
        volumes.append({"name": c.SHM_VOLUME, "emptyDir": empty_dir})
    mounts.append({"name": c.SHM_VOLUME, "mountPath": c.SHM_PATH})
    container["volumeMounts"] = mounts
    spec["volumes"] = volumes


def _wait_for_gcs(ray_container: Manifest, ctx: PodContext, head_address: str) -> Manifest:
    script = (
        f"until ray health-check --address {head_address} > /dev/null 2>&1; do "
        f'echo "waiting for the GCS at {head_address}"; sleep 2; done; echo "GCS is ready"'
    )
    env = [
        e
        for e in ray_container.get("env") or []
        if e.get("name") not in ("KUBERAY_GEN_RAY_START_CMD",)
    ]
    init: Manifest = {
        "name": "wait-gcs-ready",
        "image": ray_container.get("image"),
        "command": list(c.SHELL),
        "args": [script],
        "env": env,
        "resources": {
            "limits": {"cpu": "200m", "memory": "256Mi"},
            "requests": {"cpu": "200m", "memory": "256Mi"},
        },
    }
    if ray_container.get("imagePullPolicy"):
        init["imagePullPolicy"] = ray_container["imagePullPolicy"]
    mounts = [m for m in ray_container.get("volumeMounts") or [] if m.get("name") != c.SHM_VOLUME]
    if mounts:
        init["volumeMounts"] = mounts
    return init
