"""Kubernetes resource quantities ("500m", "2Gi", "1e3"): exact parsing, summing and printing."""

from __future__ import annotations

import math
import re
from fractions import Fraction

_PATTERN = re.compile(
    r"^(?P<sign>[+-])?(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(text: str | int | float) -> Fraction:
    """Exact value of a quantity; ints and floats (as YAML may give them) are accepted too."""
    if isinstance(text, bool):
        raise QuantityError(f"not a quantity: {text!r}")
    if isinstance(text, int):
        return Fraction(text)
    if isinstance(text, float):
        return Fraction(str(text))
    match = _PATTERN.match(text.strip())
    if match is None:
        raise QuantityError(f"not a quantity: {text!r}")
    value = Fraction(match["number"])
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        value *= 1024 ** _BINARY[suffix]
    elif suffix in _DECIMAL:
        value *= Fraction(10) ** _DECIMAL[suffix]
    else:
        value *= Fraction(10) ** int(suffix[1:])
    return -value if match["sign"] == "-" else value


def ceil_int(value: Fraction) -> int:
    """Integer value rounded up, as Kubernetes' Quantity.Value() does."""
    return math.ceil(value)


def format_cpu(value: Fraction) -> str:
    """Whole cores when exact ("3"), else millicores rounded up ("1500m")."""
    if value.denominator == 1:
        return str(value.numerator)
    return f"{math.ceil(value * 1000)}m"


def format_bytes(value: Fraction) -> str:
    """The exact binary or decimal form with the smallest number ("3Gi", "2G"), else bytes."""
    whole = math.ceil(value)
    if whole == 0:
        return "0"
    candidates = [(whole, "")]
    for suffix, power in _BINARY.items():
        if whole % 1024**power == 0:
            candidates.append((whole // 1024**power, suffix))
    for suffix, exponent in _DECIMAL.items():
        if exponent > 0 and whole % 10**exponent == 0:
            candidates.append((whole // 10**exponent, suffix))
    number, suffix = min(candidates, key=lambda item: (abs(item[0]), item[1] == ""))
    return f"{number}{suffix}"


def format_count(value: Fraction) -> str:
    """Accelerator counts: integers ("4"); fractional counts keep millis ("500m")."""
    return format_cpu(value)
