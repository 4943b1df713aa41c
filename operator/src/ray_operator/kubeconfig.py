"""Where the apiserver is and how to authenticate: a kubeconfig file, or the pod's service
account when none is given.

Read without the `kubernetes` package (it costs the operator about 20 MiB of memory for
nothing else). Supported, as kubectl reads them: `$KUBECONFIG` (its first file) or
`~/.kube/config`, the current context, the cluster's `server`, `certificate-authority` or
`-data`, `insecure-skip-tls-verify`, and the user's `token`, `tokenFile`,
`client-certificate`/`client-key` (or `-data`), `username`/`password`, and `exec` credential
plugins (their token is cached until its `expirationTimestamp`). Inline data is written to
files readable only by this user, because TLS libraries load certificates from files. The
service account's token is re-read when its file changes (projected tokens rotate).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from ray_operator.kubeapi import Connection

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeconfigError(RuntimeError):
    """The kubeconfig or the service account cannot be used; the message says why."""


def load_connection(environ: Mapping[str, str] = os.environ) -> Connection:
    """KUBECONFIG (or ~/.kube/config) when present, else the in-cluster service account."""
    configured = environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    default = Path(environ.get("HOME", "~")).expanduser() / ".kube" / "config"
    if configured:
        return from_kubeconfig(Path(configured).expanduser())
    if default.exists():
        return from_kubeconfig(default)
    return in_cluster(environ)


def _named(items: Any, name: str, what: str) -> Mapping[str, Any]:
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping) and item.get("name") == name:
            body = item.get(what)
            return body if isinstance(body, Mapping) else {}
    raise KubeconfigError(f"the kubeconfig has no {what} named {name!r}")


def _file(base: Path, path: Any, data: Any, scratch: Callable[[], Path], name: str) -> str | None:
    if data:
        target = scratch() / name
        target.write_bytes(base64.b64decode(str(data)))
        target.chmod(0o600)
        return str(target)
    if path:
        resolved = Path(str(path)).expanduser()
        return str(resolved if resolved.is_absolute() else base / resolved)
    return None


def from_kubeconfig(path: Path) -> Connection:
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise KubeconfigError(f"cannot read the kubeconfig {path}: {error}") from error
    context_name = str(config.get("current-context") or "")
    if not context_name:
        raise KubeconfigError(f"the kubeconfig {path} has no current-context")
    context = _named(config.get("contexts"), context_name, "context")
    cluster = _named(config.get("clusters"), str(context.get("cluster")), "cluster")
    user = (
        _named(config.get("users"), str(context.get("user")), "user") if context.get("user") else {}
    )
    base = path.parent
    made: list[Path] = []

    def scratch() -> Path:
        if not made:
            made.append(Path(tempfile.mkdtemp(prefix="ray-operator-kubeconfig-")))
        return made[0]

    server = str(cluster.get("server") or "")
    if not server:
        raise KubeconfigError(f"the cluster of context {context_name!r} has no server")
    return Connection(
        server=server.rstrip("/"),
        ca_path=_file(
            base,
            cluster.get("certificate-authority"),
            cluster.get("certificate-authority-data"),
            scratch,
            "ca.crt",
        ),
        cert_path=_file(
            base,
            user.get("client-certificate"),
            user.get("client-certificate-data"),
            scratch,
            "client.crt",
        ),
        key_path=_file(
            base, user.get("client-key"), user.get("client-key-data"), scratch, "client.key"
        ),
        verify=not cluster.get("insecure-skip-tls-verify"),
        authorization=_authorization(user, base),
    )


def _authorization(user: Mapping[str, Any], base: Path) -> Callable[[], str | None]:
    if user.get("token"):
        header = f"Bearer {user['token']}"
        return lambda: header
    if user.get("tokenFile"):
        return _token_file(base / str(user["tokenFile"]))
    if user.get("username") is not None and user.get("password") is not None:
        pair = f"{user['username']}:{user['password']}".encode()
        header = f"Basic {base64.b64encode(pair).decode()}"
        return lambda: header
    if isinstance(user.get("exec"), Mapping):
        return _exec_plugin(user["exec"])
    return lambda: None


def _token_file(path: Path) -> Callable[[], str | None]:
    cached: dict[str, Any] = {}

    def read() -> str | None:
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            return cached.get("header")
        if cached.get("stamp") != stamp:
            cached.update(stamp=stamp, header=f"Bearer {path.read_text().strip()}")
        return str(cached["header"])

    return read


def _exec_plugin(spec: Mapping[str, Any]) -> Callable[[], str | None]:
    command = [str(spec.get("command") or ""), *(str(a) for a in spec.get("args") or [])]
    env = {**os.environ}
    for item in spec.get("env") or []:
        if isinstance(item, Mapping) and item.get("name"):
            env[str(item["name"])] = str(item.get("value") or "")
    cached: dict[str, Any] = {}

    def token() -> str | None:
        if cached and (cached["until"] is None or time.time() < cached["until"] - 60):
            return str(cached["header"])
        try:
            answer = subprocess.run(
                command, env=env, capture_output=True, check=True, timeout=60, text=True
            )
            status = json.loads(answer.stdout).get("status") or {}
        except (OSError, subprocess.SubprocessError, ValueError) as error:
            raise KubeconfigError(
                f"the exec credential plugin {command[0]} failed: {error}"
            ) from error
        expires = status.get("expirationTimestamp")
        until = (
            datetime.fromisoformat(str(expires).replace("Z", "+00:00")).timestamp()
            if expires
            else None
        )
        cached.update(header=f"Bearer {status.get('token', '')}", until=until)
        return str(cached["header"])

    return token


def in_cluster(environ: Mapping[str, str] = os.environ) -> Connection:
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise KubeconfigError(
            "no kubeconfig (KUBECONFIG, ~/.kube/config) and not in a pod "
            "(KUBERNETES_SERVICE_HOST/PORT unset)"
        )
    if ":" in host:
        host = f"[{host}]"
    ca = SERVICE_ACCOUNT / "ca.crt"
    return Connection(
        server=f"https://{host}:{port}",
        ca_path=str(ca) if ca.exists() else None,
        cert_path=None,
        key_path=None,
        verify=True,
        authorization=_token_file(SERVICE_ACCOUNT / "token"),
    )
