"""RayServices on the real control plane against a real Ray Serve: readiness, HTTP, in-place
Serve updates, a broken Serve config, and suspend/resume, with the exporter's gauges.

The child RayClusters' pods are kwok's; their dashboard is a real Ray head on this machine
(the operator's --dashboard-map sends every cluster of the test's namespace to it), and the
app answers HTTP on that head's Serve port.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from exporter_harness import ExporterProcess, apply_crds, value
from kubernetes import client
from raycluster_harness import OperatorProcess, wait_for
from rayservice_harness import (
    DashboardMap,
    Sampler,
    ServeHead,
    Services,
    condition,
    rayservice,
    serve_config,
    write_app,
)

pytestmark = pytest.mark.integration
READY_TIMEOUT = 240  # a first deployment on a busy 2-core machine


@pytest.fixture(scope="module")
def crds(kube_cluster: Any) -> None:
    apply_crds(kube_cluster.env())


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeHead]:
    app = write_app(tmp_path_factory.mktemp("serve-app"))
    serve_head = ServeHead(tmp_path_factory.mktemp("ray-head"), app)
    yield serve_head
    serve_head.stop()


@pytest.fixture
def services(api_client: client.ApiClient, namespace: str) -> Services:
    return Services(api_client, namespace)


@pytest.fixture
def operator(
    kube_cluster: Any, crds: None, namespace: str, tmp_path: Path, head: ServeHead
) -> Iterator[OperatorProcess]:
    dashboards = DashboardMap(tmp_path / "dashboards.yaml")
    dashboards.write({f"{namespace}/*": head.dashboard_url})
    args = ("--namespaces", namespace, "--dashboard-map", str(dashboards.path))
    with OperatorProcess(kube_cluster.env(), tmp_path / "operator.log", *args) as op:
        yield op


@pytest.fixture
def exporter(
    kube_cluster: Any, crds: None, namespace: str, tmp_path: Path
) -> Iterator[ExporterProcess]:
    process = ExporterProcess(
        kube_cluster.env(), tmp_path / "exporter.log", "--namespaces", namespace
    )
    process.wait_ready()
    yield process
    process.stop()


def gauge(exporter: ExporterProcess, family: str, name: str, condition_value: str) -> float | None:
    return value(
        exporter.metrics(), f"kuberay_service_{family}", name=name, condition=condition_value
    )


SERVE_ENV = {
    "RAY_timeout_ms_task_wait_for_death_info": "0",
    "RAY_gcs_server_request_timeout_seconds": "5",
    "RAY_SERVE_KV_TIMEOUT_S": "5",
}


def test_rayservice_becomes_ready_and_serves_http(
    operator: OperatorProcess, services: Services, head: ServeHead, exporter: ExporterProcess
) -> None:
    services.create(rayservice("greeter", greeting="hello-1"))
    status = wait_for("Ready", lambda: services.ready("greeter"), timeout=READY_TIMEOUT)

    active = status["activeServiceStatus"]["rayClusterName"]
    assert active.startswith("greeter-")
    assert status.get("pendingServiceStatus", {}).get("rayClusterName") is None
    app = status["activeServiceStatus"]["applicationStatuses"]["greeter"]
    assert app["status"] == "RUNNING"
    assert app["serveDeploymentStatuses"]["Greeter"]["status"] == "HEALTHY"
    assert status["activeServiceStatus"]["rayClusterStatus"]["state"] == "ready"
    assert status["numServeEndpoints"] >= 1
    assert status["serviceStatus"] == "Running"
    ready = condition(status, "Ready")
    assert (ready["reason"], ready["observedGeneration"]) == ("NonZeroServeEndpoints", 1)
    upgrade = condition(status, "UpgradeInProgress")
    assert (upgrade["status"], upgrade["reason"]) == ("False", "NoPendingCluster")

    assert head.get("/") == (200, "hello-1")

    cluster = services.cluster(active)
    assert cluster is not None
    assert cluster["metadata"]["labels"]["ray.io/originated-from-crd"] == "RayService"
    assert cluster["metadata"]["labels"]["ray.io/originated-from-cr-name"] == "greeter"
    owner = cluster["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("RayService", "greeter", True)

    serve_svc = services.service("greeter-serve-svc")
    assert serve_svc is not None
    assert serve_svc["spec"]["selector"] == {"ray.io/cluster": active, "ray.io/serve": "true"}
    head_svc = services.service("greeter-head-svc")
    assert head_svc is not None
    assert head_svc["spec"]["selector"] == {"ray.io/cluster": active, "ray.io/node-type": "head"}
    labels = {
        p["metadata"]["labels"]["ray.io/node-type"]: p["metadata"]["labels"]["ray.io/serve"]
        for p in services.pods(active)
    }
    # Serve's proxy runs on the (real) head node only; the kwok worker has none.
    assert labels == {"head": "true", "worker": "false"}
    # KubeRay's settings for a RayService's pods, as the apiserver stored them.
    for pod in services.pods(active):
        ray = pod["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in ray["env"]}
        assert {k: env.get(k) for k in SERVE_ENV} == SERVE_ENV
        readiness = ray["readinessProbe"]
        serve_check = "http://localhost:8000/-/healthz | grep success"
        if pod["metadata"]["labels"]["ray.io/node-type"] == "worker":
            assert serve_check in readiness["exec"]["command"][2]
            assert readiness["failureThreshold"] == 1
        else:
            assert serve_check not in readiness["exec"]["command"][2]

    reasons = {e["reason"] for e in services.events("greeter")}
    assert {
        "CreatedRayCluster",
        "UpdatedServeApplications",
        "UpdatedHeadPodServeLabel",
        "CreatedService",
    } <= reasons
    assert all(
        e["source"]["component"] == "rayservice-controller" for e in services.events("greeter")
    )

    body = exporter.wait_metrics(
        "the ready gauge",
        lambda b: value(b, "kuberay_service_condition_ready", name="greeter", condition="true"),
    )
    uid = services.get("greeter")["metadata"]["uid"]
    assert value(body, "kuberay_service_info", name="greeter", uid=uid) == 1
    assert (
        value(
            body, "kuberay_service_condition_upgrade_in_progress", name="greeter", condition="false"
        )
        == 1
    )
    assert value(body, "kuberay_service_condition_ready", name="greeter", condition="false") is None


def test_serve_config_change_updates_in_place(
    operator: OperatorProcess, services: Services, head: ServeHead
) -> None:
    services.create(rayservice("inplace", greeting="first"))
    status = wait_for("Ready", lambda: services.ready("inplace"), timeout=READY_TIMEOUT)
    active = status["activeServiceStatus"]["rayClusterName"]
    wait_for("the first greeting", lambda: head.get("/") == (200, "first"))

    def observe() -> dict[str, Any]:
        current = services.status("inplace")
        return {
            "ready": condition(current, "Ready").get("status"),
            "upgrade": condition(current, "UpgradeInProgress").get("status"),
            "pending": (current.get("pendingServiceStatus") or {}).get("rayClusterName"),
            "clusters": sorted(services.clusters("inplace")),
        }

    with Sampler(observe) as sampler:
        services.patch("inplace", {"spec": {"serveConfigV2": serve_config("second")}})
        wait_for("the new greeting", lambda: head.get("/") == (200, "second"), timeout=120)
        wait_for("the new generation observed", lambda: services.ready("inplace"))

    assert sampler.samples
    assert all(s["clusters"] == [active] for s in sampler.samples), "no new cluster"
    assert all(s["pending"] is None and s["upgrade"] == "False" for s in sampler.samples)
    assert all(s["ready"] == "True" for s in sampler.samples)

    def running_again() -> dict[str, Any] | None:
        current = services.status("inplace")
        apps = current["activeServiceStatus"]["applicationStatuses"]
        return current if apps["greeter"]["status"] == "RUNNING" else None

    status = wait_for("the app reported RUNNING again", running_again)
    assert status["activeServiceStatus"]["rayClusterName"] == active
    updates = services.events("inplace", "UpdatedServeApplications")
    assert sum(e.get("count") or 1 for e in updates) == 2


def test_broken_serve_config_is_reported_then_fixed(
    operator: OperatorProcess, services: Services, head: ServeHead
) -> None:
    broken = rayservice("broken")
    broken["spec"]["serveConfigV2"] = serve_config("x", module="missing_module")
    services.create(broken)

    def failed() -> dict[str, Any] | None:
        status = services.status("broken")
        message = condition(status, "Ready").get("message", "")
        return status if "DEPLOY_FAILED" in message else None

    status = wait_for("the failure in Ready", failed, timeout=READY_TIMEOUT)
    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Initializing")
    assert "greeter is DEPLOY_FAILED" in ready["message"]
    assert "No module named 'missing_module'" in ready["message"]
    pending = status["pendingServiceStatus"]
    assert pending["applicationStatuses"]["greeter"]["status"] == "DEPLOY_FAILED"
    assert status.get("numServeEndpoints", 0) == 0
    assert services.service("broken-serve-svc") is None, (
        "no Service for a cluster that cannot serve"
    )
    warnings = services.events("broken", "FailedToUpdateServeApplications")
    assert any("No module named 'missing_module'" in e["message"] for e in warnings)
    assert all(e["type"] == "Warning" for e in warnings)

    services.patch("broken", {"spec": {"serveConfigV2": "applications: [\n"}})

    def yaml_error() -> str | None:
        message = condition(services.status("broken"), "Ready").get("message", "")
        return message if "not valid YAML" in message else None

    message = wait_for("the YAML error in Ready", yaml_error, timeout=60)
    assert "Failed to update serve applications to the RayCluster" in message
    assert any(
        "not valid YAML" in e["message"]
        for e in services.events("broken", "FailedToUpdateServeApplications")
    )

    services.patch("broken", {"spec": {"serveConfigV2": serve_config("fixed")}})
    status = wait_for(
        "Ready after the fix", lambda: services.ready("broken"), timeout=READY_TIMEOUT
    )
    assert status["activeServiceStatus"]["applicationStatuses"]["greeter"]["status"] == "RUNNING"
    assert head.get("/") == (200, "fixed")


def test_suspend_and_resume(
    operator: OperatorProcess, services: Services, head: ServeHead, exporter: ExporterProcess
) -> None:
    services.create(rayservice("pausable", greeting="awake"))
    status = wait_for("Ready", lambda: services.ready("pausable"), timeout=READY_TIMEOUT)
    first = status["activeServiceStatus"]["rayClusterName"]

    services.patch("pausable", {"spec": {"suspend": True}})

    def suspended() -> dict[str, Any] | None:
        current = services.status("pausable")
        return current if condition(current, "Suspended").get("status") == "True" else None

    status = wait_for("Suspended", suspended, timeout=120)
    for type_, expected in (
        ("Suspending", "False"),
        ("Ready", "False"),
        ("UpgradeInProgress", "False"),
    ):
        assert (condition(status, type_)["status"], condition(status, type_)["reason"]) == (
            expected,
            "SuspendComplete",
        )
    assert services.clusters("pausable") == {}
    assert services.service("pausable-serve-svc") is None
    assert services.service("pausable-head-svc") is None
    assert status.get("numServeEndpoints", 0) == 0
    assert not status.get("activeServiceStatus", {}).get("rayClusterName")
    deleted = services.events("pausable", "DeletedRayCluster")
    assert any(first in e["message"] and "during suspend" in e["message"] for e in deleted)
    exporter.wait_metrics(
        "the not-ready gauge",
        lambda b: value(b, "kuberay_service_condition_ready", name="pausable", condition="false"),
    )

    services.patch("pausable", {"spec": {"suspend": False}})
    status = wait_for(
        "Ready after resume", lambda: services.ready("pausable"), timeout=READY_TIMEOUT
    )
    assert condition(status, "Suspended")["reason"] == "RayServiceResumed"
    second = status["activeServiceStatus"]["rayClusterName"]
    assert second != first
    assert head.get("/") == (200, "awake")
    exporter.wait_metrics(
        "the ready gauge",
        lambda b: value(b, "kuberay_service_condition_ready", name="pausable", condition="true"),
    )
