r"""docs/metrics.md read as the metric tests need it: per `## part`, per `### \`family\``
section, that section's table rows (`| key | value |`)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
OPERATOR_PART = "Operator metrics"


def documented_parts(doc: Path = DOC) -> dict[str, dict[str, dict[str, str]]]:
    parts: dict[str, dict[str, dict[str, str]]] = {}
    part = parts.setdefault("", {})
    current: dict[str, str] | None = None
    for line in doc.read_text(encoding="utf-8").splitlines():
        heading = re.fullmatch(r"### `([a-z_]+)`", line)
        if heading:
            current = part.setdefault(heading.group(1), {})
        elif line.startswith("## "):
            part = parts.setdefault(line[3:].strip(), {})
            current = None
        elif current is not None and line.startswith("| ") and line.count("|") >= 3:
            key, value = (cell.strip() for cell in line.strip("|").split("|", 1))
            current[key] = value
    return parts


def documented_labels(section: dict[str, str]) -> set[str]:
    return set(re.findall(r"`([a-z_]+)`", section.get("labels", "")))
