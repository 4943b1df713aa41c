"""No secret reaches a log sink of either program: bearer tokens, Authorization headers,
token=/password= values, PEM private keys, JWTs and URL passwords are redacted in messages,
bound values, stdlib records (the real kubernetes client at DEBUG) and exception text."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from kubernetes import client
from log_capture import canned_api_server, json_lines
from log_programs import LogFormat, LogProgram
from loguru import logger

TOKEN = "s3cr3t-T0ken.value_0123456789"
JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLXBhcnQ"
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretkeymaterial\n"
    "-----END RSA PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"Authorization: Bearer {TOKEN}", TOKEN),
        (f"b'GET / HTTP/1.1\\r\\nauthorization: Bearer {TOKEN}\\r\\n\\r\\n'", TOKEN),
        ("{'authorization': 'Basic dXNlcjpodW50ZXIy'}", "dXNlcjpodW50ZXIy"),
        ("Cookie: session=abc123; theme=dark", "abc123"),
        (f"GET /api/v1/pods?watch=1&token={TOKEN}", TOKEN),
        ("login with password=hunter2 failed", "hunter2"),
        ('{"client_secret": "hunter2", "name": "x"}', "hunter2"),
        ("ConnectionInfo(server='https://k', token='abcdef.0123456789abcdef')", "0123456789abcdef"),
        (f"retrying with bearer {TOKEN}", TOKEN),
        (f"kubeconfig user token {JWT}", JWT.split(".")[1]),
        ("pulling https://admin:hunter2@registry.local/ray", "hunter2"),
        ('env: [{"name": "REDIS_PASSWORD", "value": "hunter2"}]', "hunter2"),
        ("env: [{'name': 'HF_TOKEN', 'value': 'hf_abc123'}]", "hf_abc123"),
        (f"cert and key:\n{PEM}", "secretkeymaterial"),
        (
            "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANsecretkeymaterial (truncated",
            "secretkeymaterial",
        ),
    ],
)
def test_redact_removes_the_secret(program: LogProgram, text: str, secret: str) -> None:
    cleaned = program.logs.redact(text)
    assert secret not in cleaned
    assert program.logs.REDACTED in cleaned
    assert program.logs.redact(cleaned) == cleaned


SECRETS = st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/", min_size=16
)
FORMS = st.sampled_from(
    [
        "Authorization: Bearer {}",
        "authorization: {}",
        "bearer {}",
        "?token={}&watch=1",
        "password={}",
        "'client_secret': '{}'",
        '"apiKey": "{}"',
    ]
)


@given(st.text(), FORMS, SECRETS, st.text())
@example("", "bearer {}", "onlyLettersInThis", "")
def test_a_secret_in_any_surrounding_text_is_redacted(
    program: LogProgram, before: str, form: str, secret: str, after: str
) -> None:
    assume(secret not in before + after)
    assert secret not in program.logs.redact(f"{before} {form.format(secret)} {after}")


@pytest.mark.parametrize(
    "text",
    [
        "metrics request without a bearer token",
        "TokenReview failed; refusing the scrape",
        "mounted secretName tls-cert into the head pod",
        "created 3 pods for RayCluster team-a/demo",
        "GET /apis/ray.io/v1/namespaces/team-a/rayclusters?watch=1",
        'env: [{"name": "RAY_ADDRESS", "value": "demo-head-svc:6379"}]',
    ],
)
def test_redact_leaves_ordinary_text_alone(program: LogProgram, text: str) -> None:
    assert program.logs.redact(text) == text


def test_real_kubernetes_client_at_debug_never_logs_its_token(
    program: LogProgram, stream: io.StringIO, capfd: pytest.CaptureFixture[str]
) -> None:
    program.configure(stream, log_level="DEBUG")
    body = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": []}
    with canned_api_server(200, body) as server:
        configuration = client.Configuration(
            host=server.url,
            api_key={"BearerToken": TOKEN},
            api_key_prefix={"BearerToken": "Bearer"},
        )
        configuration.debug = True  # DEBUG on "client" and "urllib3", http.client prints
        with client.ApiClient(configuration) as api:
            pods = client.CoreV1Api(api).list_namespaced_pod("default")
    assert pods.items == []
    assert server.authorizations == [f"Bearer {TOKEN}"], "the token was really sent"
    printed = capfd.readouterr()
    output = stream.getvalue()
    for text in (output, printed.out, printed.err):
        assert TOKEN not in text
    lines = json_lines(output)
    sent = [line["msg"] for line in lines if line["logger"] == "http.client"]
    assert any("GET /api/v1/namespaces/default/pods HTTP/1.1" in msg for msg in sent)
    assert any(f"authorization: Bearer {program.logs.REDACTED}" in msg for msg in sent)
    requests = [line["msg"] for line in lines if line["logger"] == "urllib3.connectionpool"]
    assert any('"GET /api/v1/namespaces/default/pods HTTP/1.1" 200' in msg for msg in requests)


def test_an_api_error_echoing_the_token_is_logged_without_it(
    program: LogProgram, stream: io.StringIO
) -> None:
    program.configure(stream)
    echo = {"kind": "Status", "message": f"Authorization: Bearer {TOKEN} is not allowed"}
    with canned_api_server(403, echo) as server:
        configuration = client.Configuration(
            host=server.url,
            api_key={"BearerToken": TOKEN},
            api_key_prefix={"BearerToken": "Bearer"},
        )
        with client.ApiClient(configuration) as api:
            try:
                client.CoreV1Api(api).list_namespaced_pod("default")
            except client.ApiException:
                logger.bind(kind="RayCluster", namespace="default", name="c").exception("list")
    (line,) = json_lines(stream.getvalue())
    assert TOKEN not in stream.getvalue()
    assert line["error"].startswith("ForbiddenException: (403)")
    assert f"Bearer {program.logs.REDACTED}" in line["error"]
    assert "Traceback" in line["stack"]


def test_bound_values_are_redacted_by_name_and_content(
    program: LogProgram, stream: io.StringIO, tmp_path: Path
) -> None:
    path = tmp_path / f"{program.name}.log"
    program.configure(stream, log_file_path=path)
    logger.bind(kind="RayService", namespace="ns", name="s").info(
        "connecting with token={}",
        TOKEN,
        password="hunter2",
        api_key=TOKEN,
        request={"url": "https://k", "headers": {"Authorization": f"Bearer {TOKEN}"}},
        note=f"key follows {PEM}",
        attempts=3,
    )
    logger.remove()
    (line,) = json_lines(stream.getvalue())
    for text in (stream.getvalue(), path.read_text()):
        assert TOKEN not in text
        assert "hunter2" not in text
        assert "secretkeymaterial" not in text
    assert line["msg"] == f"connecting with token={program.logs.REDACTED}"
    assert (line["password"], line["api_key"]) == (program.logs.REDACTED, program.logs.REDACTED)
    assert line["request"] == {
        "url": "https://k",
        "headers": {"Authorization": program.logs.REDACTED},
    }
    assert line["attempts"] == 3
    assert (line["kind"], line["namespace"], line["name"]) == ("RayService", "ns", "s")


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_exception_text_is_redacted(
    program: LogProgram, stream: io.StringIO, log_format: LogFormat
) -> None:
    program.configure(stream, log_format=log_format)
    try:
        raise ConnectionError(f"POST https://k/api?token={TOKEN} refused; key {PEM}")
    except ConnectionError:
        logger.exception("request failed")
    text = stream.getvalue()
    assert TOKEN not in text
    assert "secretkeymaterial" not in text
    assert f"token={program.logs.REDACTED}" in text
