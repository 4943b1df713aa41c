"""Shutdown of the HTTP server: a scrape being answered at SIGTERM still completes, and a
failing connection is logged as one line instead of a traceback on stderr."""

from __future__ import annotations

import http.client
import threading
from typing import Any

import pytest
from loguru import logger

from ray_exporter.exposition import Format
from ray_exporter.http import ExporterHTTPServer, MetricsResponder


class SlowResponder(MetricsResponder):
    """Answers /metrics only once released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def body(self, fmt: Format, gzip: bool) -> list[bytes]:
        self.entered.set()
        self.release.wait(30)
        return [b"kuberay_cluster_info 1\n"]


def scrape(port: int, answers: list[tuple[int, bytes]]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        answers.append((response.status, response.read()))
    finally:
        connection.close()


def test_drain_waits_for_the_scrape_in_progress() -> None:
    responder = SlowResponder()
    server = ExporterHTTPServer(("127.0.0.1", 0), responder, lambda: True)
    server.start()
    answers: list[tuple[int, bytes]] = []
    client = threading.Thread(target=scrape, args=(server.port, answers))
    client.start()
    assert responder.entered.wait(30)
    server.shutdown()
    assert server.drain(0.05) == 1, "the scrape is still being answered"
    responder.release.set()
    assert server.drain(30) == 0
    server.server_close()
    client.join(30)
    assert answers == [(200, b"kuberay_cluster_info 1\n")]


def test_a_failing_connection_is_logged_not_printed(capsys: pytest.CaptureFixture[str]) -> None:
    server = ExporterHTTPServer(("127.0.0.1", 0), SlowResponder(), lambda: True)
    records: list[Any] = []
    sink = logger.add(records.append, format="{message}", level="ERROR")
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            server.handle_error(object(), ("10.0.0.1", 1234))
    finally:
        logger.remove(sink)
        server.server_close()
    (record,) = [message.record for message in records]
    assert record["message"] == "HTTP request failed"
    assert record["extra"]["client"] == "10.0.0.1"
    assert record["exception"] is not None
    assert "Traceback" not in capsys.readouterr().err
