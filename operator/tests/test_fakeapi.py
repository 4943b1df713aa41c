"""The fake apiserver (fakeapi.py) keeps the apiserver's semantics at the KubeApi boundary."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fakeapi import FakeKubeApi

from ray_operator.kubeapi import ApiError, Json, KubeApi, namespaced

PODS = namespaced("v1", "pods", "ns")
CLUSTERS = namespaced("ray.io/v1", "rayclusters", "ns")
CONFIGMAPS = namespaced("v1", "configmaps", "ns")


def pod(name: str, **labels: str) -> Json:
    return {"metadata": {"name": name, "labels": labels}, "spec": {"containers": []}}


def cluster(name: str = "demo") -> Json:
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": name}}


async def raises(awaitable: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await awaitable
    return caught.value


async def take(stream: AsyncIterator[Json], count: int) -> list[tuple[str, str]]:
    """(type, name) of the next `count` events."""
    events = []
    for _ in range(count):
        event = await asyncio.wait_for(anext(stream), 1)
        events.append((event["type"], event["object"]["metadata"].get("name", "")))
    return events


def test_the_fake_has_the_client_methods_and_signatures() -> None:
    public = [n for n, v in vars(KubeApi).items() if callable(v) and not n.startswith("_")]
    assert {"request", "get", "list", "watch", "create", "json_patch", "delete"} <= set(public)
    for name in public:
        real, fake = getattr(KubeApi, name), getattr(FakeKubeApi, name)
        assert inspect.signature(fake, eval_str=True) == inspect.signature(real, eval_str=True), (
            name
        )
        assert inspect.iscoroutinefunction(fake) == inspect.iscoroutinefunction(real), name
        assert inspect.isasyncgenfunction(fake) == inspect.isasyncgenfunction(real), name


async def test_create_stamps_what_the_apiserver_sets(fake_api: FakeKubeApi) -> None:
    created = await fake_api.create(PODS, pod("a") | {"status": {"phase": "Running"}})
    meta = created["metadata"]
    assert (created["kind"], created["apiVersion"]) == ("Pod", "v1")
    assert (meta["namespace"], meta["generation"], meta["resourceVersion"]) == ("ns", 1, "1")
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert created["status"] == {"phase": "Pending"}, "a new pod's status is the apiserver's"
    second = await fake_api.create(PODS, pod("b"))
    assert int(second["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    assert second["metadata"]["uid"] != meta["uid"]


async def test_generate_name_appends_five_kubernetes_characters(fake_api: FakeKubeApi) -> None:
    body = {"metadata": {"generateName": "demo-worker-"}}
    names = {(await fake_api.create(PODS, body))["metadata"]["name"] for _ in range(20)}
    assert len(names) == 20
    assert all(re.fullmatch(r"demo-worker-[bcdfghjklmnpqrstvwxz2456789]{5}", n) for n in names)


async def test_create_errors(fake_api: FakeKubeApi) -> None:
    await fake_api.create(PODS, pod("a"))
    error = await raises(fake_api.create(PODS, pod("a")))
    assert (error.status, error.reason, error.already_exists) == (409, "AlreadyExists", True)
    assert error.message == 'pods "a" already exists'
    assert error.body["code"] == 409
    error = await raises(fake_api.create(PODS, {"metadata": {}}))
    assert (error.status, error.reason) == (422, "Invalid")
    assert "name or generateName is required" in error.message
    error = await raises(fake_api.create(PODS, {"metadata": {"name": "b", "namespace": "x"}}))
    assert (error.status, error.reason) == (400, "BadRequest")
    error = await raises(fake_api.create(PODS, {"metadata": {"name": "Bad_Name"}}))
    assert (error.status, error.reason) == (422, "Invalid")
    error = await raises(fake_api.create(PODS, pod("c", app="x" * 64)))
    assert (error.status, error.reason) == (422, "Invalid")
    error = await raises(fake_api.create(PODS, {"metadata": {"name": "d", "resourceVersion": "1"}}))
    assert error.status == 500
    error = await raises(fake_api.create(PODS + "/e", pod("e")))
    assert error.status == 405
    assert fake_api.objects("pods") == [fake_api.stored(PODS + "/a")]


async def test_writes_with_a_stale_resource_version_conflict(fake_api: FakeKubeApi) -> None:
    stale = await fake_api.create(CLUSTERS, cluster() | {"spec": {"n": 1}})
    path = f"{CLUSTERS}/demo"
    await fake_api.merge_patch(path, {"spec": {"n": 2}})
    writes = [
        fake_api.merge_patch(path, {"metadata": stale["metadata"], "spec": {"n": 3}}),
        fake_api.json_patch(
            path,
            [{"op": "replace", "path": "/metadata/resourceVersion", "value": "1"}],
        ),
        fake_api.replace(path, stale | {"spec": {"n": 3}}),
        fake_api.replace(path + "/status", stale | {"status": {"state": "ready"}}),
    ]
    for write in writes:
        error = await raises(write)
        assert (error.status, error.reason, error.conflict) == (409, "Conflict", True)
        assert error.message == (
            'Operation cannot be fulfilled on rayclusters.ray.io "demo": the object has been'
            " modified; please apply your changes to the latest version and try again"
        )
    assert fake_api.stored(path)["spec"] == {"n": 2}  # type: ignore[index]
    patched = await fake_api.merge_patch(path, {"spec": {"n": 4}})
    assert patched["spec"] == {"n": 4}, "a patch without resourceVersion is unconditional"


async def test_put_without_resource_version(fake_api: FakeKubeApi) -> None:
    await fake_api.create(CONFIGMAPS, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    replaced = await fake_api.replace(f"{CONFIGMAPS}/c", {"metadata": {"name": "c"}, "data": {}})
    assert replaced["data"] == {}, "built-in kinds allow an unconditional update"
    await fake_api.create(CLUSTERS, cluster())
    error = await raises(fake_api.replace(f"{CLUSTERS}/demo", cluster()))
    assert (error.status, error.reason) == (422, "Invalid"), "custom resources do not"
    assert "metadata.resourceVersion" in error.message
    error = await raises(fake_api.replace(f"{CONFIGMAPS}/c", {"metadata": {"name": "x"}}))
    assert error.status == 400


async def test_generation_and_resource_version(fake_api: FakeKubeApi) -> None:
    path = f"{CLUSTERS}/demo"
    created = await fake_api.create(CLUSTERS, cluster() | {"spec": {"n": 1}})
    labelled = await fake_api.merge_patch(path, {"metadata": {"labels": {"a": "b"}}})
    assert labelled["metadata"]["generation"] == 1, "metadata is not the spec"
    status = await fake_api.merge_patch(path + "/status", {"status": {"ready": 1}})
    assert status["metadata"]["generation"] == 1, "nor is status"
    spec = await fake_api.merge_patch(path, {"spec": {"n": 2}})
    assert spec["metadata"]["generation"] == 2
    versions = [created, labelled, status, spec]
    assert [int(v["metadata"]["resourceVersion"]) for v in versions] == [1, 2, 3, 4]
    same = await fake_api.merge_patch(path, {"spec": {"n": 2}})
    assert same["metadata"]["resourceVersion"] == "4", "a no-op write is not a write"
    assert fake_api.resource_version == "4"


async def test_status_subresource(fake_api: FakeKubeApi) -> None:
    path = f"{CLUSTERS}/demo"
    created = await fake_api.create(CLUSTERS, cluster() | {"spec": {"n": 1}, "status": {"x": 1}})
    assert "status" not in created, "status is dropped on create"
    main = await fake_api.merge_patch(path, {"spec": {"n": 2}, "status": {"state": "ready"}})
    assert "status" not in main, "the main resource ignores status"
    status = await fake_api.merge_patch(
        path + "/status",
        {"spec": {"n": 9}, "metadata": {"labels": {"a": "b"}}, "status": {"state": "ready"}},
    )
    assert status["status"] == {"state": "ready"}
    assert status["spec"] == {"n": 2}, "/status ignores everything but status"
    assert "labels" not in status["metadata"]
    assert (await fake_api.get(path + "/status"))["status"] == {"state": "ready"}
    await fake_api.create(CONFIGMAPS, {"metadata": {"name": "c"}})
    assert (await raises(fake_api.get(f"{CONFIGMAPS}/c/status"))).status == 404
    other = FakeKubeApi(status_subresources={"rayjobs"})
    await other.create(CLUSTERS, cluster() | {"status": {"x": 1}})
    assert (await other.get(path))["status"] == {"x": 1}


async def test_missing_objects_are_not_found(fake_api: FakeKubeApi) -> None:
    for call in (
        fake_api.get(f"{PODS}/nope"),
        fake_api.merge_patch(f"{PODS}/nope", {}),
        fake_api.json_patch(f"{PODS}/nope", []),
        fake_api.replace(f"{PODS}/nope", pod("nope")),
        fake_api.delete(f"{PODS}/nope"),
    ):
        error = await raises(call)
        assert (error.status, error.reason, error.not_found) == (404, "NotFound", True)
        assert error.message == 'pods "nope" not found'
    error = await raises(fake_api.get("/api/v1/pods/nope"))
    assert error.message == "the server could not find the requested resource"


async def test_json_patch(fake_api: FakeKubeApi) -> None:
    path = f"{PODS}/a"
    await fake_api.create(PODS, pod("a", app="x"))
    patched = await fake_api.json_patch(
        path,
        [
            {"op": "test", "path": "/metadata/labels/app", "value": "x"},
            {"op": "add", "path": "/metadata/labels/role", "value": "head"},
            {"op": "remove", "path": "/metadata/labels/app"},
            {"op": "add", "path": "/spec/containers/-", "value": {"name": "c"}},
            {"op": "copy", "from": "/spec/containers/0", "path": "/spec/containers/1"},
            {"op": "move", "from": "/spec/containers/1", "path": "/spec/first"},
        ],
    )
    assert patched["metadata"]["labels"] == {"role": "head"}
    assert patched["spec"] == {"containers": [{"name": "c"}], "first": {"name": "c"}}
    error = await raises(
        fake_api.json_patch(path, [{"op": "test", "path": "/metadata/labels/role", "value": "w"}])
    )
    assert (error.status, error.reason) == (422, "Invalid")
    assert error.body["details"]["causes"][0]["message"] == (
        "testing value /metadata/labels/role failed: test failed"
    )
    error = await raises(fake_api.json_patch(path, [{"op": "remove", "path": "/nope"}]))
    assert error.status == 422
    error = await raises(
        fake_api.request(
            "PATCH", path, body={"op": "add"}, content_type=("application/json-patch+json")
        )
    )
    assert error.status == 400
    error = await raises(
        fake_api.request(
            "PATCH", path, body={}, content_type="application/strategic-merge-patch+json"
        )
    )
    assert error.status == 415


async def test_list_and_label_selectors(fake_api: FakeKubeApi) -> None:
    await fake_api.create(PODS, pod("head", role="head", cluster="a"))
    await fake_api.create(PODS, pod("w1", role="worker", cluster="a"))
    await fake_api.create(PODS, pod("w2", role="worker", cluster="b"))
    await fake_api.create(PODS, pod("bare"))
    await fake_api.create(namespaced("v1", "pods", "other"), pod("elsewhere", role="head"))

    async def names(selector: str | None, path: str = PODS) -> list[str]:
        return [p["metadata"]["name"] for p in await fake_api.list(path, label_selector=selector)]

    assert await names(None) == ["bare", "head", "w1", "w2"]
    assert await names("role=worker") == await names("role==worker") == ["w1", "w2"]
    assert await names("role!=worker") == ["bare", "head"]
    assert await names("role") == ["head", "w1", "w2"]
    assert await names("!role") == ["bare"]
    assert await names("role in (head, worker),cluster notin (b)") == ["head", "w1"]
    assert await names("role=worker,cluster=a") == ["w1"]
    assert await names("role=head", "/api/v1/pods") == ["head", "elsewhere"]
    assert (await raises(fake_api.list(PODS, label_selector="role in (a"))).status == 400
    items, version = await fake_api.list_with_version(PODS)
    assert version == fake_api.resource_version == "5"
    assert "kind" not in items[0], "list items of built-in kinds carry no kind"
    await fake_api.create(CLUSTERS, cluster())
    assert (await fake_api.list(CLUSTERS))[0]["kind"] == "RayCluster"
    listed = await fake_api.request("GET", CLUSTERS)
    assert (listed["kind"], listed["apiVersion"]) == ("RayClusterList", "ray.io/v1")


async def test_finalizers_keep_a_deleted_object(fake_api: FakeKubeApi) -> None:
    path = f"{CLUSTERS}/demo"
    await fake_api.create(CLUSTERS, cluster() | {"metadata": {"name": "demo", "finalizers": ["f"]}})
    deleting = await fake_api.delete(path)
    assert deleting["metadata"]["deletionTimestamp"]
    assert fake_api.stored(path) == deleting
    error = await raises(fake_api.merge_patch(path, {"metadata": {"finalizers": ["f", "g"]}}))
    assert (error.status, error.reason) == (422, "Invalid")
    await fake_api.merge_patch(path, {"metadata": {"finalizers": None}})
    assert fake_api.stored(path) is None
    await fake_api.create(CLUSTERS, cluster("plain"))
    gone = await fake_api.delete(f"{CLUSTERS}/plain")
    assert (gone["kind"], gone["status"]) == ("Status", "Success")


async def test_garbage_collection_follows_owner_references(fake_api: FakeKubeApi) -> None:
    owner = await fake_api.create(CLUSTERS, cluster())
    other = await fake_api.create(CLUSTERS, cluster("other"))

    def owned_by(*owners: Json) -> Json:
        refs = [{"uid": o["metadata"]["uid"], "name": o["metadata"]["name"]} for o in owners]
        return {"ownerReferences": refs}

    head = await fake_api.create(PODS, {"metadata": {"name": "head"} | owned_by(owner)})
    await fake_api.create(CONFIGMAPS, {"metadata": {"name": "grandchild"} | owned_by(head)})
    await fake_api.create(CONFIGMAPS, {"metadata": {"name": "shared"} | owned_by(owner, other)})
    await fake_api.delete(f"{CLUSTERS}/demo")
    assert fake_api.objects("pods") == []
    assert [c["metadata"]["name"] for c in fake_api.objects("configmaps")] == ["shared"]
    (shared,) = fake_api.objects("configmaps")
    assert shared["metadata"]["ownerReferences"] == owned_by(other)["ownerReferences"]

    await fake_api.create(PODS, {"metadata": {"name": "kept"} | owned_by(other)})
    await fake_api.delete(f"{CLUSTERS}/other", propagation="Orphan")
    (kept,) = fake_api.objects("pods")
    assert "ownerReferences" not in kept["metadata"]


async def test_foreground_deletion_waits_for_dependents(fake_api: FakeKubeApi) -> None:
    owner = await fake_api.create(CLUSTERS, cluster())
    ref = {"uid": owner["metadata"]["uid"], "name": "demo"}
    meta = {"name": "head", "ownerReferences": [ref], "finalizers": ["hold"]}
    await fake_api.create(PODS, {"metadata": meta})
    waiting = await fake_api.delete(f"{CLUSTERS}/demo", propagation="Foreground")
    assert waiting["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert fake_api.stored(f"{PODS}/head")["metadata"]["deletionTimestamp"]  # type: ignore[index]
    await fake_api.merge_patch(f"{PODS}/head", {"metadata": {"finalizers": None}})
    assert fake_api.objects("pods") == fake_api.objects("rayclusters") == []


async def test_graceful_pods_terminate_until_finished() -> None:
    fake = FakeKubeApi(graceful_pods=True)
    await fake.create(PODS, {"metadata": {"name": "on-node"}, "spec": {"nodeName": "n1"}})
    await fake.create(PODS, {"metadata": {"name": "unscheduled"}, "spec": {}})
    terminating = await fake.delete(f"{PODS}/on-node")
    assert terminating["metadata"]["deletionGracePeriodSeconds"] == 30
    await fake.delete(f"{PODS}/unscheduled")
    assert [p["metadata"]["name"] for p in fake.objects("pods")] == ["on-node"]
    assert fake.finish_deletions() == ["on-node"]
    assert fake.objects("pods") == []


async def test_watch_sees_changes_after_its_version(fake_api: FakeKubeApi) -> None:
    await fake_api.create(PODS, pod("before", role="worker"))
    _, version = await fake_api.list_with_version(PODS)
    stream = fake_api.watch(PODS, resource_version=version, label_selector="role=worker")
    await fake_api.create(PODS, pod("w", role="worker"))
    await fake_api.create(PODS, pod("head", role="head"))
    await fake_api.create(namespaced("v1", "pods", "other"), pod("far", role="worker"))
    await fake_api.merge_patch(f"{PODS}/w", {"metadata": {"annotations": {"a": "1"}}})
    await fake_api.merge_patch(f"{PODS}/head", {"metadata": {"labels": {"role": "worker"}}})
    await fake_api.merge_patch(f"{PODS}/before", {"metadata": {"labels": {"role": "x"}}})
    deleted = await fake_api.delete(f"{PODS}/w")
    assert await take(stream, 5) == [
        ("ADDED", "w"),
        ("MODIFIED", "w"),
        ("ADDED", "head"),  # relabelled into the selector
        ("DELETED", "before"),  # relabelled out of it
        ("DELETED", "w"),
    ]
    assert deleted["metadata"]["annotations"] == {"a": "1"}


async def test_watch_event_objects(fake_api: FakeKubeApi) -> None:
    stream = fake_api.watch(PODS, resource_version="0")
    await fake_api.create(PODS, pod("a"))
    added = await asyncio.wait_for(anext(stream), 1)
    assert added["object"]["kind"] == "Pod", "watch events carry the kind"
    await fake_api.delete(f"{PODS}/a")
    deleted = await asyncio.wait_for(anext(stream), 1)
    assert deleted["type"] == "DELETED"
    assert deleted["object"]["metadata"]["resourceVersion"] == fake_api.resource_version
    fake_api.bookmark()
    bookmark = await asyncio.wait_for(anext(stream), 1)
    assert bookmark["object"] == {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": fake_api.resource_version},
    }


async def test_watch_from_zero_starts_with_the_current_objects(fake_api: FakeKubeApi) -> None:
    await fake_api.create(PODS, pod("a"))
    await fake_api.create(PODS, pod("b"))
    await fake_api.delete(f"{PODS}/a")
    stream = fake_api.watch(PODS, resource_version="0")
    assert await take(stream, 1) == [("ADDED", "b")]
    fake_api.close_watches()
    assert [e async for e in stream] == []


async def test_watch_from_a_compacted_version_is_expired(fake_api: FakeKubeApi) -> None:
    await fake_api.create(PODS, pod("a"))
    old = fake_api.resource_version
    await fake_api.create(PODS, pod("b"))
    fake_api.compact()
    events = [e async for e in fake_api.watch(PODS, resource_version=old)]
    assert len(events) == 1
    assert events[0]["type"] == "ERROR"
    assert (events[0]["object"]["code"], events[0]["object"]["reason"]) == (410, "Expired")
    current = fake_api.watch(PODS, resource_version=fake_api.resource_version)
    await fake_api.create(PODS, pod("c"))
    assert await take(current, 1) == [("ADDED", "c")]
    fake_api.close_watches(expired=True)
    assert [e["object"]["code"] async for e in current] == [410]


async def test_watch_ends_after_its_timeout(fake_api: FakeKubeApi) -> None:
    stream = fake_api.watch(PODS, resource_version="0", timeout_seconds=0)
    assert [e async for e in stream] == []
    assert fake_api.hub.open_watches == 0


async def test_test_helpers(fake_api: FakeKubeApi) -> None:
    stored = fake_api.put(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"}}
    )
    assert stored["metadata"]["resourceVersion"] == "1"
    ready = fake_api.update_status(f"{PODS}/p", {"phase": "Running"})
    assert (await fake_api.get(f"{PODS}/p"))["status"] == ready["status"] == {"phase": "Running"}
    assert fake_api.update_status(ready, {"phase": "Running"}) == ready, "no-op, no write"
    assert [p["metadata"]["name"] for p in fake_api.objects("pods", "ns")] == ["p"]
    assert fake_api.objects("pods", "other") == []

    forbidden = ApiError(403, "Forbidden", "exceeded quota")
    fake_api.fail_next("POST", PODS, forbidden)
    assert await raises(fake_api.create(PODS, pod("q"))) is forbidden
    await fake_api.create(PODS, pod("q"))
    fake_api.fail_next("GET", "/api/v1/namespaces/ns/pods/", forbidden, times=None)
    for _ in range(2):
        assert (await raises(fake_api.get(f"{PODS}/q"))).status == 403
    assert (fake_api.calls["POST"], fake_api.calls["GET"], fake_api.requests) == (2, 3, 5)
    assert fake_api.log[-1] == ("GET", f"{PODS}/q")


async def test_callers_cannot_mutate_the_store(fake_api: FakeKubeApi) -> None:
    body = pod("a", app="x")
    created = await fake_api.create(PODS, body)
    body["metadata"]["labels"]["app"] = "changed"
    created["metadata"]["labels"]["app"] = "changed"
    (await fake_api.get(f"{PODS}/a"))["spec"]["containers"].append({})
    stored = fake_api.stored(f"{PODS}/a")
    assert stored is not None
    assert stored["metadata"]["labels"] == {"app": "x"}
    assert stored["spec"] == {"containers": []}
