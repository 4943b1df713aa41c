"""Benchmark: what securing /metrics costs a scrape, against the real apiserver.

Opt-in (`pytest tests/bench/test_secure_metrics_bench.py -m bench -s`). It prints
figures and asserts nothing about time. One exporter serves plain HTTP, one HTTPS with
token checks (self-signed certificate), both over the same 50 RayClusters, run as a
ServiceAccount with the chart's exporter rules. Each is scraped N times:

- plain HTTP, a new connection per scrape;
- HTTPS with a token whose verdict is cached, a new connection (a full TLS handshake)
  per scrape, and on one keep-alive connection (what Prometheus does);
- HTTPS with a fresh token per scrape (distinct TokenRequest tokens of the permitted
  account), so every scrape waits for a TokenReview and a SubjectAccessReview.
"""

from __future__ import annotations

import http.client
import os
import ssl
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from integration.exporter_harness import (
    RayObjects,
    apply_crds,
    exporter_env,
    exporter_running,
    raycluster,
    wait_for,
)
from integration.secure_metrics_harness import secure_accounts
from kubernetes import client

pytestmark = pytest.mark.bench
SCRAPES = int(os.environ.get("SECURE_METRICS_BENCH_SCRAPES", "100"))


def timed(scrape: Callable[[], None], times: int) -> list[float]:
    taken: list[float] = []
    for _ in range(times):
        started = time.perf_counter()
        scrape()
        taken.append((time.perf_counter() - started) * 1000)
    return taken


def report(name: str, taken: list[float]) -> float:
    ordered = sorted(taken)
    p50 = statistics.median(ordered)
    p90 = ordered[max(0, int(len(ordered) * 0.9) - 1)]
    print(f"{name:58s} n={len(ordered):4d} p50={p50:7.2f} ms p90={p90:7.2f} ms")
    return p50


def get(connection: http.client.HTTPConnection, token: str | None = None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    connection.request("GET", "/metrics", headers=headers)
    response = connection.getresponse()
    response.read()
    assert response.status == 200, response.status


def token_of(core: client.CoreV1Api, namespace: str, account: str) -> str:
    """A new TokenRequest token (a distinct string each time) of `account`."""
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    status = core.create_namespaced_service_account_token(account, namespace, request).status
    assert status is not None
    return str(status.token)


def test_scrape_cost_of_tls_and_token_reviews(
    kube_cluster: Any, api_client: client.ApiClient, kubeconfig: str, namespace: str, tmp_path: Path
) -> None:
    apply_crds(kube_cluster.env())
    objects = RayObjects(api_client, namespace)
    for index in range(50):
        objects.create("rayclusters", raycluster(f"c{index}"))
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    core = client.CoreV1Api(api_client)
    with secure_accounts(api_client, kubeconfig, namespace, tmp_path) as accounts:
        env = exporter_env(kube_cluster.env(), accounts.exporter_kubeconfig)
        with (
            exporter_running(env, tmp_path / "plain.log") as plain,
            exporter_running(env, tmp_path / "secure.log", "--secure-metrics") as secure,
        ):
            plain.wait_ready()

            def https() -> http.client.HTTPSConnection:
                return http.client.HTTPSConnection("127.0.0.1", secure.port, context=unverified)

            def secure_ready() -> bool:
                try:
                    get(https(), accounts.reader)
                except (OSError, AssertionError):
                    return False
                return True

            wait_for("the secured exporter to serve", secure_ready)

            def plain_scrape() -> None:
                get(http.client.HTTPConnection("127.0.0.1", plain.port))

            def handshake_scrape() -> None:
                get(https(), accounts.reader)

            kept = https()
            fresh_tokens = iter([token_of(core, namespace, "prometheus") for _ in range(SCRAPES)])
            print()
            base = report("plain HTTP, new connection", timed(plain_scrape, SCRAPES))
            handshake = report(
                "HTTPS, cached verdict, new connection (TLS handshake)",
                timed(handshake_scrape, SCRAPES),
            )
            kept_alive = report(
                "HTTPS, cached verdict, keep-alive connection",
                timed(lambda: get(kept, accounts.reader), SCRAPES),
            )
            reviewed = report(
                "HTTPS, new token: TokenReview + SubjectAccessReview",
                timed(lambda: get(https(), next(fresh_tokens)), SCRAPES),
            )
            print(
                f"ratios to plain: handshake {handshake / base:.1f}x, keep-alive "
                f"{kept_alive / base:.1f}x, reviewed {reviewed / base:.1f}x; "
                f"load average {os.getloadavg()[0]:.2f}"
            )
