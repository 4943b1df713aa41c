"""The two patch formats the fake apiserver in `fakeapi.py` applies, written from the RFCs
rather than borrowed from the operator (`ray_operator/patches.py`), so that a bug there is
not mirrored here.

`merge_patch` is RFC 7386 (application/merge-patch+json). `json_patch` is RFC 6902
(application/json-patch+json): add, remove, replace, move, copy and test. A patch that
cannot apply raises `PatchError`; like the apiserver, the fake answers 400 when the body
is not a list of operations and 422 when an operation does not apply (a failed `test`,
a missing path).
"""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: unlike Python's, true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return (type(a) is type(b) or {type(a), type(b)} <= {int, float}) and a == b


def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(422, f"JSON pointer {pointer!r} does not start with '/'")
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]


def _index(token: str, length: int, *, appending: bool) -> int:
    if appending and token == "-":
        return length
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise PatchError(422, f"invalid array index {token!r}")
    index = int(token)
    if index > length or (index == length and not appending):
        raise PatchError(422, f"array index {index} out of bounds")
    return index


def _parent(document: Any, tokens: list[str], op: str, pointer: str) -> Any:
    node = document
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(token, len(node), appending=False)]
        else:
            raise PatchError(422, f"{op} operation does not apply: doc is missing path: {pointer}")
    return node


def _get(document: Any, pointer: str, op: str) -> Any:
    tokens = _tokens(pointer)
    if not tokens:
        return document
    parent = _parent(document, tokens, op, pointer)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(last, len(parent), appending=False)]
    raise PatchError(422, f"{op} operation does not apply: doc is missing key: {pointer}")


def _add(document: Any, pointer: str, value: Any, op: str = "add") -> Any:
    tokens = _tokens(pointer)
    if not tokens:
        return value
    parent = _parent(document, tokens, op, pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(last, len(parent), appending=True), value)
    else:
        raise PatchError(422, f"{op} operation does not apply: doc is missing path: {pointer}")
    return document


def _remove(document: Any, pointer: str, op: str = "remove") -> Any:
    tokens = _tokens(pointer)
    if not tokens:
        raise PatchError(422, f"{op} operation cannot remove the whole document")
    parent = _parent(document, tokens, op, pointer)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(last, len(parent), appending=False)]
    else:
        raise PatchError(422, f"{op} operation does not apply: doc is missing key: {pointer}")
    return document


def _field(operation: dict[str, Any], name: str) -> Any:
    if name not in operation:
        raise PatchError(422, f"{operation.get('op')} operation is missing {name!r}")
    return operation[name]


def json_patch(document: Any, operations: Any) -> Any:
    """RFC 6902, all or nothing: `document` is left as it was when an operation fails."""
    if not isinstance(operations, list) or not all(isinstance(o, dict) for o in operations):
        raise PatchError(400, "a JSON patch must be a list of operation objects")
    result = copy.deepcopy(document)
    for operation in operations:
        op = operation.get("op")
        path = _field(operation, "path")
        if not isinstance(path, str):
            raise PatchError(422, f"{op} operation has a non-string path")
        if op == "add":
            result = _add(result, path, copy.deepcopy(_field(operation, "value")))
        elif op == "remove":
            result = _remove(result, path)
        elif op == "replace":
            value = copy.deepcopy(_field(operation, "value"))
            _get(result, path, "replace")
            if path:
                result = _remove(result, path, "replace")
            result = _add(result, path, value, "replace")
        elif op == "move" or op == "copy":
            source = _field(operation, "from")
            if op == "move" and (path == source or path.startswith(source + "/")):
                if path == source:
                    continue
                raise PatchError(422, f"move operation cannot move {source} into itself")
            value = copy.deepcopy(_get(result, source, op))
            if op == "move":
                result = _remove(result, source, op)
            result = _add(result, path, value, op)
        elif op == "test":
            if not json_equal(_get(result, path, "test"), _field(operation, "value")):
                raise PatchError(422, f"testing value {path} failed: test failed")
        else:
            raise PatchError(422, f"Unexpected kind: {op}")
    return result
