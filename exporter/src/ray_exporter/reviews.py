"""TokenReview and SubjectAccessReview through the Kubernetes API: the scrape-auth `Reviewer`.

Both are create-only calls the apiserver answers without storing anything; the
exporter's RBAC needs `create` on `tokenreviews.authentication.k8s.io` and
`subjectaccessreviews.authorization.k8s.io` (what the built-in
`system:auth-delegator` ClusterRole grants). Failures become `ReviewError` with
the HTTP status or the exception's type only: neither the request (it holds the
token) nor the response body is ever put in a message.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from ray_exporter.auth import ReviewError, UserInfo

REVIEW_TIMEOUT = (5.0, 10.0)  # connect, read (seconds)


def _failure(what: str, error: Exception) -> ReviewError:
    if isinstance(error, client.ApiException):
        return ReviewError(f"{what}: HTTP {error.status} {error.reason}")
    return ReviewError(f"{what}: {type(error).__name__}")


class ApiReviewer:
    """Asks the apiserver who a token belongs to and what that user may do."""

    def __init__(self, api: Any) -> None:
        self._authentication = client.AuthenticationV1Api(api)
        self._authorization = client.AuthorizationV1Api(api)

    def authenticate(self, token: str) -> tuple[UserInfo | None, str]:
        body = client.V1TokenReview(
            api_version="authentication.k8s.io/v1",
            kind="TokenReview",
            spec=client.V1TokenReviewSpec(token=token),
        )
        try:
            review = self._authentication.create_token_review(body, _request_timeout=REVIEW_TIMEOUT)
        except Exception as error:  # any failure refuses the scrape with 500
            raise _failure("TokenReview", error) from None
        status = review.status
        if status is None or not status.authenticated or status.user is None:
            return None, str(getattr(status, "error", "") or "")
        user = status.user
        return (
            UserInfo(
                username=user.username or "",
                uid=user.uid or "",
                groups=tuple(user.groups or ()),
                extra={key: list(values) for key, values in (user.extra or {}).items()},
            ),
            "",
        )

    def authorize(self, user: UserInfo, path: str, verb: str) -> tuple[bool, str]:
        spec = client.V1SubjectAccessReviewSpec(
            user=user.username,
            uid=user.uid or None,
            groups=list(user.groups) or None,
            extra=user.extra or None,
            non_resource_attributes=client.V1NonResourceAttributes(path=path, verb=verb),
        )
        try:
            review = self._authorization.create_subject_access_review(
                client.V1SubjectAccessReview(
                    api_version="authorization.k8s.io/v1", kind="SubjectAccessReview", spec=spec
                ),
                _request_timeout=REVIEW_TIMEOUT,
            )
        except Exception as error:
            raise _failure("SubjectAccessReview", error) from None
        status = review.status
        if status is None:
            return False, "SubjectAccessReview without a status"
        reason = " ".join(part for part in (status.reason, status.evaluation_error) if part)
        return bool(status.allowed) and not bool(status.denied), reason
