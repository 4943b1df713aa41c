"""Grafana JSON building blocks: variables, targets, panels, grid layout and the dashboard shell.

Every function is pure and returns plain JSON-ready dicts. The conventions shared by all
dashboards live here: a `datasource` variable that every panel and variable queries
through, a hidden `cluster` variable, UTC, tags, and a dropdown of links to the other
Ray dashboards (by tag, carrying the time range and the variables).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]

TAGS = ["ray", "ray-operator"]
"""Tags on every dashboard; the dashboard links select their siblings by the first one."""

SCHEMA_VERSION = 39
GRID_WIDTH = 24

GREEN = "green"
ORANGE = "orange"
RED = "red"


def datasource_ref() -> Json:
    """The reference every panel, target and query variable uses: the `datasource` variable."""
    return {"type": "prometheus", "uid": "${datasource}"}


def datasource_variable() -> Json:
    return {
        "current": {"selected": False, "text": "default", "value": "default"},
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": "datasource",
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
        "type": "datasource",
    }


def query_variable(
    name: str,
    label: str,
    query: str,
    *,
    hidden: bool = False,
    multi: bool = True,
    description: str = "",
) -> Json:
    """A label_values() variable that includes "All", whose All value is the regex `.*`.

    `.*` (rather than Grafana's alternation of every value) also matches series that lack
    the label, which is what a single-cluster Prometheus without a `cluster` label needs.
    """
    return {
        "allValue": ".*",
        "current": {
            "selected": True,
            "text": ["All"] if multi else "All",
            "value": ["$__all"] if multi else "$__all",
        },
        "datasource": datasource_ref(),
        "definition": query,
        "description": description,
        "hide": 2 if hidden else 0,
        "includeAll": True,
        "label": label,
        "multi": multi,
        "name": name,
        "options": [],
        "query": query,
        "refresh": 2,
        "regex": "",
        "skipUrlSync": False,
        "sort": 1,
        "type": "query",
    }


def cluster_variable(metric_selector: str) -> Json:
    """The hidden multi-cluster selector: All (`.*`) unless a user unhides and picks one."""
    return query_variable(
        "cluster",
        "Cluster",
        f"label_values({metric_selector}, cluster)",
        hidden=True,
        multi=False,
        description="The `cluster` label of a multi-cluster Prometheus (Thanos, Mimir); "
        "hidden and All by default.",
    )


def target(expr: str, legend: str = "", *, instant: bool = False, table: bool = False) -> Json:
    """One PromQL query of a panel; refIds are assigned by the panel builder."""
    return {
        "datasource": datasource_ref(),
        "editorMode": "code",
        "expr": expr,
        "format": "table" if table else "time_series",
        "instant": instant or table,
        "legendFormat": legend or "__auto",
        "range": not (instant or table),
    }


def _with_ref_ids(targets: list[Json]) -> list[Json]:
    return [{**t, "refId": chr(ord("A") + i)} for i, t in enumerate(targets)]


def thresholds(*steps: tuple[float | None, str]) -> Json:
    """Absolute thresholds; the first step's value is None (Grafana's "base")."""
    return {
        "mode": "absolute",
        "steps": [{"color": color, "value": value} for value, color in steps],
    }


OK_ONLY = thresholds((None, GREEN))
WARN_ABOVE_ZERO = thresholds((None, GREEN), (1, ORANGE))
BAD_ABOVE_ZERO = thresholds((None, GREEN), (1, RED))


def value_mappings(texts: dict[str, tuple[str, str]]) -> list[Json]:
    """Map exact values to (text, color), e.g. {"1": ("Ready", "green")}."""
    options = {
        value: {"color": color, "index": index, "text": text}
        for index, (value, (text, color)) in enumerate(texts.items())
    }
    return [{"options": options, "type": "value"}]


def _panel(kind: str, title: str, description: str, targets: list[Json], defaults: Json) -> Json:
    return {
        "datasource": datasource_ref(),
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "targets": _with_ref_ids(targets),
        "title": title,
        "type": kind,
    }


def stat(
    title: str,
    description: str,
    targets: list[Json],
    *,
    unit: str = "none",
    steps: Json = OK_ONLY,
    mappings: list[Json] | None = None,
    text_mode: str = "value",
) -> Json:
    defaults = {
        "color": {"mode": "thresholds"},
        "mappings": mappings or [],
        "thresholds": steps,
        "unit": unit,
    }
    panel = _panel("stat", title, description, targets, defaults)
    panel["options"] = {
        "colorMode": "value",
        "graphMode": "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "textMode": text_mode,
    }
    return panel


def timeseries(
    title: str,
    description: str,
    targets: list[Json],
    *,
    unit: str = "short",
    stacked: bool = False,
    minimum: float | None = 0,
) -> Json:
    defaults: Json = {
        "color": {"mode": "palette-classic"},
        "custom": {
            "drawStyle": "line",
            "fillOpacity": 30 if stacked else 10,
            "lineWidth": 1,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"group": "A", "mode": "normal" if stacked else "none"},
        },
        "unit": unit,
    }
    if minimum is not None:
        defaults["min"] = minimum
    panel = _panel("timeseries", title, description, targets, defaults)
    panel["options"] = {
        "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return panel


def bargauge(title: str, description: str, targets: list[Json], *, unit: str = "short") -> Json:
    defaults = {
        "color": {"mode": "palette-classic"},
        "mappings": [],
        "min": 0,
        "thresholds": OK_ONLY,
        "unit": unit,
    }
    panel = _panel("bargauge", title, description, targets, defaults)
    panel["options"] = {
        "displayMode": "gradient",
        "orientation": "horizontal",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "showUnfilled": True,
    }
    return panel


def state_timeline(
    title: str, description: str, targets: list[Json], *, mappings: list[Json]
) -> Json:
    defaults = {
        "color": {"mode": "thresholds"},
        "custom": {"fillOpacity": 80, "lineWidth": 0},
        "mappings": mappings,
        "thresholds": OK_ONLY,
    }
    panel = _panel("state-timeline", title, description, targets, defaults)
    panel["options"] = {
        "alignValue": "left",
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False},
        "mergeValues": True,
        "rowHeight": 0.9,
        "showValue": "never",
        "tooltip": {"mode": "single", "sort": "none"},
    }
    return panel


def table(
    title: str,
    description: str,
    expr: str,
    columns: dict[str, str],
    *,
    value_column: str | None = None,
    unit: str = "none",
) -> Json:
    """An instant-query table: `columns` maps label names to headers, in display order.

    Every other field (Time, labels not listed, and Value unless `value_column` names
    it) is hidden, so the table shows exactly the listed columns.
    """
    shown = list(columns)
    renames = dict(columns)
    if value_column is not None:
        shown.append("Value")
        renames["Value"] = value_column
    defaults = {"custom": {"align": "auto", "filterable": True}, "unit": unit}
    panel = _panel("table", title, description, [target(expr, table=True)], defaults)
    panel["options"] = {"cellHeight": "sm", "showHeader": True}
    panel["transformations"] = [
        {
            "id": "filterFieldsByName",
            "options": {"include": {"names": shown}},
        },
        {
            "id": "organize",
            "options": {
                "excludeByName": {},
                "indexByName": {name: i for i, name in enumerate(shown)},
                "renameByName": renames,
            },
        },
    ]
    return panel


@dataclass
class Sized:
    """A panel with its width and height in grid units."""

    panel: Json
    w: int
    h: int


@dataclass
class Section:
    """A titled row of panels, laid out left to right and wrapped at the grid width."""

    title: str
    panels: list[Sized] = field(default_factory=list)


def layout(sections: list[Section]) -> list[Json]:
    """Assign ids and grid positions: a row header per section, then its panels."""
    out: list[Json] = []
    y = 0
    next_id = 1
    for section in sections:
        out.append(
            {
                "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                "id": next_id,
                "panels": [],
                "title": section.title,
                "type": "row",
            }
        )
        next_id += 1
        y += 1
        x = 0
        line_height = 0
        for sized in section.panels:
            if sized.w > GRID_WIDTH:
                raise ValueError(f"panel {sized.panel['title']!r} is wider than the grid")
            if x + sized.w > GRID_WIDTH:
                y += line_height
                x, line_height = 0, 0
            out.append({**sized.panel, "gridPos": {"h": sized.h, "w": sized.w, "x": x, "y": y}})
            out[-1]["id"] = next_id
            next_id += 1
            x += sized.w
            line_height = max(line_height, sized.h)
        y += line_height
    return out


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    variables: list[Json],
    sections: list[Section],
) -> Json:
    return {
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "links": [
            {
                "asDropdown": True,
                "icon": "external link",
                "includeVars": True,
                "keepTime": True,
                "tags": [TAGS[0]],
                "targetBlank": False,
                "title": "Ray dashboards",
                "tooltip": "",
                "type": "dashboards",
                "url": "",
            }
        ],
        "panels": layout(sections),
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": list(TAGS),
        "templating": {"list": [datasource_variable(), *variables]},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "utc",
        "title": title,
        "uid": uid,
        "version": 1,
    }
