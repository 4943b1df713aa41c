"""Event aggregation: a repeat bumps count and lastTimestamp instead of a new Event."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ray_operator.events import EventRecorder, ObjectRef, event_name
from ray_operator.kubeapi import ApiError, Json

REF = ObjectRef("ray.io/v1", "RayCluster", "ns", "demo", "uid-1")


class FakeEventsApi:
    """The three calls the recorder makes, over an in-memory store of Events."""

    def __init__(self) -> None:
        self.events: dict[str, Json] = {}
        self.calls: list[str] = []
        self.fail_with: ApiError | None = None

    async def create(self, path: str, body: Json) -> Json:
        await asyncio.sleep(0)
        self.calls.append("create")
        if self.fail_with:
            raise self.fail_with
        name = body["metadata"]["name"]
        if name in self.events:
            raise ApiError(409, "AlreadyExists", "exists")
        self.events[name] = dict(body)
        return body

    async def get(self, path: str) -> Json:
        await asyncio.sleep(0)
        self.calls.append("get")
        return self.events[path.rsplit("/", 1)[1]]

    async def merge_patch(self, path: str, patch: Json) -> Json:
        await asyncio.sleep(0)
        self.calls.append("patch")
        name = path.rsplit("/", 1)[1]
        if name not in self.events:
            raise ApiError(404, "NotFound", "gone")
        self.events[name].update(patch)
        return self.events[name]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=10)
        return self.now


def recorder(api: FakeEventsApi) -> EventRecorder:
    return EventRecorder(api, component="raycluster-controller", instance="op-0", clock=Clock())  # type: ignore[arg-type]


async def test_first_event_is_created_with_the_involved_object() -> None:
    api = FakeEventsApi()
    await recorder(api).emit(REF, "Warning", "InvalidRayClusterSpec", "bad spec")
    (event,) = api.events.values()
    assert event["count"] == 1
    assert event["involvedObject"] == {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "namespace": "ns",
        "name": "demo",
        "uid": "uid-1",
    }
    assert (event["type"], event["reason"], event["message"]) == (
        "Warning",
        "InvalidRayClusterSpec",
        "bad spec",
    )
    assert event["source"] == {"component": "raycluster-controller"}
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2024-01-01T00:00:10Z"


async def test_repeats_are_aggregated_into_one_event() -> None:
    api = FakeEventsApi()
    events = recorder(api)
    for _ in range(3):
        await events.emit(REF, "Warning", "InvalidRayClusterSpec", "bad spec")
    (event,) = api.events.values()
    assert event["count"] == 3
    assert event["firstTimestamp"] == "2024-01-01T00:00:10Z"
    assert event["lastTimestamp"] == "2024-01-01T00:00:30Z"
    assert api.calls == ["create", "patch", "patch"]


async def test_different_messages_are_different_events() -> None:
    api = FakeEventsApi()
    events = recorder(api)
    await events.emit(REF, "Normal", "CreatedWorkerPod", "Created worker Pod ns/a")
    await events.emit(REF, "Normal", "CreatedWorkerPod", "Created worker Pod ns/b")
    assert sorted(e["message"] for e in api.events.values()) == [
        "Created worker Pod ns/a",
        "Created worker Pod ns/b",
    ]


async def test_aggregation_survives_a_restart_of_the_operator() -> None:
    api = FakeEventsApi()
    await recorder(api).emit(REF, "Warning", "FailedToCreateWorkerPod", "quota")
    await recorder(api).emit(REF, "Warning", "FailedToCreateWorkerPod", "quota")
    (event,) = api.events.values()
    assert event["count"] == 2


async def test_an_expired_event_is_created_again() -> None:
    api = FakeEventsApi()
    events = recorder(api)
    await events.emit(REF, "Warning", "X", "m")
    api.events.clear()
    await events.emit(REF, "Warning", "X", "m")
    (event,) = api.events.values()
    assert event["count"] == 1


async def test_api_failures_are_swallowed() -> None:
    api = FakeEventsApi()
    api.fail_with = ApiError(403, "Forbidden", "no events for you")
    await recorder(api).emit(REF, "Warning", "X", "m")
    assert api.events == {}


def test_names_are_stable_and_distinct() -> None:
    a = event_name(REF, "c", "Warning", "X", "m")
    assert a == event_name(REF, "c", "Warning", "X", "m")
    assert a.startswith("demo.")
    assert a != event_name(REF, "c", "Warning", "X", "other")
    assert a != event_name(ObjectRef("v", "k", "ns", "demo", "uid-2"), "c", "Warning", "X", "m")


@pytest.mark.parametrize("length", [10, 5000])
async def test_long_messages_are_truncated(length: int) -> None:
    api = FakeEventsApi()
    await recorder(api).emit(REF, "Warning", "X", "m" * length)
    (event,) = api.events.values()
    assert len(event["message"]) == min(length, 1024)


async def test_background_events_do_not_block_and_still_aggregate() -> None:
    api = FakeEventsApi()
    events = EventRecorder(api, component="c", instance="i", clock=Clock(), background=True)  # type: ignore[arg-type]
    for _ in range(5):
        await events.emit(REF, "Warning", "FailedToCreateWorkerPod", "quota")
    assert api.events == {}, "emit returned before any API call"
    await events.drain()
    (event,) = api.events.values()
    assert event["count"] == 5
