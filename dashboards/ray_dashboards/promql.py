"""Just enough PromQL reading to list the metric names an expression selects.

Used by the tests of the dashboards and the alert rules to prove that every metric they
query is one the exporter documents. It is not a parser: it strips string literals,
label matchers, range/subquery brackets and grouping clauses, then takes every
identifier that is not a function call or a keyword. That is exact for the PromQL this
project writes (which the e2e tests also run against a real Prometheus).
"""

from __future__ import annotations

import re

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_IDENTIFIER = re.compile(r"(?<![\w.$:])([A-Za-z_:][\w:]*)")
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "atan2",
        "inf",
        "nan",
        "start",
        "end",
    }
)

SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")
"""Series suffixes a histogram or counter adds to its documented family name."""


def metric_names(expr: str) -> set[str]:
    """The metric names selected by `expr` (`{__name__=...}` selectors are not resolved)."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    while _RANGES.search(text):
        text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name = match.group(1)
        rest = text[match.end() :].lstrip()
        if name.lower() in _KEYWORDS or rest.startswith("("):
            continue
        names.add(name)
    return names


def family(name: str, documented: set[str]) -> str | None:
    """The documented family `name` belongs to (itself, or minus a series suffix), or None."""
    if name in documented:
        return name
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in documented:
            return name.removesuffix(suffix)
    return None


_DOC_NAME = re.compile(
    r"`((?:kuberay_|ray_exporter_|ray_resource_|ray_worker_group_|controller_runtime_|workqueue_"
    r"|rest_client_|leader_election_|process_|python_)[A-Za-z0-9_]*)"
)


def documented_metric_names(markdown: str) -> set[str]:
    """Backticked metric names in a Markdown document: the exporter's (kuberay_, ray_exporter_,
    ray_resource_, ray_worker_group_) and the operator's (controller-runtime's and client-go's
    prefixes).

    A bare prefix (`kuberay_*` in prose) is not a name.
    """
    names = {match.group(1) for match in _DOC_NAME.finditer(markdown)}
    return {name for name in names if not name.endswith("_")}
