"""kopf is configured never to touch a Ray resource's metadata; the informers stream only our
pods, services, EndpointSlices, submitter Jobs and child RayClusters."""

from __future__ import annotations

import kopf

from ray_operator.settings import Settings
from ray_operator.watching import fingerprint as watched
from ray_operator.wiring import Caches, kopf_settings


def test_kopf_keeps_its_bookkeeping_in_status_and_posts_no_events() -> None:
    settings = kopf_settings(Settings())
    assert settings.posting.enabled is False
    assert isinstance(settings.persistence.progress_storage, kopf.StatusProgressStorage)
    assert isinstance(settings.persistence.diffbase_storage, kopf.StatusDiffBaseStorage)
    body = kopf.Body({"metadata": {}, "status": {}})
    patch = kopf.Patch()
    settings.persistence.diffbase_storage.store(body=body, patch=patch, essence={"spec": {"a": 1}})
    assert "metadata" not in patch
    assert "kopf" in patch["status"]


def fingerprint(body: dict[str, object]) -> tuple[object, ...]:
    return watched(body, ("ray.io/restarted-at",))


def test_owned_objects_are_filtered_server_side() -> None:
    informers = Caches().informers(None, ("a", "b"))  # type: ignore[arg-type]
    assert sorted((i.resource.plural, i.resource.label_selector) for i in informers) == [
        ("configmaps", "ray.io/redis-cleanup"),  # fault tolerance: Redis cleanup records
        ("endpointslices", "ray.io/originated-from-crd=RayService"),
        ("jobs", "ray.io/node-type=redis-cleanup"),  # and their cleanup Jobs
        ("jobs", "ray.io/originated-from-crd=RayJob"),  # the RayJobs' submitter Jobs
        ("pods", "ray.io/cluster"),
        ("rayclusters", "ray.io/originated-from-crd"),  # RayJobs' and RayServices' clusters
        ("rolebindings", "ray.io/cluster"),  # the autoscaler's RBAC
        ("roles", "ray.io/cluster"),
        ("serviceaccounts", "ray.io/cluster"),
        ("services", "ray.io/cluster"),
        ("services", "ray.io/originated-from-crd=RayJob"),  # <rayjob>-head-svc
        ("services", "ray.io/originated-from-crd=RayService"),
    ]
    assert informers[0].resource.path("a") == "/api/v1/namespaces/a/pods"
    assert informers[0].resource.path(None) == "/api/v1/pods"


def test_status_changes_do_not_change_the_fingerprint() -> None:
    body = {
        "metadata": {"uid": "u", "generation": 2, "annotations": {}},
        "status": {"state": "ready"},
    }
    same = {"metadata": {"uid": "u", "generation": 2, "annotations": {"other": "x"}}, "status": {}}
    restarted = {
        "metadata": {"uid": "u", "generation": 2, "annotations": {"ray.io/restarted-at": "t"}}
    }
    bumped = {"metadata": {"uid": "u", "generation": 3}}
    assert fingerprint(body) == fingerprint(same)
    assert fingerprint(body) != fingerprint(restarted)
    assert fingerprint(body) != fingerprint(bumped)
