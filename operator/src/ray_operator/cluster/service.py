"""The head Service of a RayCluster (`<cluster>-head-svc`) and what status reads back from it.

Ports come from the head container's declared ports, else the defaults (gcs-server 6379,
dashboard 8265, client 10001, metrics 8080, serve 8000); the metrics port is always there.
`headGroupSpec.headService` is merged in (its name, labels, annotations and spec), but the
selector and ports are the operator's. As in KubeRay, the head Service is headless
(`clusterIP: None`, `publishNotReadyAddresses`) when it is a ClusterIP Service without a
`headService`. The clusterIP of an existing Service is never corrected (it is immutable), so a
head Service created with an address keeps it until it is deleted.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ray_operator.cluster import constants as c
from ray_operator.cluster.command import complete_params
from ray_operator.cluster.pods import head_ports, owner_reference, pod_context
from ray_operator.cluster.spec import Body, head_group, spec_of

Manifest = dict[str, Any]


def service_selector(cluster_name: str) -> dict[str, str]:
    return {
        c.LABEL_CLUSTER: cluster_name,
        c.LABEL_NODE_TYPE: c.NODE_TYPE_HEAD,
    }


def _ports(cluster: Body) -> list[Manifest]:
    head = head_group(cluster)
    containers = ((head.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    container = containers[c.RAY_CONTAINER_INDEX]
    declared = container.get("ports") or []
    ports: dict[str, int] = {}
    for port in declared:
        number = port.get("containerPort")
        if isinstance(number, int):
            ports[str(port.get("name") or f"{number}-port")] = number
    params = complete_params(
        node_type=c.NODE_TYPE_HEAD, group=head, container=container, head_address=None
    )
    if not ports:
        ports = dict(head_ports(params))
    ports.setdefault(c.PORT_METRICS, int(params["metrics-export-port"]))
    return [
        {
            "name": name,
            "port": number,
            "targetPort": number,
            "protocol": "TCP",
            "appProtocol": "tcp",
        }
        for name, number in sorted(ports.items())
    ]


def desired_head_service(cluster: Body) -> Manifest:
    ctx = pod_context(cluster)
    head = head_group(cluster)
    custom = copy.deepcopy(dict(head.get("headService") or {}))
    custom_meta = custom.get("metadata") or {}
    spec: Manifest = dict(custom.get("spec") or {})
    labels = {
        **(custom_meta.get("labels") or {}),
        c.LABEL_CLUSTER: ctx.cluster,
        c.LABEL_NODE_TYPE: c.NODE_TYPE_HEAD,
        c.LABEL_IDENTIFIER: f"{ctx.cluster}-{c.NODE_TYPE_HEAD}"[:63].rstrip("-._"),
        c.LABEL_APP_NAME: c.APP_NAME,
        c.LABEL_CREATED_BY: c.CREATED_BY,
    }
    annotations = {
        **(custom_meta.get("annotations") or {}),
        **(spec_of(cluster).get("headServiceAnnotations") or {}),
    }
    service_type = head.get("serviceType") or spec.get("type") or "ClusterIP"
    ours = _ports(cluster)
    spec.update(
        {
            "type": service_type,
            "selector": service_selector(ctx.cluster),
            "ports": [*_custom_ports(spec, {p["name"] for p in ours}), *ours],
        }
    )
    if not custom and service_type == "ClusterIP":
        # KubeRay's default: headless (a cluster has one head), its address published
        # whether or not the head is ready.
        spec["clusterIP"] = "None"
        spec["publishNotReadyAddresses"] = True
    metadata: Manifest = {
        "name": ctx.head_service,
        "namespace": ctx.namespace,
        "labels": labels,
        "ownerReferences": [owner_reference(ctx)],
    }
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def _custom_ports(spec: Mapping[str, Any], taken: set[str]) -> list[Manifest]:
    """Ports the user put in headService.spec.ports, minus names the operator defines."""
    return [
        dict(p)
        for p in spec.get("ports") or []
        if isinstance(p, Mapping) and p.get("name") not in taken
    ]


def _escape(key: str) -> str:
    """A JSON pointer segment (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def service_corrections(desired: Mapping[str, Any], actual: Mapping[str, Any]) -> list[Manifest]:
    """JSON patch operations bringing `actual` to `desired` where the operator owns the field,
    or [] when nothing differs. The selector and the ports are owned whole (a key someone else
    added to the selector is removed: it would leave the Service without endpoints); of the
    labels, only the keys the operator sets. Allocated fields (clusterIP, node ports when not
    requested) are left to the apiserver."""
    want = desired.get("spec") or {}
    have = actual.get("spec") or {}
    ops: list[Manifest] = []
    for field in ("type", "selector"):
        if want.get(field) != have.get(field):
            ops.append({"op": "add", "path": f"/spec/{field}", "value": want.get(field)})
    if _port_keys(want.get("ports") or []) != _port_keys(have.get("ports") or []):
        ops.append({"op": "add", "path": "/spec/ports", "value": want.get("ports")})
    labels = (desired.get("metadata") or {}).get("labels") or {}
    have_labels = (actual.get("metadata") or {}).get("labels")
    if not isinstance(have_labels, Mapping):
        if labels:
            ops.append({"op": "add", "path": "/metadata/labels", "value": dict(labels)})
    else:
        ops += [
            {"op": "add", "path": f"/metadata/labels/{_escape(k)}", "value": v}
            for k, v in labels.items()
            if have_labels.get(k) != v
        ]
    return ops


def _port_keys(ports: list[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (p.get("name"), p.get("port"), p.get("targetPort", p.get("port")), p.get("protocol", "TCP"))
        for p in ports
    )


def endpoints(service: Mapping[str, Any] | None) -> dict[str, str]:
    """Port name -> node port (NodePort/LoadBalancer) or target port, as strings."""
    if not service:
        return {}
    result: dict[str, str] = {}
    for port in (service.get("spec") or {}).get("ports") or []:
        name = port.get("name")
        if not name:
            continue
        if port.get("nodePort"):
            result[name] = str(port["nodePort"])
        elif port.get("targetPort") not in (None, 0, ""):
            result[name] = str(port["targetPort"])
        elif port.get("port"):
            result[name] = str(port["port"])
    return result
