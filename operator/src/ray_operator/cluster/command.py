"""The `ray start` command of a head or worker: rayStartParams completed and rendered as flags.

Rules (KubeRay-compatible): flags are sorted; a value "true" becomes a bare flag and "false"
drops it (except flags that take an explicit boolean); `num-cpus`, `memory` and `num-gpus`
come from the Ray container's resources when not given; the group's `resources` and `labels`
fields override the corresponding flags.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ray_operator.cluster import constants as c
from ray_operator.quantity import QuantityError, ceil_int, parse_quantity

EXPLICIT_BOOLEAN_FLAGS = frozenset({"log-color", "include-dashboard", "include-log-monitor"})


def gcs_port(head_params: Mapping[str, Any]) -> int:
    """The port of the head's GCS: rayStartParams.port, else 6379."""
    value = str(head_params.get("port", ""))
    return int(value) if value.isdigit() else c.DEFAULT_PORTS[c.PORT_GCS]


def _quantity(resources: Mapping[str, Any], section: str, name: str) -> int | None:
    values = resources.get(section) or {}
    if name not in values:
        return None
    try:
        amount = parse_quantity(values[name])
    except QuantityError:
        return None
    return ceil_int(amount) if amount > 0 else None


def _gpu_limit(resources: Mapping[str, Any]) -> int | None:
    limits = resources.get("limits") or {}
    for name in sorted(limits):
        if str(name).lower().endswith("gpu"):
            amount = _quantity(resources, "limits", name)
            if amount:
                return amount
    return None


def _apply_group_resources(params: dict[str, str], group_resources: Mapping[str, Any]) -> None:
    custom: dict[str, float] = {}
    for name in sorted(group_resources):
        try:
            amount = parse_quantity(str(group_resources[name]))
        except QuantityError:
            continue  # reported by validation
        lowered = name.lower()
        if lowered == "cpu":
            params["num-cpus"] = str(ceil_int(amount))
        elif lowered == "memory":
            params["memory"] = str(ceil_int(amount))
        elif lowered.endswith("gpu"):
            params["num-gpus"] = str(ceil_int(amount))
        else:
            custom[name] = float(amount)
    if custom:
        params["resources"] = "'" + json.dumps(custom, sort_keys=True) + "'"


def complete_params(
    *,
    node_type: str,
    group: Mapping[str, Any],
    container: Mapping[str, Any],
    head_address: str | None,
) -> dict[str, str]:
    """rayStartParams of a group with everything the operator adds or derives."""
    params = {str(k): str(v) for k, v in (group.get("rayStartParams") or {}).items()}
    labels = group.get("labels") or {}
    if labels:
        params["labels"] = ",".join(f"{k}={labels[k]}" for k in sorted(labels))
    _apply_group_resources(params, group.get("resources") or {})
    if node_type == c.NODE_TYPE_WORKER and head_address and "address" not in params:
        params["address"] = head_address
    if node_type == c.NODE_TYPE_HEAD:
        params.setdefault("dashboard-host", "0.0.0.0")
    params.setdefault("metrics-export-port", str(c.DEFAULT_PORTS[c.PORT_METRICS]))
    params.setdefault("dashboard-agent-listen-port", str(c.DEFAULT_DASHBOARD_AGENT_PORT))
    params["block"] = "true"
    resources = container.get("resources") or {}
    if "num-cpus" not in params:
        cpus = _quantity(resources, "limits", "cpu") or _quantity(resources, "requests", "cpu")
        if cpus:
            params["num-cpus"] = str(cpus)
    if "memory" not in params:
        memory = _quantity(resources, "limits", "memory")
        if memory:
            params["memory"] = str(memory)
    if "num-gpus" not in params:
        gpus = _gpu_limit(resources)
        if gpus:
            params["num-gpus"] = str(gpus)
    return params


def render_flags(params: Mapping[str, str]) -> list[str]:
    flags = []
    for key in sorted(params):
        value = params[key]
        if value.lower() in ("true", "false") and key not in EXPLICIT_BOOLEAN_FLAGS:
            if value.lower() == "true":
                flags.append(f"--{key}")
        else:
            flags.append(f"--{key}={value}")
    return flags


def ray_start_command(node_type: str, params: Mapping[str, str]) -> str:
    head = ["--head"] if node_type == c.NODE_TYPE_HEAD else []
    return " ".join(["ray", "start", *head, *render_flags(params)])
