"""Helpers of the log tests of both programs (tests/logs/ and the program-specific ones): undo
configure_logging's process-wide changes, read JSON lines, and a throwaway HTTP server on
127.0.0.1 standing in for an apiserver (one canned answer)."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

from loguru import logger

# Loggers whose levels either program's configure_logging or
# kubernetes.client.Configuration(debug=True) set.
TOUCHED_LOGGERS = ("aiohttp.access", "kubernetes", "kopf.objects", "client", "urllib3")


def _unpatched(record: Any) -> None:
    """No patcher: what loguru has before configure_logging installs its redaction."""


@contextlib.contextmanager
def restored_logging() -> Iterator[None]:
    """Run a block, then put logging back the way it was before it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in TOUCHED_LOGGERS}
    hooks = (sys.excepthook, threading.excepthook)
    debuglevel = http.client.HTTPConnection.debuglevel
    try:
        yield
    finally:
        logger.remove()
        logger.configure(patcher=_unpatched)
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)
        sys.excepthook, threading.excepthook = hooks
        http.client.HTTPConnection.debuglevel = debuglevel
        vars(http.client).pop("print", None)
        logging.captureWarnings(False)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every non-empty line of `text`, parsed; fails the test on a line that is not JSON."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class CannedApiServer(http.server.ThreadingHTTPServer):
    """Answers every GET with `status` and `body`; remembers the Authorization headers seen."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(("127.0.0.1", 0), _CannedHandler)
        self.status = status
        self.body = json.dumps(body).encode()
        self.authorizations: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _CannedHandler(http.server.BaseHTTPRequestHandler):
    server: CannedApiServer

    def do_GET(self) -> None:
        self.server.authorizations.append(self.headers.get("Authorization", ""))
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the server's own access lines are not what the tests read."""


@contextlib.contextmanager
def canned_api_server(status: int, body: dict[str, Any]) -> Iterator[CannedApiServer]:
    server = CannedApiServer(status, body)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
