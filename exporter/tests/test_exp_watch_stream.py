"""Splitting a watch response into events, and naming why a list or watch failed."""

from __future__ import annotations

import itertools
import json

import pytest
import urllib3.exceptions
from hypothesis import given
from hypothesis import strategies as st
from kubernetes.client import ApiException

from ray_exporter.kube import ResourceExpiredError, WatchStreamError, _events
from ray_exporter.watch import error_reason

EVENTS = [
    {"type": "ADDED", "object": {"metadata": {"name": "a", "resourceVersion": "1"}}},
    {"type": "MODIFIED", "object": {"metadata": {"name": "a", "annotations": {"x": "é\n" * 50}}}},
    {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}},
    {"type": "DELETED", "object": {"metadata": {"name": "a"}}},
]
STREAM = b"".join(json.dumps(event).encode() + b"\n" for event in EVENTS)


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_events_survive_any_chunking(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(points)]
    assert list(_events(iter(chunks))) == EVENTS


def test_a_last_line_without_newline_is_still_an_event() -> None:
    assert list(_events(iter([STREAM.rstrip(b"\n")]))) == EVENTS


def test_a_410_error_event_means_relist() -> None:
    error = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old"}}
    with pytest.raises(ResourceExpiredError):
        list(_events(iter([json.dumps(error).encode() + b"\n"])))


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"type": "ERROR", "object": {"code": 500, "message": "boom"}}\n', "stream_error"),
        (b"not json\n", "decode"),
        (b'{"type": "ADDED"}\n', "decode"),
        (b"[1, 2]\n", "decode"),
    ],
)
def test_bad_lines_raise_with_a_reason(line: bytes, reason: str) -> None:
    with pytest.raises(WatchStreamError) as raised:
        list(_events(iter([STREAM[:10], STREAM[10:], line])))
    assert raised.value.reason == reason


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ResourceExpiredError("old"), "expired"),
        (WatchStreamError("decode", "x"), "decode"),
        (ApiException(status=403, reason="Forbidden"), "http_403"),
        (urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out"), "timeout"),
        (urllib3.exceptions.ProtocolError("reset"), "connection"),
        (ConnectionRefusedError(), "connection"),
        (ValueError("?"), "other"),
    ],
)
def test_error_reasons_are_a_small_fixed_set(error: BaseException, reason: str) -> None:
    assert error_reason(error) == reason
