"""Exposition primitives: Go-compatible values, escaping, headers per format; FNV sharding."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ray_exporter.exposition import Family, Format, escape_label_value, format_value, sample
from ray_exporter.families import JOB_EXECUTION_DURATION_SECONDS
from ray_exporter.sharding import Shard, fnv1a_64


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1"),
        (0, "0"),
        (-0.0, "0"),
        (-1, "-1"),
        (150, "150"),
        (0.5, "0.5"),
        (123456, "123456"),
        (999999, "999999"),
        (1e6, "1e+06"),
        (1234567, "1.234567e+06"),
        (1.5e-7, "1.5e-07"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (2**53, "9.007199254740992e+15"),
        (1e100, "1e+100"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_values_are_written_like_go_strconv_g(value: float, text: str) -> None:
    assert format_value(value) == text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_values_round_trip(value: float) -> None:
    assert float(format_value(value)) == value


def test_label_values_escape_backslash_quote_and_newline() -> None:
    assert escape_label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert escape_label_value("plain ✓") == "plain ✓"


def test_samples_sort_label_names() -> None:
    assert sample("m", {"uid": "u", "condition": "true", "name": "n"}, 1) == (
        'm{condition="true",name="n",uid="u"} 1\n'
    )


def test_help_keeps_the_typographic_apostrophe() -> None:
    assert "CR\u2019s JobDeploymentStatus" in JOB_EXECUTION_DURATION_SECONDS.help
    header = JOB_EXECUTION_DURATION_SECONDS.header(Format.TEXT)
    assert "CR’s".encode() in header


def test_help_escaping_differs_between_formats_only_for_quotes() -> None:
    family = Family("m", 'say "hi" \\ now\nthen')
    assert family.header(Format.TEXT) == b'# HELP m say "hi" \\\\ now\\nthen\n# TYPE m gauge\n'
    assert family.header(Format.OPENMETRICS) == (
        b'# HELP m say \\"hi\\" \\\\ now\\nthen\n# TYPE m gauge\n'
    )


@pytest.mark.parametrize(
    ("data", "digest"),
    [(b"", 0xCBF29CE484222325), (b"a", 0xAF63DC4C8601EC8C), (b"foobar", 0x85944171F73967E8)],
)
def test_fnv1a_64_matches_the_reference_vectors(data: bytes, digest: int) -> None:
    assert fnv1a_64(data) == digest


def test_shard_membership_is_the_hash_modulo_the_shard_count() -> None:
    uid = "8a07cbc3-c18b-4e12-bb1c-14ee5e361b9f"
    owner = fnv1a_64(uid.encode()) % 4
    assert [Shard(index, 4).owns(uid) for index in range(4)] == [i == owner for i in range(4)]
    assert Shard().owns(uid)


@pytest.mark.parametrize(("index", "total"), [(1, 1), (-1, 2), (0, 0)])
def test_invalid_shards_are_rejected(index: int, total: int) -> None:
    with pytest.raises(ValueError, match="shard"):
        Shard(index, total)
