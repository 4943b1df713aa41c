"""Bad input and bad luck: rejected manifests, invalid specs, templates the apiserver refuses,
exhausted quota, neighbours in one namespace, and an operator killed mid-reconcile."""

from __future__ import annotations

import copy
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from raycluster_harness import OperatorProcess, Rays, sample, wait_for

pytestmark = pytest.mark.integration


def minimal(rays: Rays, name: str) -> dict[str, Any]:
    return sample("raycluster-minimal", rays.namespace, new_name=name)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (
            lambda g: g.update(minReplicas=6, maxReplicas=5),
            "minReplicas must be less than or equal to maxReplicas",
        ),
        (lambda g: g.update(replicas=-1), "should be greater than or equal to 0"),
        (lambda g: g.pop("groupName"), "groupName: Required value"),
        (lambda g: g.pop("template"), "template: Required value"),
        (lambda g: g["template"]["spec"].update(containers=[]), "should have at least 1 items"),
    ],
)
def test_schema_rejects_invalid_groups(crds: None, rays: Rays, mutate: Any, fragment: str) -> None:
    body = minimal(rays, "rejected")
    mutate(body["spec"]["workerGroupSpecs"][0])
    with pytest.raises(ApiException) as error:
        rays.create(body)
    assert error.value.status == 422
    assert fragment in str(error.value.body)


def test_schema_rejects_duplicate_group_names(crds: None, rays: Rays) -> None:
    body = minimal(rays, "duplicates")
    body["spec"]["workerGroupSpecs"].append(copy.deepcopy(body["spec"]["workerGroupSpecs"][0]))
    with pytest.raises(ApiException) as error:
        rays.create(body)
    assert "worker group names must be unique" in str(error.value.body)


def test_invalid_spec_is_reported_and_recovers_when_fixed(
    operator: OperatorProcess, rays: Rays
) -> None:
    body = minimal(rays, "invalid")
    body["spec"]["headGroupSpec"]["rayStartParams"] = {"num-cpus": "lots"}
    rays.create(body)
    status = wait_for(
        "unhealthy",
        lambda: (
            rays.status("invalid") if rays.status("invalid").get("state") == "unhealthy" else None
        ),
    )
    assert "rayStartParams.num-cpus must be a number, got 'lots'" in status["reason"]
    (event,) = wait_for("a Warning event", lambda: rays.events("invalid", "InvalidRayClusterSpec"))
    assert event["type"] == "Warning"
    assert "num-cpus" in event["message"]
    assert rays.pods("invalid", terminating=True) == [], "nothing is created from an invalid spec"
    rays.patch("invalid", {"spec": {"headGroupSpec": {"rayStartParams": {"num-cpus": "1"}}}})
    status = wait_for("ready after the fix", lambda: rays.ready("invalid"))
    assert "reason" not in status
    assert operator.process is not None
    assert operator.process.poll() is None


def test_rejected_template_fails_with_backoff_and_spares_the_neighbour(
    operator: OperatorProcess, rays: Rays
) -> None:
    rays.create(minimal(rays, "neighbour"))
    body = minimal(rays, "broken")
    container = body["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    container["resources"] = {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}
    rays.create(body)
    status = wait_for(
        "failed",
        lambda: rays.status("broken") if rays.status("broken").get("state") == "failed" else None,
    )
    assert "Failed to create worker Pod" in status["reason"]
    assert "must be less than or equal to cpu limit" in status["reason"]
    failure = next(c for c in status["conditions"] if c["type"] == "ReplicaFailure")
    assert (failure["status"], failure["reason"]) == ("True", "FailedCreateWorkerPod")
    events = wait_for(
        "the failure event aggregated",
        lambda: [e for e in rays.events("broken", "FailedToCreateWorkerPod") if e["count"] >= 3],
        timeout=120,
    )
    assert len(rays.events("broken", "FailedToCreateWorkerPod")) == 1, "repeats bump one Event"
    assert events[0]["type"] == "Warning"
    assert len(rays.pods("broken", node_type="head")) == 1, "the valid head pod is created"
    wait_for("neighbour ready", lambda: rays.ready("neighbour"))
    assert rays.group_counts("neighbour") == {"headgroup": 1, "workers": 2}


def test_quota_exhaustion_is_failed_until_quota_allows(
    operator: OperatorProcess, rays: Rays
) -> None:
    quota = client.V1ResourceQuota(
        metadata=client.V1ObjectMeta(name="pods"),
        spec=client.V1ResourceQuotaSpec(hard={"pods": "2"}),
    )
    rays.core.create_namespaced_resource_quota(rays.namespace, quota)

    def quota_used() -> str | None:
        status = rays.core.read_namespaced_resource_quota("pods", rays.namespace).status
        return (status.used or {}).get("pods") if status else None

    wait_for("quota usage computed", quota_used)
    rays.create(minimal(rays, "quota"))
    status = wait_for(
        "failed",
        lambda: rays.status("quota") if rays.status("quota").get("state") == "failed" else None,
    )
    assert "exceeded quota" in status["reason"]
    assert len(rays.pods("quota")) == 2
    rays.core.delete_namespaced_resource_quota("pods", rays.namespace)
    wait_for("ready once the quota is gone", lambda: rays.ready("quota"), timeout=180)
    assert rays.group_counts("quota") == {"headgroup": 1, "workers": 2}


def test_two_clusters_in_one_namespace(operator: OperatorProcess, rays: Rays) -> None:
    rays.create(minimal(rays, "alpha"))
    beta = minimal(rays, "beta")
    beta["spec"]["workerGroupSpecs"][0]["replicas"] = 3
    rays.create(beta)
    wait_for("alpha ready", lambda: rays.ready("alpha"))
    wait_for("beta ready", lambda: rays.ready("beta"))
    assert rays.group_counts("alpha") == {"headgroup": 1, "workers": 2}
    assert rays.group_counts("beta") == {"headgroup": 1, "workers": 3}
    alpha_svc = rays.service("alpha-head-svc")
    assert alpha_svc is not None
    assert alpha_svc["spec"]["selector"]["ray.io/cluster"] == "alpha"
    beta_pods = {p["metadata"]["name"] for p in rays.pods("beta")}
    rays.delete("alpha")
    wait_for("alpha's pods gone", lambda: rays.pods("alpha", terminating=True) == [], timeout=120)
    assert {p["metadata"]["name"] for p in rays.pods("beta")} == beta_pods
    assert rays.ready("beta")


def test_sigkill_mid_reconcile_then_restart_gives_exactly_the_desired_pods(
    kube_cluster: Any, crds: None, rays: Rays, namespace: str, tmp_path: Path
) -> None:
    clusters = [f"burst-{i}" for i in range(8)]
    for name in clusters:
        body = minimal(rays, name)
        body["spec"]["workerGroupSpecs"][0].update(replicas=5, maxReplicas=5)
        rays.create(body)
    desired = len(clusters) * 6
    first = OperatorProcess(
        kube_cluster.env(), tmp_path / "first.log", "--namespaces", namespace, "--workers", "2"
    )
    first.start()

    def some_pods() -> int:
        count = len(rays.core.list_namespaced_pod(namespace, label_selector="ray.io/cluster").items)
        return count if count > 0 else 0

    # Poll fast and kill at the first sight of pods: most clusters are still being built.
    deadline = time.monotonic() + 60
    seen = 0
    while time.monotonic() < deadline and not seen:
        seen = some_pods()
        time.sleep(0.01)
    first.kill()
    at_kill = len(rays.core.list_namespaced_pod(namespace, label_selector="ray.io/cluster").items)
    assert 0 < at_kill < desired, f"the kill should land mid-reconcile ({at_kill}/{desired} pods)"

    with OperatorProcess(kube_cluster.env(), tmp_path / "second.log", "--namespaces", namespace):
        for name in clusters:
            wait_for(f"{name} ready", partial(rays.ready, name), timeout=180)
        for name in clusters:
            assert rays.group_counts(name) == {"headgroup": 1, "workers": 5}
            status = rays.status(name)
            assert (status["readyWorkerReplicas"], status["desiredWorkerReplicas"]) == (5, 5)
            assert (
                status["head"]["podName"]
                == rays.pods(name, node_type="head")[0]["metadata"]["name"]
            )
    all_pods = rays.core.list_namespaced_pod(namespace, label_selector="ray.io/cluster").items
    assert len(all_pods) == desired
    scaled_down = [
        e
        for name in clusters
        for e in rays.events(name, "DeletedWorkerPod") + rays.events(name, "DeletedHeadPod")
    ]
    assert scaled_down == [], "no duplicate pod ever had to be removed"
