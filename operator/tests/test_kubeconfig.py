"""Credentials from a kubeconfig or the service account, read without the kubernetes package."""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ray_operator.kubeconfig import KubeconfigError, from_kubeconfig, in_cluster, load_connection


def write(tmp_path: Path, user: dict[str, Any], cluster: dict[str, Any] | None = None) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "here",
        "contexts": [{"name": "here", "context": {"cluster": "c", "user": "u"}}],
        "clusters": [
            {"name": "c", "cluster": {"server": "https://127.0.0.1:6443/", **(cluster or {})}}
        ],
        "users": [{"name": "u", "user": user}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_token_and_relative_ca(tmp_path: Path) -> None:
    connection = from_kubeconfig(
        write(tmp_path, {"token": "abc"}, {"certificate-authority": "ca.crt"})
    )
    assert connection.server == "https://127.0.0.1:6443"
    assert connection.ca_path == str(tmp_path / "ca.crt")
    assert connection.verify
    assert connection.authorization() == "Bearer abc"


def test_inline_certificates_are_written_to_private_files(tmp_path: Path) -> None:
    data = base64.b64encode(b"PEM").decode()
    connection = from_kubeconfig(
        write(
            tmp_path,
            {"client-certificate-data": data, "client-key-data": data},
            {"certificate-authority-data": data, "insecure-skip-tls-verify": True},
        )
    )
    for path in (connection.ca_path, connection.cert_path, connection.key_path):
        assert path is not None
        assert Path(path).read_bytes() == b"PEM"
        assert Path(path).stat().st_mode & 0o077 == 0
    assert not connection.verify
    assert connection.authorization() is None


def test_a_token_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("one\n")
    connection = from_kubeconfig(write(tmp_path, {"tokenFile": "token"}))
    assert connection.authorization() == "Bearer one"
    token.write_text("two\n")
    os.utime(token, ns=(1, 10**18))
    assert connection.authorization() == "Bearer two"


def test_basic_auth(tmp_path: Path) -> None:
    connection = from_kubeconfig(write(tmp_path, {"username": "a", "password": "b"}))
    assert connection.authorization() == "Basic " + base64.b64encode(b"a:b").decode()


def test_exec_plugin_token_is_cached_until_it_expires(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    script = tmp_path / "plugin.py"
    answer = {"status": {"token": "t1", "expirationTimestamp": "2999-01-01T00:00:00Z"}}
    script.write_text(
        f"import json, pathlib\np = pathlib.Path({str(calls)!r})\n"
        f"p.write_text(p.read_text() + 'x' if p.exists() else 'x')\n"
        f"print(json.dumps({answer!r}))\n"
    )
    exec_spec = {"command": sys.executable, "args": [str(script)], "apiVersion": "x"}
    connection = from_kubeconfig(write(tmp_path, {"exec": exec_spec}))
    assert connection.authorization() == "Bearer t1"
    assert connection.authorization() == "Bearer t1"
    assert calls.read_text() == "x", "the plugin ran once"


def test_errors_name_what_is_missing(tmp_path: Path) -> None:
    path = write(tmp_path, {"token": "a"})
    config = yaml.safe_load(path.read_text())
    config["current-context"] = "elsewhere"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(KubeconfigError, match="no context named 'elsewhere'"):
        from_kubeconfig(path)
    with pytest.raises(KubeconfigError, match="KUBERNETES_SERVICE_HOST"):
        in_cluster({})


def test_kubeconfig_env_wins_and_in_cluster_is_the_fallback(tmp_path: Path) -> None:
    path = write(tmp_path, {"token": "abc"})
    assert load_connection({"KUBECONFIG": str(path), "HOME": str(tmp_path)}).server.endswith("6443")
    connection = load_connection(
        {
            "HOME": str(tmp_path),
            "KUBERNETES_SERVICE_HOST": "fd00::1",
            "KUBERNETES_SERVICE_PORT": "443",
        }
    )
    assert connection.server == "https://[fd00::1]:443"
