"""The HTTP side: /metrics (text 0.0.4 or OpenMetrics, gzip when accepted), /healthz, /readyz.

A `/metrics` response is the store's payload for the negotiated format followed
by the exporter's own metrics, rendered by prometheus-client from the registry
built in `main()`; in OpenMetrics the latter end with the single `# EOF`. The
payload's pieces are written one after another, never joined into one buffer.
Nothing here calls the Kubernetes API.

Gzip: the store keeps its text as raw-deflate segments, each ending in a sync
flush, compressed per chunk of objects and cached until the chunk changes
(level 1: this text is repetitive enough that higher levels buy little and cost
a lot at 10 MB). A response is a gzip header, those segments, the self metrics
compressed as the final segment, and the trailer (CRC-32 and size of the whole
text): one ordinary gzip member, though only changed chunks were compressed.

`/healthz` answers 200 while the process serves; `/readyz` answers 200 only
after the first full LIST of every watched resource, else 503.

On shutdown the server stops accepting, then `drain` waits (bounded) for the
requests being answered, so a scrape in progress at SIGTERM still completes.

Secure mode (optional): with a `TLSContextSource` every accepted socket is
wrapped for TLS without handshaking; the handshake runs in the connection's own
thread under a timeout, so a slow or broken client holds up nobody else. With a
`MetricsAuthorizer`, `/metrics` answers 401 (with `WWW-Authenticate: Bearer`),
403 or 500 unless the bearer token is allowed; the probes stay open. This is the
one place a scrape may lead to API calls (TokenReview, SubjectAccessReview),
and their verdicts are cached.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from loguru import logger
from prometheus_client import CollectorRegistry
from prometheus_client import exposition as text_exposition
from prometheus_client.openmetrics import exposition as openmetrics_exposition

from ray_exporter.auth import Decision, MetricsAuthorizer
from ray_exporter.exposition import Format
from ray_exporter.selfmetrics import SelfMetrics
from ray_exporter.store import MetricsStore
from ray_exporter.tls import TLSContextSource

GZIP_LEVEL = 1
# A gzip member header: deflate, no flags, no mtime, unknown OS; the same bytes every time.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
TLS_HANDSHAKE_TIMEOUT_SECONDS = 10.0
REFUSALS = {
    Decision.UNAUTHENTICATED: b"Unauthorized\n",
    Decision.FORBIDDEN: b"Forbidden: not allowed to get /metrics\n",
    Decision.ERROR: b"cannot check the scraper's credentials now\n",
}


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


class MetricsResponder:
    """Builds /metrics responses from the store and the self-metrics registry."""

    def __init__(self, store: MetricsStore, registry: CollectorRegistry, metrics: SelfMetrics):
        self._store = store
        self._registry = registry
        self._metrics = metrics

    def body(self, fmt: Format, gzip: bool) -> list[bytes]:
        """The /metrics body in `fmt` as pieces to write in order, gzip-compressed if asked."""
        started = time.perf_counter()
        if fmt is Format.OPENMETRICS:
            own: bytes = openmetrics_exposition.generate_latest(  # type: ignore[no-untyped-call]
                self._registry
            )
        else:
            own = text_exposition.generate_latest(self._registry)
        if gzip:
            deflated = self._store.deflated(fmt)
            compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
            tail = compressor.compress(own) + compressor.flush()
            crc = zlib.crc32(own, deflated.crc32)
            size = (deflated.size + len(own)) & 0xFFFFFFFF
            pieces = [GZIP_HEADER, *deflated.segments, tail, struct.pack("<II", crc, size)]
        else:
            pieces = [*self._store.exposition(fmt).pieces, own]
        self._metrics.scrape_duration.observe(time.perf_counter() - started)
        return pieces


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ExporterHTTPServer

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def _serve(self, send_body: bool) -> None:
        with self.server.in_flight():
            self._respond(send_body)

    def _respond(self, send_body: bool) -> None:
        path = self.path.split("?", 1)[0]
        headers: dict[str, str] = {}
        refusal = self._refusal(path)
        if refusal is not None:
            status, pieces = refusal.value, [REFUSALS[refusal]]
            if refusal is Decision.UNAUTHENTICATED:
                headers["WWW-Authenticate"] = 'Bearer realm="ray-exporter"'
        elif path == "/metrics":
            fmt = negotiate_format(self.headers.get("Accept"))
            gzip = accepts_gzip(self.headers.get("Accept-Encoding"))
            try:
                pieces = self.server.responder.body(fmt, gzip)
            except Exception:  # a bug; the scraper sees a failed scrape, the server lives on
                logger.exception("building /metrics failed")
                status, pieces, gzip = 500, [b"internal error\n"], False
            else:
                status = 200
                headers["Content-Type"] = fmt.content_type
            headers["Vary"] = "Accept, Accept-Encoding"
            if gzip:
                headers["Content-Encoding"] = "gzip"
        elif path == "/healthz":
            status, pieces = 200, [b"ok\n"]
        elif path == "/readyz":
            ready = self.server.ready()
            status, pieces = (200, [b"ok\n"]) if ready else (503, [b"not synced yet\n"])
        else:
            status, pieces = 404, [b"not found\n"]
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(sum(len(piece) for piece in pieces)))
        self.end_headers()
        if send_body:
            for piece in pieces:
                self.wfile.write(piece)

    def _refusal(self, path: str) -> Decision | None:
        """Why this request may not read `path` (None: it may)."""
        authorizer = self.server.authorizer
        if authorizer is None or path != "/metrics":
            return None
        decision = authorizer.check(self.headers.get("Authorization"), path, "get").decision
        return None if decision is Decision.ALLOWED else decision

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("http {} {}", self.address_string(), format % args)


class ExporterHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP(S) server carrying the responder, readiness check and scrape auth."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        responder: MetricsResponder,
        ready: Callable[[], bool],
        tls: TLSContextSource | None = None,
        authorizer: MetricsAuthorizer | None = None,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.responder = responder
        self.ready = ready
        self.tls = tls
        self.authorizer = authorizer
        self._requests = 0
        self._idle = threading.Condition()
        super().__init__(address, _Handler)

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Count a request while it is answered, for `drain`."""
        with self._idle:
            self._requests += 1
        try:
            yield
        finally:
            with self._idle:
                self._requests -= 1
                self._idle.notify_all()

    def drain(self, timeout: float) -> int:
        """After `shutdown()`: wait up to `timeout` s for the requests being answered to
        finish (idle keep-alive connections are not waited for); answer how many remain."""
        with self._idle:
            self._idle.wait_for(lambda: self._requests == 0, timeout)
            return self._requests

    def handle_error(self, request: Any, client_address: Any) -> None:
        """An exception while serving a connection: one log line, not a stderr traceback."""
        logger.opt(exception=True).error("HTTP request failed", client=str(client_address[0]))

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept; with TLS, wrap the socket but leave the handshake to the handler thread."""
        connection, address = self.socket.accept()
        if self.tls is None:
            return connection, address
        # A response is several TLS records (headers, then body pieces); without this, Nagle
        # holds the second until the client's delayed ACK, some 40 ms per response.
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            wrapped = self.tls.context().wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        except OSError:
            connection.close()
            raise
        return wrapped, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Handshake first (in this connection's thread, under a timeout), then serve."""
        if isinstance(request, ssl.SSLSocket):
            try:
                request.settimeout(TLS_HANDSHAKE_TIMEOUT_SECONDS)
                request.do_handshake()
                request.settimeout(None)
            except OSError as error:  # ssl.SSLError and timeouts included
                logger.debug(
                    "TLS handshake failed", client=str(client_address[0]), error=str(error)
                )
                return
        super().finish_request(request, client_address)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> threading.Thread:
        """Serve in a background thread; `shutdown()` stops it."""
        thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        thread.start()
        return thread
