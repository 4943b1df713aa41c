"""The exporter's settings: one frozen object, read from flags and environment in one place.

Every flag has an environment variable with the prefix `RAY_EXPORTER_` (the
flag name upper-cased, dashes as underscores); a flag given on the command line
wins over the variable, which wins over the default.

- `--listen-address HOST:PORT` (`0.0.0.0:8080`): serves /metrics, /healthz, /readyz
- `--namespaces a,b` (empty: all namespaces)
- `--shard N` (`0`) and `--total-shards M` (`1`): see `sharding`
- `--log-format json|console` (`json`), `--log-level LEVEL` (`INFO`)
- `--log-file-path PATH` (none: stdout only; else also a rotated file)
- `--secure-metrics` (off): serve HTTPS (TLS 1.2 or newer) instead of plain HTTP
- `--tls-cert-file PATH`, `--tls-key-file PATH` (none): PEM certificate chain and key, e.g.
  from a mounted kubernetes.io/tls Secret, re-read when they change; with neither, a
  self-signed certificate is generated at start
- `--tls-san a,b` (none): extra DNS names or IP addresses of the self-signed certificate
  (the pod's hostname, localhost, 127.0.0.1 and ::1 are always in it)
- `--metrics-auth` (on with `--secure-metrics`): /metrics demands a bearer token that a
  TokenReview authenticates and a SubjectAccessReview for `get` on the non-resource URL
  `/metrics` authorizes; it needs `--secure-metrics`, so tokens never cross plain HTTP
- `--kube-api-qps N` (`20`) and `--kube-api-burst N` (`40`): client-side rate limit of the
  LIST and WATCH requests (a relist of every scope after an apiserver restart is paced)

Boolean flags take an optional value (`--secure-metrics=false`); their variables take
true/false, yes/no, on/off or 1/0.

The cluster comes from `KUBECONFIG` when it is set, else from the in-cluster
service account.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "RAY_EXPORTER_"
LOG_FORMATS = ("json", "console")
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Settings:
    """Everything the exporter is configured with."""

    listen_host: str = "0.0.0.0"
    listen_port: int = 8080
    namespaces: tuple[str, ...] = ()
    shard: int = 0
    total_shards: int = 1
    log_format: str = "json"
    log_level: str = "INFO"
    log_file_path: Path | None = None
    secure_metrics: bool = False
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_sans: tuple[str, ...] = ()
    metrics_auth: bool = False
    kube_api_qps: float = 20.0
    kube_api_burst: int = 40


def parse_address(value: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[v6]:PORT`) into host and port."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range in {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", port


def parse_namespaces(value: str) -> tuple[str, ...]:
    """`a,b` into a sorted tuple without duplicates or blanks."""
    return tuple(sorted({part.strip() for part in value.split(",") if part.strip()}))


def _non_negative(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value!r}")
    return number


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}")
    return number


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def _unset_or_bool(value: str) -> bool | None:
    return None if not value.strip() else _bool(value)


def _list(value: str) -> tuple[str, ...]:
    """`a,b` into a tuple in the given order, without duplicates or blanks."""
    return tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))


def _level(value: str) -> str:
    level = value.upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"log level must be one of {', '.join(LOG_LEVELS)}")
    return level


def _parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    def default(flag: str, fallback: str) -> str:
        return env.get(ENV_PREFIX + flag.upper().replace("-", "_"), fallback)

    parser = argparse.ArgumentParser(
        prog="ray-exporter",
        description="Serve the kuberay_* gauges computed from RayCluster, RayJob and RayService.",
    )
    parser.add_argument(
        "--listen-address",
        type=parse_address,
        default=default("listen-address", "0.0.0.0:8080"),
        help="HOST:PORT serving /metrics, /healthz and /readyz",
    )
    parser.add_argument(
        "--namespaces",
        type=parse_namespaces,
        default=default("namespaces", ""),
        help="comma-separated namespaces to watch; empty watches all namespaces",
    )
    parser.add_argument("--shard", type=_non_negative, default=default("shard", "0"))
    parser.add_argument("--total-shards", type=_non_negative, default=default("total-shards", "1"))
    parser.add_argument(
        "--log-format", choices=LOG_FORMATS, default=default("log-format", "json").lower()
    )
    parser.add_argument("--log-level", type=_level, default=default("log-level", "INFO"))
    parser.add_argument("--log-file-path", type=Path, default=default("log-file-path", "") or None)
    parser.add_argument(
        "--secure-metrics",
        type=_bool,
        nargs="?",
        const=True,
        default=default("secure-metrics", "false"),
        help="serve HTTPS instead of plain HTTP",
    )
    parser.add_argument(
        "--tls-cert-file",
        type=Path,
        default=default("tls-cert-file", "") or None,
        help="PEM certificate (chain); none: a self-signed one generated at start",
    )
    parser.add_argument(
        "--tls-key-file", type=Path, default=default("tls-key-file", "") or None, help="PEM key"
    )
    parser.add_argument(
        "--tls-san",
        type=_list,
        default=default("tls-san", ""),
        help="comma-separated extra DNS names or IPs of the self-signed certificate",
    )
    parser.add_argument(
        "--metrics-auth",
        type=_unset_or_bool,
        nargs="?",
        const=True,
        default=default("metrics-auth", ""),
        help="authenticate and authorize /metrics scrapers (default: on with --secure-metrics)",
    )
    parser.add_argument(
        "--kube-api-qps",
        type=_positive,
        default=default("kube-api-qps", "20"),
        help="sustained API requests per second",
    )
    parser.add_argument(
        "--kube-api-burst",
        type=_non_negative,
        default=default("kube-api-burst", "40"),
        help="API requests allowed at once before the rate applies",
    )
    return parser


def load_settings(argv: Sequence[str], env: Mapping[str, str]) -> Settings:
    """Settings from command-line arguments over environment variables over defaults.

    Exits with status 2 and a usage message on an invalid value, like any CLI.
    """
    parser = _parser(env)
    args = parser.parse_args(list(argv))
    if args.total_shards < 1:
        parser.error("--total-shards must be at least 1")
    if args.shard >= args.total_shards:
        parser.error(f"--shard must be below --total-shards ({args.total_shards})")
    if args.log_format not in LOG_FORMATS:
        parser.error(f"--log-format must be one of {', '.join(LOG_FORMATS)}")
    # An unset --metrics-auth follows --secure-metrics (an empty variable counts as unset).
    metrics_auth = args.secure_metrics if args.metrics_auth is None else args.metrics_auth
    if (args.tls_cert_file is None) != (args.tls_key_file is None):
        parser.error("--tls-cert-file and --tls-key-file go together: give both or neither")
    if args.tls_cert_file is not None and not args.secure_metrics:
        parser.error("--tls-cert-file and --tls-key-file need --secure-metrics")
    if args.kube_api_burst < 1:
        parser.error("--kube-api-burst must be at least 1")
    if metrics_auth and not args.secure_metrics:
        parser.error(
            "--metrics-auth needs --secure-metrics: bearer tokens must not cross plain HTTP"
        )
    host, port = args.listen_address
    return Settings(
        listen_host=host,
        listen_port=port,
        namespaces=args.namespaces,
        shard=args.shard,
        total_shards=args.total_shards,
        log_format=args.log_format,
        log_level=args.log_level,
        log_file_path=args.log_file_path,
        secure_metrics=args.secure_metrics,
        tls_cert_file=args.tls_cert_file,
        tls_key_file=args.tls_key_file,
        tls_sans=args.tls_san,
        metrics_auth=metrics_auth,
        kube_api_qps=args.kube_api_qps,
        kube_api_burst=args.kube_api_burst,
    )
