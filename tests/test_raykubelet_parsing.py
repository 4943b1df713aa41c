"""The Ray kubelet's pure parts: a container's environment as a kubelet resolves it, and the
flags of the `ray start` in the operator's (and KubeRay's) container command lines."""

from __future__ import annotations

import pytest

from localkube.podenv import PodEnvError, command_line, container_env, expand
from localkube.raykubelet import RayKubeletError, container_cpus, ray_start_flags

POD = {
    "metadata": {
        "name": "c-head-x7k2p",
        "namespace": "ns",
        "uid": "u-1",
        "labels": {"ray.io/cluster": "c", "ray.io/group": "headgroup"},
    },
    "spec": {"serviceAccountName": "c"},
    "status": {"podIP": "127.64.0.9"},
}


def test_env_resolves_field_refs_literals_and_earlier_references_in_order() -> None:
    container = {
        "resources": {"limits": {"cpu": "1500m", "memory": "1Gi"}},
        "env": [
            {"name": "A", "value": "x"},
            {"name": "B", "value": "$(A)-$(LATER)-$$(A)"},
            {"name": "LATER", "value": "y"},
            {
                "name": "RAY_CLUSTER_NAME",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['ray.io/cluster']"}},
            },
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NO_LABEL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['x']"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {
                "name": "MEM",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
        ],
    }
    env = container_env(POD, container, {"BASE": "1"})
    assert env == {
        "BASE": "1",
        "A": "x",
        "B": "x-$(LATER)-$(A)",
        "LATER": "y",
        "RAY_CLUSTER_NAME": "c",
        "POD": "c-head-x7k2p",
        "IP": "127.64.0.9",
        "NO_LABEL": "",
        "CPU": "2",
        "MEM": "1024",
    }


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        {"name": "F", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
    ],
)
def test_env_refuses_what_it_does_not_provide(entry: dict[str, object]) -> None:
    with pytest.raises(PodEnvError):
        container_env(POD, {"env": [entry]})


def test_command_line_expands_references_like_the_kubelet() -> None:
    container = {
        "command": ["/bin/bash", "-c", "--"],
        "args": ["ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) $(UNSET)"],
    }
    assert command_line(container, {"RAY_CLUSTER_NAME": "c"}) == [
        "/bin/bash",
        "-c",
        "--",
        "ray kuberay-autoscaler --cluster-name c $(UNSET)",
    ]
    assert expand("$$$(A)", {"A": "v"}) == "$v"


def test_ray_start_flags_of_the_operators_worker_command() -> None:
    argv = [
        "/bin/bash",
        "-c",
        "--",
        "ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}; ray start"
        " --address=c-head-svc.ns.svc.cluster.local:6379 --block --num-cpus=1"
        ' --resources="{\\"alpha\\": 1}"'
        " --dashboard-agent-listen-port 52365 --no-monitor && echo done",
    ]
    assert ray_start_flags(argv) == {
        "address": "c-head-svc.ns.svc.cluster.local:6379",
        "block": None,
        "num-cpus": "1",
        "resources": '{"alpha": 1}',
        "dashboard-agent-listen-port": "52365",
        "no-monitor": None,
    }


def test_a_command_without_ray_start_is_refused() -> None:
    with pytest.raises(RayKubeletError):
        ray_start_flags(["/bin/bash", "-c", "--", "sleep infinity"])


def test_cpus_come_from_limits_then_requests_rounded_up() -> None:
    assert container_cpus({"resources": {"limits": {"cpu": "500m"}}}) == 1
    assert container_cpus({"resources": {"requests": {"cpu": "2"}}}) == 2
    assert container_cpus({}) is None
