"""Merge patches computed from two documents round-trip through apply_merge_patch."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ray_operator.patches import apply_merge_patch, merge_diff


def test_removed_keys_become_null_and_nested_maps_are_diffed() -> None:
    old = {"state": "ready", "endpoints": {"a": "1", "b": "2"}, "conditions": [1, 2]}
    new = {"endpoints": {"a": "1", "c": "3"}, "conditions": [1]}
    assert merge_diff(old, new) == {
        "state": None,
        "endpoints": {"b": None, "c": "3"},
        "conditions": [1],
    }


def test_equal_documents_need_no_patch() -> None:
    doc = {"a": {"b": [1, {"c": 2}]}}
    assert merge_diff(doc, {"a": {"b": [1, {"c": 2}]}}) == {}


_scalars = st.one_of(st.integers(), st.text(max_size=3), st.booleans())
_docs: st.SearchStrategy[dict[str, Any]] = st.recursive(
    st.dictionaries(st.text(max_size=2), _scalars, max_size=3),
    lambda children: st.dictionaries(
        st.text(max_size=2),
        st.one_of(_scalars, children, st.lists(_scalars, max_size=2)),
        max_size=3,
    ),
    max_leaves=10,
)


@given(_docs, _docs)
def test_applying_the_diff_gives_the_new_document(old: dict[str, Any], new: dict[str, Any]) -> None:
    assert apply_merge_patch(old, merge_diff(old, new)) == new
