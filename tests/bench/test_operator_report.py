"""Unit tests for the operator bench's pure parts: audit-log counting and the printed table."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from apiserver_audit import Tally, read, tally
from operator_report import Outcome, report, table, targets

USER = "system:serviceaccount:ray-bench-system:ray-operator"


def event(verb: str, stage: str, at: str, user: str = USER, **ref: str) -> str:
    return json.dumps(
        {
            "kind": "Event",
            "stage": stage,
            "verb": verb,
            "user": {"username": user},
            "objectRef": ref or {"resource": "pods", "namespace": "bench"},
            "responseStatus": {"code": 200},
            "requestURI": "/api/v1/namespaces/bench/pods",
            "requestReceivedTimestamp": f"2026-01-01T00:00:{at}Z",
        }
    )


def test_a_watch_counts_once_and_short_requests_by_verb_and_resource(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    lines = [
        event("watch", "ResponseStarted", "01.000000"),
        event("watch", "ResponseComplete", "01.000000"),  # the same watch, closed later
        event("list", "ResponseComplete", "02.000000"),
        event(
            "patch", "ResponseComplete", "02.500000", resource="rayclusters", subresource="status"
        ),
        event(
            "patch", "ResponseComplete", "03.000000", resource="rayclusters", subresource="status"
        ),
        event("get", "ResponseComplete", "03.000000", user="system:kube-scheduler"),
        event("get", "ResponseComplete", "09.000000"),  # outside the window
    ]
    log.write_text("\n".join(lines) + "\n")
    requests = read(log)
    start = requests[0].received
    counted = tally(requests, USER, start, start + 5)
    assert counted.watches == 1
    assert counted.requests == Counter({"list pods": 1, "patch rayclusters/status": 2})
    assert counted.total == 3
    assert counted.top(1) == "patch rayclusters/status 2"


def outcome(label: str, wall: float, cpu: float, rss_mib: float, steady: int) -> Outcome:
    return Outcome(
        label=label,
        clusters=200,
        created_in=2.0,
        wall=wall,
        last_pod_ready=wall - 1,
        per_cluster=[1.0, 2.0, 3.0],
        cpu=cpu,
        peak_rss=int(rss_mib * 2**20),
        startup=Tally(Counter({"list pods": 4}), watches=6),
        until_ready=Tally(Counter({"create pods": 600, "patch rayclusters/status": 400})),
        steady=Tally(Counter({"get rayclusters": steady})),
        steady_seconds=60,
    )


def test_the_table_has_one_column_per_operator_and_ratios() -> None:
    lines = table([outcome("ours", 10, 3, 90, 0), outcome("theirs", 20, 2, 60, 0)])
    assert lines[0].split() == ["ours", "theirs", "ratio"]
    assert lines[1].split()[-3:] == ["10.0", "20.0", "0.50"]
    assert "5.00" in lines[5]  # 1000 requests / 200 clusters
    assert lines[-1].split() == ["steady", "watches", "opened", "0", "0"]  # no ratio there


def test_targets_say_which_are_met() -> None:
    verdicts = targets(outcome("ours", 10, 3.1, 90, 12), outcome("theirs", 20, 2, 60, 0))
    met = ["NOT met" not in verdict for verdict in verdicts]
    assert met == [True, False, True, False]  # 10 <= 20 s, 1.55x CPU, 1.50x RSS, 12 requests
    assert verdicts[3].endswith("(12.0/min)")


def test_a_run_of_ours_alone_reports_only_the_steady_state_target() -> None:
    text = report([outcome("ours", 10, 3, 90, 0)], "ours", ["  context line"])
    assert "ratio" not in text
    assert text.splitlines()[1] == "  context line"
    assert text.splitlines()[-1].split()[-2:] == ["met", "(0.0/min)"]
