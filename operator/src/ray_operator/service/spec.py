"""Typed read-only views of a RayService: its spec fields with KubeRay's defaults applied."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from ray_operator.cluster.constants import MANAGED_BY_US
from ray_operator.service import constants as c

Body = Mapping[str, Any]
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def spec_of(service: Body) -> Body:
    spec = service.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def metadata_of(service: Body) -> Body:
    meta = service.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def name_of(service: Body) -> str:
    return str(metadata_of(service).get("name", ""))


def namespace_of(service: Body) -> str:
    return str(metadata_of(service).get("namespace", ""))


def generation_of(service: Body) -> int:
    generation = metadata_of(service).get("generation")
    return generation if isinstance(generation, int) else 0


def cluster_config(service: Body) -> Body:
    config = spec_of(service).get("rayClusterConfig")
    return config if isinstance(config, Mapping) else {}


def serve_config_text(service: Body) -> str:
    return str(spec_of(service).get("serveConfigV2") or "")


def upgrade_type(service: Body) -> str:
    """`spec.upgradeStrategy.type`, NewCluster when unset (zero-downtime upgrades by default)."""
    strategy = spec_of(service).get("upgradeStrategy") or {}
    value = strategy.get("type") if isinstance(strategy, Mapping) else None
    return str(value) if value else c.UPGRADE_NEW_CLUSTER


def zero_downtime(service: Body) -> bool:
    return upgrade_type(service) == c.UPGRADE_NEW_CLUSTER


def deletion_delay_seconds(service: Body) -> int:
    delay = spec_of(service).get("rayClusterDeletionDelaySeconds")
    if isinstance(delay, int) and not isinstance(delay, bool) and 0 <= delay < 2**31:
        return delay
    return c.DEFAULT_DELETION_DELAY_SECONDS


def exclude_head_pod(service: Body) -> bool:
    return spec_of(service).get("excludeHeadPodFromServeSvc") is True


def suspend_requested(service: Body) -> bool:
    return spec_of(service).get("suspend") is True


def managed_by_us(service: Body) -> bool:
    return spec_of(service).get("managedBy") in (None, "", MANAGED_BY_US)


def parse_duration(text: str) -> timedelta | None:
    """A Go duration ("90s", "1h30m") or whole seconds ("300"); None when not positive/valid."""
    text = text.strip()
    if len(text) > 64:
        return None
    if text.isascii() and text.isdigit():
        seconds = float(text)
    else:
        position, seconds = 0, 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != position:
                return None
            seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            position = match.end()
        if position != len(text) or not text:
            return None
    # Positive and at most about a century: timedelta overflows near 10**14 seconds.
    return timedelta(seconds=seconds) if 0 < seconds < 2**32 else None


def initializing_timeout(service: Body) -> timedelta | None:
    annotations = metadata_of(service).get("annotations") or {}
    value = annotations.get(c.ANNOTATION_INITIALIZING_TIMEOUT)
    return parse_duration(str(value)) if value else None
