"""Who may scrape /metrics: bearer tokens checked by TokenReview, then SubjectAccessReview.

The same rule as controller-runtime's `WithAuthenticationAndAuthorization`
filter: the scraper's `Authorization: Bearer <token>` is authenticated by the
apiserver (authentication.k8s.io/v1 TokenReview); the user it names (with groups,
uid and extra) must then be allowed `get` on the non-resource URL `/metrics`
(authorization.k8s.io/v1 SubjectAccessReview), which a ClusterRole rule
`nonResourceURLs: ["/metrics"], verbs: ["get"]` grants.

Outcomes: no or unusable header, or a token the apiserver does not authenticate,
is `UNAUTHENTICATED` (401); an authenticated user without the permission is
`FORBIDDEN` (403); a review that fails (apiserver unreachable, refused, timed
out) is `ERROR` (500) and is never cached, so the next scrape asks again.

Verdicts are cached per token and path for a short while (allowed longer than
refused), keyed by the token's SHA-256, never the token, in a bounded map: a
Prometheus scraping every 15 s reviews at most once a minute. Logs name a token
only by the first 8 hex digits of that hash.

`Reviewer` is the seam to the API; `reviews.ApiReviewer` implements it with the
exporter's Kubernetes client.
"""

from __future__ import annotations

import enum
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from loguru import logger

ALLOWED_TTL_SECONDS = 60.0
REFUSED_TTL_SECONDS = 10.0
MAX_CACHED = 1024


class Decision(enum.Enum):
    """What the HTTP handler answers: 200, 401, 403 or 500."""

    ALLOWED = 200
    UNAUTHENTICATED = 401
    FORBIDDEN = 403
    ERROR = 500


@dataclass(frozen=True)
class UserInfo:
    """The user a TokenReview authenticated, as a SubjectAccessReview wants it."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Verdict:
    """A decision and, when known, the user it is about (for logs and 403 bodies)."""

    decision: Decision
    user: str = ""


class ReviewError(Exception):
    """A TokenReview or SubjectAccessReview could not be made; the message carries no secret."""


class Reviewer(Protocol):
    """The two API calls the check needs."""

    def authenticate(self, token: str) -> tuple[UserInfo | None, str]:
        """The user the token belongs to (None if not authenticated) and the apiserver's
        error text; raises ReviewError when the review itself fails."""

    def authorize(self, user: UserInfo, path: str, verb: str) -> tuple[bool, str]:
        """Whether `user` may `verb` the non-resource URL `path`, and the reason given;
        raises ReviewError when the review itself fails."""


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def token_id(token: str) -> str:
    """A short, non-reversible name of a token for logs: 8 hex digits of its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()[:8]


class MetricsAuthorizer:
    """Decides, per request, whether its bearer token may read a path; caches verdicts."""

    def __init__(
        self,
        reviewer: Reviewer,
        allowed_ttl: float = ALLOWED_TTL_SECONDS,
        refused_ttl: float = REFUSED_TTL_SECONDS,
        max_cached: int = MAX_CACHED,
        clock: Callable[[], float] = time.monotonic,
        observe: Callable[[Decision], None] = lambda _decision: None,
    ) -> None:
        self._reviewer = reviewer
        self._observe = observe
        self._allowed_ttl = allowed_ttl
        self._refused_ttl = refused_ttl
        self._max_cached = max_cached
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str, str], tuple[float, Verdict]] = OrderedDict()

    def cached(self) -> int:
        """How many verdicts are held (expired ones included until evicted)."""
        with self._lock:
            return len(self._cache)

    def check(self, authorization: str | None, path: str, verb: str = "get") -> Verdict:
        """The verdict for a request with this Authorization header on `path` (and counted
        through `observe`)."""
        verdict = self._decide(authorization, path, verb)
        self._observe(verdict.decision)
        return verdict

    def _decide(self, authorization: str | None, path: str, verb: str) -> Verdict:
        token = bearer_token(authorization)
        if token is None:
            logger.debug("metrics request without a bearer token", path=path)
            return Verdict(Decision.UNAUTHENTICATED)
        key = (hashlib.sha256(token.encode()).hexdigest(), path, verb)
        now = self._clock()
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None and entry[0] > now:
                return entry[1]
        verdict = self._review(token, path, verb)
        if verdict.decision is not Decision.ERROR:
            ttl = self._allowed_ttl if verdict.decision is Decision.ALLOWED else self._refused_ttl
            self._remember(key, now + ttl, verdict)
        return verdict

    def _review(self, token: str, path: str, verb: str) -> Verdict:
        name = token_id(token)
        try:
            user, error = self._reviewer.authenticate(token)
        except ReviewError as failure:
            logger.error("TokenReview failed; refusing the scrape", token=name, error=str(failure))
            return Verdict(Decision.ERROR)
        if user is None:
            logger.warning(
                "metrics scrape with a token the apiserver rejects", token=name, error=error
            )
            return Verdict(Decision.UNAUTHENTICATED)
        try:
            allowed, reason = self._reviewer.authorize(user, path, verb)
        except ReviewError as failure:
            logger.error(
                "SubjectAccessReview failed; refusing the scrape",
                token=name,
                user=user.username,
                error=str(failure),
            )
            return Verdict(Decision.ERROR, user.username)
        if not allowed:
            logger.warning(
                "metrics scrape by a user without permission",
                token=name,
                user=user.username,
                path=path,
                verb=verb,
                reason=reason,
            )
            return Verdict(Decision.FORBIDDEN, user.username)
        logger.debug("metrics scraper authorized", token=name, user=user.username, path=path)
        return Verdict(Decision.ALLOWED, user.username)

    def _remember(self, key: tuple[str, str, str], expires: float, verdict: Verdict) -> None:
        with self._lock:
            self._cache[key] = (expires, verdict)
            self._cache.move_to_end(key)
            if len(self._cache) <= self._max_cached:
                return
            now = self._clock()
            for stale in [k for k, (until, _) in self._cache.items() if until <= now]:
                del self._cache[stale]
            while len(self._cache) > self._max_cached:
                self._cache.popitem(last=False)
