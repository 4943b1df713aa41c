"""The real Prometheus finds and scrapes the real exporter through Kubernetes service discovery,
with the scrape configuration the Prometheus Operator generates from the chart's ServiceMonitor.

The chart is rendered (`helm template`, ServiceMonitor on); its exporter Service is created in
the test's namespace, and the ServiceMonitor is turned into `kubernetes_sd_configs` jobs by
e2e/servicemonitor.py (role `endpoints`, then `endpointslice`). kwok's pods have fake IPs and
the control plane runs no endpoint reconciler for them, so the Service is created without its
selector and its Endpoints (or EndpointSlice) are written by the test: the address is this
machine's non-loopback address, where the exporter listens (the apiserver refuses loopback
endpoints), and the target reference is a kwok pod carrying the exporter pod's labels and a
container port named `metrics`. A decoy Service without the chart's labels, and a second
port not named `metrics`, point at the same exporter: the relabelings must drop both.

The target must be up with `job`, `namespace`, `service`, `pod` (the labels the alerts and
dashboards use), `container` and `endpoint`, and the RayCluster the test creates must be in
Prometheus under those labels.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e.servicemonitor import ROLES, scrape_configs
from integration.exporter_harness import RayObjects, exporter_env, exporter_running, raycluster
from kubernetes import client

from localkube.cluster import TOOLS_BIN
from localkube.crds import apply_crds
from localkube.monitoring import Prometheus, free_port, wait_until

pytestmark = pytest.mark.e2e

CHART = Path(__file__).resolve().parents[2] / "charts" / "ray-operator"
RELEASE = "sd"
POD = "sd-ray-operator-exporter-0"
CLUSTER = "discovered"


def host_address() -> str:
    """This machine's first global IPv4 address (the apiserver refuses loopback endpoints)."""
    shown = subprocess.run(
        ["ip", "-4", "-j", "addr", "show", "scope", "global"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for link in json.loads(shown):
        for address in link.get("addr_info", []):
            return str(address["local"])
    pytest.skip("no global IPv4 address: endpoints cannot point at this machine")


def render(namespace: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The chart's exporter ServiceMonitor and Service, as `helm template` renders them."""
    rendered = subprocess.run(
        [
            str(TOOLS_BIN / "helm"),
            "template",
            RELEASE,
            str(CHART),
            "--namespace",
            namespace,
            "--api-versions",
            "monitoring.coreos.com/v1/ServiceMonitor",
            "--set",
            "metrics.serviceMonitor.enabled=true",
            "--set",
            "metrics.serviceMonitor.interval=1s",
            "--set",
            "metrics.serviceMonitor.scrapeTimeout=1s",
            "--show-only",
            "templates/servicemonitor.yaml",
            "--show-only",
            "templates/exporter-service.yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    objects = {doc["kind"]: doc for doc in yaml.safe_load_all(rendered) if doc}
    return objects["ServiceMonitor"], objects["Service"]


def exporter_pod(namespace: str, labels: dict[str, str], port: int) -> dict[str, Any]:
    container = {
        "name": "exporter",
        "image": "ray-exporter:e2e",
        "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": POD, "namespace": namespace, "labels": labels},
        "spec": {"containers": [container]},
    }


def endpoint_ports(port: int) -> list[dict[str, Any]]:
    return [
        {"name": "metrics", "port": port, "protocol": "TCP"},
        {"name": "other", "port": free_port(), "protocol": "TCP"},
    ]


def write_endpoints(
    api: client.ApiClient, role: str, namespace: str, service: str, ip: str, port: int
) -> None:
    """Endpoints (role endpoints) or an EndpointSlice (role endpointslice) for `service`."""
    target = {"kind": "Pod", "name": POD, "namespace": namespace}
    if role == "endpoints":
        body: dict[str, Any] = {
            "metadata": {"name": service, "namespace": namespace},
            "subsets": [
                {"addresses": [{"ip": ip, "targetRef": target}], "ports": endpoint_ports(port)}
            ],
        }
        core: Any = client.CoreV1Api(api)  # plain dicts as bodies, as the API takes them
        core.create_namespaced_endpoints(namespace, body)
        return
    body = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service}-e2e",
            "namespace": namespace,
            "labels": {
                "kubernetes.io/service-name": service,
                "endpointslice.kubernetes.io/managed-by": "e2e.ray-operator.invalid",
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "targetRef": target}],
        "ports": endpoint_ports(port),
    }
    discovery: Any = client.DiscoveryV1Api(api)
    discovery.create_namespaced_endpoint_slice(namespace, body)


def without_selector(service: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """The Service with no selector, so no controller manages its endpoints but the test."""
    body = copy.deepcopy(service)
    del body["spec"]["selector"]
    if name:
        body["metadata"]["name"] = name
        body["metadata"]["labels"] = {"app.kubernetes.io/name": "decoy"}
    return body


def job_targets(prometheus: Prometheus, job: str) -> tuple[list[Any], list[Any]] | None:
    """The job's active and dropped targets once its one target has been scraped."""
    found = prometheus.api("targets")
    active = [t for t in found["activeTargets"] if t["scrapePool"] == job]
    dropped = [t for t in found["droppedTargets"] if t["discoveredLabels"]["job"] == job]
    if not active or any(t["health"] == "unknown" for t in active):
        return None
    return active, dropped


@pytest.mark.parametrize("role", ROLES)
def test_prometheus_discovers_the_exporter_through_the_chart_servicemonitor(
    role: str,
    kube_cluster: Any,
    api_client: client.ApiClient,
    namespace: str,
    tmp_path: Path,
) -> None:
    apply_crds(kube_cluster.env())
    ip = host_address()
    monitor, service = render(namespace)
    name = service["metadata"]["name"]
    core: Any = client.CoreV1Api(api_client)  # plain dicts as bodies
    env = exporter_env(kube_cluster.env(), kube_cluster.kubeconfig)
    with exporter_running(
        env, tmp_path / "exporter.log", "--namespaces", namespace, host=ip
    ) as exporter:
        exporter.wait_ready()
        core.create_namespaced_pod(
            namespace, exporter_pod(namespace, service["spec"]["selector"], exporter.port)
        )
        wait_until(
            "the exporter's kwok pod running",
            lambda: core.read_namespaced_pod(POD, namespace).status.phase == "Running",
        )
        core.create_namespaced_service(namespace, without_selector(service))
        core.create_namespaced_service(namespace, without_selector(service, "decoy"))
        write_endpoints(api_client, role, namespace, name, ip, exporter.port)
        write_endpoints(api_client, role, namespace, "decoy", ip, exporter.port)
        RayObjects(api_client, namespace).create("rayclusters", raycluster(CLUSTER))

        [job] = scrape_configs(monitor, role, str(kube_cluster.kubeconfig))
        prometheus = Prometheus(tmp_path / "prometheus", targets={}, scrape_configs=[job])
        try:
            active, dropped = wait_until(
                f"Prometheus to discover and scrape {name} ({role})",
                lambda: job_targets(prometheus, job["job_name"]),
            )
            [target] = active
            assert target["health"] == "up", target["lastError"]
            assert target["scrapeUrl"] == f"http://{ip}:{exporter.port}/metrics"
            labels = target["labels"]
            assert labels["job"] == "ray-exporter"
            assert labels["namespace"] == namespace
            assert labels["service"] == name
            assert labels["pod"] == POD
            assert labels["container"] == "exporter"
            assert labels["endpoint"] == "metrics"
            # The decoy Service and the port not named metrics were discovered and dropped.
            services_ports = {
                (
                    t["discoveredLabels"]["__meta_kubernetes_service_name"],
                    t["discoveredLabels"].get(
                        "__meta_kubernetes_endpoint_port_name"
                        if role == "endpoints"
                        else "__meta_kubernetes_endpointslice_port_name"
                    ),
                )
                for t in dropped
                if "__meta_kubernetes_service_name" in t["discoveredLabels"]
            }
            assert {("decoy", "metrics"), ("decoy", "other"), (name, "other")} <= services_ports

            query = (
                f'kuberay_cluster_info{{job="ray-exporter",namespace="{namespace}",'
                f'service="{name}",pod="{POD}",name="{CLUSTER}"}}'
            )
            [series] = wait_until("the RayCluster in Prometheus", lambda: prometheus.query(query))
            assert series["value"][1] == "1"
        finally:
            prometheus.stop()
