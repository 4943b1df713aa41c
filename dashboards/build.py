#!/usr/bin/env python3
"""Write, check or reformat the Grafana dashboards in this directory.

    python dashboards/build.py            write every dashboard from ray_dashboards/
    python dashboards/build.py --check    fail if a committed file differs from the
                                          generator's output or an unknown *.json exists
    python dashboards/build.py --fmt F..  rewrite JSON files in the stable format
                                          (e.g. a dashboard exported from Grafana, to diff)

The committed JSON is what the chart ships; the generator keeps the five dashboards'
conventions identical, and --check (also run by tests/test_dashboards.py) keeps both in step.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ray_dashboards.catalog import rendered, stable_json  # noqa: E402


def write(directory: Path) -> list[str]:
    changed = []
    for name, text in rendered().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(name)
    return changed


def check(directory: Path) -> list[str]:
    """Problems, as human-readable lines; empty when the directory is up to date."""
    expected = rendered()
    problems = []
    for name, text in expected.items():
        path = directory / name
        if not path.exists():
            problems.append(f"{name}: missing (run python dashboards/build.py)")
            continue
        actual = path.read_text(encoding="utf-8")
        if actual != text:
            diff = difflib.unified_diff(
                text.splitlines(), actual.splitlines(), "generated", name, lineterm="", n=1
            )
            problems.append(f"{name}: differs from the generator:\n" + "\n".join(list(diff)[:40]))
    for path in sorted(directory.glob("*.json")):
        if path.name not in expected:
            problems.append(f"{path.name}: not produced by the generator")
    return problems


def reformat(paths: list[Path]) -> None:
    for path in paths:
        path.write_text(stable_json(json.loads(path.read_text(encoding="utf-8"))), "utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="verify, write nothing")
    mode.add_argument("--fmt", nargs="+", type=Path, metavar="FILE", help="reformat files")
    args = parser.parse_args(argv)
    if args.fmt:
        reformat(args.fmt)
        return 0
    if args.check:
        problems = check(HERE)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    for name in write(HERE):
        print(f"wrote dashboards/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
