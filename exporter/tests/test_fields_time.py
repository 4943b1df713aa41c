"""RFC 3339 parsing of Kubernetes timestamps into exact epoch nanoseconds."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ray_exporter.fields import parse_rfc3339

EPOCH_2024 = calendar.timegm((2024, 5, 1, 10, 0, 0, 0, 0, 0)) * 1_000_000_000


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("2024-05-01T10:00:00Z", EPOCH_2024),
        ("2024-05-01t10:00:00z", EPOCH_2024),
        ("2024-05-01T10:00:00.5Z", EPOCH_2024 + 500_000_000),
        ("2024-05-01T10:00:00.000001Z", EPOCH_2024 + 1_000),
        ("2024-05-01T10:00:00.123456789Z", EPOCH_2024 + 123_456_789),
        ("2024-05-01T12:30:00+02:30", EPOCH_2024),
        ("2024-05-01T07:00:00-03:00", EPOCH_2024),
        ("2024-05-01T09:59:60Z", EPOCH_2024),
    ],
)
def test_valid_timestamps(text: str, nanos: int) -> None:
    assert parse_rfc3339(text) == nanos


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2024-05-01",
        "2024-05-01T10:00:00",
        "2024-05-01 10:00:00Z",
        "2024-13-01T10:00:00Z",
        "2024-02-30T10:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T10:00:00.Z",
        "2024-05-01T10:00:00.1234567890Z",
        "2024-05-01T10:00:00+25:00",
        "20240501T100000Z",
        "２０２４-05-01T10:00:00Z",
        "2024-05-01T10:00:00Z ",
    ],
)
def test_invalid_timestamps(text: str) -> None:
    assert parse_rfc3339(text) is None


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31)))
def test_agrees_with_datetime_for_utc_times(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC)
    text = aware.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    expected = calendar.timegm(aware.timetuple()) * 1_000_000_000 + aware.microsecond * 1000
    assert parse_rfc3339(text) == expected


@given(st.text(max_size=40))
def test_never_raises(text: str) -> None:
    parse_rfc3339(text)
