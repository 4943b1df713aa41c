"""Settings: flags over RAY_OPERATOR_* variables over defaults, bad values rejected."""

from __future__ import annotations

from pathlib import Path

import pytest

from ray_operator.settings import Settings, load_settings


def test_defaults() -> None:
    settings = load_settings([], {"POD_NAMESPACE": "ops", "POD_NAME": "op-0"})
    assert settings == Settings(
        namespaces=(),
        log_format="json",
        log_level="INFO",
        log_file_path=None,
        health_host="0.0.0.0",
        health_port=8081,
        leader_election=False,
        leader_election_namespace="ops",
        dashboard_map=None,
        cluster_domain="cluster.local",
        workers=16,
        resync_period=60.0,
        identity="op-0",
    )
    assert settings.clusterwide


def test_environment_is_read() -> None:
    settings = load_settings(
        [],
        {
            "RAY_OPERATOR_NAMESPACES": "a, b,,",
            "RAY_OPERATOR_LOG_FORMAT": "console",
            "RAY_OPERATOR_LOG_LEVEL": "debug",
            "RAY_OPERATOR_LOG_FILE_PATH": "/var/log/op.log",
            "RAY_OPERATOR_HEALTH_ADDRESS": "127.0.0.1:9000",
            "RAY_OPERATOR_LEADER_ELECTION": "true",
            "RAY_OPERATOR_DASHBOARD_MAP": "/etc/map.yaml",
        },
    )
    assert settings.namespaces == ("a", "b")
    assert not settings.clusterwide
    assert settings.log_format == "console"
    assert settings.log_level == "DEBUG"
    assert settings.log_file_path == Path("/var/log/op.log")
    assert (settings.health_host, settings.health_port) == ("127.0.0.1", 9000)
    assert settings.leader_election is True
    assert settings.dashboard_map == Path("/etc/map.yaml")


def test_flags_win_over_environment() -> None:
    environ = {"RAY_OPERATOR_LOG_LEVEL": "ERROR", "RAY_OPERATOR_LEADER_ELECTION": "1"}
    settings = load_settings(
        ["--log-level", "WARNING", "--leader-election", "false", "--health-address", "[::]:8085"],
        environ,
    )
    assert settings.log_level == "WARNING"
    assert settings.leader_election is False
    assert (settings.health_host, settings.health_port) == ("::", 8085)
    assert load_settings(["--leader-election"], {}).leader_election is True


def test_metrics_move_to_their_own_address_only_when_asked() -> None:
    assert load_settings([], {}).metrics_address is None
    environ = {"RAY_OPERATOR_METRICS_ADDRESS": "127.0.0.1:9100"}
    assert load_settings([], environ).metrics_address == ("127.0.0.1", 9100)
    assert load_settings(["--metrics-address", ":8443"], environ).metrics_address == (
        "0.0.0.0",
        8443,
    )


@pytest.mark.parametrize(
    ("argv", "environ"),
    [
        (["--log-format", "xml"], {}),
        ([], {"RAY_OPERATOR_LOG_FORMAT": "xml"}),
        (["--log-level", "LOUD"], {}),
        (["--health-address", "8081"], {}),
        (["--metrics-address", "localhost"], {}),
        ([], {"RAY_OPERATOR_HEALTH_ADDRESS": "host:99999"}),
        (["--leader-election", "maybe"], {}),
        (["--workers", "0"], {}),
        (["--resync-period", "-1"], {}),
    ],
)
def test_invalid_values_stop_with_a_usage_error(argv: list[str], environ: dict[str, str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        load_settings(argv, environ)
    assert exit_info.value.code == 2


def test_settings_are_frozen() -> None:
    settings = load_settings([], {})
    with pytest.raises(AttributeError):
        settings.log_level = "DEBUG"  # type: ignore[misc]


def test_identity_is_unique_without_a_pod_name() -> None:
    assert load_settings([], {}).identity != load_settings([], {}).identity
