"""Installing the chart into the local control plane for tests, and asking what its accounts may do.

Used by test_chart_install.py: run the pinned binaries with the cluster's environment,
install a release into a fresh namespace and remove it afterwards, impersonate its
ServiceAccounts with `kubectl auth can-i`, and run the operator or the exporter locally
with a token of the chart's ServiceAccount, as the pods would if kwok ran containers.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from localkube.monitoring import free_port

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "ray-operator"
MONITORING_CRDS = REPO / "tests" / "chart" / "fixtures" / "monitoring-crds.yaml"


def run(
    env: dict[str, str], *args: str | Path, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


def as_dict(api_client: client.ApiClient, obj: Any) -> dict[str, Any]:
    """A client model as the API's JSON (camelCase keys)."""
    result: dict[str, Any] = api_client.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
    return result


@contextlib.contextmanager
def monitoring_crds_applied(kube_cluster: Any, api_client: client.ApiClient) -> Iterator[None]:
    """The Prometheus Operator's three kinds, removed afterwards unless they were there before."""
    ext = client.ApiextensionsV1Api(api_client)
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(MONITORING_CRDS.read_text())]
    crds = as_dict(api_client, ext.list_custom_resource_definition())["items"]
    existing = {c["metadata"]["name"] for c in crds}
    env = tool_env(kube_cluster)
    applied = run(env, "kubectl", "apply", "--server-side", "-f", MONITORING_CRDS)
    assert applied.returncode == 0, applied.stderr
    waited = run(
        env, "kubectl", "wait", "--for=condition=Established", *[f"crd/{n}" for n in names]
    )
    assert waited.returncode == 0, waited.stderr
    yield
    for name in set(names) - existing:
        ext.delete_custom_resource_definition(name)


@dataclass
class Release:
    """A chart release this module installed, and how to talk to its cluster."""

    name: str
    namespace: str
    env: dict[str, str]
    manifest: list[dict[str, Any]]

    @property
    def exporter(self) -> str:
        return f"{self.name}-ray-operator-exporter"

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run(self.env, "kubectl", *args, timeout=120)

    def can_i(self, account: str, verb: str, resource: str, *scope: str) -> bool:
        who = f"--as=system:serviceaccount:{self.namespace}:{account}"
        result = self.kubectl(
            "auth", "can-i", verb, resource, who, *(scope or ("-n", self.namespace))
        )
        assert result.stdout.strip() in ("yes", "no"), result.stderr
        return result.stdout.strip() == "yes"


def tool_env(kube_cluster: Any) -> dict[str, str]:
    env: dict[str, str] = kube_cluster.env()
    env["PATH"] = os.pathsep.join(
        [str(REPO / ".tools" / "bin"), str(REPO / ".venv" / "bin"), env["PATH"]]
    )
    env["HELM_PLUGINS"] = str(REPO / ".tools" / "share" / "helm-plugins")
    env["CT_CONFIG_DIR"] = str(REPO / ".tools" / "share" / "ct-etc")
    return env


@contextlib.contextmanager
def installed(
    kube_cluster: Any, api_client: client.ApiClient, values: dict[str, Any], tmp: Path
) -> Iterator[Release]:
    """Install the chart with `values` into a fresh namespace; uninstall and delete after."""
    core = client.CoreV1Api(api_client)
    suffix = secrets.token_hex(3)
    namespace, name = f"chart-{suffix}", f"ray-{suffix}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    env = tool_env(kube_cluster)
    values_file = tmp / f"{name}-values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    try:
        result = run(
            env,
            "helm",
            "install",
            name,
            CHART,
            "-n",
            namespace,
            "-f",
            values_file,
            "--wait",
            "--timeout",
            "180s",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        manifest = run(env, "helm", "get", "manifest", name, "-n", namespace).stdout
        yield Release(name, namespace, env, [d for d in yaml.safe_load_all(manifest) if d])
    finally:
        run(env, "helm", "uninstall", name, "-n", namespace, "--wait", "--timeout", "120s")
        core.delete_namespace(namespace, propagation_policy="Background")


def hook_script(release: Release) -> tuple[str, dict[str, str]]:
    """The test hook's shell script and environment, as `helm get hooks` has them."""
    hooks = run(release.env, "helm", "get", "hooks", release.name, "-n", release.namespace).stdout
    [job] = [d for d in yaml.safe_load_all(hooks) if d and d["kind"] == "Job"]
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["sh", "-c"]
    return container["args"][0], {e["name"]: e["value"] for e in container["env"]}


def kubeconfig_for(release: Release, account: str, path: Path) -> Path:
    """A kubeconfig that authenticates as `account` with a fresh token from the TokenRequest API."""
    token = release.kubectl("create", "token", account, "-n", release.namespace)
    assert token.returncode == 0, token.stderr
    admin = yaml.safe_load(Path(release.env["KUBECONFIG"]).read_text())
    cluster = admin["clusters"][0]["cluster"]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "sa",
                "clusters": [{"name": "local", "cluster": cluster}],
                "users": [{"name": "sa", "user": {"token": token.stdout.strip()}}],
                "contexts": [{"name": "sa", "context": {"cluster": "local", "user": "sa"}}],
            }
        )
    )
    return path


@dataclass
class LocalProcess:
    """A program of this repository running locally as one of the release's ServiceAccounts."""

    port: int
    log: Path

    def ready(self) -> bool:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(self.url("/readyz"), timeout=2) as r,
        ):
            return bool(r.status == 200)
        return False

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def forbidden(self, tolerated: tuple[str, ...] = ()) -> list[str]:
        """Log lines about a 403, except those naming a tolerated resource."""
        return [
            line
            for line in self.log.read_text().splitlines()
            if ("403" in line or "forbidden" in line.lower())
            and not any(resource in line for resource in tolerated)
        ]


@contextlib.contextmanager
def running_as(
    release: Release, account: str, module: str, args: list[str], tmp: Path
) -> Iterator[LocalProcess]:
    """Run `python -m module args --<listen flag> 127.0.0.1:<port>` with `account`'s token.

    The listen flag is --listen-address for the exporter and --health-address for the
    operator; POD_NAME and POD_NAMESPACE are set as the chart's Deployment sets them.
    """
    port = free_port()
    listen = "--listen-address" if module == "ray_exporter" else "--health-address"
    env = dict(
        release.env,
        KUBECONFIG=str(kubeconfig_for(release, account, tmp / f"{account}.kubeconfig")),
        POD_NAME=f"{account}-local",
        POD_NAMESPACE=release.namespace,
    )
    process = LocalProcess(port, tmp / f"{account}.log")
    with process.log.open("w") as log:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                module,
                *args,
                listen,
                f"127.0.0.1:{port}",
                "--log-format",
                "console",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
