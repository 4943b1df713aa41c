"""ray-exporter with --secure-metrics against the real apiserver: HTTPS (self-signed, or a
CA-signed pair from files, rotated in place), scrapers authenticated by TokenReview and
authorized by SubjectAccessReview on the non-resource URL /metrics.

The exporter itself runs as a ServiceAccount holding exactly the chart's exporter rules
(read the Ray resources, create TokenReviews and SubjectAccessReviews); scrapers are
ServiceAccounts with TokenRequest tokens, one of them bound to a `/metrics` get rule.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chart_release import Release, installed, kubeconfig_for, monitoring_crds_applied, tool_env
from cryptography import x509
from exporter_harness import (
    ExporterProcess,
    RayObjects,
    apply_crds,
    exporter_env,
    exporter_running,
    raycluster,
    value,
    wait_for,
)
from kubernetes import client
from secure_metrics_harness import Accounts, Authority, secure_accounts

pytestmark = pytest.mark.integration


@pytest.fixture
def accounts(
    api_client: client.ApiClient, kubeconfig: str, namespace: str, tmp_path: Path
) -> Iterator[Accounts]:
    with secure_accounts(api_client, kubeconfig, namespace, tmp_path) as made:
        yield made


@pytest.fixture
def base_env(kube_cluster: Any) -> dict[str, str]:
    env = kube_cluster.env()
    apply_crds(env)
    return dict(env)


def fetch(
    exporter: ExporterProcess,
    path: str,
    context: ssl.SSLContext,
    token: str | None = None,
    host: str = "127.0.0.1",
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPSConnection(host, exporter.port, context=context, timeout=30)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def wait_https_ready(exporter: ExporterProcess, context: ssl.SSLContext) -> None:
    def ready() -> bool:
        if exporter.process.poll() is not None:
            raise AssertionError(f"exporter exited: {exporter.logs()}")
        try:
            return fetch(exporter, "/readyz", context)[0] == 200
        except OSError:
            return False

    wait_for("the exporter to be ready over HTTPS", ready)


def check_scrapers(
    exporter: ExporterProcess, accounts: Accounts, objects: RayObjects, context: ssl.SSLContext
) -> None:
    """401 without or with a garbage token, 403 without RBAC, 200 with it; probes open."""
    status, headers, body = fetch(exporter, "/metrics", context)
    assert status == 401, body
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert fetch(exporter, "/metrics", context, token="not-a-token-" + "x" * 20)[0] == 401
    status, _, body = fetch(exporter, "/metrics", context, token=accounts.stranger)
    assert status == 403, body
    assert b"kuberay_" not in body
    assert fetch(exporter, "/healthz", context)[0] == 200
    assert fetch(exporter, "/readyz", context)[0] == 200

    objects.create("rayclusters", raycluster("secured"))

    def scraped() -> bytes | None:
        status, _, body = fetch(exporter, "/metrics", context, token=accounts.reader)
        assert status == 200, body
        found = value(body, "kuberay_cluster_info", name="secured", namespace=accounts.namespace)
        return body if found == 1.0 else None

    body = wait_for("the RayCluster in the authorized scrape", scraped)
    assert b"# TYPE ray_exporter_synced gauge" in body


def full_log(exporter: ExporterProcess) -> str:
    """The whole log of a stopped exporter."""
    return exporter.log_path.read_text(errors="replace")


def assert_no_secrets_logged(exporter: ExporterProcess, accounts: Accounts) -> None:
    log = full_log(exporter)
    for token in (accounts.reader, accounts.stranger, "not-a-token-"):
        assert token not in log
    assert "PRIVATE KEY" not in log
    assert "metrics scrape by a user without permission" in log  # the 403 was explained


def test_self_signed_https_with_token_and_access_reviews(
    base_env: dict[str, str], accounts: Accounts, api_client: client.ApiClient, tmp_path: Path
) -> None:
    env = exporter_env(base_env, accounts.exporter_kubeconfig)
    with exporter_running(env, tmp_path / "exporter.log", "--secure-metrics") as exporter:
        context = unverified()
        wait_https_ready(exporter, context)
        check_scrapers(exporter, accounts, RayObjects(api_client, accounts.namespace), context)
        with pytest.raises(ssl.SSLCertVerificationError):  # self-signed: not trusted by default
            fetch(exporter, "/healthz", ssl.create_default_context())
    assert "serving HTTPS with a self-signed certificate" in full_log(exporter)
    assert_no_secrets_logged(exporter, accounts)


def served_serial(exporter: ExporterProcess, context: ssl.SSLContext) -> int:
    connection = http.client.HTTPSConnection("127.0.0.1", exporter.port, context=context)
    try:
        connection.connect()
        assert isinstance(connection.sock, ssl.SSLSocket)
        der = connection.sock.getpeercert(binary_form=True)
    finally:
        connection.close()
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_certificate_from_files_verified_against_its_ca_and_rotated_in_place(
    base_env: dict[str, str], accounts: Accounts, api_client: client.ApiClient, tmp_path: Path
) -> None:
    authority = Authority.create()
    cert_path, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    first = authority.issue(cert_path, key_path)
    env = exporter_env(base_env, accounts.exporter_kubeconfig)
    args = ("--secure-metrics", f"--tls-cert-file={cert_path}", f"--tls-key-file={key_path}")
    with exporter_running(env, tmp_path / "exporter.log", *args) as exporter:
        verified = ssl.create_default_context(cadata=authority.pem())
        wait_https_ready(exporter, verified)
        check_scrapers(exporter, accounts, RayObjects(api_client, accounts.namespace), verified)
        assert served_serial(exporter, verified) == first.serial_number

        second = authority.issue(cert_path, key_path)
        assert served_serial(exporter, verified) == second.serial_number
        assert fetch(exporter, "/metrics", verified, token=accounts.reader)[0] == 200
    assert full_log(exporter).count("serving HTTPS with the certificate from files") == 2
    assert_no_secrets_logged(exporter, accounts)


def test_without_review_rights_the_exporter_refuses_with_500_never_200(
    base_env: dict[str, str], accounts: Accounts, tmp_path: Path
) -> None:
    env = exporter_env(base_env, accounts.no_reviews_kubeconfig)
    with exporter_running(env, tmp_path / "exporter.log", "--secure-metrics") as exporter:
        context = unverified()
        wait_https_ready(exporter, context)
        for _ in range(2):  # a failed review is not cached: each scrape asks (and fails) again
            status, _, body = fetch(exporter, "/metrics", context, token=accounts.reader)
            assert status == 500, body
            assert b"kuberay_" not in body
    log = full_log(exporter)
    assert log.count("TokenReview failed; refusing the scrape") == 2
    assert "HTTP 403" in log
    assert accounts.reader not in log


@contextlib.contextmanager
def chart_exporter(
    kube_cluster: Any, release: Release, tmp_path: Path
) -> Iterator[ExporterProcess]:
    """The exporter with the chart Deployment's args (but a local listen address), as the
    chart's exporter ServiceAccount, ready over HTTPS; as its pod would run if kwok ran it."""
    [deployment] = [
        d
        for d in release.manifest
        if d["kind"] == "Deployment" and d["metadata"]["name"] == release.exporter
    ]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    args = [a for a in container["args"] if not a.startswith("--listen-address=")]
    assert "--secure-metrics" in args
    env = exporter_env(
        tool_env(kube_cluster),
        kubeconfig_for(release, release.exporter, tmp_path / "exporter.kubeconfig"),
    )
    with exporter_running(env, tmp_path / "exporter.log", *args) as exporter:
        wait_https_ready(exporter, unverified())
        yield exporter


def test_the_charts_rbac_is_what_a_secured_exporter_and_its_scrapers_need(
    kube_cluster: Any, api_client: client.ApiClient, tmp_path: Path
) -> None:
    """Install the chart with secure metrics; run the exporter with the Deployment's own args
    as the chart's exporter ServiceAccount; the bound Prometheus account scrapes, others not."""
    values = {
        "exporter": {
            "secureMetrics": {"enabled": True, "prometheusServiceAccount": {"name": "prometheus"}}
        }
    }
    apply_crds(tool_env(kube_cluster))
    with installed(kube_cluster, api_client, values, tmp_path) as release:
        core = client.CoreV1Api(api_client)
        for account in ("prometheus", "stranger"):
            core.create_namespaced_service_account(
                release.namespace,
                client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=account)),
            )
        assert release.can_i(release.exporter, "create", "tokenreviews.authentication.k8s.io")
        assert release.can_i(
            release.exporter, "create", "subjectaccessreviews.authorization.k8s.io"
        )
        assert not release.can_i(release.exporter, "create", "pods")
        assert release.can_i("prometheus", "get", "/metrics")
        assert not release.can_i("stranger", "get", "/metrics")

        tokens = {
            account: release.kubectl(
                "create", "token", account, "-n", release.namespace
            ).stdout.strip()
            for account in ("prometheus", "stranger")
        }
        with chart_exporter(kube_cluster, release, tmp_path) as exporter:
            context = unverified()
            assert fetch(exporter, "/metrics", context, token=tokens["stranger"])[0] == 403
            status, _, body = fetch(exporter, "/metrics", context, token=tokens["prometheus"])
            assert status == 200, body
            assert b"# TYPE kuberay_cluster_info gauge" in body
    log = full_log(exporter)
    assert "TokenReview failed" not in log
    assert release.exporter in log  # the self-signed certificate names the Service


def test_the_service_monitor_sends_the_charts_scraper_token_which_scrapes(
    kube_cluster: Any, api_client: client.ApiClient, tmp_path: Path
) -> None:
    """The ServiceMonitor of a secured install names the token Secret of the chart's scraper
    ServiceAccount (never bearerTokenFile); kube-controller-manager fills that Secret, and
    its token, sent as the Prometheus Operator would, is let in by the real exporter."""
    values = {
        "exporter": {"secureMetrics": {"enabled": True}},
        "metrics": {"serviceMonitor": {"enabled": True}},
    }
    apply_crds(tool_env(kube_cluster))
    with (
        monitoring_crds_applied(kube_cluster, api_client),
        installed(kube_cluster, api_client, values, tmp_path) as release,
    ):
        [monitor] = [d for d in release.manifest if d["kind"] == "ServiceMonitor"]
        [endpoint] = monitor["spec"]["endpoints"]
        assert "bearerTokenFile" not in endpoint
        assert endpoint["authorization"]["type"] == "Bearer"
        credentials = endpoint["authorization"]["credentials"]
        assert credentials["name"] == f"{release.name}-ray-operator-metrics-scraper-token"
        core = client.CoreV1Api(api_client)

        def token() -> str | None:
            secret = core.read_namespaced_secret(
                credentials["name"], monitor["metadata"]["namespace"]
            )
            data = secret.data or {}
            encoded = data.get(credentials["key"])
            return base64.b64decode(encoded).decode() if encoded else None

        scraper_token = wait_for("kube-controller-manager to fill the scraper token", token)
        scraper = f"{release.name}-ray-operator-metrics-scraper"
        assert release.can_i(scraper, "get", "/metrics")
        with chart_exporter(kube_cluster, release, tmp_path) as exporter:
            context = unverified()
            assert fetch(exporter, "/metrics", context)[0] == 401
            status, _, body = fetch(exporter, "/metrics", context, token=scraper_token)
            assert status == 200, body
            assert b"# TYPE kuberay_cluster_info gauge" in body
    assert scraper_token not in full_log(exporter)
