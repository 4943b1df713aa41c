"""Counting one client's API requests from kube-apiserver's own audit log.

The policy logs, at Metadata level, only the requests of the users it names (the benched
operator's ServiceAccount), so the control plane's own traffic (scheduler, controller-manager,
kwok, the bench's client) costs nothing and cannot be miscounted. A short request is logged
once, at ResponseComplete; a watch is logged when its response starts, so a watch counts once
when it is opened, however long it stays open.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Request:
    """One audited request: who, what, and when the apiserver received it (epoch seconds)."""

    user: str
    verb: str
    resource: str
    code: int
    received: float


@dataclass
class Tally:
    """Requests in a time window: the short ones by verb and resource, and the watches opened."""

    requests: Counter[str] = field(default_factory=Counter)
    watches: int = 0

    @property
    def total(self) -> int:
        """Every request but watches."""
        return sum(self.requests.values())

    def top(self, count: int = 8) -> str:
        return ", ".join(f"{what} {n}" for what, n in self.requests.most_common(count)) or "none"


def write_policy(path: Path, users: tuple[str, ...]) -> None:
    """An audit policy that logs the named users' requests and nothing else."""
    policy = {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "Metadata", "users": list(users)},
            {"level": "None"},
        ],
    }
    path.write_text(yaml.safe_dump(policy))


def apiserver_flags(policy: Path, log: Path) -> tuple[str, ...]:
    """kube-apiserver flags for a JSON audit log written as requests complete."""
    return (
        f"--audit-policy-file={policy}",
        f"--audit-log-path={log}",
        "--audit-log-format=json",
        "--audit-log-mode=blocking",
        "--audit-log-maxsize=0",
    )


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _request(event: dict[str, object]) -> Request | None:
    """The request an audit event stands for, or None for the second event of a watch."""
    verb = str(event.get("verb", ""))
    stage = event.get("stage")
    if (verb == "watch") != (stage == "ResponseStarted"):
        return None
    ref = event.get("objectRef")
    if isinstance(ref, dict):
        resource = str(ref.get("resource", ""))
        if ref.get("subresource"):
            resource += f"/{ref['subresource']}"
    else:
        resource = str(event.get("requestURI", "")).split("?")[0]
    user = event.get("user")
    status = event.get("responseStatus")
    return Request(
        user=str(user.get("username", "")) if isinstance(user, dict) else "",
        verb=verb,
        resource=resource,
        code=int(status.get("code", 0)) if isinstance(status, dict) else 0,
        received=_seconds(str(event["requestReceivedTimestamp"])),
    )


def read(log: Path) -> list[Request]:
    """Every request in the audit log, in the order they completed."""
    requests = []
    with log.open(encoding="utf-8") as lines:
        for line in lines:
            request = _request(json.loads(line))
            if request is not None:
                requests.append(request)
    return requests


def tally(requests: list[Request], user: str, start: float, end: float) -> Tally:
    """The user's requests the apiserver received in [start, end)."""
    result = Tally()
    for request in requests:
        if request.user != user or not start <= request.received < end:
            continue
        if request.verb == "watch":
            result.watches += 1
        else:
            result.requests[f"{request.verb} {request.resource}"] += 1
    return result
