"""Label selectors as the apiserver parses them, for the fake apiserver in `fakeapi.py`.

The grammar of `labelSelector`: a comma-separated conjunction of `key=value`, `key==value`,
`key!=value`, `key` (exists), `!key` (does not exist), `key in (a,b)`, `key notin (a,b)` and
the numeric `key>n`, `key<n`. `!=` and `notin` also match objects without the label, as in
Kubernetes. A selector that does not parse is a `SelectorError` (the fake answers 400).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_NAME = r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)"
_PREFIX = r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)"
LABEL_KEY = re.compile(rf"^({_PREFIX}/)?{_NAME}$")
LABEL_VALUE = re.compile(rf"^({_NAME})?$")
_SET = re.compile(r"^(?P<key>[^\s!=<>(),]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_COMPARE = re.compile(r"^(?P<key>[^\s!=<>(),]+)\s*(?P<op>==|=|!=|<|>)\s*(?P<value>[^\s!=<>(),]*)$")
_EXISTS = re.compile(r"^(?P<not>!?)\s*(?P<key>[^\s!=<>(),]+)$")


class SelectorError(ValueError):
    """A label selector the apiserver would refuse to parse."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!", "<", ">"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            return not present or value not in self.values
        (bound,) = self.values
        try:
            number = int(value or "")
        except ValueError:
            return False
        return number < int(bound) if self.operator == "<" else number > int(bound)


def _terms(text: str) -> list[str]:
    """Split on the commas outside parentheses."""
    terms, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unable to parse requirement: unbalanced ')' in {text!r}")
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    if depth:
        raise SelectorError(f"unable to parse requirement: unclosed '(' in {text!r}")
    terms.append(current)
    return [term.strip() for term in terms]


def _key(key: str) -> str:
    if not LABEL_KEY.match(key):
        raise SelectorError(f"unable to parse requirement: invalid label key {key!r}")
    return key


def _value(value: str) -> str:
    if not LABEL_VALUE.match(value):
        raise SelectorError(f"unable to parse requirement: invalid label value {value!r}")
    return value


def _requirement(term: str) -> Requirement:
    if match := _SET.match(term):
        values = frozenset(_value(v.strip()) for v in match["values"].split(","))
        return Requirement(_key(match["key"]), match["op"], values)
    if match := _COMPARE.match(term):
        op = "=" if match["op"] == "==" else match["op"]
        value = _value(match["value"])
        if op in ("<", ">") and not re.fullmatch(r"-?[0-9]+", value):
            raise SelectorError(f"unable to parse requirement: {value!r} is not an integer")
        return Requirement(_key(match["key"]), op, frozenset({value}))
    if match := _EXISTS.match(term):
        return Requirement(_key(match["key"]), "!" if match["not"] else "exists")
    raise SelectorError(f"unable to parse requirement: {term!r}")


def parse_selector(text: str | None) -> list[Requirement]:
    """The requirements of a selector; an empty or missing one selects everything."""
    if not text or not text.strip():
        return []
    terms = _terms(text)
    if any(not term for term in terms):
        raise SelectorError(f"unable to parse requirement: empty term in {text!r}")
    return [_requirement(term) for term in terms]


def selects(requirements: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    return all(requirement.matches(labels or {}) for requirement in requirements)
