"""Hypothesis strategies for hostile custom resources, shared by the operator and exporter
fuzz tests (it imports neither package).

Everything here is JSON-shaped (string keys, JSON scalars), because that is all a custom
resource can hold, but otherwise as unfriendly as the apiserver lets a user be: 100k-character
strings, nesting hundreds of levels deep (a `x-kubernetes-preserve-unknown-fields` subtree
takes it), a value of the wrong type at any position, numbers JSON can carry but programs
choke on (nan, inf, 10**30), and text mixing right-to-left marks, zero-width characters,
emoji, line breaks, quotes, backslashes and braces. `mutated(body)` applies such a value to a
well-formed object at a random path: replace, delete or insert.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

HUGE = 100_000
DEEP = (50, 200, 600)

SPECIAL_TEXT = (
    "",
    " ",
    "\n",
    "a\nb",
    "\r\n",
    '"',
    "\\",
    '\\"',
    '{}"',
    '{a="b"}',
    "\\n",
    "\x00",
    "\x1b[31m",
    "\u202eevil\u202c",  # right-to-left override
    "\u200b",  # zero-width space
    "\ufeff",  # byte order mark
    "\u2028",  # line separator
    "🙂👩‍👩‍👧",
    "日本語",
    "שלום",
    "Ω≈ç√",
    "${jndi:ldap://x}",
    "$(rm -rf /)",
    "'; DROP TABLE x; --",
    "%s%n",
    "2024-05-01T10:00:00Z",
    "9999-12-31T23:59:60Z",
    "0000-01-01T00:00:00+23:59",
    "True",
    "nan",
    "-1",
    "1e400",
    "99999999999999999999999999",
    "²",
    "٣",
)

hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(SPECIAL_TEXT),
    st.builds(
        lambda unit: (unit * HUGE)[:HUGE],
        st.sampled_from(["a", "9", "é", "\n", '"', "\\", "🙂", "{}", "a-"]),
    ),
)

hostile_numbers = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 2**64, -(2**63) - 1, 10**30, -(10**30), 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -0.0, 0.5]),
)

hostile_scalars = st.one_of(st.none(), st.booleans(), hostile_numbers, hostile_text)


# The sharpest single values, drawn often where a field is known to be read.
sharp_values: st.SearchStrategy[object] = st.sampled_from(
    [
        None,
        True,
        -1,
        2**64,
        10**400,
        float("nan"),
        float("inf"),
        "",
        "x" * HUGE,
        "\n",
        "2024-13-01T00:00:00Z",
        [],
        {},
        [None],
        [[]],
        {"": None},
    ]
).map(copy.deepcopy)  # a fresh list or dict each time: mutations must not edit the pool


def nest(depth: int, kind: str, leaf: Any) -> Any:
    """`leaf` wrapped in `depth` lists or single-key dicts, built without recursion."""
    value = leaf
    for level in range(depth):
        value = [value] if kind == "list" or (kind == "mixed" and level % 2) else {"a": value}
    return value


deep_values = st.builds(
    nest, st.sampled_from(DEEP), st.sampled_from(["list", "dict", "mixed"]), hostile_scalars
)

KEYS = st.one_of(
    st.sampled_from(
        [
            "name",
            "metadata",
            "spec",
            "status",
            "template",
            "containers",
            "conditions",
            "type",
            "status",
            "image",
            "resources",
            "limits",
            "requests",
            "cpu",
            "memory",
            "rayStartParams",
            "groupName",
            "replicas",
            "labels",
        ]
    ),
    hostile_text,
)

hostile_values: st.SearchStrategy[Any] = st.one_of(
    st.recursive(
        hostile_scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4)
        ),
        max_leaves=12,
    ),
    deep_values,
)


def _containers_on_path(body: Any, draw: st.DrawFn) -> list[tuple[Any, Any]]:
    """A random walk from the root: the (container, key) pairs passed, root first."""
    path: list[tuple[Any, Any]] = []
    node = body
    while isinstance(node, dict | list) and node:
        key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
        path.append((node, key))
        node = node[key]
        if not draw(st.booleans()):
            break
    return path


@st.composite
def mutated(draw: st.DrawFn, body: dict[str, Any], max_mutations: int = 3) -> dict[str, Any]:
    """A deep copy of `body` with one to `max_mutations` hostile edits at random paths.

    `metadata.uid` and `metadata.namespace` are left alone (the apiserver sets and checks
    them), so a mutant keeps the identity of the object it came from.
    """
    result = copy.deepcopy(body)
    for _ in range(draw(st.integers(1, max_mutations))):
        path = _containers_on_path(result, draw)
        if not path:
            continue
        container, key = path[-1]
        if path[0][1] == "metadata" and (len(path) == 1 or path[1][1] in ("uid", "namespace")):
            continue
        operation = draw(st.sampled_from(["replace", "delete", "insert"]))
        if operation == "replace":
            container[key] = draw(sharp_values | hostile_values)
        elif operation == "delete":
            del container[key]
        elif isinstance(container, dict):
            new_key = draw(KEYS)
            if container is not result or new_key != "metadata":
                container[new_key] = draw(hostile_values)
        else:
            container.insert(key, draw(hostile_values))
    return result
