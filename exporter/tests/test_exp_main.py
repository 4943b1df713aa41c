"""The `ray-exporter` entry point refuses to start without a cluster or with bad settings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

ENTRY = Path(sys.executable).with_name("ray-exporter")


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "RAY_EXPORTER_"))}
    clean["HOME"] = "/nonexistent"
    clean.update(env)
    return subprocess.run(
        [str(ENTRY), *args], env=clean, capture_output=True, text=True, timeout=60
    )


def test_without_cluster_configuration_it_exits_1_with_a_json_log() -> None:
    result = run("--listen-address", "127.0.0.1:0")
    assert result.returncode == 1
    (line,) = [json.loads(text) for text in result.stdout.splitlines()]
    assert line["level"] == "error"
    assert "cluster configuration" in line["msg"]


def test_bad_settings_exit_2_with_usage() -> None:
    result = run("--total-shards", "0")
    assert result.returncode == 2
    assert "usage: ray-exporter" in result.stderr


def test_sigterm_stops_cleanly_even_while_the_api_is_unreachable(tmp_path: Path) -> None:
    """Watch threads retrying against a dead apiserver still let the process exit 0."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "RAY_EXPORTER_"))}
    clean["KUBECONFIG"] = str(kubeconfig)
    process = subprocess.Popen(
        [str(ENTRY), "--listen-address", "127.0.0.1:0"],
        env=clean,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:  # wait until it serves and has failed at least once
        if "list/watch failed" in line:
            break
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    assert '"msg": "stopped"' in out


def test_unreadable_tls_files_exit_1_naming_the_problem(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    result = run(
        "--listen-address=127.0.0.1:0",
        "--secure-metrics",
        f"--tls-cert-file={tmp_path / 'missing.crt'}",
        f"--tls-key-file={tmp_path / 'missing.key'}",
        KUBECONFIG=str(kubeconfig),
    )
    assert result.returncode == 1
    (line,) = [json.loads(text) for text in result.stdout.splitlines()]
    assert line["msg"] == "cannot load the TLS certificate and key"
    assert "missing.crt" in line["error"]
