"""The `ray-exporter` program: settings, logs, store, watchers and HTTP server wired together.

Everything stateful (settings, the self-metrics registry, the API client, the
store) is built here and passed down; no module holds a global. SIGTERM and
SIGINT stop the HTTP server and the watch threads and exit 0. The exit status
is 1 when the exporter cannot start (no cluster configuration, address in use,
unreadable TLS files) and 2 for invalid settings.

With `--secure-metrics` the server speaks HTTPS; with `--metrics-auth` scrapes
are reviewed through a second API client of its own, so reviews never wait
behind the watch streams' connections.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from loguru import logger
from prometheus_client import CollectorRegistry, disable_created_metrics

from ray_exporter.auth import MetricsAuthorizer
from ray_exporter.http import ExporterHTTPServer, MetricsResponder
from ray_exporter.kube import KubeApi, RateLimiter, api_client
from ray_exporter.logs import configure_logging
from ray_exporter.resources import FAMILY_ORDER, RESOURCES
from ray_exporter.reviews import ApiReviewer
from ray_exporter.selfmetrics import SelfMetrics, StateCollector, SyncTracker
from ray_exporter.settings import Settings, load_settings
from ray_exporter.sharding import Shard
from ray_exporter.store import MetricsStore
from ray_exporter.tls import TLSContextSource, subject_alternative_names
from ray_exporter.version import describe, version
from ray_exporter.watch import Watcher

JOIN_TIMEOUT_SECONDS = 5.0
DRAIN_TIMEOUT_SECONDS = 10.0  # a scrape in progress at SIGTERM may finish
REVIEW_CONNECTIONS = 4


def _tls(settings: Settings) -> TLSContextSource | None:
    """The TLS context source of `--secure-metrics`, or None for plain HTTP."""
    if not settings.secure_metrics:
        return None
    names = subject_alternative_names(settings.tls_sans)
    return TLSContextSource(settings.tls_cert_file, settings.tls_key_file, names)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the exporter until SIGTERM or SIGINT; answer the exit status."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if "--version" in arguments:
        print(describe())
        return 0
    settings = load_settings(arguments, os.environ)
    configure_logging(settings.log_format, settings.log_level, settings.log_file_path)
    scopes = [
        (resource, namespace)
        for resource in RESOURCES
        for namespace in settings.namespaces or (None,)
    ]

    disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series
    registry = CollectorRegistry()
    metrics = SelfMetrics(registry, [resource.plural for resource in RESOURCES], version())
    store = MetricsStore(RESOURCES, FAMILY_ORDER, Shard(settings.shard, settings.total_shards))
    tracker = SyncTracker([(resource.plural, namespace) for resource, namespace in scopes])
    registry.register(StateCollector(tracker, store.count))

    try:
        client = api_client(connections=len(scopes) + 2)
    except Exception as error:
        logger.error("no cluster configuration (KUBECONFIG or in-cluster)", error=str(error))
        return 1
    try:
        tls = _tls(settings)
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        logger.error("cannot load the TLS certificate and key", error=str(error))
        client.close()
        return 1
    review_client = api_client(connections=REVIEW_CONNECTIONS) if settings.metrics_auth else None
    authorizer = None
    if review_client is not None:
        metrics.start_metrics_auth()
        authorizer = MetricsAuthorizer(ApiReviewer(review_client), observe=metrics.count_auth)
    address = (settings.listen_host, settings.listen_port)
    try:
        server = ExporterHTTPServer(
            address,
            MetricsResponder(store, registry, metrics),
            tracker.ready,
            tls=tls,
            authorizer=authorizer,
        )
    except OSError as error:
        logger.error("cannot listen", address=f"{address[0]}:{address[1]}", error=str(error))
        client.close()
        if review_client is not None:
            review_client.close()
        return 1

    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    api = KubeApi(client, RateLimiter(settings.kube_api_qps, settings.kube_api_burst))
    watchers = [
        Watcher(resource, namespace, api, store, tracker, metrics, stop)
        for resource, namespace in scopes
    ]
    server.start()
    for watcher in watchers:
        watcher.start()
    logger.info(
        "serving",
        version=version(),
        address=f"{settings.listen_host}:{server.port}",
        namespaces=list(settings.namespaces) or "all",
        shard=settings.shard,
        total_shards=settings.total_shards,
        scheme="https" if tls else "http",
        metrics_auth=settings.metrics_auth,
    )
    while not stop.wait(1.0):
        pass

    server.shutdown()  # no new connections or requests
    unfinished = server.drain(DRAIN_TIMEOUT_SECONDS)
    if unfinished:
        logger.warning("stopping with requests unanswered", requests=unfinished)
    server.server_close()
    api.close_streams()
    for watcher in watchers:
        watcher.join(JOIN_TIMEOUT_SECONDS)
    client.close()
    if review_client is not None:
        review_client.close()
    logger.info("stopped")
    return 0
