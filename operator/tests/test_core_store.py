"""The watch-fed store and the per-uid memory: indexes, resourceVersion order, relists, and
expectations settled by what the caches show."""

from __future__ import annotations

from typing import Any

from ray_operator.core.memory import EXPECTATION_TIMEOUT, Memories
from ray_operator.core.store import Store


def pod(name: str, uid: str, rv: int, owner: str = "c1", **meta: Any) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": uid,
            "resourceVersion": str(rv),
            "ownerReferences": [{"uid": owner, "controller": True}],
            **meta,
        },
    }


def test_indexes_by_key_and_owner() -> None:
    store = Store("Pod")
    store.put(pod("a", "u1", 1))
    store.put(pod("b", "u2", 2, owner="c2"))
    assert store.get("ns", "a")["metadata"]["uid"] == "u1"  # type: ignore[index]
    assert [p["metadata"]["name"] for p in store.owned_by("c1")] == ["a"]
    assert store.owned_by("nobody") == []
    store.delete(pod("a", "u1", 3))
    assert store.get("ns", "a") is None
    assert store.owned_by("c1") == []


def test_an_older_version_never_replaces_a_newer_one() -> None:
    store = Store("Pod")
    assert store.put(pod("a", "u1", 5, labels={"v": "new"}))
    assert not store.put(pod("a", "u1", 4, labels={"v": "old"}))
    assert store.get("ns", "a")["metadata"]["labels"] == {"v": "new"}  # type: ignore[index]


def test_a_name_taken_by_a_new_object_drops_the_old_one() -> None:
    store = Store("Pod")
    store.put(pod("a", "old", 1))
    store.put(pod("a", "new", 2))
    assert store.by_uid("old") is None
    assert [p["metadata"]["uid"] for p in store.owned_by("c1")] == ["new"]


def test_a_relist_removes_what_it_lacks_in_its_namespace_only() -> None:
    store = Store("Pod")
    changes: list[tuple[str | None, str | None]] = []
    store.listen(
        lambda b, a: changes.append(
            (b and b["metadata"]["uid"], a and a["metadata"]["uid"])  # type: ignore[arg-type]
        )
    )
    store.put(pod("a", "u1", 1))
    other = pod("x", "u9", 1)
    other["metadata"]["namespace"] = "elsewhere"
    store.put(other)
    store.replace([pod("b", "u2", 3)], "ns")
    assert store.by_uid("u1") is None, "deleted while nobody watched"
    assert store.by_uid("u9") is not None, "another namespace's listing is not this one"
    assert ("u1", None) in changes
    assert (None, "u2") in changes


def test_expectations_hold_until_the_cache_shows_the_writes() -> None:
    now = [100.0]
    memories = Memories(monotonic=lambda: now[0])
    store = Store("Pod")
    store.listen(memories.observe)
    memory = memories.of("c1")
    memory.expect(now[0], created=["u1", "u2"], deleted=["u3"])
    assert memory.waiting(now[0])
    store.put(pod("a", "u1", 1))
    store.put(pod("b", "u2", 1))
    assert memory.waiting(now[0]), "the deletion is not seen yet"
    store.put(pod("c", "u3", 2, deletionTimestamp="2026-01-01T00:00:00Z"))
    assert not memory.waiting(now[0])


def test_expectations_expire() -> None:
    memories = Memories()
    memory = memories.of("c1")
    memory.expect(0.0, created=["never-seen"])
    assert memory.waiting(EXPECTATION_TIMEOUT - 1)
    assert not memory.waiting(EXPECTATION_TIMEOUT)
    assert not memory.creations


def test_backoff_and_problems_are_per_uid_and_dropped() -> None:
    memories = Memories()
    first = memories.of("old-uid")
    assert first.failed(10.0, [("FailedCreateHeadPod", "no SA")], 2.0, 300.0) == 2.0
    assert first.failed(10.0, [("FailedCreateHeadPod", "no SA")], 2.0, 300.0) == 4.0
    assert not first.may_act(13.0)
    assert first.may_act(14.0)
    memories.drop("old-uid")
    assert memories.of("new-uid").may_act(10.0), "a new object starts without backoff"
    assert memories.of("old-uid").failures == 0, "the deleted object's memory is gone"


def test_managed_fields_are_not_kept() -> None:
    store = Store("Pod")
    body = pod("a", "u1", 1, managedFields=[{"manager": "kubectl", "fieldsV1": {"f:x": {}}}])
    store.put(body)
    assert "managedFields" not in store.get("ns", "a")["metadata"]  # type: ignore[index]
    assert "managedFields" in body["metadata"], "the caller's object is left alone"
