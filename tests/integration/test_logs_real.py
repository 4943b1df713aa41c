"""Logs of the real programs on the real control plane, at DEBUG (where kopf, aiohttp, the
kubernetes client and urllib3 all speak): every line is JSON with the designed fields, lines
about the RayCluster name it, the file sink holds INFO and above, and the cluster's bearer
token appears nowhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from exporter_harness import exporter_env, exporter_running
from kubernetes import client
from raycluster_harness import OperatorProcess, Rays, apply_crds, sample, wait_for

pytestmark = pytest.mark.integration
NAME = "raycluster-minimal"
BASE_FIELDS = ["ts", "level", "logger", "msg"]


@pytest.fixture(scope="module")
def crds(kube_cluster: Any) -> None:
    apply_crds(kube_cluster.env())


def kubeconfig_token(kubeconfig: Path) -> str:
    users = yaml.safe_load(kubeconfig.read_text())["users"]
    token = next(user["user"]["token"] for user in users if user["user"].get("token"))
    assert isinstance(token, str)
    assert len(token) >= 16
    return token


def json_lines(path: Path) -> list[dict[str, Any]]:
    """Every non-empty line of the file, parsed; a line that is not JSON fails the test."""
    lines = []
    for number, text in enumerate(path.read_text().splitlines(), 1):
        if text.strip():
            try:
                lines.append(json.loads(text))
            except ValueError:
                pytest.fail(f"{path.name}:{number} is not JSON: {text[:300]}")
    return lines


def test_operator_at_debug_logs_json_about_objects_and_never_its_token(
    kube_cluster: Any, crds: None, namespace: str, api_client: client.ApiClient, tmp_path: Path
) -> None:
    token = kubeconfig_token(Path(kube_cluster.kubeconfig))
    stdout, file_path = tmp_path / "operator.out", tmp_path / "files" / "operator.log"
    args = ("--namespaces", namespace, "--log-level", "DEBUG", "--log-file-path", str(file_path))
    rays = Rays(api_client, namespace)
    with OperatorProcess(kube_cluster.env(), stdout, *args):
        rays.create(sample(NAME, namespace))
        wait_for("the RayCluster to be ready", lambda: rays.ready(NAME))
    printed, in_file = json_lines(stdout), json_lines(file_path)
    for line in printed + in_file:
        assert list(line)[:4] == BASE_FIELDS, line
    levels = {line["level"] for line in printed}
    assert "debug" in levels
    assert not {line["level"] for line in in_file} & {"trace", "debug"}
    loggers = {line["logger"] for line in printed}
    assert any(name.startswith("kopf") for name in loggers), sorted(loggers)
    about = [line for line in printed if line.get("kind") == "RayCluster"]
    assert about, "some lines name the RayCluster"
    assert all((line["namespace"], line["name"]) == (namespace, NAME) for line in about)
    for path in (stdout, file_path):
        assert token not in path.read_text(), f"the token leaked into {path.name}"


def test_exporter_at_debug_logs_json_and_never_its_token(
    kube_cluster: Any, crds: None, tmp_path: Path
) -> None:
    kubeconfig = Path(kube_cluster.kubeconfig)
    token = kubeconfig_token(kubeconfig)
    env = exporter_env(kube_cluster.env(), kubeconfig)
    env["RAY_EXPORTER_LOG_LEVEL"] = "DEBUG"
    stdout = tmp_path / "exporter.out"
    with exporter_running(env, stdout) as exporter:
        exporter.wait_ready()
        exporter.metrics()
    printed = json_lines(stdout)
    assert printed
    for line in printed:
        assert list(line)[:4] == BASE_FIELDS, line
    assert "debug" in {line["level"] for line in printed}
    assert token not in stdout.read_text()
