"""The two operators the bench races: this project's ray-operator and KubeRay's Go operator.

Each runs as a local process under its own ServiceAccount (bound to cluster-admin, so RBAC
is the same for both), from a kubeconfig holding that account's token: the apiserver's audit
log then tells its requests apart from everyone else's by user name. Both watch all
namespaces, without leader election, with the same number of concurrent reconciles and the
same client-side rate limit.

`hack/tools.sh kuberay` builds KubeRay's operator (pinned in tools/versions.env) into the tools
cache and links it as .tools/bin/kuberay-operator, with KubeRay's CRDs at
.tools/share/kuberay-crds.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import yaml
from kubernetes import client

from localkube.cluster import REPO_ROOT, TOOLS_BIN
from localkube.monitoring import free_port
from localkube.waiting import wait_for

KUBERAY_BINARY = TOOLS_BIN / "kuberay-operator"
KUBERAY_CRDS = REPO_ROOT / ".tools" / "share" / "kuberay-crds"
OUR_BINARY = Path(sys.executable).with_name("ray-operator")
IDENTITY_NAMESPACE = "ray-bench-system"
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: SIGKILL when the bench dies, even if it is SIGKILLed itself."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def kuberay_version() -> str:
    for line in (REPO_ROOT / "tools" / "versions.env").read_text().splitlines():
        if line.startswith("KUBERAY_VERSION="):
            return line.split("=", 1)[1].strip()
    raise LookupError("no KUBERAY_VERSION in tools/versions.env")


@dataclass(frozen=True)
class Limits:
    """What both operators get: concurrent reconciles per kind and the API client's rate."""

    concurrency: int
    qps: int
    burst: int

    def describe(self) -> str:
        return f"{self.concurrency} concurrent reconciles, client QPS {self.qps} burst {self.burst}"


def service_account_kubeconfig(
    api_client: client.ApiClient, admin_kubeconfig: Path, name: str, out: Path
) -> str:
    """Create ServiceAccount `name` bound to cluster-admin, write a kubeconfig holding a token
    for it to `out`, and return the user name the apiserver will audit it as."""
    core = client.CoreV1Api(api_client)
    if not core.list_namespace(field_selector=f"metadata.name={IDENTITY_NAMESPACE}").items:
        core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=IDENTITY_NAMESPACE))
        )
    core.create_namespaced_service_account(
        IDENTITY_NAMESPACE, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
    )
    client.RbacAuthorizationV1Api(api_client).create_cluster_role_binding(
        cast(
            Any,
            {
                "metadata": {"name": f"{name}-bench"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                "subjects": [
                    {"kind": "ServiceAccount", "name": name, "namespace": IDENTITY_NAMESPACE}
                ],
            },
        )
    )
    request = core.create_namespaced_service_account_token(
        name,
        IDENTITY_NAMESPACE,
        client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=24 * 3600)
        ),
    )
    assert request.status is not None, "the TokenRequest came back without a token"
    config: dict[str, Any] = yaml.safe_load(admin_kubeconfig.read_text())
    config["users"] = [{"name": name, "user": {"token": request.status.token}}]
    config["contexts"][0]["context"]["user"] = name
    out.write_text(yaml.safe_dump(config))
    out.chmod(0o600)
    return f"system:serviceaccount:{IDENTITY_NAMESPACE}:{name}"


class OperatorUnderTest:
    """One operator process: started with a kubeconfig, ready when its /readyz answers 200."""

    label = "operator"
    identity = "operator"

    def __init__(self, kubeconfig: Path, log_path: Path, limits: Limits) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.limits = limits
        self.health_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def __enter__(self) -> OperatorUnderTest:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        wait_for(f"{self.label}'s /readyz", self.ready, timeout=120, interval=0.2)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])
            raise AssertionError(f"{self.label} exited with {self.process.returncode}:\n{tail}")
        url = f"http://127.0.0.1:{self.health_port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                return bool(reply.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _stat_fields(self) -> list[str]:
        assert self.process is not None
        return Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the process (all its threads) so far."""
        fields = self._stat_fields()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_bytes(self) -> int:
        """VmHWM: the largest resident set the process has had."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0


class OurOperator(OperatorUnderTest):
    label = "ray-operator"
    identity = "ray-operator"

    def command(self) -> list[str]:
        return [
            str(OUR_BINARY),
            f"--health-address=127.0.0.1:{self.health_port}",
            "--log-format=json",
            f"--workers={self.limits.concurrency}",
            f"--kube-api-qps={self.limits.qps}",
            f"--kube-api-burst={self.limits.burst}",
        ]


class KubeRayOperator(OperatorUnderTest):
    label = f"KubeRay {kuberay_version()}"
    identity = "kuberay-operator"

    def command(self) -> list[str]:
        if not KUBERAY_BINARY.exists():
            raise FileNotFoundError(
                f"{KUBERAY_BINARY} is missing: run `bash hack/tools.sh kuberay`"
                " (`make bench-operator` does)"
            )
        return [
            str(KUBERAY_BINARY),
            "--enable-leader-election=false",
            f"--metrics-addr=127.0.0.1:{free_port()}",
            f"--health-probe-bind-address=127.0.0.1:{self.health_port}",
            f"--reconcile-concurrency={self.limits.concurrency}",
            f"--qps={self.limits.qps}",
            f"--burst={self.limits.burst}",
        ]


RIVALS: dict[str, type[OperatorUnderTest]] = {"ours": OurOperator, "kuberay": KubeRayOperator}
