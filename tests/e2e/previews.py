"""PNG previews of the Grafana dashboards, drawn with matplotlib from real Prometheus answers.

`draw_dashboard` lays every panel of a dashboard out at its own gridPos, runs each
target's query (variables substituted, instant or range as the panel asks) against a
`Source` and draws the panel the way Grafana would show it: stat values with their
thresholds and value mappings, stacked or plain time series, bar gauges, tables with
the panel's own columns, state timelines. The look follows Grafana's dark theme so a
reader recognises what they will get; it is a preview, not a Grafana renderer.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from e2e.panel_text import (
    TABLE_CHAR_IN,
    clip,
    column_widths,
    fmt,
    legend,
    mapped,
    threshold_color,
)
from e2e.stack import substitute
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import Bbox

Json = dict[str, Any]

BACKGROUND, PANEL, BORDER = "#111217", "#181b1f", "#2c3235"
TEXT, MUTED = "#ccccdc", "#8e8e9e"
PALETTE = [
    "#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2",
    "#b877d9", "#705da0", "#37872d", "#fade2a", "#447ebc", "#c15c17",
]  # fmt: skip
"""Grafana's classic palette, in its order."""
COLUMN_INCHES, ROW_INCHES = 0.72, 0.34
"""One grid column and one grid row (Grafana: 24 columns, 30 px rows) in inches."""
DPI = 100


class Source(Protocol):
    def query(self, expr: str) -> list[Json]: ...

    def query_range(self, expr: str, start: float, end: float, step: float) -> Any: ...


# -- panels ------------------------------------------------------------------------------
#
# Each panel gets a frame (the grid cell: background, border, title) and, inside it, an
# axes for the content with margins in inches for tick labels and the legend.

TITLE_IN, PAD_IN, TICKS_IN, CHAR_IN, LEGEND_ROW_IN = 0.3, 0.1, 0.3, 0.062, 0.17


@dataclass
class Cell:
    """A panel's grid cell in inches from the figure's bottom left."""

    fig: Figure
    x: float
    y: float
    w: float
    h: float

    def axes(self, left: float, bottom: float, right: float, top: float) -> Axes:
        fw, fh = self.fig.get_figwidth(), self.fig.get_figheight()
        w = max(self.w - left - right, 0.1)
        h = max(self.h - bottom - top, 0.1)
        ax = self.fig.add_axes(((self.x + left) / fw, (self.y + bottom) / fh, w / fw, h / fh))
        ax.set_facecolor("none")
        ax.tick_params(colors=MUTED, labelsize=7)
        for spine in ax.spines.values():
            spine.set_visible(False)
        return ax


def frame(cell: Cell, title: str) -> Axes:
    ax = cell.axes(0, 0, 0, 0)
    ax.set_facecolor(PANEL)
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color(BORDER)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(
        0.08 / cell.w,
        1 - 0.17 / cell.h,
        title,
        color=TEXT,
        fontsize=9,
        va="center",
        transform=ax.transAxes,
    )
    return ax


def _no_data(ax: Axes) -> None:
    ax.text(0.5, 0.45, "No data", color=MUTED, ha="center", va="center", transform=ax.transAxes)


def _flatten(results: list[list[Json]], panel: Json) -> list[tuple[Json, Json]]:
    return [
        (item, target)
        for result, target in zip(results, panel["targets"], strict=True)
        for item in result
    ]


def draw_stat(cell: Cell, panel: Json, results: list[list[Json]]) -> None:
    ax = frame(cell, panel["title"])
    defaults = panel["fieldConfig"]["defaults"]
    items = _flatten(results, panel)
    if not items:
        _no_data(ax)
    for i, (item, target) in enumerate(items):
        value = float(item["value"][1])
        text = fmt(value, defaults["unit"])
        color = threshold_color(value, defaults["thresholds"]["steps"])
        text, color = mapped(value, defaults["mappings"]) or (text, color)
        if panel["options"]["textMode"] == "name":
            text = legend(target["legendFormat"], item["metric"], "")
        ax.text(
            (i + 0.5) / len(items),
            0.42,
            text,
            color=color,
            ha="center",
            va="center",
            fontsize=20,
            fontweight="bold",
            transform=ax.transAxes,
        )


def _days(unix: float) -> float:
    """Matplotlib's date number (days since its 1970 epoch) of a Unix time."""
    return unix / 86400.0


def _series(results: list[Any], panel: Json) -> list[tuple[str, list[float], list[float]]]:
    """(legend, unix times, values) of every series, in target order, then by legend."""
    out = []
    for result, target in zip(results, panel["targets"], strict=True):
        series = []
        for item in result["result"]:
            times = [float(t) for t, _ in item["values"]]
            values = [float(v) for _, v in item["values"]]
            name = legend(target["legendFormat"], item["metric"], target["expr"])
            series.append((name, times, values))
        out += sorted(series, key=lambda s: s[0])
    return out


def _time_axis(ax: Axes, start: float, end: float) -> None:
    ax.set_xlim(_days(start), _days(end))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=dt.UTC))  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=6))  # type: ignore[no-untyped-call]
    ax.grid(color=BORDER, linewidth=0.5)
    ax.set_axisbelow(True)


def draw_timeseries(
    cell: Cell, panel: Json, results: list[Any], start: float, end: float, step: float
) -> None:
    frame(cell, panel["title"])
    defaults = panel["fieldConfig"]["defaults"]
    lines = _series(results, panel)
    per_row = max(
        1, int((cell.w - 0.2) / (max((len(n) for n, _, _ in lines), default=8) * 0.056 + 0.4))
    )
    rows = -(-len(lines) // per_row)
    ax = cell.axes(0.6, TICKS_IN + rows * LEGEND_ROW_IN + PAD_IN, 0.15, TITLE_IN + PAD_IN)
    _time_axis(ax, start, end)
    if not lines:
        _no_data(ax)
        return
    stacked = defaults["custom"]["stacking"]["mode"] == "normal"
    grid = [start + i * step for i in range(int((end - start) / step) + 1)]
    below = [0.0] * len(grid)
    for i, (name, ts, vs) in enumerate(lines):
        color = PALETTE[i % len(PALETTE)]
        by_time = {round(t): v for t, v in zip(ts, vs, strict=True)}
        ys = [by_time.get(round(t), math.nan) for t in grid]
        if stacked:
            ys = [b + y for b, y in zip(below, ys, strict=True)]
            ax.fill_between([_days(t) for t in grid], below, ys, color=color, alpha=0.3, lw=0)
            below = [b if math.isnan(y) else y for b, y in zip(below, ys, strict=True)]
        ax.plot([_days(t) for t in grid], ys, color=color, linewidth=1.3, label=name)
    if defaults.get("min") == 0:
        ax.set_ylim(bottom=0)
    unit = defaults["unit"]
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v, unit)))
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(0, -TICKS_IN / ax_height(cell, ax)),
        ncol=per_row,
        fontsize=7,
        frameon=False,
        labelcolor=TEXT,
        borderaxespad=0,
        handlelength=1.2,
    )


def ax_height(cell: Cell, ax: Axes) -> float:
    """The height of `ax` in inches."""
    return float(ax.get_position().height * cell.fig.get_figheight())


def _label_margin(names: list[str]) -> float:
    return max((len(n) for n in names), default=4) * CHAR_IN + 0.2


def draw_bargauge(cell: Cell, panel: Json, results: list[list[Json]]) -> None:
    frame(cell, panel["title"])
    unit = panel["fieldConfig"]["defaults"]["unit"]
    bars = [
        (legend(t["legendFormat"], item["metric"], t["expr"]), float(item["value"][1]))
        for item, t in _flatten(results, panel)
    ]
    names = [name for name, _ in bars]
    ax = cell.axes(_label_margin(names), PAD_IN, 0.15, TITLE_IN + PAD_IN)
    ax.set_xticks([])
    if not bars:
        _no_data(ax)
        ax.set_yticks([])
        return
    values = [value for _, value in bars]
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(bars))]
    ax.barh(range(len(bars)), values, color=colors, height=0.65)
    ax.set_yticks(range(len(bars)), names)
    ax.invert_yaxis()
    top = max(values) or 1
    ax.set_xlim(0, top * 1.18)
    for y, value in enumerate(values):
        ax.text(value + top * 0.015, y, fmt(value, unit), color=TEXT, va="center", fontsize=8)
    ax.tick_params(axis="y", labelsize=7.5, colors=TEXT, length=0)


def draw_table(cell: Cell, panel: Json, results: list[list[Json]]) -> None:
    frame(cell, panel["title"])
    ax = cell.axes(PAD_IN, PAD_IN, PAD_IN, TITLE_IN + 0.05)
    ax.set_xticks([])
    ax.set_yticks([])
    organize = panel["transformations"][1]["options"]
    order = sorted(organize["indexByName"], key=organize["indexByName"].get)
    headers = [organize["renameByName"].get(name, name) for name in order]
    unit = panel["fieldConfig"]["defaults"]["unit"]
    rows = sorted(
        [
            item["metric"].get(name, "") if name != "Value" else fmt(float(item["value"][1]), unit)
            for name in order
        ]
        for item in results[0]
    )
    if not rows:
        _no_data(ax)
        return
    widths = column_widths([headers, *rows], (cell.w - 2 * PAD_IN) / TABLE_CHAR_IN)
    rows = [[clip(text, width) for text, width in zip(r, widths, strict=True)] for r in rows]
    row_height = min(0.21 / ax_height(cell, ax), 1 / (len(rows) + 1))
    height = row_height * (len(rows) + 1)
    table = ax.table(
        cellText=rows,
        colLabels=headers,
        cellLoc="left",
        colLoc="left",
        bbox=Bbox.from_bounds(0, 1 - height, 1, height),
    )
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    for (row, column), box in table.get_celld().items():
        box.set_width(widths[column] / sum(widths))
        box.set_edgecolor(BORDER)
        box.set_facecolor("#22252b" if row == 0 else PANEL)
        box.get_text().set_color(TEXT if row else MUTED)


def draw_state_timeline(
    cell: Cell, panel: Json, results: list[Any], start: float, end: float, step: float
) -> None:
    frame(cell, panel["title"])
    mappings = panel["fieldConfig"]["defaults"]["mappings"]
    lines = _series(results, panel)
    names = [name for name, _, _ in lines]
    ax = cell.axes(_label_margin(names), TICKS_IN + PAD_IN, 0.15, TITLE_IN + PAD_IN)
    _time_axis(ax, start, end)
    ax.grid(False)
    if not lines:
        _no_data(ax)
        return
    for row, (_, times, values) in enumerate(lines):
        for when, value in zip(times, values, strict=True):
            _, color = mapped(value, mappings) or ("", MUTED)
            ax.barh(row, _days(step), left=_days(when), height=0.8, color=color, linewidth=0)
    ax.set_yticks(range(len(lines)), names)
    ax.tick_params(axis="y", labelsize=7, colors=TEXT, length=0)
    ax.invert_yaxis()


# -- the dashboard -----------------------------------------------------------------------

HEADER_ROWS = 1.5
"""Grid rows above the first panel, for the dashboard's title."""


def draw_dashboard(
    board: Json,
    source: Source,
    variables: dict[str, str],
    start: float,
    end: float,
    out_dir: Path,
    step: float = 1.0,
) -> Path:
    """Draw every panel of `board` over [start, end]; write `<uid>.png` into out_dir."""
    panels: Sequence[Json] = board["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels) + HEADER_ROWS + 0.3
    fig = plt.figure(figsize=(24 * COLUMN_INCHES, rows * ROW_INCHES), facecolor=BACKGROUND)
    height = fig.get_figheight()
    when = dt.datetime.fromtimestamp(end, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    fig.text(
        0.1 / fig.get_figwidth(),
        1 - 0.3 / height,
        f"{board['title']}    (preview drawn from an e2e test run, {when})",
        color=TEXT,
        fontsize=12,
        va="center",
    )
    for panel in panels:
        pos = panel["gridPos"]
        top = height - (pos["y"] + HEADER_ROWS) * ROW_INCHES
        if panel["type"] == "row":
            fig.text(
                0.1 / fig.get_figwidth(),
                (top - ROW_INCHES / 2) / height,
                panel["title"],
                color=TEXT,
                fontsize=10,
                fontweight="bold",
                va="center",
            )
            continue
        gap = 0.04
        cell = Cell(
            fig,
            pos["x"] * COLUMN_INCHES + gap,
            top - pos["h"] * ROW_INCHES + gap,
            pos["w"] * COLUMN_INCHES - 2 * gap,
            pos["h"] * ROW_INCHES - 2 * gap,
        )
        exprs = [substitute(t["expr"], variables) for t in panel["targets"]]
        if panel["type"] in ("timeseries", "state-timeline"):
            ranged = [source.query_range(e, start, end, step) for e in exprs]
            draw = draw_timeseries if panel["type"] == "timeseries" else draw_state_timeline
            draw(cell, panel, ranged, start, end, step)
            continue
        instant = [source.query(e) for e in exprs]
        {"stat": draw_stat, "bargauge": draw_bargauge, "table": draw_table}[panel["type"]](
            cell, panel, instant
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{board['uid']}.png"
    fig.savefig(path, dpi=DPI, facecolor=BACKGROUND)
    plt.close(fig)
    return path
