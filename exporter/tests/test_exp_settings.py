"""Settings: flags over RAY_EXPORTER_* environment over defaults, validated in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from ray_exporter.settings import Settings, load_settings


def test_defaults() -> None:
    assert load_settings([], {}) == Settings()
    assert Settings().listen_port == 8080
    assert Settings().namespaces == ()


def test_environment_is_read() -> None:
    env = {
        "RAY_EXPORTER_LISTEN_ADDRESS": "127.0.0.1:9100",
        "RAY_EXPORTER_NAMESPACES": "b, a,,a",
        "RAY_EXPORTER_SHARD": "1",
        "RAY_EXPORTER_TOTAL_SHARDS": "3",
        "RAY_EXPORTER_LOG_FORMAT": "console",
        "RAY_EXPORTER_LOG_LEVEL": "debug",
        "RAY_EXPORTER_LOG_FILE_PATH": "/var/log/x.log",
    }
    assert load_settings([], env) == Settings(
        listen_host="127.0.0.1",
        listen_port=9100,
        namespaces=("a", "b"),
        shard=1,
        total_shards=3,
        log_format="console",
        log_level="DEBUG",
        log_file_path=Path("/var/log/x.log"),
    )


def test_flags_win_over_environment() -> None:
    settings = load_settings(
        ["--listen-address", "[::1]:8000", "--namespaces", "x", "--log-level", "WARNING"],
        {"RAY_EXPORTER_LISTEN_ADDRESS": "1.2.3.4:1", "RAY_EXPORTER_NAMESPACES": "y"},
    )
    assert (settings.listen_host, settings.listen_port) == ("::1", 8000)
    assert settings.namespaces == ("x",)
    assert settings.log_level == "WARNING"


@pytest.mark.parametrize(
    "argv",
    [
        ["--listen-address", "8080"],
        ["--listen-address", "host:99999"],
        ["--shard", "2", "--total-shards", "2"],
        ["--total-shards", "0"],
        ["--shard", "-1"],
        ["--log-format", "xml"],
        ["--log-level", "LOUD"],
        ["--unknown"],
    ],
)
def test_invalid_settings_exit_with_usage(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        load_settings(argv, {})
    assert exit_info.value.code == 2


def test_invalid_environment_value_is_an_error_too() -> None:
    with pytest.raises(SystemExit):
        load_settings([], {"RAY_EXPORTER_SHARD": "one"})


def test_plain_http_by_default_and_auth_follows_secure_metrics() -> None:
    assert (Settings().secure_metrics, Settings().metrics_auth) == (False, False)
    secure = load_settings(["--secure-metrics"], {})
    assert (secure.secure_metrics, secure.metrics_auth) == (True, True)
    assert (secure.tls_cert_file, secure.tls_key_file) == (None, None)
    assert load_settings(["--secure-metrics", "--metrics-auth=false"], {}).metrics_auth is False
    from_env = load_settings([], {"RAY_EXPORTER_SECURE_METRICS": "yes"})
    assert (from_env.secure_metrics, from_env.metrics_auth) == (True, True)
    assert load_settings(["--secure-metrics=false"], {"RAY_EXPORTER_SECURE_METRICS": "1"}) == (
        Settings()
    )


def test_tls_files_and_names_from_flags_and_environment() -> None:
    settings = load_settings(
        ["--secure-metrics", "--tls-cert-file", "/tls/tls.crt", "--tls-san", "b,a,,b"],
        {"RAY_EXPORTER_TLS_KEY_FILE": "/tls/tls.key", "RAY_EXPORTER_METRICS_AUTH": "off"},
    )
    assert settings.tls_cert_file == Path("/tls/tls.crt")
    assert settings.tls_key_file == Path("/tls/tls.key")
    assert settings.tls_sans == ("b", "a")
    assert settings.metrics_auth is False


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--secure-metrics", "--tls-cert-file", "c"], "go together"),
        (["--secure-metrics", "--tls-key-file", "k"], "go together"),
        (["--tls-cert-file", "c", "--tls-key-file", "k"], "need --secure-metrics"),
        (["--metrics-auth"], "--metrics-auth needs --secure-metrics"),
        (["--secure-metrics=maybe"], "expected true or false"),
    ],
)
def test_invalid_secure_metrics_combinations(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        load_settings(argv, {})
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
