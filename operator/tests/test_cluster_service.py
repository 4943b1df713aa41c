"""The head service and the endpoints status reads back from it."""

from __future__ import annotations

import ray_cluster_factory as f

from ray_operator.cluster.service import desired_head_service, endpoints, service_corrections


def test_default_head_service_exposes_the_default_ports() -> None:
    service = desired_head_service(f.cluster())
    assert service["metadata"]["name"] == "demo-head-svc"
    assert service["metadata"]["ownerReferences"][0]["uid"] == f.UID
    spec = service["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["selector"] == {"ray.io/cluster": "demo", "ray.io/node-type": "head"}
    assert {p["name"]: p["port"] for p in spec["ports"]} == {
        "client": 10001,
        "dashboard": 8265,
        "gcs-server": 6379,
        "metrics": 8080,
        "serve": 8000,
    }


def test_declared_container_ports_replace_the_defaults_but_metrics_stays() -> None:
    cluster = f.cluster(headServiceAnnotations={"team": "ml"})
    head = cluster["spec"]["headGroupSpec"]
    head["serviceType"] = "NodePort"
    head["template"]["spec"]["containers"][0]["ports"] = [
        {"name": "gcs", "containerPort": 6379},
        {"containerPort": 9999},
    ]
    service = desired_head_service(cluster)
    assert service["spec"]["type"] == "NodePort"
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
        "gcs": 6379,
        "9999-port": 9999,
        "metrics": 8080,
    }
    assert service["metadata"]["annotations"] == {"team": "ml"}


def test_custom_head_service_is_merged_but_selector_is_ours() -> None:
    cluster = f.cluster()
    cluster["spec"]["headGroupSpec"]["headService"] = {
        "metadata": {"name": "custom", "labels": {"x": "y"}},
        "spec": {
            "selector": {"app": "other"},
            "sessionAffinity": "ClientIP",
            "ports": [{"name": "extra", "port": 1}],
        },
    }
    service = desired_head_service(cluster)
    assert service["metadata"]["name"] == "custom"
    assert service["metadata"]["labels"]["x"] == "y"
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    assert service["spec"]["selector"] == {"ray.io/cluster": "demo", "ray.io/node-type": "head"}
    assert "extra" in [p["name"] for p in service["spec"]["ports"]]


def test_endpoints_prefer_node_ports() -> None:
    service = {
        "spec": {
            "ports": [
                {"name": "dashboard", "port": 8265, "targetPort": 8265, "nodePort": 30001},
                {"name": "client", "port": 10001, "targetPort": 10001},
                {"port": 1},
            ]
        }
    }
    assert endpoints(service) == {"dashboard": "30001", "client": "10001"}
    assert endpoints(None) == {}


def test_drift_ignores_allocated_fields_and_reports_type_changes() -> None:
    desired = desired_head_service(f.cluster())
    live = {
        "metadata": {**desired["metadata"], "resourceVersion": "5"},
        "spec": {
            **desired["spec"],
            "clusterIP": "10.0.0.5",
            "ports": [{**p, "nodePort": None} for p in desired["spec"]["ports"]],
        },
    }
    assert service_corrections(desired, live) == []
    live["spec"]["type"] = "NodePort"
    assert service_corrections(desired, live) == [
        {"op": "add", "path": "/spec/type", "value": "ClusterIP"}
    ]


def test_a_foreign_selector_key_is_removed_and_foreign_labels_are_kept() -> None:
    desired = desired_head_service(f.cluster())
    live = {
        "metadata": {
            **desired["metadata"],
            "labels": {**desired["metadata"]["labels"], "team": "a", "ray.io/node-type": "x"},
        },
        "spec": {
            **desired["spec"],
            "selector": {**desired["spec"]["selector"], "app.kubernetes.io/created-by": "kuberay"},
        },
    }
    assert service_corrections(desired, live) == [
        {"op": "add", "path": "/spec/selector", "value": desired["spec"]["selector"]},
        {"op": "add", "path": "/metadata/labels/ray.io~1node-type", "value": "head"},
    ]


def test_a_clusterip_head_service_is_headless_as_kuberays() -> None:
    spec = desired_head_service(f.cluster())["spec"]
    assert (spec["clusterIP"], spec["publishNotReadyAddresses"]) == ("None", True)


def test_nodeport_and_custom_head_services_get_an_address_as_in_kuberay() -> None:
    node_port = f.cluster()
    node_port["spec"]["headGroupSpec"]["serviceType"] = "NodePort"
    custom = f.cluster()
    custom["spec"]["headGroupSpec"]["headService"] = {"metadata": {"name": "mine"}}
    for cluster in (node_port, custom):
        spec = desired_head_service(cluster)["spec"]
        assert "clusterIP" not in spec
        assert "publishNotReadyAddresses" not in spec


def test_an_existing_head_service_with_an_address_is_kept() -> None:
    # clusterIP is immutable: a head Service an older version created stays as it is.
    desired = desired_head_service(f.cluster())
    live = {**desired, "spec": {**desired["spec"], "clusterIP": "10.0.0.7"}}
    del live["spec"]["publishNotReadyAddresses"]
    assert service_corrections(desired, live) == []
