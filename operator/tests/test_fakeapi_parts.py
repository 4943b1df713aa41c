"""The pure pieces of the fake apiserver: selectors, patches, paths, metadata validation."""

from __future__ import annotations

from typing import Any

import pytest
from fakeapi_patches import PatchError, json_equal, json_patch, merge_patch
from fakeapi_paths import Target, parse_path
from fakeapi_selectors import SelectorError, parse_selector, selects
from fakeapi_validation import validate_metadata

from ray_operator.kubeapi import ApiError

LABELS = {"role": "worker", "size": "4", "ray.io/cluster": "demo"}


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ("", True),
        ("role=worker", True),
        ("role==head", False),
        ("role!=head", True),
        ("missing!=x", True),
        ("ray.io/cluster", True),
        ("!ray.io/cluster", False),
        ("!missing", True),
        ("role in (head,worker)", True),
        ("role in (head)", False),
        ("role notin (head)", True),
        ("missing notin (head)", True),
        ("role in (worker), size>3, size<5", True),
        ("size>4", False),
        ("role=worker,ray.io/cluster=other", False),
        ("missing=", False),
    ],
)
def test_selectors(selector: str, selected: bool) -> None:
    assert selects(parse_selector(selector), LABELS) is selected


@pytest.mark.parametrize("selector", ["role in (a", "a=b,", "role=(x)", "-bad=x", "size>x"])
def test_selectors_that_do_not_parse(selector: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector(selector)


# RFC 7386, appendix A
@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "foo"}, None, None),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_follows_rfc_7386(target: Any, patch: Any, result: Any) -> None:
    assert merge_patch(target, patch) == result


def test_json_patch_is_all_or_nothing() -> None:
    document = {"a": [1, 2]}
    with pytest.raises(PatchError) as failed:
        json_patch(document, [{"op": "add", "path": "/a/0", "value": 0}, {"op": "nope"}])
    assert failed.value.status == 422
    assert document == {"a": [1, 2]}
    assert json_patch(document, [{"op": "replace", "path": "", "value": [3]}]) == [3]
    assert json_patch({"a~b/c": 1}, [{"op": "remove", "path": "/a~0b~1c"}]) == {}
    with pytest.raises(PatchError):
        json_patch({"a": [1]}, [{"op": "add", "path": "/a/01", "value": 0}])
    with pytest.raises(PatchError):
        json_patch({"a": {}}, [{"op": "move", "from": "/a", "path": "/a/b"}])


def test_json_equality_keeps_booleans_apart_from_numbers() -> None:
    assert json_equal({"a": [1, 2.0]}, {"a": [1.0, 2]})
    assert not json_equal(True, 1)
    assert not json_equal({"a": 1}, {"a": 2})
    with pytest.raises(PatchError):
        json_patch({"a": True}, [{"op": "test", "path": "/a", "value": 1}])


def test_paths() -> None:
    core = parse_path("/api/v1/namespaces/ns/pods/p/status", None)
    assert (core.group, core.plural, core.namespace, core.name, core.subresource) == (
        "",
        "pods",
        "ns",
        "p",
        "status",
    )
    custom = parse_path("/apis/ray.io/v1/rayclusters", {"labelSelector": "a"})
    assert (custom.resource, custom.namespace, custom.kind) == (
        "rayclusters.ray.io",
        None,
        "RayCluster",
    )
    assert custom.param("labelSelector") == "a"
    assert parse_path("/api/v1/namespaces/ns", None).key() == ("", "namespaces", "", "ns")
    assert parse_path("/api/v1/nodes/n1", None).name == "n1"
    assert parse_path("/api/v1/namespaces/my%20ns/pods", None).namespace == "my ns"
    for path in ("/api/v1/pods/p", "/healthz", "/api/v1/namespaces/ns/nodes", "/apis/g/v"):
        with pytest.raises(ApiError) as missing:
            parse_path(path, None)
        assert missing.value.status == 404


def test_metadata_validation() -> None:
    service = Target("", "v1", "services", "ns", None, None)
    with pytest.raises(ApiError) as error:
        validate_metadata(service, {"name": "1-head"})
    assert (error.value.status, error.value.reason) == (422, "Invalid")
    assert 'Service "1-head" is invalid: metadata.name' in error.value.message
    pod = Target("", "v1", "pods", "ns", None, None)
    validate_metadata(pod, {"name": "1-head.x", "labels": {"ray.io/node-type": "head"}})
    with pytest.raises(ApiError) as error:
        validate_metadata(pod, {"name": "p", "labels": {"a": 1}})
    assert error.value.status == 400
