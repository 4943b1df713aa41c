"""Ray's autoscaler as KubeRay v1.5 runs it: the head pod's sidecar, the v1/v2 settings, the
RBAC objects, the validation KubeRay does, and a planner that never picks pods to delete.

The golden values are the shapes KubeRay's `BuildAutoscalerContainer`, `BuildRole`,
`BuildRoleBinding` and `BuildServiceAccount` produce (with this project's `created-by` label
and the `bash -c` KubeRay uses)."""

from __future__ import annotations

from typing import Any

import pytest
import ray_cluster_factory as f
from core_rig import Rig
from fakeapi import FakeKubeApi

from ray_operator.cluster import autoscaler
from ray_operator.cluster.plan import plan_pods
from ray_operator.cluster.pods import desired_head_pod, desired_worker_pod
from ray_operator.cluster.spec import worker_groups
from ray_operator.cluster.validation import validate_cluster
from ray_operator.kubeapi import namespaced

RBAC = "rbac.authorization.k8s.io/v1"


def scaled(**options: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"enableInTreeAutoscaling": True}
    if options:
        spec["autoscalerOptions"] = options
    return f.cluster(**spec)


def owned_metadata(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": "ns",
        "labels": {
            "ray.io/cluster": "demo",
            "app.kubernetes.io/name": "kuberay",
            "app.kubernetes.io/created-by": "ray-operator",
        },
        "ownerReferences": [
            {
                "apiVersion": "ray.io/v1",
                "kind": "RayCluster",
                "name": "demo",
                "uid": f.UID,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }


def test_the_sidecar_is_kuberays() -> None:
    pod = desired_head_pod(scaled())
    ray, sidecar = pod["spec"]["containers"]
    assert sidecar == {
        "name": "autoscaler",
        "image": ray["image"],
        "imagePullPolicy": "IfNotPresent",
        "env": [
            {
                "name": "RAY_CLUSTER_NAME",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['ray.io/cluster']"}},
            },
            {
                "name": "RAY_CLUSTER_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            },
            {
                "name": "RAY_HEAD_POD_NAME",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
            },
            {"name": "KUBERAY_CRD_VER", "value": "v1"},
        ],
        "command": ["/bin/bash", "-c", "--"],
        "args": [
            "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) "
            "--cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
        ],
        "resources": {
            "limits": {"cpu": "500m", "memory": "512Mi"},
            "requests": {"cpu": "500m", "memory": "512Mi"},
        },
        "volumeMounts": [{"name": "ray-logs", "mountPath": "/tmp/ray"}],
    }
    assert {"name": "ray-logs", "mountPath": "/tmp/ray"} in ray["volumeMounts"]
    assert {"name": "ray-logs", "emptyDir": {}} in pod["spec"]["volumes"]
    assert pod["spec"]["serviceAccountName"] == "demo"
    assert "--no-monitor" in ray["args"][0].split()
    assert "restartPolicy" not in pod["spec"]
    assert "RAY_enable_autoscaler_v2" not in {e["name"] for e in ray["env"]}


def test_without_autoscaling_the_head_has_no_sidecar_and_keeps_its_monitor() -> None:
    pod = desired_head_pod(f.cluster())
    assert len(pod["spec"]["containers"]) == 1
    assert "--no-monitor" not in pod["spec"]["containers"][0]["args"][0]
    assert "serviceAccountName" not in pod["spec"]


def test_autoscaler_options_override_and_extend_the_sidecar() -> None:
    options = {
        "image": "example.org/autoscaler:1",
        "imagePullPolicy": "Always",
        "resources": {"limits": {"cpu": "1"}},
        "env": [{"name": "EXTRA", "value": "1"}],
        "envFrom": [{"configMapRef": {"name": "cm"}}],
        "volumeMounts": [{"name": "extra", "mountPath": "/extra"}],
        "securityContext": {"runAsNonRoot": True},
        "args": ["$(KUBERAY_GEN_AUTOSCALER_START_CMD) --logging-level=debug"],
    }
    _, sidecar = desired_head_pod(scaled(**options))["spec"]["containers"]
    assert sidecar["image"] == "example.org/autoscaler:1"
    assert sidecar["imagePullPolicy"] == "Always"
    assert sidecar["resources"] == {"limits": {"cpu": "1"}}
    names = [e["name"] for e in sidecar["env"]]
    assert names == [
        "RAY_CLUSTER_NAME",
        "RAY_CLUSTER_NAMESPACE",
        "RAY_HEAD_POD_NAME",
        "KUBERAY_CRD_VER",
        "EXTRA",
        "KUBERAY_GEN_AUTOSCALER_START_CMD",
    ]
    assert sidecar["envFrom"] == [{"configMapRef": {"name": "cm"}}]
    assert sidecar["volumeMounts"] == [
        {"name": "extra", "mountPath": "/extra"},
        {"name": "ray-logs", "mountPath": "/tmp/ray"},
    ]
    assert sidecar["securityContext"] == {"runAsNonRoot": True}
    assert sidecar["command"] == ["/bin/bash", "-c", "--"]
    assert sidecar["args"] == ["$(KUBERAY_GEN_AUTOSCALER_START_CMD) --logging-level=debug"]


def test_v2_sets_the_env_and_never_restarts_pods() -> None:
    cluster = scaled(version="v2")
    head = desired_head_pod(cluster)
    ray = head["spec"]["containers"][0]
    assert {"name": "RAY_enable_autoscaler_v2", "value": "true"} in ray["env"]
    assert head["spec"]["restartPolicy"] == "Never"
    (group,) = worker_groups(cluster)
    assert desired_worker_pod(cluster, group)["spec"]["restartPolicy"] == "Never"
    v1 = scaled(version="v1")
    assert "restartPolicy" not in desired_worker_pod(v1, worker_groups(v1)[0])["spec"]


def test_rbac_objects_are_kuberays() -> None:
    cluster = scaled()
    assert autoscaler.service_account(cluster) == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": owned_metadata("demo"),
    }
    assert autoscaler.role(cluster) == {
        "apiVersion": RBAC,
        "kind": "Role",
        "metadata": owned_metadata("demo"),
        "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
            {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
            {"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["get", "patch"]},
        ],
    }
    assert autoscaler.role_binding(cluster) == {
        "apiVersion": RBAC,
        "kind": "RoleBinding",
        "metadata": owned_metadata("demo"),
        "subjects": [{"kind": "ServiceAccount", "name": "demo", "namespace": "ns"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "demo"},
    }


def test_the_names_observed_are_the_names_built() -> None:
    cluster = scaled()
    built = {
        m["kind"]: m["metadata"]["name"]
        for m in (
            autoscaler.service_account(cluster),
            autoscaler.role(cluster),
            autoscaler.role_binding(cluster),
        )
        if m
    }
    assert (
        autoscaler.rbac_names(cluster)
        == built
        == {"ServiceAccount": "demo", "Role": "demo", "RoleBinding": "demo"}
    )


def test_a_service_account_the_head_names_is_the_users() -> None:
    cluster = scaled()
    cluster["spec"]["headGroupSpec"]["template"]["spec"]["serviceAccountName"] = "mine"
    assert autoscaler.service_account(cluster) is None
    assert "ServiceAccount" not in autoscaler.rbac_names(cluster)
    assert autoscaler.role_binding(cluster)["subjects"][0]["name"] == "mine"
    assert desired_head_pod(cluster)["spec"]["serviceAccountName"] == "mine"


@pytest.mark.parametrize(
    ("name", "clipped"),
    [
        ("demo", "demo"),
        ("a" * 10 + "b" * 45, "a" * 5 + "b" * 45),  # the last 50 characters
        ("0demo", "rdemo"),
        ("x" * 5 + "-" + "y" * 49, "r" + "y" * 49),  # clipped to "-yyy...": not a letter
    ],
)
def test_names_are_clipped_as_kuberay_clips_them(name: str, clipped: str) -> None:
    assert autoscaler.check_name(name) == clipped


def test_role_drift_is_corrected_and_a_service_account_never() -> None:
    role = autoscaler.role(scaled())
    drifted = {**role, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    assert autoscaler.corrections(role, drifted) == [
        {"op": "add", "path": "/rules", "value": role["rules"]}
    ]
    assert autoscaler.corrections(role, role) == []
    account = autoscaler.service_account(scaled())
    assert account is not None
    assert autoscaler.corrections(account, {"metadata": {}}) == []


def pod(name: str, group: str, *, node_type: str = "worker", ready: bool = True) -> Any:
    return {
        "metadata": {
            "name": name,
            "labels": {"ray.io/node-type": node_type, "ray.io/group": group},
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "annotations": {},
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def with_pods(cluster: dict[str, Any], names: list[str]) -> list[Any]:
    """The cluster's current head and the named workers of group small, with current stamps."""
    from ray_operator.cluster.pods import pod_context

    ctx = pod_context(cluster)
    pods = [pod("demo-head-x", "headgroup", node_type="head")]
    pods += [pod(n, "small") for n in names]
    for p in pods:
        p["metadata"]["annotations"] = {
            "ray.io/restarted-at": ctx.restart_token,
            "ray.io/cluster-spec-hash": ctx.spec_hash,
        }
    return pods


def test_with_autoscaling_only_the_named_pods_are_deleted() -> None:
    cluster = scaled()
    group = cluster["spec"]["workerGroupSpecs"][0]
    names = ["demo-small-worker-a", "demo-small-worker-b", "demo-small-worker-c"]
    group["replicas"] = 1  # lowered by hand, or by an autoscaler that names no pod yet
    plan = plan_pods(cluster, with_pods(cluster, names))
    assert plan.deletes == []
    assert plan.creates == []
    group["scaleStrategy"] = {"workersToDelete": ["demo-small-worker-b"]}
    plan = plan_pods(cluster, with_pods(cluster, names))
    assert [d.name for d in plan.deletes] == ["demo-small-worker-b"]
    assert plan.unknown_deletes == []
    # Without the autoscaler the operator picks the surplus itself.
    del cluster["spec"]["enableInTreeAutoscaling"]
    del group["scaleStrategy"]
    assert len(plan_pods(cluster, with_pods(cluster, names)).deletes) == 2


def test_a_name_of_no_pod_of_the_group_is_reported_and_nothing_else_deleted() -> None:
    cluster = scaled()
    group = cluster["spec"]["workerGroupSpecs"][0]
    group["replicas"] = 2
    group["scaleStrategy"] = {
        "workersToDelete": ["demo-head-x", "demo-other-worker-q", "demo-small-worker-gone"]
    }
    plan = plan_pods(cluster, with_pods(cluster, ["demo-small-worker-a", "demo-small-worker-b"]))
    assert plan.deletes == []
    # A pod of the group that is already gone has the group's prefix: not reported.
    assert plan.unknown_deletes == [("small", "demo-head-x"), ("small", "demo-other-worker-q")]


def test_autoscaler_settings_are_checked_as_kuberay_checks_them() -> None:
    def messages(cluster: dict[str, Any]) -> list[str]:
        return [p.message for p in validate_cluster(cluster) if p.blocking]

    assert messages(scaled(version="v3")) == [
        "spec.autoscalerOptions.version 'v3' is not one of v1, v2"
    ]
    assert messages(scaled(upscalingMode="Fast"))[0].startswith(
        "spec.autoscalerOptions.upscalingMode 'Fast' is not one of"
    )
    suspended = scaled()
    suspended["spec"]["workerGroupSpecs"][0]["suspend"] = True
    assert messages(suspended) == [
        "worker group 'small' cannot be suspended with the autoscaler enabled (the autoscaler "
        "would scale it back up)"
    ]
    restarting = scaled(version="v2")
    restarting["spec"]["workerGroupSpecs"][0]["template"]["spec"]["restartPolicy"] = "Always"
    assert messages(restarting) == [
        "restartPolicy 'Always' of the worker group 'small' must be Never or unset with "
        "autoscaler v2, which tracks each Ray node by its pod"
    ]
    both = scaled(version="v2")
    head = both["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    head["env"] = [{"name": "RAY_enable_autoscaler_v2", "value": "1"}]
    assert len(messages(both)) == 1
    assert messages(both)[0].startswith("both spec.autoscalerOptions")
    off = f.cluster()
    off["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["env"] = head["env"]
    assert messages(off)[0].startswith("environment variable RAY_enable_autoscaler_v2 cannot")
    wrong_type = scaled(env="A=1")
    assert messages(wrong_type) == ["spec.autoscalerOptions.env must be a list, not a string"]


@pytest.fixture
def rig(fake_api: FakeKubeApi) -> Rig:
    return Rig(fake_api)


async def test_the_pass_creates_the_rbac_once(rig: Rig) -> None:
    await rig.create(scaled())
    await rig.reconcile("demo")
    for kind, path in (
        ("ServiceAccount", namespaced("v1", "serviceaccounts", "ns", "demo")),
        ("Role", namespaced(RBAC, "roles", "ns", "demo")),
        ("RoleBinding", namespaced(RBAC, "rolebindings", "ns", "demo")),
    ):
        stored = rig.api.stored(path)
        assert stored is not None, kind
        assert stored["metadata"]["ownerReferences"][0]["kind"] == "RayCluster"
    head = next(p for p in rig.pods() if p["metadata"]["labels"]["ray.io/node-type"] == "head")
    assert head["spec"]["serviceAccountName"] == "demo"
    # One after the other, and before any pod: a RoleBinding is refused before its Role.
    posts = [path.rsplit("/", 1)[-1] for verb, path in rig.api.log if verb == "POST"]
    posts = [p for p in posts if p not in ("rayclusters", "events")]
    assert posts[:3] == ["serviceaccounts", "roles", "rolebindings"], posts
    assert [e["type"] for e in rig.events("CreatedRole")] == ["Normal"]
    rig.ready_pods()
    await rig.reconcile("demo")
    _, requests = await rig.reconcile("demo")
    assert requests == 0, rig.api.log[-5:]
    status = rig.status("demo")
    assert status["workerGroups"] == [{"name": "small", "readyReplicas": 2, "availableReplicas": 2}]


async def test_an_unknown_name_is_one_aggregated_warning_and_deletes_nothing(rig: Rig) -> None:
    body = scaled()
    body["spec"]["workerGroupSpecs"][0]["scaleStrategy"] = {"workersToDelete": ["stranger"]}
    await rig.create(body)
    await rig.reconcile("demo")
    rig.ready_pods()
    before = {p["metadata"]["name"] for p in rig.pods()}
    await rig.reconcile("demo")
    await rig.reconcile("demo")
    (event,) = rig.events("WorkerToDeleteNotFound")
    assert event["type"] == "Warning"
    assert "'stranger'" in event["message"]
    assert event["count"] == 3
    assert {p["metadata"]["name"] for p in rig.pods()} == before


@pytest.mark.parametrize(("replicas", "runs"), [(12, 10), (0, 1)])
def test_replicas_outside_the_bounds_are_reported_and_clamped(replicas: int, runs: int) -> None:
    cluster = scaled()
    group = cluster["spec"]["workerGroupSpecs"][0]
    group.update(replicas=replicas, minReplicas=1, maxReplicas=10)
    (problem,) = validate_cluster(cluster)
    assert not problem.blocking
    assert problem.message == (
        f"spec.workerGroupSpecs[0] ('small'): replicas {replicas} is outside "
        f"minReplicas-maxReplicas (1-10); the group runs {runs}"
    )
    assert worker_groups(cluster)[0].desired_replicas == runs
