"""The `ray start` command: sorted flags, booleans, derived resources, group overrides."""

from __future__ import annotations

import json

from ray_operator.cluster.command import complete_params, gcs_port, ray_start_command, render_flags


def test_flags_are_sorted_and_booleans_become_bare_or_dropped() -> None:
    flags = render_flags(
        {"num-cpus": "1", "block": "true", "disable-usage-stats": "false", "a": "x"}
    )
    assert flags == ["--a=x", "--block", "--num-cpus=1"]


def test_explicit_boolean_flags_keep_their_value() -> None:
    assert render_flags({"include-dashboard": "false", "log-color": "true"}) == [
        "--include-dashboard=false",
        "--log-color=true",
    ]


def test_head_command_has_defaults_and_resources_from_limits() -> None:
    params = complete_params(
        node_type="head",
        group={"rayStartParams": {"num-cpus": "0"}},
        container={"resources": {"limits": {"cpu": "2500m", "memory": "2Gi", "nvidia.com/gpu": 1}}},
        head_address="ignored:6379",
    )
    assert ray_start_command("head", params) == (
        "ray start --head --block --dashboard-agent-listen-port=52365 --dashboard-host=0.0.0.0 "
        f"--memory={2 * 1024**3} --metrics-export-port=8080 --num-cpus=0 --num-gpus=1"
    )


def test_cpu_falls_back_to_the_request_and_rounds_up() -> None:
    params = complete_params(
        node_type="worker",
        group={},
        container={"resources": {"requests": {"cpu": "1500m", "memory": "1Gi"}}},
        head_address="svc.ns.svc.cluster.local:6379",
    )
    assert params["num-cpus"] == "2"
    assert "memory" not in params, "memory comes from the limit only"
    assert params["address"] == "svc.ns.svc.cluster.local:6379"
    assert "dashboard-host" not in params


def test_user_params_win_over_derived_ones() -> None:
    params = complete_params(
        node_type="worker",
        group={
            "rayStartParams": {
                "address": "elsewhere:1",
                "metrics-export-port": "9000",
                "num-gpus": "0",
            }
        },
        container={"resources": {"limits": {"nvidia.com/gpu": "2"}}},
        head_address="svc:6379",
    )
    assert params["address"] == "elsewhere:1"
    assert params["metrics-export-port"] == "9000"
    assert params["num-gpus"] == "0"


def test_group_resources_and_labels_become_flags() -> None:
    params = complete_params(
        node_type="worker",
        group={
            "resources": {"CPU": "3", "GPU": "1", "memory": "1G", "TPU": "4", "custom": "500m"},
            "labels": {"zone": "b", "accelerator": "a100"},
        },
        container={"resources": {"limits": {"cpu": "8"}}},
        head_address="svc:6379",
    )
    assert params["num-cpus"] == "3"
    assert params["num-gpus"] == "1"
    assert params["memory"] == str(10**9)
    assert params["labels"] == "accelerator=a100,zone=b"
    assert json.loads(params["resources"].strip("'")) == {"TPU": 4.0, "custom": 0.5}


def test_gcs_port_comes_from_the_head_params() -> None:
    assert gcs_port({}) == 6379
    assert gcs_port({"port": "6380"}) == 6380
    assert gcs_port({"port": "bad"}) == 6379
