"""The operator's settings: one frozen object built from flags and RAY_OPERATOR_* variables.

A flag wins over its environment variable (`--log-level` over RAY_OPERATOR_LOG_LEVEL), which
wins over the default. KUBECONFIG is honoured for the API connection, else the in-cluster
service account is used.

| flag | env | default |
|---|---|---|
| --namespaces a,b | RAY_OPERATOR_NAMESPACES | "" (all namespaces) |
| --log-format json or console | RAY_OPERATOR_LOG_FORMAT | json |
| --log-level LEVEL | RAY_OPERATOR_LOG_LEVEL | INFO |
| --log-file-path PATH | RAY_OPERATOR_LOG_FILE_PATH | none (stdout only) |
| --health-address HOST:PORT | RAY_OPERATOR_HEALTH_ADDRESS | 0.0.0.0:8081 |
| --metrics-address HOST:PORT | RAY_OPERATOR_METRICS_ADDRESS | "" (/metrics on the health address) |
| --leader-election | RAY_OPERATOR_LEADER_ELECTION | off |
| --leader-election-namespace NS | RAY_OPERATOR_LEADER_ELECTION_NAMESPACE | POD_NAMESPACE |
| --dashboard-map FILE | RAY_OPERATOR_DASHBOARD_MAP | none |
| --cluster-domain DOMAIN | RAY_OPERATOR_CLUSTER_DOMAIN | cluster.local |
| --workers N | RAY_OPERATOR_WORKERS | 16 (concurrent reconciles per kind) |
| --resync-period SECONDS | RAY_OPERATOR_RESYNC_PERIOD | 60 |
| --shutdown-timeout SECONDS | RAY_OPERATOR_SHUTDOWN_TIMEOUT | 20 (drain on SIGTERM) |
| --kube-api-qps N | RAY_OPERATOR_KUBE_API_QPS | 50 (sustained requests per second) |
| --kube-api-burst N | RAY_OPERATOR_KUBE_API_BURST | 100 (requests allowed at once) |
"""

from __future__ import annotations

import argparse
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ENV_PREFIX = "RAY_OPERATOR_"
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})

LogFormat = Literal["json", "console"]


@dataclass(frozen=True)
class Settings:
    namespaces: tuple[str, ...] = ()
    log_format: LogFormat = "json"
    log_level: str = "INFO"
    log_file_path: Path | None = None
    health_host: str = "0.0.0.0"
    health_port: int = 8081
    metrics_address: tuple[str, int] | None = None  # None: /metrics on the health address
    leader_election: bool = False
    leader_election_namespace: str = "default"
    dashboard_map: Path | None = None
    cluster_domain: str = "cluster.local"
    workers: int = 16
    resync_period: float = 60.0
    shutdown_timeout: float = 20.0
    kube_api_qps: float = 50.0
    kube_api_burst: int = 100
    identity: str = "ray-operator"

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def _optional_address(text: str) -> tuple[str, int] | None:
    return _address(text) if text.strip() else None


def _level(text: str) -> str:
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"log level must be one of {', '.join(LOG_LEVELS)}")
    return level


def _log_format(text: str) -> str:
    value = text.strip().lower()
    if value not in ("json", "console"):
        raise argparse.ArgumentTypeError(f"log format must be json or console, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _default_namespace(environ: Mapping[str, str]) -> str:
    if environ.get("POD_NAMESPACE"):
        return environ["POD_NAMESPACE"]
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


def parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    def env(flag: str, default: str) -> str:
        return environ.get(ENV_PREFIX + flag.upper().replace("-", "_"), default)

    p = argparse.ArgumentParser(
        prog="ray-operator",
        description="Reconciles KubeRay-compatible RayCluster, RayJob and RayService resources.",
    )
    p.add_argument("--namespaces", default=env("namespaces", ""), help="a,b (empty: all)")
    p.add_argument("--log-format", type=_log_format, default=env("log-format", "json"))
    p.add_argument("--log-level", type=_level, default=env("log-level", "INFO"))
    p.add_argument("--log-file-path", default=env("log-file-path", ""))
    p.add_argument("--health-address", type=_address, default=env("health-address", "0.0.0.0:8081"))
    p.add_argument(
        "--metrics-address",
        type=_optional_address,
        default=env("metrics-address", ""),
        help="serve /metrics here instead of on the health address",
    )
    p.add_argument(
        "--leader-election",
        type=_bool,
        nargs="?",
        const=True,
        default=env("leader-election", "false"),
        help="take a coordination.k8s.io Lease before reconciling",
    )
    p.add_argument(
        "--leader-election-namespace",
        default=env("leader-election-namespace", _default_namespace(environ)),
    )
    p.add_argument("--dashboard-map", default=env("dashboard-map", ""))
    p.add_argument("--cluster-domain", default=env("cluster-domain", "cluster.local"))
    p.add_argument("--workers", type=_positive_int, default=env("workers", "16"))
    p.add_argument("--resync-period", type=_positive_float, default=env("resync-period", "60"))
    p.add_argument(
        "--shutdown-timeout",
        type=_positive_float,
        default=env("shutdown-timeout", "20"),
        help="on SIGTERM, how long reconciles in flight may take to finish",
    )
    p.add_argument("--kube-api-qps", type=_positive_float, default=env("kube-api-qps", "50"))
    p.add_argument("--kube-api-burst", type=_positive_int, default=env("kube-api-burst", "100"))
    return p


def load_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Parse flags (argv without the program name) over the environment."""
    environ = os.environ if environ is None else environ
    args = parser(environ).parse_args(argv)
    host, port = args.health_address
    namespaces = tuple(n.strip() for n in str(args.namespaces).split(",") if n.strip())
    return Settings(
        namespaces=namespaces,
        log_format=args.log_format,
        log_level=args.log_level,
        log_file_path=Path(args.log_file_path) if args.log_file_path else None,
        health_host=host,
        health_port=port,
        metrics_address=args.metrics_address,
        leader_election=bool(args.leader_election),
        leader_election_namespace=args.leader_election_namespace,
        dashboard_map=Path(args.dashboard_map) if args.dashboard_map else None,
        cluster_domain=args.cluster_domain,
        workers=args.workers,
        resync_period=args.resync_period,
        shutdown_timeout=args.shutdown_timeout,
        kube_api_qps=args.kube_api_qps,
        kube_api_burst=args.kube_api_burst,
        # Unique per process: two operators on one host must not share a lease identity.
        identity=environ.get("POD_NAME") or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}",
    )
