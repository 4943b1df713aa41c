"""The HTTP server in secure mode, for real on 127.0.0.1: HTTPS, open probes, 401/403/500 on
/metrics, and a client stuck before or in its TLS handshake not holding up other scrapes."""

from __future__ import annotations

import gzip
import http.client
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from exporter_objects import raycluster
from prometheus_client import CollectorRegistry

from ray_exporter.auth import MetricsAuthorizer, ReviewError, UserInfo
from ray_exporter.families import render
from ray_exporter.http import ExporterHTTPServer, MetricsResponder
from ray_exporter.rayclusters import RAYCLUSTERS
from ray_exporter.resources import FAMILY_ORDER, RESOURCES
from ray_exporter.selfmetrics import SelfMetrics, SyncTracker
from ray_exporter.sharding import Shard
from ray_exporter.store import MetricsStore
from ray_exporter.tls import TLSContextSource, self_signed

ALLOWED, FORBIDDEN, BROKEN = "allowed-token", "forbidden-token", "broken-token"


@dataclass
class TableReviewer:
    """Two known tokens; BROKEN makes the TokenReview fail as if the apiserver were down."""

    calls: list[str] = field(default_factory=list)

    def authenticate(self, token: str) -> tuple[UserInfo | None, str]:
        self.calls.append(token)
        if token == BROKEN:
            raise ReviewError("TokenReview: NewConnectionError")
        users = {ALLOWED: UserInfo("prometheus"), FORBIDDEN: UserInfo("someone")}
        return users.get(token), "invalid bearer token"

    def authorize(self, user: UserInfo, path: str, verb: str) -> tuple[bool, str]:
        return (user.username == "prometheus" and (path, verb) == ("/metrics", "get")), ""


@dataclass
class SecureExporter:
    server: ExporterHTTPServer
    ca: Path
    reviewer: TableReviewer

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def request(
        self, path: str, token: str | None = None, method: str = "GET", **headers: str
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPSConnection(
            "localhost", self.server.port, context=self.context(), timeout=30
        )
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            connection.request(
                method, path, headers={k.replace("_", "-"): v for k, v in headers.items()}
            )
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()


@pytest.fixture
def secure(tmp_path: Path) -> Iterator[SecureExporter]:
    pair = self_signed(["localhost"])
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_bytes(pair.cert_pem)
    key.write_bytes(pair.key_pem)
    registry = CollectorRegistry()
    metrics = SelfMetrics(registry, [resource.plural for resource in RESOURCES], "1.2.3")
    store = MetricsStore(RESOURCES, FAMILY_ORDER, Shard())
    store.put("rayclusters", render(RAYCLUSTERS, raycluster("c1")))
    tracker = SyncTracker([(resource.plural, None) for resource in RESOURCES])
    reviewer = TableReviewer()
    server = ExporterHTTPServer(
        ("127.0.0.1", 0),
        MetricsResponder(store, registry, metrics),
        tracker.ready,
        tls=TLSContextSource(cert, key, names=[]),
        authorizer=MetricsAuthorizer(reviewer),
    )
    server.start()
    try:
        yield SecureExporter(server, cert, reviewer)
    finally:
        server.shutdown()
        server.server_close()


def test_probes_answer_over_https_without_a_token(secure: SecureExporter) -> None:
    assert secure.request("/healthz")[0] == 200
    assert secure.request("/readyz")[0] == 503  # nothing listed yet, but reachable
    assert secure.reviewer.calls == []


def test_metrics_without_a_token_is_401_with_a_bearer_challenge(secure: SecureExporter) -> None:
    status, headers, body = secure.request("/metrics")
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert b"kuberay_" not in body
    assert secure.request("/metrics", method="HEAD")[0] == 401


def test_metrics_with_an_unknown_token_is_401(secure: SecureExporter) -> None:
    assert secure.request("/metrics", token="garbage")[0] == 401


def test_metrics_for_a_user_without_permission_is_403(secure: SecureExporter) -> None:
    status, _, body = secure.request("/metrics", token=FORBIDDEN)
    assert status == 403
    assert b"kuberay_" not in body


def test_metrics_for_an_allowed_user_is_served_gzip_included(secure: SecureExporter) -> None:
    status, _, body = secure.request("/metrics", token=ALLOWED)
    assert status == 200
    assert b'kuberay_cluster_info{name="c1"' in body
    status, headers, zipped = secure.request("/metrics", token=ALLOWED, Accept_Encoding="gzip")
    assert (status, headers["Content-Encoding"]) == (200, "gzip")
    assert gzip.decompress(zipped).startswith(body.split(b"# HELP ray_exporter_")[0])
    assert secure.reviewer.calls == [ALLOWED]  # the second scrape came from the cache


def test_a_failed_review_is_500_never_200(secure: SecureExporter) -> None:
    status, _, body = secure.request("/metrics", token=BROKEN)
    assert status == 500
    assert b"kuberay_" not in body


def test_plain_http_to_the_https_port_gets_no_answer(secure: SecureExporter) -> None:
    with socket.create_connection(("127.0.0.1", secure.server.port), timeout=30) as plain:
        plain.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = plain.recv(4096)
    assert not answer.startswith(b"HTTP/")
    assert secure.request("/healthz")[0] == 200


def test_a_client_stalled_in_the_handshake_does_not_block_others(secure: SecureExporter) -> None:
    idle = socket.create_connection(("127.0.0.1", secure.server.port), timeout=30)
    half = socket.create_connection(("127.0.0.1", secure.server.port), timeout=30)
    half.sendall(b"\x16\x03\x01\x00\xff")  # a TLS record header, then nothing
    try:
        assert secure.request("/metrics", token=ALLOWED)[0] == 200
        assert secure.request("/healthz")[0] == 200
    finally:
        idle.close()
        half.close()


def test_the_certificate_is_checked_by_name(secure: SecureExporter) -> None:
    connection = http.client.HTTPSConnection(
        "127.0.0.1", secure.server.port, context=secure.context(), timeout=30
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        connection.request("GET", "/healthz")  # the certificate names localhost only
    connection.close()
