"""docs/metrics.md describes every family and label the exporter serves (and only those)."""

from __future__ import annotations

import pytest
from exporter_objects import full_exposition
from metrics_doc import DOC, OPERATOR_PART, documented_labels, documented_parts
from prometheus_client.parser import text_string_to_metric_families

from ray_exporter.fields import Problem
from ray_exporter.resources import FAMILY_ORDER


def documented() -> dict[str, dict[str, str]]:
    r"""The exporter's families: every `### \`family\`` section outside the operator's part."""
    return {
        name: section
        for part, families in documented_parts().items()
        if part != OPERATOR_PART
        for name, section in families.items()
    }


def served() -> dict[str, tuple[str, set[str]]]:
    """Exposed family name -> (type, label names) from a real exposition."""
    families: dict[str, tuple[str, set[str]]] = {}
    for family in text_string_to_metric_families(full_exposition().decode()):
        name = family.name + "_total" if family.type == "counter" else family.name
        labels = {label for sample in family.samples for label in sample.labels}
        families[name] = (family.type, labels)
    return families


def test_every_served_family_and_label_is_documented() -> None:
    docs = documented()
    for name, (kind, labels) in served().items():
        assert name in docs, f"{name} is served but not described in {DOC.name}"
        listed = documented_labels(docs[name])
        assert labels <= listed, f"{name}: labels {labels - listed} missing from {DOC.name}"
        assert docs[name].get("type", "").startswith(kind), f"{name}: type is {kind}"


def test_every_documented_family_is_served() -> None:
    assert set(documented()) == set(served())


@pytest.mark.parametrize("family", FAMILY_ORDER, ids=lambda family: family.name)
def test_object_families_quote_the_exact_help(family: object) -> None:
    assert documented()[family.name]["help"] == family.help  # type: ignore[attr-defined]


def test_every_problem_reason_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for problem in Problem:
        assert f"| `{problem.value}` |" in text, problem.value
