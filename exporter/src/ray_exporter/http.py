"""The HTTP side: /metrics (text 0.0.4 or OpenMetrics, gzip when accepted), /healthz, /readyz.

A `/metrics` response is the store's bytes for the negotiated format followed
by the exporter's own metrics, rendered by prometheus-client from the registry
built in `main()`; in OpenMetrics the latter end with the single `# EOF`.
Nothing here calls the Kubernetes API.

Gzip: the store's part is compressed once per store generation (level 1: this
text is repetitive enough that higher levels buy little and cost a lot at
10 MB), ending in a sync flush; the compressor's state at that point is kept,
and each scrape continues a copy of it with the self metrics and the gzip
trailer. So an unchanged store costs only the few kilobytes of self metrics to
compress, and the response is still one ordinary gzip member.

`/healthz` answers 200 while the process serves; `/readyz` answers 200 only
after the first full LIST of every watched resource, else 503.
"""

from __future__ import annotations

import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from loguru import logger
from prometheus_client import CollectorRegistry
from prometheus_client import exposition as text_exposition
from prometheus_client.openmetrics import exposition as openmetrics_exposition

from ray_exporter.exposition import Format
from ray_exporter.selfmetrics import SelfMetrics
from ray_exporter.store import MetricsStore

GZIP_LEVEL = 1
GZIP_WBITS = 16 + zlib.MAX_WBITS


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def negotiate_format(accept: str | None) -> Format:
    """OpenMetrics when the Accept header prefers it (ties included), else text 0.0.4."""
    if not accept:
        return Format.TEXT
    openmetrics, text = 0.0, 0.0
    for item in accept.split(","):
        media, *params = item.split(";")
        media = media.strip().lower()
        quality = _quality(params)
        if media == "application/openmetrics-text":
            openmetrics = max(openmetrics, quality)
        elif media in ("text/plain", "text/*", "*/*"):
            text = max(text, quality)
    return Format.OPENMETRICS if openmetrics > 0 and openmetrics >= text else Format.TEXT


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether the Accept-Encoding header allows gzip (q above zero)."""
    for item in (accept_encoding or "").split(","):
        coding, *params = item.split(";")
        if coding.strip().lower() in ("gzip", "*") and _quality(params) > 0:
            return True
    return False


@dataclass
class _GzipPrefix:
    generation: int
    data: bytes
    compressor: Any  # zlib.Compress at the sync-flushed end of the store's part


class MetricsResponder:
    """Builds /metrics bodies from the store and the self-metrics registry."""

    def __init__(self, store: MetricsStore, registry: CollectorRegistry, metrics: SelfMetrics):
        self._store = store
        self._registry = registry
        self._metrics = metrics
        self._lock = threading.Lock()
        self._gzip: dict[Format, _GzipPrefix] = {}

    def body(self, fmt: Format, gzip: bool) -> bytes:
        """The full /metrics body in `fmt`, gzip-compressed if asked."""
        started = time.perf_counter()
        generation, objects = self._store.exposition(fmt)
        if fmt is Format.OPENMETRICS:
            own: bytes = openmetrics_exposition.generate_latest(  # type: ignore[no-untyped-call]
                self._registry
            )
        else:
            own = text_exposition.generate_latest(self._registry)
        if gzip:
            prefix = self._gzip_prefix(fmt, generation, objects)
            compressor = prefix.compressor.copy()
            result: bytes = prefix.data + compressor.compress(own) + compressor.flush()
        else:
            result = objects + own
        self._metrics.scrape_duration.observe(time.perf_counter() - started)
        return result

    def _gzip_prefix(self, fmt: Format, generation: int, objects: bytes) -> _GzipPrefix:
        with self._lock:
            cached = self._gzip.get(fmt)
            if cached is not None and cached.generation == generation:
                return cached
            compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, GZIP_WBITS)
            data = compressor.compress(objects) + compressor.flush(zlib.Z_SYNC_FLUSH)
            cached = _GzipPrefix(generation, data, compressor)
            self._gzip[fmt] = cached
            return cached


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ExporterHTTPServer

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def _serve(self, send_body: bool) -> None:
        path = self.path.split("?", 1)[0]
        headers: dict[str, str] = {}
        if path == "/metrics":
            fmt = negotiate_format(self.headers.get("Accept"))
            gzip = accepts_gzip(self.headers.get("Accept-Encoding"))
            body = self.server.responder.body(fmt, gzip)
            headers["Content-Type"] = fmt.content_type
            headers["Vary"] = "Accept, Accept-Encoding"
            if gzip:
                headers["Content-Encoding"] = "gzip"
            status = 200
        elif path == "/healthz":
            status, body = 200, b"ok\n"
        elif path == "/readyz":
            ready = self.server.ready()
            status, body = (200, b"ok\n") if ready else (503, b"not synced yet\n")
        else:
            status, body = 404, b"not found\n"
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("http {} {}", self.address_string(), format % args)


class ExporterHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server carrying the responder and the readiness check."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        responder: MetricsResponder,
        ready: Callable[[], bool],
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.responder = responder
        self.ready = ready
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> threading.Thread:
        """Serve in a background thread; `shutdown()` stops it."""
        thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        thread.start()
        return thread
