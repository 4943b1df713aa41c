"""The HTTP server, for real on 127.0.0.1: formats, gzip, health and readiness."""

from __future__ import annotations

import gzip
import http.client
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from exporter_objects import raycluster, rayjob
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from ray_exporter.exposition import Format
from ray_exporter.families import render
from ray_exporter.http import (
    ExporterHTTPServer,
    MetricsResponder,
    accepts_gzip,
    negotiate_format,
)
from ray_exporter.rayclusters import RAYCLUSTERS
from ray_exporter.rayjobs import RAYJOBS
from ray_exporter.resources import FAMILY_ORDER, RESOURCES
from ray_exporter.selfmetrics import SelfMetrics, StateCollector, SyncTracker
from ray_exporter.sharding import Shard
from ray_exporter.store import MetricsStore

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
STREAMS = [(resource.plural, None) for resource in RESOURCES]


@dataclass
class Exporter:
    server: ExporterHTTPServer
    store: MetricsStore
    tracker: SyncTracker

    def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            connection.request(
                "GET", path, headers={k.replace("_", "-"): v for k, v in headers.items()}
            )
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    registry = CollectorRegistry()
    metrics = SelfMetrics(registry, [plural for plural, _ in STREAMS], "1.2.3")
    store = MetricsStore(RESOURCES, FAMILY_ORDER, Shard())
    tracker = SyncTracker(STREAMS, clock=lambda: 1700000000.0)
    registry.register(StateCollector(tracker, store.count))
    store.put("rayclusters", render(RAYCLUSTERS, raycluster("c1")))
    store.put("rayjobs", render(RAYJOBS, rayjob("j1", status={"jobDeploymentStatus": "Running"})))
    server = ExporterHTTPServer(
        ("127.0.0.1", 0), MetricsResponder(store, registry, metrics), tracker.ready
    )
    server.start()
    try:
        yield Exporter(server, store, tracker)
    finally:
        server.shutdown()
        server.server_close()


def test_text_format_by_default(exporter: Exporter) -> None:
    status, headers, body = exporter.get("/metrics")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    objects = exporter.store.exposition(Format.TEXT).joined()
    assert body.startswith(objects)
    families = {family.name: family for family in parse_text(body.decode())}
    assert (
        families["kuberay_job_deployment_status"].samples[0].labels["deployment_status"]
        == "Running"
    )
    assert families["ray_exporter_build_info"].samples[0].labels == {"version": "1.2.3"}
    assert families["ray_exporter_objects"].samples[0].value == 1.0
    assert b"# EOF" not in body


def test_openmetrics_when_asked(exporter: Exporter) -> None:
    status, headers, body = exporter.get("/metrics", Accept=PROMETHEUS_ACCEPT)
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert body.endswith(b"# EOF\n")
    assert body.count(b"# EOF") == 1
    families = {family.name: family for family in parse_openmetrics(body.decode())}
    assert families["kuberay_cluster_info"].type == "gauge"
    events = families["ray_exporter_watch_events"]
    assert events.type == "counter"
    names = {sample.name for sample in events.samples}
    assert "ray_exporter_watch_events_total" in names
    assert names <= {"ray_exporter_watch_events_total", "ray_exporter_watch_events_created"}
    assert families["ray_exporter_build"].type == "info"


def test_gzip_when_accepted_is_one_member_with_the_same_content(exporter: Exporter) -> None:
    _, _, plain = exporter.get("/metrics")
    status, headers, body = exporter.get("/metrics", Accept_Encoding="gzip, deflate")
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = decompressor.decompress(body)
    assert decompressor.eof
    assert decompressor.unused_data == b""
    objects = exporter.store.exposition(Format.TEXT).joined()
    assert data.startswith(objects)
    assert {f.name for f in parse_text(data.decode())} == {
        f.name for f in parse_text(plain.decode())
    }


def test_gzip_follows_store_changes(exporter: Exporter) -> None:
    exporter.get("/metrics", Accept_Encoding="gzip")
    exporter.store.delete("rayclusters", "uid-c1")
    _, _, body = exporter.get("/metrics", Accept_Encoding="gzip")
    assert b'uid="uid-c1"' not in gzip.decompress(body)
    _, _, again = exporter.get("/metrics", Accept_Encoding="gzip", Accept=PROMETHEUS_ACCEPT)
    assert gzip.decompress(again).endswith(b"# EOF\n")


def test_no_gzip_when_refused(exporter: Exporter) -> None:
    _, headers, body = exporter.get("/metrics", Accept_Encoding="gzip;q=0, identity")
    assert "Content-Encoding" not in headers
    assert body.startswith(b"# HELP kuberay_cluster_info")


def test_readiness_waits_for_every_resource_to_be_listed(exporter: Exporter) -> None:
    assert exporter.get("/healthz")[0] == 200
    for stream in STREAMS[:-1]:
        exporter.tracker.listed(stream)
        assert exporter.get("/readyz")[0] == 503
    assert b"ray_exporter_synced 0.0" in exporter.get("/metrics")[2]
    exporter.tracker.listed(STREAMS[-1])
    assert exporter.get("/readyz")[0] == 200
    assert b"ray_exporter_synced 1.0" in exporter.get("/metrics")[2]


def test_unknown_paths_are_404(exporter: Exporter) -> None:
    assert exporter.get("/nope")[0] == 404


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        (None, Format.TEXT),
        ("", Format.TEXT),
        ("text/plain;version=0.0.4", Format.TEXT),
        ("application/openmetrics-text", Format.OPENMETRICS),
        (PROMETHEUS_ACCEPT, Format.OPENMETRICS),
        ("application/openmetrics-text;q=0.2,text/plain;q=0.9", Format.TEXT),
        ("application/openmetrics-text;q=0", Format.TEXT),
        ("application/openmetrics-text;q=bogus,*/*", Format.TEXT),
    ],
)
def test_format_negotiation(accept: str | None, fmt: Format) -> None:
    assert negotiate_format(accept) is fmt


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("gzip", True),
        ("br, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("*", True),
        ("identity", False),
    ],
)
def test_gzip_negotiation(header: str | None, expected: bool) -> None:
    assert accepts_gzip(header) is expected
