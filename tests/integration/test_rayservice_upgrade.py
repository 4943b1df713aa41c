"""Zero-downtime upgrades of a RayService against two real Ray Serve instances.

The active cluster's dashboard is one Ray head, every new cluster's the other (the dashboard
map names the active cluster and sends the rest of the namespace to the second head). A
background sampler records, in this order, which cluster the serve Service selects, what
Serve on the new Ray reports, the RayService status, the child clusters, an HTTP request to
the selected cluster's Serve and a scrape of a real ray-exporter, so the assertions are about
what was observed during the upgrade, not about timing.
"""

from __future__ import annotations

import time
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

from localkube.monitoring import Prometheus

pytestmark = pytest.mark.integration
READY_TIMEOUT = 240
DELETION_DELAY = 20
NEW_IMAGE = "rayproject/ray:2.60.0-py311"
RULES = Path(__file__).resolve().parents[2] / "alerts" / "ray-operator.rules.yaml"


@pytest.fixture(scope="module")
def crds(kube_cluster: Any) -> None:
    apply_crds(kube_cluster.env())


@pytest.fixture(scope="module")
def heads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeHead, ServeHead]]:
    app = write_app(tmp_path_factory.mktemp("serve-app"))
    blue = ServeHead(tmp_path_factory.mktemp("ray-blue"), app)
    try:
        green = ServeHead(tmp_path_factory.mktemp("ray-green"), app)
    except BaseException:
        blue.stop()
        raise
    yield blue, green
    green.stop()
    blue.stop()


@pytest.fixture
def dashboards(tmp_path: Path, namespace: str, heads: tuple[ServeHead, ServeHead]) -> DashboardMap:
    blue, green = heads
    green.reset()
    mapping = DashboardMap(tmp_path / "dashboards.yaml")
    mapping.write({f"{namespace}/*": blue.dashboard_url})
    return mapping


@pytest.fixture
def operator(
    kube_cluster: Any, crds: None, namespace: str, tmp_path: Path, dashboards: DashboardMap
) -> Iterator[OperatorProcess]:
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


@pytest.fixture
def services(api_client: client.ApiClient, namespace: str) -> Services:
    return Services(api_client, namespace)


def start_serving(
    services: Services, dashboards: DashboardMap, heads: tuple[ServeHead, ServeHead], name: str
) -> str:
    """Create the RayService on the blue Ray; map its cluster there and new ones to green."""
    blue, green = heads
    services.create(rayservice(name, greeting="blue", deletion_delay=DELETION_DELAY))
    status = wait_for("Ready", lambda: services.ready(name), timeout=READY_TIMEOUT)
    active: str = status["activeServiceStatus"]["rayClusterName"]
    namespace = services.namespace
    dashboards.write(
        {f"{namespace}/{active}": blue.dashboard_url, f"{namespace}/*": green.dashboard_url}
    )
    assert blue.get("/") == (200, "blue")
    return active


def upgrade(services: Services, name: str, image: str, greeting: str, delay: float) -> None:
    """Change the cluster config (a new image) and the Serve config in one update."""
    new = rayservice(name, greeting=greeting, image=image)["spec"]
    new["serveConfigV2"] = serve_config(greeting, delay=delay)
    services.patch(
        name,
        {
            "spec": {
                "rayClusterConfig": new["rayClusterConfig"],
                "serveConfigV2": new["serveConfigV2"],
            }
        },
    )


def test_cluster_change_is_a_zero_downtime_upgrade(
    operator: OperatorProcess,
    services: Services,
    dashboards: DashboardMap,
    heads: tuple[ServeHead, ServeHead],
    exporter: ExporterProcess,
) -> None:
    blue, green = heads
    old = start_serving(services, dashboards, heads, "shop")
    by_cluster = {old: blue}

    def observe() -> dict[str, Any]:
        selected = services.selector("shop")
        green_app = green.app_status("greeter")  # read after the selector: see the assertion
        status = services.status("shop")
        clusters = services.clusters("shop")
        target = by_cluster.get(selected or "", green)
        metrics = exporter.metrics()
        return {
            "selected": selected,
            "green_app": green_app,
            "ready": condition(status, "Ready").get("status"),
            "upgrading": condition(status, "UpgradeInProgress").get("status"),
            "active": (status.get("activeServiceStatus") or {}).get("rayClusterName"),
            "pending": (status.get("pendingServiceStatus") or {}).get("rayClusterName"),
            "old_exists": old in clusters
            and not clusters[old]["metadata"].get("deletionTimestamp"),
            "old_delete_after": (clusters.get(old) or {})
            .get("metadata", {})
            .get("annotations", {})
            .get("ray.io/delete-after"),
            "http": target.get("/"),
            "gauge_ready": value(
                metrics, "kuberay_service_condition_ready", name="shop", condition="true"
            ),
            "gauge_upgrading": value(
                metrics,
                "kuberay_service_condition_upgrade_in_progress",
                name="shop",
                condition="true",
            ),
        }

    with Sampler(observe, interval=0.3) as sampler:
        upgrade(services, "shop", NEW_IMAGE, "green", delay=8)
        new = wait_for(
            "a pending cluster",
            lambda: (services.status("shop").get("pendingServiceStatus") or {}).get(
                "rayClusterName"
            ),
        )
        by_cluster[new] = green

        def promoted() -> bool:
            status = services.status("shop")
            return (
                status["activeServiceStatus"].get("rayClusterName") == new
                and condition(status, "UpgradeInProgress").get("status") == "False"
            )

        wait_for("the pending cluster promoted", promoted, timeout=READY_TIMEOUT)
        wait_for(
            "the old cluster deleted",
            lambda: old not in services.clusters("shop"),
            timeout=DELETION_DELAY + 180,
        )
        wait_for(
            "a sample without the old cluster",
            lambda: sampler.samples and not sampler.samples[-1]["old_exists"],
        )

    samples = sampler.samples
    assert new != old
    # Traffic: every request to the cluster the serve Service selected was answered.
    assert all(s["http"][0] == 200 for s in samples), [
        s["http"] for s in samples if s["http"][0] != 200
    ]
    assert {s["http"][1] for s in samples if s["selected"] == old} <= {"blue"}
    assert {s["http"][1] for s in samples if s["selected"] == new} == {"green"}
    # Ready throughout, in the status and in the exporter's gauge.
    assert all(s["ready"] == "True" for s in samples)
    assert all(s["gauge_ready"] == 1 for s in samples)
    # The selector moved once, from the old cluster to the new one...
    selections = [s["selected"] for s in samples]
    switch = selections.index(new)
    assert set(selections[:switch]) == {old}
    assert set(selections[switch:]) == {new}
    # ...only after the new cluster's app was RUNNING on its own Ray (which it was not at first).
    assert all(s["green_app"] == "RUNNING" for s in samples[switch:])
    assert any(s["pending"] == new and s["green_app"] != "RUNNING" for s in samples[:switch])
    # UpgradeInProgress True during the upgrade and False after, in status and gauge.
    assert any(s["upgrading"] == "True" and s["gauge_upgrading"] == 1 for s in samples[:switch])
    assert samples[-1]["upgrading"] == "False"
    assert samples[-1]["gauge_upgrading"] is None
    assert (
        value(
            exporter.metrics(),
            "kuberay_service_condition_upgrade_in_progress",
            name="shop",
            condition="false",
        )
        == 1
    )
    # The old cluster stayed until the deletion delay had passed after the switch: the switch
    # came after the last sample still selecting it began, the deletion before the first
    # sample without it ended, so their difference bounds the real gap from above.
    gone = next(i for i, s in enumerate(samples) if i > switch and not s["old_exists"])
    assert all(s["old_exists"] for s in samples[:gone])
    assert samples[gone]["t_end"] - samples[switch - 1]["t"] >= DELETION_DELAY - 1
    assert any(s["old_delete_after"] for s in samples[switch:])
    # The old Ray was never touched: it still serves the old app.
    assert blue.get("/") == (200, "blue")

    status = services.status("shop")
    assert status["activeServiceStatus"]["applicationStatuses"]["greeter"]["status"] == "RUNNING"
    assert not status.get("pendingServiceStatus", {}).get("rayClusterName")
    assert condition(status, "UpgradeInProgress")["reason"] == "NoPendingCluster"
    messages = [e["message"] for e in services.events("shop")]
    assert any(f"Created the RayCluster {services.namespace}/{new}" in m for m in messages)
    assert any(f"to select RayCluster {new}" in m for m in messages)
    assert any(f"Deleted the RayCluster {services.namespace}/{old}" in m for m in messages)


def test_a_change_mid_upgrade_replaces_the_pending_cluster(
    operator: OperatorProcess,
    services: Services,
    dashboards: DashboardMap,
    heads: tuple[ServeHead, ServeHead],
) -> None:
    blue, green = heads
    old = start_serving(services, dashboards, heads, "cart")

    def observe() -> dict[str, Any]:
        status = services.status("cart")
        return {
            "active": (status.get("activeServiceStatus") or {}).get("rayClusterName"),
            "pending": (status.get("pendingServiceStatus") or {}).get("rayClusterName"),
            "selected": services.selector("cart"),
            "ready": condition(status, "Ready").get("status"),
        }

    with Sampler(observe, interval=0.3) as sampler:
        upgrade(services, "cart", NEW_IMAGE, "green", delay=60)  # stays DEPLOYING a while
        first = wait_for(
            "a pending cluster",
            lambda: (services.status("cart").get("pendingServiceStatus") or {}).get(
                "rayClusterName"
            ),
        )
        wait_for(
            "the first pending cluster deploying on the green Ray",
            lambda: green.app_status("greeter") == "DEPLOYING",
            timeout=READY_TIMEOUT,
        )
        upgrade(services, "cart", "rayproject/ray:2.60.0-py312", "teal", delay=0)

        def replaced() -> str | None:
            pending = (services.status("cart").get("pendingServiceStatus") or {}).get(
                "rayClusterName"
            )
            return pending if pending and pending != first else None

        second = wait_for("the pending cluster replaced", replaced)

        def scheduled() -> dict[str, str] | None:
            cluster = services.cluster(first) or {}
            annotations: dict[str, str] = cluster.get("metadata", {}).get("annotations") or {}
            return annotations if "ray.io/delete-after" in annotations else None

        replaced_annotations = wait_for("the replaced cluster scheduled for deletion", scheduled)
        assert replaced_annotations["ray.io/serve-config-hash"], "it had received the config"

        def promoted() -> bool:
            return services.status("cart")["activeServiceStatus"].get("rayClusterName") == second

        wait_for("the replacement promoted", promoted, timeout=READY_TIMEOUT)

    samples = sampler.samples
    assert {s["active"] for s in samples if s["active"] != second} == {old}, "active untouched"
    assert first not in {s["selected"] for s in samples}, (
        "traffic never went to the replaced cluster"
    )
    assert all(s["ready"] == "True" for s in samples)
    assert green.get("/") == (200, "teal")
    assert services.cluster(old) is not None  # still within its deletion delay
    assert blue.get("/") == (200, "blue")


def test_upgrade_strategy_none_keeps_the_cluster(
    operator: OperatorProcess,
    services: Services,
    dashboards: DashboardMap,
    heads: tuple[ServeHead, ServeHead],
) -> None:
    blue, _ = heads
    body = rayservice("fixed", greeting="one", upgradeStrategy={"type": "None"})
    services.create(body)
    status = wait_for("Ready", lambda: services.ready("fixed"), timeout=READY_TIMEOUT)
    active = status["activeServiceStatus"]["rayClusterName"]
    upgrade(services, "fixed", NEW_IMAGE, "two", delay=0)
    wait_for("the new Serve config served", lambda: blue.get("/") == (200, "two"), timeout=120)

    def noted() -> dict[str, Any] | None:
        current = services.status("fixed")
        message = condition(current, "UpgradeInProgress").get("message", "")
        return current if "upgradeStrategy.type is None" in message else None

    status = wait_for("the note in UpgradeInProgress", noted)
    assert condition(status, "UpgradeInProgress")["status"] == "False"
    assert list(services.clusters("fixed")) == [active]
    assert not status.get("pendingServiceStatus", {}).get("rayClusterName")
    cluster = services.cluster(active)
    assert cluster is not None
    head = cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert head["image"] == "rayproject/ray:2.60.0"


@pytest.mark.e2e
def test_alerts_follow_readiness_and_upgrades(
    operator: OperatorProcess,
    services: Services,
    dashboards: DashboardMap,
    heads: tuple[ServeHead, ServeHead],
    exporter: ExporterProcess,
    tmp_path: Path,
) -> None:
    """Prometheus scrapes the exporter and evaluates the shipped rules: RayServiceNotReady is
    pending while the service initializes and RayServiceUpgradeStuck while it upgrades; each
    clears when the condition does (the `for:` durations are never reached here)."""
    prometheus = Prometheus(
        tmp_path / "prometheus", {"ray-exporter": [f"127.0.0.1:{exporter.port}"]}, [RULES]
    )
    try:
        wait_for("the exporter scraped", prometheus.targets_up)
        began = time.time()
        blue, green = heads
        body = rayservice("alerting", greeting="blue", deletion_delay=DELETION_DELAY)
        body["spec"]["serveConfigV2"] = serve_config("blue", delay=6)
        services.create(body)
        status = wait_for("Ready", lambda: services.ready("alerting"), timeout=READY_TIMEOUT)
        active = status["activeServiceStatus"]["rayClusterName"]
        namespace = services.namespace
        dashboards.write(
            {f"{namespace}/{active}": blue.dashboard_url, f"{namespace}/*": green.dashboard_url}
        )

        def alert(name: str) -> list[dict[str, Any]]:
            return prometheus.query(
                f'ALERTS{{alertname="{name}",name="alerting",namespace="{namespace}"}}'
            )

        wait_for("RayServiceNotReady cleared", lambda: not alert("RayServiceNotReady"), timeout=120)
        upgrade_began = time.time()
        upgrade(services, "alerting", NEW_IMAGE, "green", delay=8)

        def promoted() -> bool:
            current = services.status("alerting")
            return condition(current, "UpgradeInProgress").get("status") == "False" and (
                current["activeServiceStatus"].get("rayClusterName") != active
            )

        wait_for("the upgrade done", promoted, timeout=READY_TIMEOUT)
        wait_for(
            "RayServiceUpgradeStuck cleared",
            lambda: not alert("RayServiceUpgradeStuck"),
            timeout=120,
        )
        ended = time.time()

        def seen(name: str, start: float) -> set[str]:
            data = prometheus.api(
                "query_range",
                query=f'ALERTS{{alertname="{name}",name="alerting",namespace="{namespace}"}}',
                start=f"{start:.3f}",
                end=f"{ended:.3f}",
                step="1",
            )
            return {series["metric"]["alertstate"] for series in data["result"]}

        assert seen("RayServiceNotReady", began) == {"pending"}
        assert seen("RayServiceUpgradeStuck", upgrade_began) == {"pending"}
        assert seen("RayServiceNotReady", upgrade_began) == set(), (
            "Ready stayed True while upgrading"
        )
    finally:
        prometheus.stop()
