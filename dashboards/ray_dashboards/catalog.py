"""The set of dashboards this project ships, their file names, and the stable JSON format.

Stable format: `json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False)` plus a
trailing newline, so a regenerated or re-exported dashboard diffs only where it changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .exporter import exporter_health
from .grafana import Json
from .operator import operator_health
from .overview import overview
from .rayclusters import rayclusters
from .rayjobs import rayjobs
from .rayservices import rayservices

BUILDERS: tuple[Callable[[], Json], ...] = (
    overview,
    rayclusters,
    rayjobs,
    rayservices,
    exporter_health,
    operator_health,
)


def stable_json(obj: Any) -> str:
    """The one serialisation every committed dashboard must have."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    """File name (`<uid>.json`) to stable JSON text, for every dashboard."""
    out: dict[str, str] = {}
    for build in BUILDERS:
        board = build()
        out[f"{board['uid']}.json"] = stable_json(board)
    return out
