"""Where a RayCluster's dashboard is: its head service, unless the dashboard map says otherwise.

By default the operator reaches a cluster's dashboard through the head service:
`http://<head service>.<namespace>.svc.<cluster domain>:<dashboard port>`.

The dashboard map (`--dashboard-map FILE`, env RAY_OPERATOR_DASHBOARD_MAP) overrides that
per cluster, for an operator running outside the cluster (port-forwards) or in tests that
point it at a Ray head on the same machine. The file is YAML (or JSON) mapping keys to URLs:

    default/my-cluster: http://127.0.0.1:8265   # one cluster
    team-a/*: http://127.0.0.1:9265             # any cluster in namespace team-a

An exact `namespace/name` key wins over `namespace/*`. The file is read again when its
modification time or size changes; a file that cannot be read or parsed keeps the previous
mapping (and is logged), so a half-written file never sends traffic to the wrong place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from loguru import logger

from ray_operator.cluster import constants as cc
from ray_operator.cluster.service import desired_head_service

WILDCARD = "*"


class DashboardMapError(ValueError):
    """The dashboard map file is not a mapping of "namespace/name" to http(s) URLs."""


def parse_dashboard_map(text: str) -> dict[str, str]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise DashboardMapError(f"not YAML/JSON: {error}") from None
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise DashboardMapError("expected a mapping of namespace/name to URL")
    result: dict[str, str] = {}
    for key, url in document.items():
        namespace, sep, name = str(key).partition("/")
        if not sep or not namespace or not name or "/" in name:
            raise DashboardMapError(f"key {key!r} is not namespace/name or namespace/*")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise DashboardMapError(f"value of {key!r} is not an http(s) URL: {url!r}")
        result[f"{namespace}/{name}"] = url.rstrip("/")
    return result


def service_url(namespace: str, service: str, port: int, cluster_domain: str) -> str:
    return f"http://{service}.{namespace}.svc.{cluster_domain}:{port}"


def head_service_address(cluster: Mapping[str, Any]) -> tuple[str, int]:
    """The head service's name and dashboard port, as the RayCluster reconciler builds it."""
    service = desired_head_service(cluster)
    port = cc.DEFAULT_PORTS[cc.PORT_DASHBOARD]
    for entry in service.get("spec", {}).get("ports") or []:
        if entry.get("name") == cc.PORT_DASHBOARD:
            port = int(entry["port"])
    return str(service["metadata"]["name"]), port


StatFn = Callable[[Path], os.stat_result]


class DashboardResolver:
    """Resolves a RayCluster to its dashboard base URL (see the module docstring)."""

    def __init__(
        self,
        map_path: Path | None = None,
        *,
        cluster_domain: str = "cluster.local",
        stat: StatFn = os.stat,
    ) -> None:
        self._path = map_path
        self._domain = cluster_domain
        self._stat = stat
        self._signature: tuple[int, int, int] | None = None
        self._entries: dict[str, str] = {}

    def mapping(self) -> dict[str, str]:
        """The current map, read again if the file changed."""
        if self._path is None:
            return {}
        try:
            info = self._stat(self._path)
        except OSError as error:
            if self._signature is not None:
                logger.warning(
                    "dashboard map {path} unreadable ({error}); keeping the previous mapping",
                    path=str(self._path),
                    error=error,
                )
                self._signature = None
            return self._entries
        signature = (info.st_mtime_ns, info.st_size, info.st_ino)
        if signature == self._signature:
            return self._entries
        self._signature = signature
        try:
            self._entries = parse_dashboard_map(self._path.read_text())
        except (OSError, DashboardMapError) as error:
            logger.warning(
                "dashboard map {path} ignored ({error}); keeping the previous mapping",
                path=str(self._path),
                error=error,
            )
            return self._entries
        logger.info(
            "dashboard map {path} loaded: {count} entries",
            path=str(self._path),
            count=len(self._entries),
        )
        return self._entries

    def mapped(self, namespace: str, name: str) -> str | None:
        entries = self.mapping()
        return entries.get(f"{namespace}/{name}") or entries.get(f"{namespace}/{WILDCARD}")

    def url(
        self, namespace: str, name: str, *, service: str | None = None, port: int = 8265
    ) -> str:
        """The mapped URL of cluster namespace/name, else its head service's URL."""
        mapped = self.mapped(namespace, name)
        if mapped:
            return mapped
        return service_url(namespace, service or f"{name}-head-svc", port, self._domain)

    def for_cluster(self, cluster: Mapping[str, Any]) -> str:
        """The dashboard URL of a RayCluster body (custom head service name and port honoured)."""
        meta = cluster.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        mapped = self.mapped(namespace, name)
        if mapped:
            return mapped
        service, port = head_service_address(cluster)
        return service_url(namespace, service, port, self._domain)

    def in_cluster_url(self, cluster: Mapping[str, Any]) -> str:
        """The head service URL, ignoring the map (what pods inside the cluster use)."""
        meta = cluster.get("metadata") or {}
        service, port = head_service_address(cluster)
        return service_url(str(meta.get("namespace", "")), service, port, self._domain)
