"""The JSON shape of the custom-resource fields the operator reads, and the check of a body
against it.

The apiserver enforces the CRD schema, but pod templates are free-form
(`x-kubernetes-preserve-unknown-fields`), a body may come from an older CRD or a unit test,
and a status can be written by anyone allowed to. The builders that turn a spec into pods
and services read fields with the types the shape declares; validation checks the shape
first, so a value of the wrong type (a list where an object belongs, a number for a name)
becomes one clear problem instead of an exception half-way through a reconcile. The walk
is iterative and bounded: nesting deeper than `MAX_DEPTH` is a problem by itself, so no
later step (copying a template, hashing a spec) recurses without bound on user data.

This module also holds the two helpers every problem message is built with: `shown()`
quotes a user value short and printable, and `bounded()` makes a whole message printable
and cuts it to `MAX_MESSAGE_LENGTH`.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_DEPTH = 64
MAX_MESSAGE_LENGTH = 1024
MAX_VALUE_LENGTH = 60
MAX_SHAPE_PROBLEMS = 5


@dataclass(frozen=True)
class Scalar:
    """A JSON scalar of one of `types`, named in messages by `name`."""

    name: str
    types: tuple[type, ...]

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):
            return bool in self.types
        return isinstance(value, self.types)


STRING = Scalar("a string", (str,))
INTEGER = Scalar("an integer", (int,))
BOOLEAN = Scalar("a boolean", (bool,))
NUMBER = Scalar("a number", (int, float))
SCALAR = Scalar("a string, number or boolean", (str, int, float, bool))


@dataclass(frozen=True)
class Obj:
    """A JSON object: known `fields` with their shapes, other keys' values shaped `values`
    (unchecked when None)."""

    fields: Mapping[str, Shape] = field(default_factory=dict)
    values: Shape | None = None


@dataclass(frozen=True)
class Items:
    """A JSON array whose every element is shaped `item`."""

    item: Shape


Shape = Scalar | Obj | Items
ANY_OBJECT = Obj()


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _expected(shape: Shape) -> str:
    if isinstance(shape, Obj):
        return "an object"
    if isinstance(shape, Items):
        return "a list"
    return shape.name


def shape_problems(value: Any, shape: Shape, where: str) -> Iterator[str]:
    """Messages for every place `value` departs from `shape`, at most `MAX_SHAPE_PROBLEMS`.

    Null is allowed for a field (it reads as absent), not for a list element. `where` names
    the root ("" for a whole body).
    """
    found = 0
    stack: list[tuple[str, Any, Shape, bool]] = [(where, value, shape, False)]
    while stack and found < MAX_SHAPE_PROBLEMS:
        path, current, expected, element = stack.pop()
        message = ""
        if current is None:
            if element:
                message = f"{path} must be {_expected(expected)}, not null"
        elif isinstance(expected, Scalar):
            if not expected.accepts(current):
                message = f"{path} must be {expected.name}, not {_kind(current)}"
        elif isinstance(expected, Items):
            if not isinstance(current, list):
                message = f"{path} must be a list, not {_kind(current)}"
            else:
                for index in reversed(range(len(current))):
                    stack.append((f"{path}[{index}]", current[index], expected.item, True))
        elif not isinstance(current, Mapping):
            message = f"{path} must be an object, not {_kind(current)}"
        else:
            for key in reversed(list(current)):
                child = expected.fields.get(key, expected.values)
                if child is not None:
                    name = shown_key(key)
                    stack.append((f"{path}.{name}" if path else name, current[key], child, False))
        if message:
            found += 1
            yield message


def deeper_than(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether objects and lists nest more than `limit` levels in `value` (iteratively)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, Mapping):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def depth_problem(value: Any, where: str) -> str | None:
    if deeper_than(value):
        return f"{where} nests objects and lists more than {MAX_DEPTH} levels deep"
    return None


_REPR = reprlib.Repr()
_REPR.maxlevel = 2
_REPR.maxdict = 4
_REPR.maxlist = 4
_REPR.maxstring = MAX_VALUE_LENGTH
_REPR.maxother = MAX_VALUE_LENGTH
_REPR.maxlong = MAX_VALUE_LENGTH


def shown(value: Any) -> str:
    """A user's value quoted for a message: Python-literal style, printable, at most about
    `MAX_VALUE_LENGTH` characters whatever its size, type or depth."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4096:
        return "<a very large integer>"
    return bounded(_REPR.repr(value), MAX_VALUE_LENGTH + 10)


def shown_key(key: Any) -> str:
    """A map key as part of a field path: as is when short and printable, else `shown`."""
    text = str(key)
    if len(text) <= MAX_VALUE_LENGTH and text.isprintable():
        return text
    return shown(key)


def bounded(message: str, limit: int = MAX_MESSAGE_LENGTH) -> str:
    """`message` with unprintable characters escaped (line breaks, controls, bidi and
    zero-width marks), cut to `limit` characters."""
    if len(message) > 4 * limit:
        message = message[: 4 * limit]
    if not message.isprintable():
        message = "".join(
            ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
            for ch in message
        )
    if len(message) > limit:
        message = message[: limit - 3] + "..."
    return message
