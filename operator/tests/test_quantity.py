"""Kubernetes quantities: exact parsing and the canonical strings status shows."""

from __future__ import annotations

from fractions import Fraction

import pytest

from ray_operator.quantity import (
    QuantityError,
    ceil_int,
    format_bytes,
    format_cpu,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2", Fraction(2)),
        ("500m", Fraction(1, 2)),
        ("1.5", Fraction(3, 2)),
        ("1Ki", Fraction(1024)),
        ("2Gi", Fraction(2 * 1024**3)),
        ("1G", Fraction(10**9)),
        ("1e3", Fraction(1000)),
        ("100u", Fraction(1, 10**4)),
        ("-1", Fraction(-1)),
        (3, Fraction(3)),
        (0.25, Fraction(1, 4)),
    ],
)
def test_parses_every_suffix_family(text: str | int | float, value: Fraction) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1Gb", "1.2.3", "Gi", True])
def test_rejects_malformed_quantities(text: object) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)  # type: ignore[arg-type]


def test_integer_value_rounds_up_like_kubernetes() -> None:
    assert ceil_int(parse_quantity("500m")) == 1
    assert ceil_int(parse_quantity("2")) == 2


@pytest.mark.parametrize(
    ("value", "text"),
    [(Fraction(3), "3"), (Fraction(3, 2), "1500m"), (Fraction(0), "0"), (Fraction(1, 3), "334m")],
)
def test_cpu_is_whole_cores_or_millicores(value: Fraction, text: str) -> None:
    assert format_cpu(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (parse_quantity("3Gi"), "3Gi"),
        (parse_quantity("1536Mi"), "1536Mi"),
        (parse_quantity("2G"), "2G"),
        (Fraction(1001), "1001"),
        (Fraction(0), "0"),
    ],
)
def test_memory_uses_the_largest_exact_suffix(value: Fraction, text: str) -> None:
    assert format_bytes(value) == text
