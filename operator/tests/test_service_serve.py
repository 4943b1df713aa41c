"""Serve config handling and what the reconciler makes of Serve's answers."""

from __future__ import annotations

import pytest
import service_factory as f

from ray_operator.dashboard.jobs import error_text
from ray_operator.service.serve import (
    Proxies,
    ServeConfigError,
    all_running,
    application_statuses,
    failed_applications,
    need_apply,
    parse_serve_config,
    serve_config_hash,
    serve_label,
)


def test_config_parses_to_a_mapping() -> None:
    assert parse_serve_config(f.SERVE_CONFIG)["applications"][0]["import_path"] == "tiny.app"
    assert parse_serve_config("") == {}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("applications: [", "not valid YAML"), ("- a\n- b\n", "must be a YAML mapping")],
)
def test_config_errors_name_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(ServeConfigError, match=fragment):
        parse_serve_config(text)


def test_reformatting_the_yaml_keeps_the_hash() -> None:
    reformatted = "applications: [{route_prefix: /, import_path: tiny.app, name: app1}]\n"
    assert serve_config_hash(reformatted) == serve_config_hash(f.SERVE_CONFIG)
    assert serve_config_hash(f.SERVE_CONFIG.replace("tiny.app", "tiny.app2")) != serve_config_hash(
        f.SERVE_CONFIG
    )
    assert serve_config_hash("applications: [") != serve_config_hash("applications: [[")


def test_application_statuses_in_kuberay_shape() -> None:
    details = f.serve_details({"app1": "RUNNING", "": "DEPLOYING"}, messages={"": "starting"})
    assert application_statuses(details) == {
        "app1": {
            "status": "RUNNING",
            "message": "",
            "serveDeploymentStatuses": {"Tiny": {"status": "HEALTHY", "message": ""}},
        },
        "default": {
            "status": "DEPLOYING",
            "message": "starting",
            "serveDeploymentStatuses": {"Tiny": {"status": "UPDATING", "message": ""}},
        },
    }


def test_ready_only_with_applications_all_running() -> None:
    assert not all_running({})
    assert all_running(application_statuses(f.serve_details({"a": "RUNNING", "b": "RUNNING"})))
    assert not all_running(
        application_statuses(f.serve_details({"a": "RUNNING", "b": "DEPLOYING"}))
    )


def test_failed_applications_carry_serves_message() -> None:
    apps = application_statuses(
        f.serve_details(
            {"a": "DEPLOY_FAILED", "b": "RUNNING", "c": "UNHEALTHY"},
            messages={"a": "ModuleNotFoundError: No module named 'nope'"},
        )
    )
    assert failed_applications(apps) == [
        "a is DEPLOY_FAILED: ModuleNotFoundError: No module named 'nope'",
        "c is UNHEALTHY",
    ]


def test_config_is_sent_when_new_changed_or_lost() -> None:
    apps = {"app1": {"status": "RUNNING"}}
    assert need_apply(None, "h1", apps) is not None
    assert need_apply("h0", "h1", apps) == "serveConfigV2 changed"
    assert "no applications" in str(need_apply("h1", "h1", {}))
    assert need_apply("h1", "h1", apps) is None


def test_pod_serves_when_the_proxy_on_its_node_is_healthy() -> None:
    proxies = Proxies.of(f.serve_details({"a": "RUNNING"}, proxy_ip="10.0.0.7"))
    worker = f.pod("c", "w", node_type="worker", ip="10.0.0.7")
    other = f.pod("c", "w2", node_type="worker", ip="10.0.0.8")
    assert serve_label(worker, proxies, exclude_head=False) == "true"
    assert serve_label(other, proxies, exclude_head=False) == "false"
    unhealthy = Proxies.of(
        f.serve_details({"a": "RUNNING"}, proxy_ip="10.0.0.7", proxy="UNHEALTHY")
    )
    assert serve_label(worker, unhealthy, exclude_head=False) == "false"


def test_head_pod_matches_the_controllers_node_when_ips_differ() -> None:
    # Ray may report another address for the head node than the pod IP (e.g. loopback).
    proxies = Proxies.of(f.serve_details({"a": "RUNNING"}, proxy_ip="127.0.0.1"))
    head = f.pod("c", "h", ip="10.244.0.5")
    assert serve_label(head, proxies, exclude_head=False) == "true"
    assert serve_label(head, proxies, exclude_head=True) == "false"
    worker = f.pod("c", "w", node_type="worker", ip="10.244.0.6")
    assert serve_label(worker, proxies, exclude_head=False) == "false"


def test_unknown_proxy_health_keeps_the_label() -> None:
    assert serve_label(f.pod("c", "h", serve="true"), None, exclude_head=False) == "true"
    assert serve_label(f.pod("c", "h", serve=None), None, exclude_head=False) == "false"


def test_failed_application_message_keeps_the_exception_line() -> None:
    traceback = (
        "Deploying app 'app1' failed with exception:\n"
        "Traceback (most recent call last):\n"
        '  File "application_state.py", line 926, in _reconcile_build_app_task\n'
        "    ray.get(...)\n"
        "ModuleNotFoundError: No module named 'nope_module'\n"
    )
    apps = {"app1": {"status": "DEPLOY_FAILED", "message": traceback}}
    assert failed_applications(apps) == [
        "app1 is DEPLOY_FAILED: ModuleNotFoundError: No module named 'nope_module'"
    ]


def test_serve_config_rejections_name_the_field() -> None:
    # what Ray's dashboard answers (HTTP 400) to a config its schema rejects
    answer = (
        "1 validation error for ServeDeploySchema\n"
        "applications.0.import_path\n"
        "  Input should be a valid string [type=string_type, input_value=3, input_type=int]\n"
        "    For further information visit https://errors.pydantic.dev/2.14/v/string_type"
    )
    assert error_text(answer) == (
        "1 validation error for ServeDeploySchema: applications.0.import_path: "
        "Input should be a valid string [type=string_type, input_value=3, input_type=int]"
    )
