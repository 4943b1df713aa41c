"""The readiness and liveness probes the operator gives a Ray container, as KubeRay's.

KubeRay's commands, timeouts and thresholds: the raylet through the dashboard agent on every
node, the GCS through the dashboard on the head, and on the workers of a RayService's cluster
also Serve's proxy, so a worker whose proxy fails leaves the serve Service at once (failure
threshold 1). A probe the template sets is kept. One difference: the agent and dashboard ports
follow `rayStartParams` where KubeRay always probes the default ports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ray_operator.cluster import constants as c

Manifest = dict[str, Any]

_PROBE_TIMEOUT = 2
_HEAD_PROBE_TIMEOUT = 5
# KubeRay passes its readiness failure threshold (10) as the GCS check's wget timeout, and
# its readiness initial delay (10) as the Serve check's.
_GCS_WGET_TIMEOUT = 10
_SERVE_WGET_TIMEOUT = 10
_READINESS = {"initialDelaySeconds": 10, "periodSeconds": 5, "successThreshold": 1}
_LIVENESS = {"initialDelaySeconds": 30, "periodSeconds": 5, "successThreshold": 1}
_READINESS_FAILURES = 10
_SERVE_READINESS_FAILURES = 1
_LIVENESS_FAILURES = 120


def wget(timeout: int, port: int | str, path: str) -> str:
    """KubeRay's health check: one try, `timeout` seconds, a body saying `success`."""
    return f"wget --tries 1 -T {timeout} -q -O- http://localhost:{port}/{path} | grep success"


def _exec(checks: list[str]) -> Manifest:
    return {"exec": {"command": ["bash", "-c", " && ".join(checks)]}}


def serve_port(container: Mapping[str, Any]) -> int:
    """The container's port named `serve`, else Serve's default 8000."""
    for port in container.get("ports") or []:
        if port.get("name") == c.PORT_SERVE and port.get("containerPort"):
            return int(port["containerPort"])
    return c.DEFAULT_PORTS[c.PORT_SERVE]


def set_probes(
    container: Manifest, node_type: str, params: Mapping[str, str], *, serves: bool
) -> None:
    """Add the default probes the container lacks; `serves` for a RayService's cluster."""
    agent = params.get("dashboard-agent-listen-port", str(c.DEFAULT_DASHBOARD_AGENT_PORT))
    checks = [wget(_PROBE_TIMEOUT, agent, "api/local_raylet_healthz")]
    timeout = _PROBE_TIMEOUT
    if node_type == c.NODE_TYPE_HEAD:
        dashboard = params.get("dashboard-port", str(c.DEFAULT_PORTS[c.PORT_DASHBOARD]))
        checks.append(wget(_GCS_WGET_TIMEOUT, dashboard, "api/gcs_healthz"))
        timeout = _HEAD_PROBE_TIMEOUT
    container.setdefault(
        "livenessProbe",
        {
            **_exec(checks),
            **_LIVENESS,
            "timeoutSeconds": timeout,
            "failureThreshold": _LIVENESS_FAILURES,
        },
    )
    failures = _READINESS_FAILURES
    # The head's proxy is checked by the RayService reconcile instead (its serve label).
    if serves and node_type == c.NODE_TYPE_WORKER:
        checks = [*checks, wget(_SERVE_WGET_TIMEOUT, serve_port(container), "-/healthz")]
        failures = _SERVE_READINESS_FAILURES
    container.setdefault(
        "readinessProbe",
        {**_exec(checks), **_READINESS, "timeoutSeconds": timeout, "failureThreshold": failures},
    )
