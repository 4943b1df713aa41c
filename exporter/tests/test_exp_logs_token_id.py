"""The exporter's scrape auth names a bearer token in its logs by a short id, never by the
token itself; the log contract both programs share is tested in tests/logs/."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator

import pytest
from log_capture import json_lines, restored_logging
from loguru import logger

from ray_exporter.logs import REDACTED, configure_logging

TOKEN = "s3cr3t-T0ken.value_0123456789"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    with restored_logging():
        yield io.StringIO()


def token_id(token: str) -> str:
    """How the exporter's scrape auth names a token in logs: 8 hex digits of its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()[:8]


def test_a_token_id_names_a_token_without_revealing_it(stream: io.StringIO) -> None:
    configure_logging("json", "DEBUG", stream=stream)
    logger.debug("metrics scraper authorized", token=token_id(TOKEN), user="prometheus")
    logger.debug("metrics scraper authorized", token=TOKEN, user="prometheus")
    named, leaked = json_lines(stream.getvalue())
    assert named["token"] == token_id(TOKEN)
    assert leaked["token"] == REDACTED
