"""Ray Serve as the reconciler sees it: the config to apply, and what Serve reports back.

`serveConfigV2` is YAML; it is parsed and sent as JSON to the dashboard's declarative API
(`PUT /api/serve/applications/`). Its hash is kept on the child RayCluster (annotation
`ray.io/serve-config-hash`) so the config is re-sent only when it changed, or when Serve
lost its applications (for example after a head restart without GCS fault tolerance).

`GET /api/serve/applications/?api_type=declarative` returns applications with their
deployments, and the proxies with their health. Applications become
`status.*ServiceStatus.applicationStatuses` (KubeRay's shape); a cluster can take traffic
when it has at least one application and all are RUNNING. A pod serves when Serve's proxy on
its node is HEALTHY: matched by node IP, and for the head also by the Serve controller's node
(the controller always runs on the head).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from ray_operator.cluster import constants as cc
from ray_operator.dashboard.jobs import error_text
from ray_operator.service import constants as c

Json = dict[str, Any]
RUNNING = "RUNNING"
FAILED_APP_STATES = frozenset({"DEPLOY_FAILED", "UNHEALTHY"})
HEALTHY = "HEALTHY"


class ServeConfigError(ValueError):
    """serveConfigV2 is not a YAML mapping."""


def parse_serve_config(text: str) -> Json:
    try:
        config = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as error:
        raise ServeConfigError(f"serveConfigV2 is not valid YAML: {error}") from None
    if not isinstance(config, dict):
        raise ServeConfigError(
            "serveConfigV2 must be a YAML mapping (with `applications`), "
            f"got {type(config).__name__}"
        )
    return config


def serve_config_hash(text: str) -> str:
    """Hash of the parsed config, so reformatting the YAML does not redeploy; of the raw text
    when it does not parse (the error is then reported, and reported again only if it changes)."""
    try:
        canonical = json.dumps(parse_serve_config(text), sort_keys=True, separators=(",", ":"))
    except ServeConfigError:
        canonical = text
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def application_statuses(details: Mapping[str, Any]) -> dict[str, Json]:
    """Serve's applications in KubeRay's `applicationStatuses` shape."""
    result: dict[str, Json] = {}
    for name, app in (details.get("applications") or {}).items():
        if not isinstance(app, Mapping):
            continue
        deployments = {
            str(dname): {"status": str(d.get("status", "")), "message": str(d.get("message", ""))}
            for dname, d in (app.get("deployments") or {}).items()
            if isinstance(d, Mapping)
        }
        entry: Json = {"status": str(app.get("status", "")), "message": str(app.get("message", ""))}
        if deployments:
            entry["serveDeploymentStatuses"] = deployments
        result[str(name) or c.DEFAULT_SERVE_APP_NAME] = entry
    return result


def all_running(apps: Mapping[str, Mapping[str, Any]]) -> bool:
    return bool(apps) and all(app.get("status") == RUNNING for app in apps.values())


def failed_applications(apps: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per application that failed to deploy or is unhealthy, with the gist of
    Serve's message (the exception line of a traceback)."""
    lines = []
    for name, app in sorted(apps.items()):
        status = app.get("status")
        if status in FAILED_APP_STATES:
            message = error_text(str(app.get("message") or ""))
            lines.append(f"{name} is {status}" + (f": {message}" if message else ""))
    return lines


def need_apply(applied_hash: str | None, desired_hash: str, apps: Mapping[str, Any]) -> str | None:
    """Why the config must be sent to Serve, or None when Serve already has it."""
    if not applied_hash:
        return "the config was never applied to this cluster"
    if applied_hash != desired_hash:
        return "serveConfigV2 changed"
    if not apps:
        return "Serve reports no applications (the head may have restarted)"
    return None


@dataclass(frozen=True)
class Proxies:
    """Serve's proxies: health by node IP, and the head's proxy health (None if unknown)."""

    by_ip: Mapping[str, str]
    head: str | None

    @classmethod
    def of(cls, details: Mapping[str, Any]) -> Proxies:
        by_ip: dict[str, str] = {}
        by_node: dict[str, str] = {}
        for node_id, proxy in (details.get("proxies") or {}).items():
            if not isinstance(proxy, Mapping):
                continue
            status = str(proxy.get("status", ""))
            by_node[str(proxy.get("node_id") or node_id)] = status
            if proxy.get("node_ip"):
                by_ip[str(proxy["node_ip"])] = status
        controller = details.get("controller_info") or {}
        head = by_node.get(str(controller.get("node_id"))) if controller else None
        return cls(by_ip=by_ip, head=head)

    def serving(self, pod: Mapping[str, Any]) -> bool:
        """True when Serve's proxy for this pod's node is healthy."""
        ip = str((pod.get("status") or {}).get("podIP") or "")
        status = self.by_ip.get(ip) if ip else None
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if status is None and labels.get(cc.LABEL_NODE_TYPE) == cc.NODE_TYPE_HEAD:
            status = self.head
        return status == HEALTHY


def serve_label(pod: Mapping[str, Any], proxies: Proxies | None, exclude_head: bool) -> str:
    """The `ray.io/serve` value a pod should carry: "true" only while its proxy is healthy."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    if exclude_head and labels.get(cc.LABEL_NODE_TYPE) == cc.NODE_TYPE_HEAD:
        return "false"
    if proxies is None:
        return str(labels.get(c.LABEL_SERVE, "false"))  # Serve unreachable: keep what we knew
    return "true" if proxies.serving(pod) else "false"
