"""How Grafana writes what a panel shows: values with units, legends, colours, table cells.

Used by the dashboard previews (tests/e2e/previews.py); only the units, legend formats,
thresholds and value mappings the shipped dashboards use are covered.
"""

from __future__ import annotations

import math
import re
from typing import Any

Json = dict[str, Any]

COLORS = {"green": "#73bf69", "orange": "#ff9830", "red": "#f2495c"}
"""Grafana's dark-theme shades of the named colours the dashboards use."""


def fmt(value: float, unit: str) -> str:
    """A value as Grafana would print it for the few units the dashboards use."""
    if math.isnan(value):
        return "NaN"
    if unit == "s":
        if value == 0:
            return "0 s"
        if value < 1e-3:
            return f"{value * 1e6:.0f} µs"
        if value < 1:
            return f"{value * 1e3:.1f} ms"
        if value < 60:
            return f"{value:.3g} s"
        minutes, seconds = divmod(round(value), 60)
        return f"{minutes}m {seconds}s" if minutes < 60 else f"{minutes / 60:.1f} h"
    suffix = " ops/s" if unit == "ops" else ""
    text = f"{value:.0f}" if value == int(value) else f"{value:.3g}"
    return text + suffix


def legend(fmt_string: str, labels: dict[str, str], expr: str) -> str:
    if fmt_string in ("", "__auto"):
        shown = {k: v for k, v in labels.items() if k != "__name__"}
        return "{" + ", ".join(f'{k}="{v}"' for k, v in shown.items()) + "}" if shown else expr
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt_string)


def threshold_color(value: float, steps: list[Json]) -> str:
    color = steps[0]["color"]
    for step in steps[1:]:
        if not math.isnan(value) and value >= step["value"]:
            color = step["color"]
    return str(COLORS.get(color, color))


def mapped(value: float, mappings: list[Json]) -> tuple[str, str] | None:
    for mapping in mappings:
        option = mapping.get("options", {}).get(fmt(value, "none"))
        if option:
            return str(option["text"]), str(COLORS.get(option["color"], option["color"]))
    return None


TABLE_CHAR_IN = 0.066
"""Width of a character of the tables' 7 pt text, with some slack, in inches."""


def column_widths(rows: list[list[str]], available: float) -> list[int]:
    """Characters per column: the longest text plus padding, the widest cut until all fit."""
    widths = [max(len(r[i]) for r in rows) + 2 for i in range(len(rows[0]))]
    while sum(widths) > available and max(widths) > 8:
        widths[widths.index(max(widths))] -= 1
    return widths


def clip(text: str, width: int) -> str:
    """Text cut with an ellipsis to fit `width` characters (padding included), like Grafana."""
    return text if len(text) <= width - 2 else text[: width - 3] + "…"
