"""Pure builders of a RayService's child RayCluster, serve Service and head Service."""

from __future__ import annotations

import re

import service_factory as f

from ray_operator.service.builders import (
    desired_cluster,
    desired_head_service_for,
    desired_serve_service,
    in_place_patch,
    new_cluster_name,
    retarget_operations,
    selected_cluster,
)
from ray_operator.service.changes import Change, classify


def test_child_cluster_is_owned_labelled_and_hashed() -> None:
    owner = f.service(
        annotations={
            "team": "search",
            "kubectl.kubernetes.io/last-applied-configuration": "{...}",
        }
    )
    owner["metadata"]["labels"] = {"app": "demo"}
    cluster = desired_cluster(owner, "svc-x2k4z")
    meta = cluster["metadata"]
    assert (cluster["apiVersion"], cluster["kind"]) == ("ray.io/v1", "RayCluster")
    assert (meta["name"], meta["namespace"]) == ("svc-x2k4z", "ns")
    assert meta["labels"] == {
        "app": "demo",
        "ray.io/originated-from-crd": "RayService",
        "ray.io/originated-from-cr-name": "svc",
    }
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayService",
            "name": "svc",
            "uid": f.SERVICE_UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert meta["annotations"]["team"] == "search"
    assert "kubectl.kubernetes.io/last-applied-configuration" not in meta["annotations"]
    assert meta["annotations"]["ray.io/num-worker-groups"] == "1"
    assert re.fullmatch(
        r"[0-9a-f]{32}", meta["annotations"]["ray.io/hash-without-replicas-and-workers-to-delete"]
    )


def test_child_pods_start_outside_the_serve_service() -> None:
    cluster = desired_cluster(f.service(), "svc-x2k4z")
    spec = cluster["spec"]
    assert spec["headGroupSpec"]["template"]["metadata"]["labels"] == {"ray.io/serve": "false"}
    assert spec["workerGroupSpecs"][0]["template"]["metadata"]["labels"] == {
        "ray.io/serve": "false"
    }
    # the label is not part of what decides a new cluster
    assert classify(f.config(), cluster) is Change.NONE


def test_in_place_patch_updates_spec_and_keeps_suspend_and_bookkeeping() -> None:
    owner = f.service()
    cluster = f.child(owner, "svc-x2k4z", serve_hash="abc", delete_after="2030-01-01T00:00:00Z")
    cluster["spec"]["suspend"] = True
    assert in_place_patch(owner, cluster) is None
    grown = f.service(cluster_config=f.config(workerGroupSpecs=[f.worker_group(replicas=3)]))
    patch = in_place_patch(grown, cluster)
    assert patch is not None
    assert patch["spec"]["workerGroupSpecs"][0]["replicas"] == 3
    assert "suspend" not in patch["spec"]
    annotations = (patch.get("metadata") or {}).get("annotations") or {}
    assert "ray.io/serve-config-hash" not in annotations
    assert "ray.io/delete-after" not in annotations


def test_in_place_patch_for_an_appended_group_records_the_new_group_count() -> None:
    owner = f.service()
    cluster = f.child(owner, "svc-x2k4z")
    grown = f.service(
        cluster_config=f.config(workerGroupSpecs=[f.worker_group(), f.worker_group("gpu")])
    )
    patch = in_place_patch(grown, cluster)
    assert patch is not None
    assert [g["groupName"] for g in patch["spec"]["workerGroupSpecs"]] == ["small", "gpu"]
    assert patch["metadata"]["annotations"]["ray.io/num-worker-groups"] == "2"


def test_the_autoscalers_writes_to_the_child_are_neither_a_change_nor_overwritten() -> None:
    config = f.config(enableInTreeAutoscaling=True)
    owner = f.service(cluster_config=config)
    cluster = f.child(owner, "svc-x2k4z")
    group = cluster["spec"]["workerGroupSpecs"][0]
    group["replicas"] = 7
    group["scaleStrategy"] = {"workersToDelete": ["svc-x2k4z-small-worker-abcde"]}
    assert classify(config, cluster) is Change.NONE
    assert in_place_patch(owner, cluster) is None
    # A new maxReplicas still reaches the cluster, with the autoscaler's fields kept.
    wider_group = {**f.worker_group(), "maxReplicas": 20}
    wider = f.config(enableInTreeAutoscaling=True, workerGroupSpecs=[wider_group])
    assert classify(wider, cluster) is Change.IN_PLACE
    patch = in_place_patch(f.service(cluster_config=wider), cluster)
    assert patch is not None
    (patched,) = patch["spec"]["workerGroupSpecs"]
    assert (patched["maxReplicas"], patched["replicas"]) == (20, 7)
    assert patched["scaleStrategy"] == group["scaleStrategy"]
    # Without the autoscaler the RayService's replicas win, as before.
    fixed = f.child(f.service(), "svc-x2k4z")
    fixed["spec"]["workerGroupSpecs"][0]["replicas"] = 7
    assert classify(f.config(), fixed) is Change.IN_PLACE


def test_serve_service_selects_serving_pods_of_one_cluster() -> None:
    svc = desired_serve_service(f.service(), "svc-x2k4z")
    assert svc["metadata"]["name"] == "svc-serve-svc"
    assert svc["metadata"]["labels"] == {
        "ray.io/originated-from-cr-name": "svc",
        "ray.io/originated-from-crd": "RayService",
        "ray.io/serve": "svc-serve",
    }
    assert svc["metadata"]["ownerReferences"][0]["kind"] == "RayService"
    assert svc["spec"]["selector"] == {"ray.io/cluster": "svc-x2k4z", "ray.io/serve": "true"}
    assert svc["spec"]["ports"] == [
        {"name": "serve", "port": 8000, "targetPort": 8000, "protocol": "TCP"}
    ]
    assert svc["spec"]["type"] == "ClusterIP"
    assert selected_cluster(svc) == "svc-x2k4z"


def test_serve_service_uses_declared_serve_ports_and_custom_settings() -> None:
    head = f.head_group(serviceType="NodePort")
    head["template"]["spec"]["containers"][0]["ports"] = [
        {"name": "gcs-server", "containerPort": 6379},
        {"name": "serve", "containerPort": 9000},
        {"name": "serve-grpc", "containerPort": 9001},
    ]
    owner = f.service(
        cluster_config=f.config(headGroupSpec=head),
        serveService={
            "metadata": {"name": "public", "annotations": {"lb": "yes"}},
            "spec": {"selector": {"ignored": "x"}},
        },
    )
    svc = desired_serve_service(owner, "svc-x2k4z")
    assert svc["metadata"]["name"] == "public"
    assert svc["metadata"]["annotations"] == {"lb": "yes"}
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["selector"] == {"ray.io/cluster": "svc-x2k4z", "ray.io/serve": "true"}
    assert [(p["name"], p["port"]) for p in svc["spec"]["ports"]] == [
        ("serve", 9000),
        ("serve-grpc", 9001),
    ]


def test_head_service_of_the_rayservice_follows_the_serving_cluster() -> None:
    svc = desired_head_service_for(f.service(), "svc-x2k4z")
    assert svc["metadata"]["name"] == "svc-head-svc"
    assert svc["metadata"]["labels"]["ray.io/originated-from-cr-name"] == "svc"
    assert svc["spec"]["selector"] == {"ray.io/cluster": "svc-x2k4z", "ray.io/node-type": "head"}
    assert {p["name"] for p in svc["spec"]["ports"]} >= {"dashboard", "gcs-server", "serve"}


def test_retargeting_replaces_only_the_whole_selector() -> None:
    current = desired_serve_service(f.service(), "svc-old00")
    current["spec"]["clusterIP"] = "10.96.0.10"
    assert retarget_operations(desired_serve_service(f.service(), "svc-old00"), current) == []
    current["spec"]["selector"]["app.kubernetes.io/created-by"] = "kuberay-operator"
    ops = retarget_operations(desired_serve_service(f.service(), "svc-new00"), current)
    assert ops == [
        {
            "op": "add",
            "path": "/spec/selector",
            "value": {"ray.io/cluster": "svc-new00", "ray.io/serve": "true"},
        }
    ]


def test_cluster_names_are_the_service_name_and_five_characters() -> None:
    names = {new_cluster_name(f.service()) for _ in range(20)}
    assert all(re.fullmatch(r"svc-[bcdfghjklmnpqrstvwxz2456789]{5}", n) for n in names)
    assert len(names) > 1
    assert new_cluster_name(f.service(), "abcde") == "svc-abcde"
