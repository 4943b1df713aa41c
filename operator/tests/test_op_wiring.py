"""kopf is configured never to touch a Ray resource's metadata, and to stream only our pods,
services and submitter Jobs."""

from __future__ import annotations

import kopf

from ray_operator.app import kopf_settings
from ray_operator.cluster.handlers import fingerprint
from ray_operator.settings import Settings


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


def test_pods_and_services_are_filtered_server_side() -> None:
    settings = kopf_settings(Settings())
    selectors = {
        str(selector): value for selector, value in settings.watching.label_selectors.items()
    }
    assert sorted(selectors.values()) == [
        "ray.io/cluster",
        "ray.io/cluster",
        "ray.io/originated-from-crd=RayJob",  # the RayJobs' submitter Jobs
    ]


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
