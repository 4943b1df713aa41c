"""The RayService state machine: status and observations in, new status and actions out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import service_factory as f

from ray_operator.clock import rfc3339
from ray_operator.service.actions import (
    ApplyServe,
    CreateCluster,
    DeleteCluster,
    Emit,
    Observed,
    PointServices,
    ScheduleDeletion,
    ServeView,
    SetServeLabel,
    Step,
    UpdateCluster,
)
from ray_operator.service.serve import Proxies, application_statuses, serve_config_hash
from ray_operator.service.upgrade import step

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
HASH = serve_config_hash(f.SERVE_CONFIG)
Json = dict[str, Any]


def observe(
    clusters: Sequence[Json] = (),
    *,
    pods: Mapping[str, Sequence[Json]] | None = None,
    serve: Mapping[str, Json] | None = None,
    errors: Mapping[str, str] | None = None,
    serving: str | None = None,
    endpoints: int = 0,
    now: datetime = NOW,
    new: str = "svc-new00",
) -> Observed:
    views = {
        name: ServeView(application_statuses(details), Proxies.of(details))
        for name, details in (serve or {}).items()
    }
    return Observed(
        clusters={c["metadata"]["name"]: c for c in clusters},
        pods=pods or {},
        serve=views,
        serve_errors=errors or {},
        serving_cluster=serving,
        num_serve_endpoints=endpoints,
        now=now,
        new_cluster_name=new,
    )


def cond(result: Step, type_: str) -> Json:
    return next(c for c in result.status["conditions"] if c["type"] == type_)


def names(result: Step) -> tuple[str, str]:
    return (
        result.status["activeServiceStatus"].get("rayClusterName", ""),
        result.status["pendingServiceStatus"].get("rayClusterName", ""),
    )


def serving_status(active: str, pending: str = "", *, ready: bool = True) -> Json:
    """The stored status of a RayService that serves from `active`."""
    running = {"app1": {"status": "RUNNING", "message": ""}}
    now = rfc3339(NOW - timedelta(hours=1))
    return {
        "activeServiceStatus": {"rayClusterName": active, "applicationStatuses": running},
        "pendingServiceStatus": {"rayClusterName": pending} if pending else {},
        "numServeEndpoints": 1 if ready else 0,
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": "NonZeroServeEndpoints" if ready else "Initializing",
                "message": "",
                "lastTransitionTime": now,
            },
            {
                "type": "UpgradeInProgress",
                "status": "True" if pending else "False",
                "reason": "BothActivePendingClustersExist" if pending else "NoPendingCluster",
                "message": "",
                "lastTransitionTime": now,
            },
        ],
    }


def serving_pods(cluster: str) -> list[Json]:
    return [f.pod(cluster, f"{cluster}-head", serve="true")]


# --- first deployment -------------------------------------------------------------------


def test_new_service_prepares_a_pending_cluster_and_initializes() -> None:
    result = step(f.service(generation=3), observe())
    assert result.actions == [CreateCluster("svc-new00")]
    assert names(result) == ("", "svc-new00")
    ready, upgrade = cond(result, "Ready"), cond(result, "UpgradeInProgress")
    assert (ready["status"], ready["reason"]) == ("False", "Initializing")
    assert "creating RayCluster ns/svc-new00" in ready["message"]
    assert (upgrade["status"], upgrade["reason"]) == ("False", "Initializing")
    assert ready["observedGeneration"] == 3
    assert result.status["observedGeneration"] == 3
    assert result.status["numServeEndpoints"] == 0
    assert "serviceStatus" not in result.status
    assert result.requeue == 2.0


def test_pending_cluster_waits_for_its_head_before_serve() -> None:
    owner = f.service(status={"pendingServiceStatus": {"rayClusterName": "svc-p0000"}})
    cluster = f.child(owner, "svc-p0000", head_ready=False)
    result = step(owner, observe([cluster]))
    assert not result.of(ApplyServe)
    assert not result.of(CreateCluster)
    assert "waiting for the head Pod of RayCluster ns/svc-p0000" in cond(result, "Ready")["message"]


def test_serve_config_is_applied_once_the_head_is_ready() -> None:
    owner = f.service(status={"pendingServiceStatus": {"rayClusterName": "svc-p0000"}})
    cluster = f.child(owner, "svc-p0000")
    result = step(owner, observe([cluster], serve={"svc-p0000": f.serve_details()}))
    assert result.of(ApplyServe) == [
        ApplyServe("svc-p0000", "the config was never applied to this cluster")
    ]
    assert not result.of(PointServices)


def test_dashboard_errors_are_reported_in_ready() -> None:
    owner = f.service(status={"pendingServiceStatus": {"rayClusterName": "svc-p0000"}})
    cluster = f.child(owner, "svc-p0000")
    result = step(owner, observe([cluster], errors={"svc-p0000": "connection refused"}))
    assert (
        "cannot read Serve status from the dashboard of ns/svc-p0000: connection refused"
        in cond(result, "Ready")["message"]
    )
    assert not result.of(ApplyServe)


def test_running_apps_label_pods_then_services_switch_and_cluster_is_promoted() -> None:
    owner = f.service(status={"pendingServiceStatus": {"rayClusterName": "svc-p0000"}})
    cluster = f.child(owner, "svc-p0000", serve_hash=HASH)
    details = {"svc-p0000": f.serve_details({"app1": "RUNNING"})}
    unlabelled = {"svc-p0000": [f.pod("svc-p0000", "head-1", serve="false")]}
    first = step(owner, observe([cluster], pods=unlabelled, serve=details))
    assert first.of(SetServeLabel) == [SetServeLabel("svc-p0000", "head-1", "true", True)]
    assert not first.of(PointServices), "no switch before the pods serve"
    assert names(first) == ("", "svc-p0000")

    second = step(
        owner, observe([cluster], pods={"svc-p0000": serving_pods("svc-p0000")}, serve=details)
    )
    assert second.of(PointServices) == [PointServices("svc-p0000")]
    assert names(second) == ("svc-p0000", "")
    apps = second.status["activeServiceStatus"]["applicationStatuses"]
    assert apps["app1"]["status"] == "RUNNING"
    assert second.status["activeServiceStatus"]["rayClusterStatus"]["readyWorkerReplicas"] == 1
    assert "kopf" not in second.status["activeServiceStatus"]["rayClusterStatus"]
    upgrade = cond(second, "UpgradeInProgress")
    assert (upgrade["status"], upgrade["reason"]) == ("False", "NoPendingCluster")


def test_ready_exactly_when_there_are_serve_endpoints() -> None:
    owner = f.service(status=serving_status("svc-a0000", ready=False))
    cluster = f.child(owner, "svc-a0000", serve_hash=HASH)
    details = {"svc-a0000": f.serve_details({"app1": "RUNNING"})}
    pods = {"svc-a0000": serving_pods("svc-a0000")}
    ready = step(
        owner, observe([cluster], pods=pods, serve=details, serving="svc-a0000", endpoints=2)
    )
    assert (cond(ready, "Ready")["status"], cond(ready, "Ready")["reason"]) == (
        "True",
        "NonZeroServeEndpoints",
    )
    assert ready.status["numServeEndpoints"] == 2
    assert ready.status["serviceStatus"] == "Running"
    assert ready.requeue == 10.0

    owner = f.service(status=serving_status("svc-a0000"))
    dropped = step(
        owner, observe([cluster], pods=pods, serve=details, serving="svc-a0000", endpoints=0)
    )
    ready_cond = cond(dropped, "Ready")
    assert (ready_cond["status"], ready_cond["reason"]) == ("False", "ZeroServeEndpoints")
    assert ready_cond["lastTransitionTime"] == rfc3339(NOW)
    assert "serviceStatus" not in dropped.status


# --- in-place changes --------------------------------------------------------------------


def test_serve_config_change_updates_the_active_cluster_in_place() -> None:
    changed = f.SERVE_CONFIG.replace("route_prefix: /", "route_prefix: /v2")
    owner = f.service(serve_config=changed, status=serving_status("svc-a0000"))
    cluster = f.child(owner, "svc-a0000", serve_hash=HASH)
    result = step(
        owner,
        observe(
            [cluster],
            pods={"svc-a0000": serving_pods("svc-a0000")},
            serve={"svc-a0000": f.serve_details({"app1": "RUNNING"})},
            serving="svc-a0000",
            endpoints=1,
        ),
    )
    assert result.of(ApplyServe) == [ApplyServe("svc-a0000", "serveConfigV2 changed")]
    assert not result.of(CreateCluster)
    assert names(result) == ("svc-a0000", "")
    assert cond(result, "UpgradeInProgress")["status"] == "False"
    assert cond(result, "Ready")["status"] == "True"


def test_worker_scaling_updates_the_active_cluster_in_place() -> None:
    original = f.service(status=serving_status("svc-a0000"))
    cluster = f.child(original, "svc-a0000", serve_hash=HASH)
    scaled = f.service(
        cluster_config=f.config(workerGroupSpecs=[f.worker_group(replicas=4)]),
        status=serving_status("svc-a0000"),
    )
    result = step(scaled, observe([cluster], serving="svc-a0000", endpoints=1))
    assert result.of(UpdateCluster) == [UpdateCluster("svc-a0000")]
    assert not result.of(CreateCluster)
    assert names(result) == ("svc-a0000", "")


# --- zero-downtime upgrade ----------------------------------------------------------------


def upgraded_service(status: Json, image: str = "rayproject/ray:2.61.0", **spec: Any) -> Json:
    return f.service(
        cluster_config=f.config(headGroupSpec=f.head_group(image=image)), status=status, **spec
    )


def test_cluster_change_starts_an_upgrade_without_touching_the_active_cluster() -> None:
    original = f.service()
    active = f.child(original, "svc-a0000", serve_hash=HASH)
    owner = upgraded_service(serving_status("svc-a0000"))
    result = step(
        owner,
        observe(
            [active],
            pods={"svc-a0000": serving_pods("svc-a0000")},
            serve={"svc-a0000": f.serve_details({"app1": "RUNNING"})},
            serving="svc-a0000",
            endpoints=1,
        ),
    )
    assert result.of(CreateCluster) == [CreateCluster("svc-new00")]
    assert not result.of(ApplyServe)
    assert not result.of(UpdateCluster)
    assert not result.of(PointServices)
    assert names(result) == ("svc-a0000", "svc-new00")
    upgrade = cond(result, "UpgradeInProgress")
    assert (upgrade["status"], upgrade["reason"]) == ("True", "BothActivePendingClustersExist")
    assert cond(result, "Ready")["status"] == "True"
    assert result.requeue == 2.0


def test_upgrade_switches_only_when_the_pending_apps_run() -> None:
    active = f.child(f.service(), "svc-a0000", serve_hash=HASH)
    owner = upgraded_service(serving_status("svc-a0000", "svc-p0000"))
    pending = f.child(owner, "svc-p0000", serve_hash=HASH)
    pods = {"svc-a0000": serving_pods("svc-a0000"), "svc-p0000": serving_pods("svc-p0000")}
    deploying = step(
        owner,
        observe(
            [active, pending],
            pods=pods,
            serve={
                "svc-a0000": f.serve_details({"app1": "RUNNING"}),
                "svc-p0000": f.serve_details({"app1": "DEPLOYING"}),
            },
            serving="svc-a0000",
            endpoints=1,
        ),
    )
    assert not deploying.of(PointServices)
    assert names(deploying) == ("svc-a0000", "svc-p0000")
    assert (
        deploying.status["pendingServiceStatus"]["applicationStatuses"]["app1"]["status"]
        == "DEPLOYING"
    )

    running = step(
        owner,
        observe(
            [active, pending],
            pods=pods,
            serve={
                "svc-a0000": f.serve_details({"app1": "RUNNING"}),
                "svc-p0000": f.serve_details({"app1": "RUNNING"}),
            },
            serving="svc-a0000",
            endpoints=1,
        ),
    )
    assert running.of(PointServices) == [PointServices("svc-p0000")]
    assert names(running) == ("svc-p0000", "")
    assert cond(running, "UpgradeInProgress")["status"] == "False"
    assert cond(running, "Ready")["status"] == "True"
    delay = NOW + timedelta(seconds=60)
    assert running.of(ScheduleDeletion) == [ScheduleDeletion("svc-a0000", rfc3339(delay))]
    assert not running.of(DeleteCluster)


def test_pending_with_an_outdated_serve_config_does_not_take_traffic() -> None:
    active = f.child(f.service(), "svc-a0000", serve_hash=HASH)
    owner = upgraded_service(serving_status("svc-a0000", "svc-p0000"))
    pending = f.child(owner, "svc-p0000", serve_hash="an-older-config")
    result = step(
        owner,
        observe(
            [active, pending],
            pods={"svc-p0000": serving_pods("svc-p0000")},
            serve={"svc-p0000": f.serve_details({"app1": "RUNNING"})},
            serving="svc-a0000",
            endpoints=1,
        ),
    )
    assert result.of(ApplyServe) == [ApplyServe("svc-p0000", "serveConfigV2 changed")]
    assert not result.of(PointServices)


def test_services_already_on_the_pending_cluster_promote_it() -> None:
    # e.g. the operator restarted right after switching the selector
    active = f.child(f.service(), "svc-a0000", serve_hash=HASH)
    owner = upgraded_service(serving_status("svc-a0000", "svc-p0000"))
    pending = f.child(owner, "svc-p0000", serve_hash=HASH)
    result = step(owner, observe([active, pending], serving="svc-p0000", endpoints=1))
    assert names(result) == ("svc-p0000", "")
    assert not result.of(PointServices)


def test_old_cluster_is_deleted_after_the_delay() -> None:
    owner = f.service(status=serving_status("svc-p0000"), rayClusterDeletionDelaySeconds=30)
    active = f.child(owner, "svc-p0000", serve_hash=HASH)
    settled: Json = {
        "pods": {"svc-p0000": serving_pods("svc-p0000")},
        "serve": {"svc-p0000": f.serve_details({"app1": "RUNNING"})},
        "serving": "svc-p0000",
        "endpoints": 1,
    }
    old = f.child(owner, "svc-a0000", delete_after=rfc3339(NOW + timedelta(seconds=4)))
    waiting = step(owner, observe([active, old], **settled))
    assert not waiting.of(DeleteCluster)
    assert not waiting.of(ScheduleDeletion)
    assert waiting.requeue == 4.0  # wakes up when the deletion is due

    due = step(owner, observe([active, old], **settled, now=NOW + timedelta(seconds=5)))
    assert [a.cluster for a in due.of(DeleteCluster)] == ["svc-a0000"]

    fresh = f.child(owner, "svc-a0000")
    scheduled = step(owner, observe([active, fresh], **settled))
    assert scheduled.of(ScheduleDeletion) == [
        ScheduleDeletion("svc-a0000", rfc3339(NOW + timedelta(seconds=30)))
    ]
    assert scheduled.requeue == 10.0  # the steady look comes before the deletion is due
    assert not scheduled.of(DeleteCluster)


def test_a_further_change_mid_upgrade_replaces_the_pending_cluster() -> None:
    active = f.child(f.service(), "svc-a0000", serve_hash=HASH)
    first = upgraded_service(serving_status("svc-a0000", "svc-p0000"))
    pending = f.child(first, "svc-p0000", serve_hash=HASH)
    second = upgraded_service(
        serving_status("svc-a0000", "svc-p0000"), image="rayproject/ray:2.62.0"
    )
    result = step(
        second, observe([active, pending], serving="svc-a0000", endpoints=1, new="svc-p1111")
    )
    assert result.of(CreateCluster) == [CreateCluster("svc-p1111")]
    assert names(result) == ("svc-a0000", "svc-p1111")
    assert [a.cluster for a in result.of(ScheduleDeletion)] == ["svc-p0000"]
    assert cond(result, "UpgradeInProgress")["status"] == "True"
    assert not result.of(UpdateCluster)
    assert not result.of(DeleteCluster)


def test_changing_back_mid_upgrade_ends_the_upgrade() -> None:
    active = f.child(f.service(), "svc-a0000", serve_hash=HASH)
    pending = f.child(upgraded_service({}), "svc-p0000", serve_hash=HASH)
    reverted = f.service(status=serving_status("svc-a0000", "svc-p0000"))
    result = step(reverted, observe([active, pending], serving="svc-a0000", endpoints=1))
    assert not result.of(CreateCluster)
    assert names(result) == ("svc-a0000", "")
    assert cond(result, "UpgradeInProgress")["status"] == "False"
    assert [a.cluster for a in result.of(ScheduleDeletion)] == ["svc-p0000"]


def test_in_place_change_mid_upgrade_goes_to_the_pending_cluster() -> None:
    active = f.child(f.service(), "svc-a0000", serve_hash=HASH)
    pending = f.child(upgraded_service({}), "svc-p0000", serve_hash=HASH)
    scaled = f.service(
        cluster_config=f.config(
            headGroupSpec=f.head_group(image="rayproject/ray:2.61.0"),
            workerGroupSpecs=[f.worker_group(replicas=3)],
        ),
        status=serving_status("svc-a0000", "svc-p0000"),
    )
    result = step(scaled, observe([active, pending], serving="svc-a0000", endpoints=1))
    assert result.of(UpdateCluster) == [UpdateCluster("svc-p0000")]
    assert not result.of(CreateCluster)


def test_upgrade_strategy_none_never_creates_a_cluster() -> None:
    active = f.child(f.service(), "svc-a0000", serve_hash=HASH)
    owner = upgraded_service(serving_status("svc-a0000"), upgradeStrategy={"type": "None"})
    owner["spec"]["serveConfigV2"] = f.SERVE_CONFIG.replace("/", "/v2")
    result = step(
        owner,
        observe(
            [active],
            pods={"svc-a0000": serving_pods("svc-a0000")},
            serve={"svc-a0000": f.serve_details({"app1": "RUNNING"})},
            serving="svc-a0000",
            endpoints=1,
        ),
    )
    assert not result.of(CreateCluster)
    assert not result.of(UpdateCluster)
    assert result.of(ApplyServe) == [ApplyServe("svc-a0000", "serveConfigV2 changed")]
    upgrade = cond(result, "UpgradeInProgress")
    assert (upgrade["status"], upgrade["reason"]) == ("False", "NoPendingCluster")
    assert "upgradeStrategy.type is None" in upgrade["message"]


def test_new_service_with_strategy_none_still_gets_its_first_cluster() -> None:
    result = step(f.service(upgradeStrategy={"type": "None"}), observe())
    assert result.of(CreateCluster) == [CreateCluster("svc-new00")]


# --- failures -----------------------------------------------------------------------------


def test_failed_application_is_reported_once_with_serves_message() -> None:
    owner = f.service(status={"pendingServiceStatus": {"rayClusterName": "svc-p0000"}})
    cluster = f.child(owner, "svc-p0000", serve_hash=HASH)
    error = "ModuleNotFoundError: No module named 'missing_module'"
    details = {"svc-p0000": f.serve_details({"app1": "DEPLOY_FAILED"}, messages={"app1": error})}
    first = step(owner, observe([cluster], serve=details))
    ready = cond(first, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Initializing")
    assert f"app1 is DEPLOY_FAILED: {error}" in ready["message"]
    assert first.of(Emit) == [
        Emit(
            "Warning",  # type: ignore[arg-type]
            "FailedToUpdateServeApplications",  # type: ignore[arg-type]
            f"Serve application app1 is DEPLOY_FAILED: {error} (RayCluster ns/svc-p0000)",
        )
    ]
    owner["status"] = first.status
    again = step(owner, observe([cluster], serve=details))
    assert not again.of(Emit), "the same failure is not reported again"
    assert not again.of(PointServices)
    assert names(again) == ("", "svc-p0000")


def test_initializing_timeout_gives_up_and_lets_clusters_go() -> None:
    started = rfc3339(NOW - timedelta(minutes=11))
    status = {
        "pendingServiceStatus": {"rayClusterName": "svc-p0000"},
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "Initializing",
                "message": "",
                "lastTransitionTime": started,
            },
            {
                "type": "UpgradeInProgress",
                "status": "False",
                "reason": "Initializing",
                "message": "",
                "lastTransitionTime": started,
            },
        ],
    }
    owner = f.service(status=status, annotations={"ray.io/initializing-timeout": "10m"})
    cluster = f.child(owner, "svc-p0000", head_ready=False)
    result = step(owner, observe([cluster]))
    ready = cond(result, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InitializingTimeout")
    assert "within the configured timeout of 0:10:00" in ready["message"]
    assert [e.reason for e in result.of(Emit)] == ["RayServiceInitializingTimeout"]
    assert names(result) == ("", "")
    assert [a.cluster for a in result.of(ScheduleDeletion)] == ["svc-p0000"]
    assert not result.of(CreateCluster)
    assert not result.of(ApplyServe)

    owner["status"] = result.status
    terminal = step(owner, observe([cluster]))
    assert names(terminal) == ("", "")
    assert not terminal.of(CreateCluster)


def test_timeout_not_reached_keeps_initializing() -> None:
    owner = f.service(annotations={"ray.io/initializing-timeout": "600"})
    result = step(owner, observe())
    assert cond(result, "Ready")["reason"] == "Initializing"
    assert not result.of(Emit)
