"""Generate the tables of docs/chart.md: chart values and alert tunables.

The values table comes from the `# --` comments in the chart's values.yaml; the
alerts table from the chart's copy of alerts/alerts.yaml (the tunables contract).

The comments follow the helm-docs convention: `# -- text` above a key starts its
description, further `# text` lines continue it, and `# @default -- text` replaces the
default shown (for defaults computed in templates, such as the image tag). A key with
a description documents its whole subtree; any other key must be a mapping whose keys
are all documented, so every value ends up in the table.

Usage: gen_chart_docs.py [--check]   (write docs/chart.md, or exit 1 if it is stale)
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
VALUES = ROOT / "charts" / "ray-operator" / "values.yaml"
ALERTS = ROOT / "charts" / "ray-operator" / "files" / "alerts" / "alerts.yaml"
DOC = ROOT / "docs" / "chart.md"
BEGIN = "<!-- BEGIN VALUES: generated from values.yaml by hack/gen_chart_docs.py -->"
END = "<!-- END VALUES -->"
ALERTS_BEGIN = "<!-- BEGIN ALERTS: generated from alerts.yaml by hack/gen_chart_docs.py -->"
ALERTS_END = "<!-- END ALERTS -->"

KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.\-\"']+):(?:\s|$)")
DESC_START = re.compile(r"^ *# -- ?(?P<text>.*)$")
DEFAULT_LINE = re.compile(r"^ *# @default -- ?(?P<text>.*)$")
COMMENT_LINE = re.compile(r"^ *#(?: (?P<text>.*))?$")


class DocError(Exception):
    """values.yaml has a value without a description, or a comment without a key."""


@dataclass(frozen=True)
class ValueDoc:
    """One row of the table: a dotted key path, its description and its default as shown."""

    key: str
    type: str
    default: str
    description: str


@dataclass
class _Pending:
    description: list[str]
    default: str | None = None


def parse_comments(text: str) -> dict[str, tuple[str, str | None]]:
    """Map each described key path to (description, @default override) from values.yaml text."""
    described: dict[str, tuple[str, str | None]] = {}
    stack: list[tuple[int, str]] = []
    pending: _Pending | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            pending = None
            continue
        if (match := DEFAULT_LINE.match(line)) is not None:
            if pending is None:
                raise DocError(f"values.yaml:{number}: @default without a '# --' description")
            pending.default = match["text"].strip()
            continue
        if (match := DESC_START.match(line)) is not None:
            pending = _Pending([match["text"].strip()])
            continue
        if (match := COMMENT_LINE.match(line)) is not None:
            if pending is not None:
                pending.description.append((match["text"] or "").strip())
            continue
        if (match := KEY_LINE.match(line)) is None:
            continue  # a list item or a continuation of a value
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match["key"].strip("\"'")))
        if pending is not None:
            path = ".".join(key for _, key in stack)
            described[path] = (" ".join(p for p in pending.description if p), pending.default)
            pending = None
    return described


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def collect(values: dict[str, Any], described: dict[str, tuple[str, str | None]]) -> list[ValueDoc]:
    """Every documented value in file order; DocError names the first undocumented one."""
    rows: list[ValueDoc] = []
    missing: list[str] = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if path in described:
                description, default = described[path]
                shown = default if default is not None else f"`{json.dumps(value)}`"
                rows.append(ValueDoc(path, _type_of(value), shown, description))
            elif isinstance(value, dict) and value:
                walk(value, f"{path}.")
            else:
                missing.append(path)

    walk(values, "")
    if missing:
        raise DocError("values without a '# --' description: " + ", ".join(missing))
    unknown = sorted(set(described) - {row.key for row in rows})
    if unknown:
        nested = ", ".join(unknown)
        raise DocError(f"descriptions of keys nested under a described key: {nested}")
    return rows


def render_table(rows: list[ValueDoc]) -> str:
    """The Markdown table that goes between the markers."""
    lines = ["| Key | Type | Default | Description |", "|-----|------|---------|-------------|"]
    for row in rows:
        cells = (f"`{row.key}`", row.type, row.default, row.description)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_alerts(manifest: dict[str, Any]) -> str:
    """Tables of the rule file's global substitutions and of each alert's tunables."""
    lines = [
        "| Substitution | Default | Description |",
        "|--------------|---------|-------------|",
    ]
    for name, sub in manifest.get("substitutions", {}).items():
        lines.append(f"| `{name}` | `{_cell(sub['default'])}` | {_cell(sub['description'])} |")
    lines += [
        "",
        "| Alert | Group | Severity | `for` | Parameters (default) |",
        "|-------|-------|----------|-------|----------------------|",
    ]
    for name, alert in manifest.get("alerts", {}).items():
        params = "<br>".join(
            f"`{param}` (`{_cell(spec['default'])}`): {_cell(spec['description'])}"
            for param, spec in (alert.get("parameters") or {}).items()
        )
        lines.append(
            f"| `{name}` | {alert['group']} | {alert['severity']} | {alert['for']} | "
            f"{params or 'none'} |"
        )
    return "\n".join(lines)


def render_doc(doc: str, begin: str, end: str, table: str) -> str:
    """`doc` with the text between the markers `begin` and `end` replaced by `table`."""
    start, stop = doc.find(begin), doc.find(end)
    if start < 0 or stop < start:
        raise DocError(f"{DOC.relative_to(ROOT)} lacks the markers {begin!r} ... {end!r}")
    return doc[: start + len(begin)] + "\n" + table + "\n" + doc[stop:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/chart.md is stale")
    args = parser.parse_args(argv)
    text = VALUES.read_text()
    try:
        rows = collect(yaml.safe_load(text), parse_comments(text))
        current = DOC.read_text()
        wanted = render_doc(current, BEGIN, END, render_table(rows))
        alerts = render_alerts(yaml.safe_load(ALERTS.read_text()))
        wanted = render_doc(wanted, ALERTS_BEGIN, ALERTS_END, alerts)
    except DocError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if wanted == current:
        return 0
    if args.check:
        diff = difflib.unified_diff(
            current.splitlines(), wanted.splitlines(), "docs/chart.md", "generated", lineterm=""
        )
        print("\n".join(diff), file=sys.stderr)
        print("docs/chart.md is stale: run `make chart-docs`", file=sys.stderr)
        return 1
    DOC.write_text(wanted)
    print(f"wrote {DOC.relative_to(ROOT)} ({len(rows)} values and the alert tunables)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
