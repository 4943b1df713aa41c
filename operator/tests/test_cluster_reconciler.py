"""Pieces of the reconcile pass: creation slow start, failure messages, the creation backoff."""

from __future__ import annotations

from typing import Any

from ray_operator.cluster.plan import CreatePod, DeletePod, Plan
from ray_operator.cluster.reconciler import ClusterReconciler, without_generated_name
from ray_operator.cluster.status import Failure
from ray_operator.events import ObjectRef
from ray_operator.kubeapi import ApiError

REF = ObjectRef("ray.io/v1", "RayCluster", "ns", "demo", "uid")


class FakeApi:
    """Pod creation that fails after `allowed` pods; events are accepted and ignored."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.attempts = 0

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path.endswith("/events"):
            return body
        self.attempts += 1
        if self.attempts > self.allowed:
            raise ApiError(
                403,
                "Forbidden",
                f'pods "{body["metadata"]["generateName"]}ab12c" is forbidden: exceeded quota',
            )
        return {"metadata": {"name": f"pod-{self.attempts}"}}


class Events:
    def __init__(self) -> None:
        self.emitted: list[tuple[str, str]] = []

    async def emit(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        self.emitted.append((reason, message))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def reconciler(api: FakeApi, events: Events, clock: Clock | None = None) -> ClusterReconciler:
    return ClusterReconciler(api, events, monotonic=clock or Clock())  # type: ignore[arg-type]


def creates(count: int) -> list[CreatePod]:
    manifest = {"metadata": {"generateName": "demo-small-worker-", "namespace": "ns"}}
    return [CreatePod("worker", "small", manifest) for _ in range(count)]


def test_generated_names_are_dropped_from_messages() -> None:
    message = 'Pod "demo-small-worker-x7k2p" is invalid: spec.containers[0]: bad'
    assert (
        without_generated_name(message, "demo-small-worker-")
        == 'Pod "demo-small-worker-" is invalid: spec.containers[0]: bad'
    )
    assert without_generated_name(message, "") == message


async def test_slow_start_stops_at_the_first_failure() -> None:
    api, events = FakeApi(allowed=2), Events()
    failures: list[Failure] = []
    created = await reconciler(api, events)._slow_start(REF, creates(10), failures, _Log())
    assert [p["metadata"]["name"] for p in created] == ["pod-1", "pod-2"]
    assert api.attempts == 3, "batches of 1 then 2; the second batch failed half-way"
    assert failures == [
        Failure(
            "FailedCreateWorkerPod",
            'Failed to create worker Pod: pods "demo-small-worker-" is forbidden: exceeded quota',
        )
    ]
    assert [r for r, _ in events.emitted] == [
        "CreatedWorkerPod",
        "CreatedWorkerPod",
        "FailedToCreateWorkerPod",
    ]


async def test_all_pods_are_created_when_nothing_fails() -> None:
    api, events = FakeApi(allowed=100), Events()
    created = await reconciler(api, events)._slow_start(REF, creates(7), [], _Log())
    assert len(created) == 7
    assert api.attempts == 7


def test_failures_start_a_growing_backoff_that_ready_resets() -> None:
    clock = Clock()
    subject = reconciler(FakeApi(0), Events(), clock)
    failed = [Failure("FailedCreateWorkerPod", "x")]
    key = ("ns", "demo")
    assert subject._next_pass(key, Plan(), failed, {}) == 2.0
    assert subject._next_pass(key, Plan(), failed, {}) == 4.0
    assert subject.gates[key].not_before == clock.now + 4.0
    withheld = Plan(deferred=1)
    assert subject._next_pass(key, withheld, [], {}) == 4.0, "come back when creation is allowed"
    crashed = Plan(deletes=[DeletePod("p", "worker", "small", "pod p is Failed", failed=True)])
    assert subject._next_pass(key, crashed, [], {}) == 8.0
    assert subject._next_pass(key, Plan(), [], {"state": "ready"}) is None
    assert key not in subject.gates


class _Log:
    def info(self, *args: Any, **kwargs: Any) -> None:
        pass

    def error(self, *args: Any, **kwargs: Any) -> None:
        pass
