"""A real Prometheus scrapes a secured ray-exporter the way the chart's ServiceMonitor tells
it to: HTTPS verified against the CA with a server name, and a ServiceAccount token as the
bearer credentials. Jobs without a token, or with the token of an account without the
`/metrics` permission, are down with 401 and 403."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from integration.exporter_harness import (
    RayObjects,
    exporter_env,
    exporter_running,
    raycluster,
)
from integration.secure_metrics_harness import Authority, secure_accounts
from kubernetes import client

from localkube.crds import apply_crds
from localkube.monitoring import Prometheus, wait_until

pytestmark = pytest.mark.e2e


def scrape_job(name: str, target: str, ca: Path, token: Path | None) -> dict[str, Any]:
    job: dict[str, Any] = {
        "job_name": name,
        "scheme": "https",
        "tls_config": {"ca_file": str(ca), "server_name": "localhost"},
        "static_configs": [{"targets": [target]}],
    }
    if token is not None:
        job["authorization"] = {"type": "Bearer", "credentials_file": str(token)}
    return job


def targets(prometheus: Prometheus) -> dict[str, dict[str, Any]]:
    """Active targets by job, once each has been scraped at least once."""
    active = prometheus.api("targets")["activeTargets"]
    return {t["labels"]["job"]: t for t in active if t["health"] != "unknown"}


def all_scraped(prometheus: Prometheus) -> dict[str, dict[str, Any]] | None:
    found = targets(prometheus)
    return found if len(found) == 3 else None


def test_prometheus_scrapes_with_a_token_over_verified_tls(
    kube_cluster: Any,
    api_client: client.ApiClient,
    kubeconfig: str,
    namespace: str,
    tmp_path: Path,
) -> None:
    apply_crds(kube_cluster.env())
    authority = Authority.create()
    cert, key, ca = tmp_path / "tls.crt", tmp_path / "tls.key", tmp_path / "ca.crt"
    authority.issue(cert, key)
    ca.write_text(authority.pem())
    with secure_accounts(api_client, kubeconfig, namespace, tmp_path) as accounts:
        reader, stranger = tmp_path / "reader.token", tmp_path / "stranger.token"
        reader.write_text(accounts.reader)
        stranger.write_text(accounts.stranger)
        env = exporter_env(kube_cluster.env(), accounts.exporter_kubeconfig)
        args = ("--secure-metrics", f"--tls-cert-file={cert}", f"--tls-key-file={key}")
        with exporter_running(env, tmp_path / "exporter.log", *args) as exporter:
            RayObjects(api_client, namespace).create("rayclusters", raycluster("scraped"))
            prometheus = Prometheus(tmp_path / "prometheus", targets={}, interval="1s")
            try:
                address = f"127.0.0.1:{exporter.port}"
                config = yaml.safe_load((tmp_path / "prometheus" / "prometheus.yml").read_text())
                config["scrape_configs"] = [
                    scrape_job("ray-exporter", address, ca, reader),
                    scrape_job("no-token", address, ca, None),
                    scrape_job("no-permission", address, ca, stranger),
                ]
                (tmp_path / "prometheus" / "prometheus.yml").write_text(yaml.safe_dump(config))
                reload = urllib.request.Request(f"{prometheus.url}/-/reload", method="POST")
                with urllib.request.urlopen(reload, timeout=30) as answer:
                    assert answer.status == 200

                jobs = wait_until("all three jobs scraped", lambda: all_scraped(prometheus))
                assert jobs["ray-exporter"]["health"] == "up", jobs["ray-exporter"]["lastError"]
                assert jobs["no-token"]["health"] == "down"
                assert "401" in jobs["no-token"]["lastError"]
                assert jobs["no-permission"]["health"] == "down"
                assert "403" in jobs["no-permission"]["lastError"]

                query = f'kuberay_cluster_info{{job="ray-exporter",namespace="{namespace}"}}'
                [series] = wait_until(
                    "the RayCluster in Prometheus", lambda: prometheus.query(query)
                )
                assert series["metric"]["name"] == "scraped"
                assert prometheus.query('up{job="no-token"}')[0]["value"][1] == "0"
            finally:
                prometheus.stop()
    log = (tmp_path / "exporter.log").read_text()
    assert accounts.reader not in log
    assert accounts.stranger not in log
