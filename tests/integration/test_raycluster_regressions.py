"""Three regressions of the per-kind reconcilers, on the real control plane, each of which the
reconcile core (operator/src/ray_operator/core/) fixes:

- a RayCluster deleted after failing pod creations and created again under the same name
  inherited the old backoff (it was kept by namespace/name, never dropped on deletion);
- while pods could not be created (a missing ServiceAccount), the status alternated between
  `failed` and no state at all (each refused attempt is also a reconcile error on /metrics);
- a head Service whose selector had gained a foreign key kept it (a merge patch cannot
  remove keys), so its endpoints went empty after the head pod was re-created.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from exporter_harness import value
from kubernetes import client
from raycluster_harness import OperatorProcess, Rays, sample, wait_for

pytestmark = pytest.mark.integration
MISSING_SA = "not-created-yet"


def with_service_account(rays: Rays, name: str, account: str) -> dict[str, Any]:
    body = sample("raycluster-minimal", rays.namespace, new_name=name)
    templates = [body["spec"]["headGroupSpec"]["template"]]
    templates += [g["template"] for g in body["spec"]["workerGroupSpecs"]]
    for template in templates:
        template["spec"]["serviceAccountName"] = account
    return body


def failed_creations(rays: Rays, name: str) -> int:
    return sum(int(e.get("count") or 1) for e in rays.events(name, "FailedToCreateHeadPod"))


def test_a_recreated_cluster_does_not_inherit_the_old_backoff(
    operator: OperatorProcess, rays: Rays, api_client: client.ApiClient
) -> None:
    rays.create(with_service_account(rays, "reborn", MISSING_SA))
    # Five failed attempts: the backoff before the sixth is 32 s (2 s doubling).
    wait_for("five failed head creations", lambda: failed_creations(rays, "reborn") >= 5, 120)
    rays.delete("reborn")
    wait_for("the cluster gone", lambda: rays.get("reborn") is None)
    core = client.CoreV1Api(api_client)
    core.create_namespaced_service_account(
        rays.namespace, {"metadata": {"name": MISSING_SA, "namespace": rays.namespace}}
    )
    rays.create(with_service_account(rays, "reborn", MISSING_SA))
    # A new uid starts with no backoff: its head pod is created at once, not after 32 s.
    wait_for("the new cluster's head pod", lambda: rays.pods("reborn", node_type="head"), 15)


def test_the_failed_state_holds_while_its_cause_persists(
    operator: OperatorProcess, rays: Rays
) -> None:
    rays.create(with_service_account(rays, "stuck", MISSING_SA))
    wait_for("state failed", lambda: rays.status("stuck").get("state") == "failed", 60)
    seen: list[tuple[str, str]] = []
    deadline = time.monotonic() + 25  # spans several backoff periods (2, 4, 8, 16 s)
    while time.monotonic() < deadline:
        status = rays.status("stuck")
        conditions = {c["type"]: c for c in status.get("conditions") or []}
        failure = conditions.get("ReplicaFailure", {})
        seen.append((str(status.get("state")), str(failure.get("reason"))))
        time.sleep(0.25)
    assert set(seen) == {("failed", "FailedCreateHeadPod")}, sorted(set(seen))
    attempts = failed_creations(rays, "stuck")
    assert attempts >= 3, "the operator kept trying meanwhile"
    # Each refused attempt is a reconcile error and a refused POST on /metrics.
    scraped = operator.metrics()
    errors = value(scraped, "controller_runtime_reconcile_errors_total", controller="raycluster")
    assert errors is not None
    assert errors >= attempts
    refused = value(scraped, "rest_client_requests_total", code="403", method="POST")
    assert refused is not None
    assert refused >= attempts
    assert value(scraped, "leader_election_master_status", name="ray-operator-leader") == 1


def test_a_foreign_selector_key_is_removed_from_the_head_service(
    operator: OperatorProcess, rays: Rays, api_client: client.ApiClient
) -> None:
    rays.create(sample("raycluster-minimal", rays.namespace, new_name="foreign"))
    wait_for("ready", lambda: rays.ready("foreign"), 90)
    core = client.CoreV1Api(api_client)
    name = "foreign-head-svc"
    desired = dict(rays.service(name)["spec"]["selector"])  # type: ignore[index]
    core.patch_namespaced_service(
        name,
        rays.namespace,
        {"spec": {"selector": {"app.kubernetes.io/created-by": "kuberay-operator"}}},
    )
    wait_for(
        "the foreign selector key removed",
        lambda: rays.service(name)["spec"]["selector"] == desired,  # type: ignore[index]
        30,
    )
    for pod in rays.pods("foreign", node_type="head"):
        core.delete_namespaced_pod(pod["metadata"]["name"], rays.namespace)
    wait_for(
        "ready again", lambda: rays.ready("foreign") and rays.pods("foreign", node_type="head")
    )
    discovery = client.DiscoveryV1Api(api_client)

    def ready_endpoints() -> list[Any]:
        slices = discovery.list_namespaced_endpoint_slice(
            rays.namespace, label_selector=f"kubernetes.io/service-name={name}"
        ).items
        return [e for s in slices for e in s.endpoints or [] if e.conditions.ready]

    wait_for("the head Service's endpoint", ready_endpoints, 60)
    time.sleep(3)  # a few more passes: nothing differs, so nothing is written or reported
    updates = rays.events("foreign", "UpdatedService")
    assert sum(int(e.get("count") or 1) for e in updates) == 1, updates
