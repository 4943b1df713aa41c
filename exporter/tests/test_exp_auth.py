"""Scrape auth: bearer parsing, the verdicts, their cache (TTLs, bound, errors not kept), logs
without tokens, and ApiReviewer's translation of API answers and failures."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest
from kubernetes import client
from loguru import logger
from prometheus_client import CollectorRegistry

from ray_exporter.auth import (
    Decision,
    MetricsAuthorizer,
    ReviewError,
    UserInfo,
    bearer_token,
    token_id,
)
from ray_exporter.reviews import ApiReviewer
from ray_exporter.selfmetrics import SelfMetrics

TOKEN = "eyJhbGciOiJSUzI1NiJ9.secret-part.signature"


@dataclass
class FakeReviewer:
    """Answers reviews from tables; counts calls; raises ReviewError when told to."""

    users: dict[str, UserInfo] = field(default_factory=dict)
    allowed: set[str] = field(default_factory=set)
    failing: str = ""  # "authenticate" or "authorize"
    calls: list[str] = field(default_factory=list)

    def authenticate(self, token: str) -> tuple[UserInfo | None, str]:
        self.calls.append("authenticate")
        if self.failing == "authenticate":
            raise ReviewError("TokenReview: HTTP 503 Service Unavailable")
        user = self.users.get(token)
        return user, "" if user else "invalid bearer token"

    def authorize(self, user: UserInfo, path: str, verb: str) -> tuple[bool, str]:
        self.calls.append(f"authorize {user.username} {verb} {path}")
        if self.failing == "authorize":
            raise ReviewError("SubjectAccessReview: ReadTimeoutError")
        return user.username in self.allowed, "no RBAC policy matched"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    sink = logger.add(stream, level="DEBUG", format="{message} {extra}")
    yield stream
    logger.remove(sink)


PROMETHEUS = UserInfo("system:serviceaccount:monitoring:prometheus", "u-1", ("g",))
INTRUDER = UserInfo("system:serviceaccount:default:intruder", "u-2")


def authorizer(reviewer: FakeReviewer, clock: Clock, **kwargs: Any) -> MetricsAuthorizer:
    return MetricsAuthorizer(reviewer, allowed_ttl=60, refused_ttl=10, clock=clock, **kwargs)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer a b", None),
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("  BEARER   abc  ", "abc"),
    ],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_missing_token_is_unauthenticated_without_asking_the_api() -> None:
    reviewer = FakeReviewer()
    verdict = authorizer(reviewer, Clock()).check(None, "/metrics")
    assert verdict.decision is Decision.UNAUTHENTICATED
    assert reviewer.calls == []


def test_allowed_user_is_authorized_for_get_on_the_path_and_cached_for_the_allowed_ttl() -> None:
    reviewer = FakeReviewer(users={TOKEN: PROMETHEUS}, allowed={PROMETHEUS.username})
    clock = Clock()
    check = authorizer(reviewer, clock).check
    verdict = check(f"Bearer {TOKEN}", "/metrics")
    assert (verdict.decision, verdict.user) == (Decision.ALLOWED, PROMETHEUS.username)
    assert reviewer.calls == ["authenticate", f"authorize {PROMETHEUS.username} get /metrics"]
    clock.now += 59
    assert check(f"Bearer {TOKEN}", "/metrics").decision is Decision.ALLOWED
    assert len(reviewer.calls) == 2
    clock.now += 2
    assert check(f"Bearer {TOKEN}", "/metrics").decision is Decision.ALLOWED
    assert len(reviewer.calls) == 4


def test_unknown_token_is_unauthenticated_and_cached_for_the_refused_ttl() -> None:
    reviewer = FakeReviewer()
    clock = Clock()
    check = authorizer(reviewer, clock).check
    assert check("Bearer garbage", "/metrics").decision is Decision.UNAUTHENTICATED
    assert reviewer.calls == ["authenticate"]
    clock.now += 9
    check("Bearer garbage", "/metrics")
    assert reviewer.calls == ["authenticate"]
    clock.now += 2
    check("Bearer garbage", "/metrics")
    assert reviewer.calls == ["authenticate", "authenticate"]


def test_user_without_permission_is_forbidden_and_a_new_grant_counts_after_the_refused_ttl() -> (
    None
):
    reviewer = FakeReviewer(users={TOKEN: INTRUDER})
    clock = Clock()
    check = authorizer(reviewer, clock).check
    assert check(f"Bearer {TOKEN}", "/metrics").decision is Decision.FORBIDDEN
    reviewer.allowed.add(INTRUDER.username)
    assert check(f"Bearer {TOKEN}", "/metrics").decision is Decision.FORBIDDEN
    clock.now += 10.5
    assert check(f"Bearer {TOKEN}", "/metrics").decision is Decision.ALLOWED


@pytest.mark.parametrize("failing", ["authenticate", "authorize"])
def test_review_failures_are_errors_and_never_cached(failing: str) -> None:
    reviewer = FakeReviewer(
        users={TOKEN: PROMETHEUS}, allowed={PROMETHEUS.username}, failing=failing
    )
    check = authorizer(reviewer, Clock()).check
    assert check(f"Bearer {TOKEN}", "/metrics").decision is Decision.ERROR
    reviewer.failing = ""
    assert check(f"Bearer {TOKEN}", "/metrics").decision is Decision.ALLOWED


def test_cache_is_per_path() -> None:
    reviewer = FakeReviewer(users={TOKEN: PROMETHEUS}, allowed={PROMETHEUS.username})
    check = authorizer(reviewer, Clock()).check
    check(f"Bearer {TOKEN}", "/metrics")
    check(f"Bearer {TOKEN}", "/other")
    assert reviewer.calls[-1] == f"authorize {PROMETHEUS.username} get /other"


def test_cache_is_bounded_and_keeps_the_newest() -> None:
    tokens = [f"token-{i}" for i in range(10)]
    reviewer = FakeReviewer(users={t: PROMETHEUS for t in tokens}, allowed={PROMETHEUS.username})
    auth = authorizer(reviewer, Clock(), max_cached=4)
    for token in tokens:
        auth.check(f"Bearer {token}", "/metrics")
    assert auth.cached() == 4
    calls = len(reviewer.calls)
    auth.check(f"Bearer {tokens[-1]}", "/metrics")
    assert len(reviewer.calls) == calls
    auth.check(f"Bearer {tokens[0]}", "/metrics")
    assert len(reviewer.calls) == calls + 2


def test_logs_name_tokens_by_hash_prefix_only(logs: io.StringIO) -> None:
    reviewer = FakeReviewer(users={TOKEN: INTRUDER})
    auth = authorizer(reviewer, Clock())
    auth.check(f"Bearer {TOKEN}", "/metrics")
    auth.check("Bearer other-secret", "/metrics")
    reviewer.failing = "authenticate"
    auth.check("Bearer third-secret", "/metrics")
    text = logs.getvalue()
    assert token_id(TOKEN) in text
    assert INTRUDER.username in text
    for secret in ("secret-part", "other-secret", "third-secret"):
        assert secret not in text
    assert len(token_id(TOKEN)) == 8


def test_api_reviewer_passes_the_user_on_and_reads_both_answers() -> None:
    reviewer = ApiReviewer(client.ApiClient(client.Configuration()))
    token_review = client.V1TokenReview(
        spec=client.V1TokenReviewSpec(token="t"),
        status=client.V1TokenReviewStatus(
            authenticated=True,
            user=client.V1UserInfo(
                username="alice", uid="u-9", groups=["a", "b"], extra={"scopes": ["x"]}
            ),
        ),
    )
    access_review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(user="alice"),
        status=client.V1SubjectAccessReviewStatus(allowed=False, reason="no binding"),
    )
    with (
        mock.patch.object(
            client.AuthenticationV1Api, "create_token_review", return_value=token_review
        ) as authn,
        mock.patch.object(
            client.AuthorizationV1Api, "create_subject_access_review", return_value=access_review
        ) as authz,
    ):
        user, _ = reviewer.authenticate(TOKEN)
        assert user == UserInfo("alice", "u-9", ("a", "b"), {"scopes": ["x"]})
        assert reviewer.authorize(user, "/metrics", "get") == (False, "no binding")
    assert authn.call_args.args[0].spec.token == TOKEN
    spec = authz.call_args.args[0].spec
    assert (spec.user, spec.uid, spec.groups, spec.extra) == (
        "alice",
        "u-9",
        ["a", "b"],
        user.extra,
    )
    assert (spec.non_resource_attributes.path, spec.non_resource_attributes.verb) == (
        "/metrics",
        "get",
    )


def test_api_reviewer_unauthenticated_and_failures() -> None:
    reviewer = ApiReviewer(client.ApiClient(client.Configuration()))
    rejected = client.V1TokenReview(
        spec=client.V1TokenReviewSpec(token="t"),
        status=client.V1TokenReviewStatus(authenticated=False, error="invalid bearer token"),
    )
    with mock.patch.object(
        client.AuthenticationV1Api, "create_token_review", return_value=rejected
    ):
        assert reviewer.authenticate(TOKEN) == (None, "invalid bearer token")
    failure = client.ApiException(status=403, reason="Forbidden")
    failure.body = f"tokenreviews is forbidden; request had {TOKEN}"
    with (
        mock.patch.object(client.AuthenticationV1Api, "create_token_review", side_effect=failure),
        pytest.raises(ReviewError) as raised,
    ):
        reviewer.authenticate(TOKEN)
    assert str(raised.value) == "TokenReview: HTTP 403 Forbidden"
    assert raised.value.__cause__ is None


def test_every_checked_request_is_counted_by_result() -> None:
    registry = CollectorRegistry()
    metrics = SelfMetrics(registry, ["rayclusters"], "test")

    def count(result: str) -> float | None:
        return registry.get_sample_value("ray_exporter_metrics_auth_total", {"result": result})

    assert count("forbidden") is None, "no auth series without --metrics-auth"
    metrics.start_metrics_auth()
    assert count("forbidden") == 0
    reviewer = FakeReviewer(users={TOKEN: PROMETHEUS}, allowed={PROMETHEUS.username})
    check = MetricsAuthorizer(reviewer, observe=metrics.count_auth).check
    check(None, "/metrics")
    check(f"Bearer {TOKEN}", "/metrics")
    check(f"Bearer {TOKEN}", "/metrics")  # answered from the cache, still counted
    assert (count("unauthenticated"), count("allowed"), count("forbidden")) == (1, 2, 0)
