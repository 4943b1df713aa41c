"""docs/chart.md lists every value of the chart, generated from the values.yaml comments."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from types import ModuleType

import pytest
import yaml
from chartkit import REPO

pytestmark = pytest.mark.chart


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_chart_docs", REPO / "hack" / "gen_chart_docs.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_docs_chart_md_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "hack" / "gen_chart_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_comments_become_rows_with_defaults_and_overrides() -> None:
    gen = _generator()
    text = (
        "# -- Replicas of the\n"
        "# operator.\n"
        "replicas: 1\n"
        "image:\n"
        "  # -- Image tag.\n"
        "  # @default -- the appVersion\n"
        "  tag: ''\n"
        "  # -- Extra labels.\n"
        "  labels: {a: b}\n"
    )
    rows = gen.collect(yaml.safe_load(text), gen.parse_comments(text))
    assert [(r.key, r.type, r.default, r.description) for r in rows] == [
        ("replicas", "int", "`1`", "Replicas of the operator."),
        ("image.tag", "string", "the appVersion", "Image tag."),
        ("image.labels", "object", '`{"a": "b"}`', "Extra labels."),
    ]


def test_an_undocumented_value_is_an_error_naming_it() -> None:
    gen = _generator()
    text = "image:\n  # -- Image tag.\n  tag: ''\n  pullPolicy: Always\n"
    with pytest.raises(gen.DocError, match=r"image\.pullPolicy"):
        gen.collect(yaml.safe_load(text), gen.parse_comments(text))
