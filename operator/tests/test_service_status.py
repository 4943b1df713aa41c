"""RayService status pieces: suspension, validation failures and the status patch."""

from __future__ import annotations

from typing import Any

import service_factory as f

from ray_operator.service import status as st
from ray_operator.service.validation import validate_service

NOW = "2025-06-01T12:00:00Z"
LATER = "2025-06-01T12:05:00Z"
Json = dict[str, Any]


def cond(status: Json, type_: str) -> Json:
    return next(c for c in status["conditions"] if c["type"] == type_)


def serving() -> Json:
    return {
        "activeServiceStatus": {"rayClusterName": "svc-a0000"},
        "pendingServiceStatus": {},
        "numServeEndpoints": 2,
        "serviceStatus": "Running",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "NonZeroServeEndpoints",
                "message": "",
                "lastTransitionTime": NOW,
            },
            {
                "type": "UpgradeInProgress",
                "status": "False",
                "reason": "NoPendingCluster",
                "message": "",
                "lastTransitionTime": NOW,
            },
        ],
        "kopf": {"progress": {}},
    }


def test_suspend_commits_first_then_deletes_then_completes() -> None:
    requested = st.begin_suspend(serving(), LATER, 2)
    assert (cond(requested, "Suspending")["status"], cond(requested, "Suspending")["reason"]) == (
        "True",
        "SuspendRequested",
    )
    assert cond(requested, "Ready")["reason"] == "SuspendInProgress"
    assert cond(requested, "Ready")["status"] == "False"
    assert requested["activeServiceStatus"] == {}
    assert requested["numServeEndpoints"] == 0
    assert "serviceStatus" not in requested
    assert st.suspending(requested["conditions"])
    assert not st.suspended(requested["conditions"])

    deleting = st.continue_suspend(requested, 3, LATER, 2)
    assert cond(deleting, "Suspending")["reason"] == "SuspendInProgress"
    assert "3 Kubernetes resources" in cond(deleting, "Suspending")["message"]

    done = st.continue_suspend(deleting, 0, LATER, 2)
    for type_, value in (
        ("Suspending", "False"),
        ("Suspended", "True"),
        ("Ready", "False"),
        ("UpgradeInProgress", "False"),
    ):
        assert (cond(done, type_)["status"], cond(done, type_)["reason"]) == (
            value,
            "SuspendComplete",
        )
    assert st.suspended(done["conditions"])


def test_resume_restarts_initializing_with_a_fresh_transition_time() -> None:
    done = st.continue_suspend(st.begin_suspend(serving(), NOW, 2), 0, NOW, 2)
    resumed = st.resume(done, LATER, 3)
    assert (cond(resumed, "Suspended")["status"], cond(resumed, "Suspended")["reason"]) == (
        "False",
        "RayServiceResumed",
    )
    ready = cond(resumed, "Ready")
    assert (ready["status"], ready["reason"], ready["lastTransitionTime"]) == (
        "False",
        "Initializing",
        LATER,
    )
    assert cond(resumed, "UpgradeInProgress")["reason"] == "Initializing"
    assert resumed["observedGeneration"] == 3


def test_invalid_spec_keeps_ready_while_old_clusters_serve() -> None:
    still_serving = st.invalid(serving(), "bad", 2, LATER, 4)
    assert cond(still_serving, "Ready")["status"] == "True"
    assert still_serving["serviceStatus"] == "Running"
    assert still_serving["observedGeneration"] == 4
    nothing = st.invalid(serving(), "spec.rayClusterConfig is required", 0, LATER, 4)
    ready = cond(nothing, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "ValidationFailed",
        "spec.rayClusterConfig is required",
    )
    assert "serviceStatus" not in nothing


def test_finalize_writes_only_changes_and_leaves_kopf_alone() -> None:
    old = serving()
    same = {k: v for k, v in old.items() if k != "kopf"}
    assert st.finalize(old, same, LATER) is None
    changed = {**same, "numServeEndpoints": 3}
    assert st.finalize(old, changed, LATER) == {"numServeEndpoints": 3, "lastUpdateTime": LATER}
    dropped = {k: v for k, v in same.items() if k != "serviceStatus"}
    assert st.finalize(old, dropped, LATER) == {"serviceStatus": None, "lastUpdateTime": LATER}


def test_valid_service_has_no_problems() -> None:
    assert validate_service(f.service()) == []


def test_validation_names_each_problem() -> None:
    head = f.head_group()
    head["template"]["spec"]["containers"][0]["ports"] = [
        {"name": "dashboard", "containerPort": 8265}
    ]
    head["headService"] = {"metadata": {"name": "mine"}}
    broken = f.service(
        "Bad_Name",
        cluster_config=f.config(
            headGroupSpec=head, workerGroupSpecs=[f.worker_group("a"), f.worker_group("a")]
        ),
        annotations={"ray.io/initializing-timeout": "soon"},
        upgradeStrategy={"type": "NewClusterWithIncrementalUpgrade"},
    )
    problems = validate_service(broken)
    text = "\n".join(p.message for p in problems)
    assert "not a DNS-1035 label" in text
    assert "ray.io/initializing-timeout must be a positive duration" in text
    assert "duplicate groupName" in text
    assert "headService.metadata.name must not be set" in text
    assert "NewClusterWithIncrementalUpgrade is not supported" in text
    assert "none named 'serve'" in text
    reasons = {p.reason for p in problems}
    assert reasons == {"InvalidRayServiceMetadata", "InvalidRayServiceSpec"}


def test_long_names_leave_room_for_the_cluster_suffix() -> None:
    problems = validate_service(f.service("s" * 48))
    assert any("longer than 47" in p.message for p in problems)
    assert validate_service(f.service("s" * 47)) == []
