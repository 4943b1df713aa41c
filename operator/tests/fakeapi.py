"""An in-memory Kubernetes apiserver behind the interface of `ray_operator.kubeapi.KubeApi`,
for unit tests of reconcilers: `FakeKubeApi` has the client's methods and signatures and
raises the same `ApiError`s (status, reason, message, Status body) a real apiserver causes.

What it keeps of the apiserver: a global resourceVersion bumped on every write (a write that
changes nothing is not a write), uid, creationTimestamp, generation (bumped when anything but
metadata and status changes), generateName, 409 AlreadyExists / Conflict, 404, 422, the
status subresource (`STATUS` kinds ignore status on the main resource and everything but
status on `/status`), finalizers and deletionTimestamp, garbage collection through
ownerReferences (immediate), label selectors, watches with the watch cache's rules
(`fakeapi_watch.py`) and 410 after `compact()`. List items of built-in kinds carry no kind
or apiVersion, as the apiserver sends them. Paths are parsed in `fakeapi_paths.py`, patches
applied in `fakeapi_patches.py`, selectors in `fakeapi_selectors.py`.

Not modelled: strategic merge and server-side apply (415), admission and schema validation
beyond metadata, managedFields, field selectors, namespaced deletion of namespaces.

Test helpers: `put` (an object written by someone else), `update_status`, `objects`,
`stored`, `fail_next`, `finish_deletions`, `bookmark`, `compact`, `close_watches`, and the
counters `requests`, `calls` (per HTTP method, "WATCH" for watches) and `log`.
"""

from __future__ import annotations

import builtins
import copy
import json
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fakeapi_patches import PatchError, json_patch, merge_patch
from fakeapi_paths import (
    CLUSTER_SCOPED,
    CONDITIONAL_PUT_ONLY,
    DEFAULT_STATUS_SUBRESOURCES,
    Json,
    Key,
    Target,
    already_exists,
    api_error,
    bad_request,
    conflict,
    invalid,
    not_found,
    parse_path,
    plural_of,
)
from fakeapi_selectors import Requirement, SelectorError, parse_selector, selects
from fakeapi_validation import validate_metadata
from fakeapi_watch import Change, Watcher, WatchHub, expired_event

from ray_operator.kubeapi import METADATA_ONLY, ApiError
from ray_operator.throttle import TokenBucket

NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand
MODIFIED_MESSAGE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)
RETURNS_DELETED_OBJECT = frozenset({"pods", "services"})
SYSTEM_FIELDS = ("uid", "creationTimestamp", "generation", "deletionTimestamp")
SYSTEM_FIELDS += ("deletionGracePeriodSeconds",)


@dataclass
class Failure:
    method: str  # an HTTP method, "WATCH" or "*"
    path_prefix: str
    error: ApiError
    remaining: int | None  # None: every matching request fails


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_copy(value: Any) -> Any:
    """What the wire does to a body: a deep copy, and a TypeError for what is not JSON."""
    return json.loads(json.dumps(value))


def _without(obj: Json, *keys: str) -> Json:
    return {k: v for k, v in obj.items() if k not in keys}


class FakeKubeApi:
    """A drop-in for `KubeApi` over an in-memory store. See the module docstring."""

    def __init__(
        self,
        *,
        status_subresources: Iterable[str] = DEFAULT_STATUS_SUBRESOURCES,
        cluster_scoped: Iterable[str] = CLUSTER_SCOPED,
        graceful_pods: bool = False,
        require_namespaces: bool = False,
        seed: int | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.status_subresources = frozenset(status_subresources)
        self.cluster_scoped = frozenset(cluster_scoped)
        self.graceful_pods = graceful_pods  # deleting a scheduled pod leaves it Terminating
        self.require_namespaces = require_namespaces  # creates need a Namespace object
        self.now = now
        self.requests = 0
        self.calls: Counter[str] = Counter()
        self.log: builtins.list[tuple[str, str]] = []
        self.limiter = TokenBucket(1e9, 1_000_000)  # never waits; read by app.py's metrics
        self.failures: builtins.list[Failure] = []
        self.hub = WatchHub()
        self._random = random.Random(seed)
        self._objects: dict[Key, Json] = {}
        self._version = 0

    # -- the KubeApi interface ------------------------------------------------------------

    async def close(self) -> None:
        self.close_watches()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> Json:
        method = method.upper()
        self._count(method, path)
        body = _json_copy(body)
        target = parse_path(path, dict(params or {}), self.cluster_scoped)
        if target.param("watch") in ("1", "true"):
            raise bad_request("the fake serves watches through watch(), not request()")
        if method == "GET":
            if target.name is None:
                return self._list(target)
            return self._out(self._current(target))
        if method == "POST":
            return self._out(self._create(target, body))
        if method == "PUT":
            return self._out(self._update(target, lambda _: body, put=True))
        if method == "PATCH":
            return self._out(self._patch(target, body, content_type))
        if method == "DELETE":
            return self._out(self._delete_request(target, body))
        raise api_error(405, "MethodNotAllowed", f"{method} is not supported")

    async def get(self, path: str) -> Json:
        return await self.request("GET", path)

    async def metadata(self, path: str) -> Json:
        """As the apiserver's PartialObjectMetadata: only the metadata."""
        found = await self.request("GET", path, accept=METADATA_ONLY)
        return {"kind": "PartialObjectMetadata", "metadata": found.get("metadata") or {}}

    async def list(self, path: str, *, label_selector: str | None = None) -> builtins.list[Json]:
        items, _ = await self.list_with_version(path, label_selector=label_selector)
        return items

    async def list_with_version(
        self, path: str, *, label_selector: str | None = None
    ) -> tuple[builtins.list[Json], str]:
        params = {"labelSelector": label_selector} if label_selector else None
        listed = await self.request("GET", path, params=params)
        items: builtins.list[Json] = listed["items"]
        return items, str(listed["metadata"]["resourceVersion"])

    async def watch(
        self,
        path: str,
        *,
        resource_version: str,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[Json]:
        """Events after `resource_version` ("" or "0": an ADDED per current object first).
        An expired version yields one ERROR event with a 410 Status. Like the client's, the
        watch starts (is counted, sees bookmarks) at the first `anext`; it ends after
        `timeout_seconds` of loop time, at `close_watches()`, or when the caller stops."""
        self._count("WATCH", path)
        target = parse_path(path, None, self.cluster_scoped)
        if target.subresource is not None:
            raise bad_request("watch needs a collection or an object path")
        watcher = Watcher(target, self._selector(label_selector))
        if resource_version in ("", "0"):
            since = self._version
            initial = [
                {"type": "ADDED", "object": obj}
                for key, obj in sorted(self._objects.items())
                if watcher.covers(key) and watcher.passes(obj)
            ]
        else:
            if not resource_version.isdigit():
                raise bad_request(f"invalid resource version {resource_version!r}")
            since, initial = int(resource_version), []
            if since < self.hub.compacted:
                yield expired_event(since, self.hub.compacted)
                return
        backlog = initial + self.hub.open(watcher, since)
        async for event in self.hub.events(watcher, backlog, timeout_seconds):
            yield event

    async def create(self, path: str, body: Json) -> Json:
        return await self.request("POST", path, body=body)

    async def merge_patch(self, path: str, patch: Json) -> Json:
        return await self.request(
            "PATCH", path, body=patch, content_type="application/merge-patch+json"
        )

    async def json_patch(self, path: str, operations: builtins.list[Json]) -> Json:
        return await self.request(
            "PATCH", path, body=operations, content_type="application/json-patch+json"
        )

    async def replace(self, path: str, body: Json) -> Json:
        return await self.request("PUT", path, body=body)

    async def delete(self, path: str, *, propagation: str = "Background") -> Json:
        return await self.request(
            "DELETE", path, body={"kind": "DeleteOptions", "propagationPolicy": propagation}
        )

    # -- test helpers ----------------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        """The current global resourceVersion, what a list now would carry."""
        return str(self._version)

    def fail_next(
        self, method: str, path_prefix: str, error: ApiError, *, times: int | None = 1
    ) -> None:
        """The next `times` requests (None: all) of `method` ("*": any) on a path starting
        with `path_prefix` raise `error` instead of running; they still count as requests."""
        self.failures.append(Failure(method.upper(), path_prefix, error, times))

    def put(self, obj: Json, *, plural: str | None = None) -> Json:
        """Store `obj` as someone else wrote it (status included, no validation)."""
        obj = _json_copy(obj)
        meta = obj.setdefault("metadata", {})
        group, _, version = str(obj["apiVersion"]).rpartition("/")
        plural = plural or plural_of(str(obj["kind"]))
        namespace = None if plural in self.cluster_scoped else meta.get("namespace", "default")
        target = Target(group, version, plural, namespace, meta["name"], None)
        old = self._objects.get(target.key())
        if old is not None:
            old_meta = old["metadata"]
            meta.setdefault("uid", old_meta["uid"])
            meta.setdefault("creationTimestamp", old_meta.get("creationTimestamp"))
            bump = 1 if self._spec_changed(target, old, obj) else 0
            meta.setdefault("generation", int(old_meta.get("generation") or 0) + bump)
        self._stamp_new(obj, target)
        return copy.deepcopy(self._write(target.key(), obj))

    def update_status(self, where: str | Json, status: Json) -> Json:
        """Replace the status of the object at path `where` (or named by the object), as a
        kubelet or a Job controller would."""
        key = self._key_of(where)
        if key not in self._objects:
            raise KeyError(f"no stored object {key}")
        obj = copy.deepcopy(self._objects[key])
        obj["status"] = _json_copy(status)
        if obj == self._objects[key]:
            return obj
        return copy.deepcopy(self._write(key, obj))

    def stored(self, where: str | Json) -> Json | None:
        obj = self._objects.get(self._key_of(where))
        return copy.deepcopy(obj) if obj is not None else None

    def objects(self, plural: str, namespace: str | None = None) -> builtins.list[Json]:
        """Copies of the stored `plural` objects (any group), ordered by namespace and name."""
        return [
            copy.deepcopy(obj)
            for (_, p, ns, _), obj in sorted(self._objects.items())
            if p == plural and (namespace is None or ns == namespace)
        ]

    def finish_deletions(self) -> builtins.list[str]:
        """Remove what is terminating without finalizers (pods under `graceful_pods`, as a
        kubelet would); the names removed."""
        done = [
            key
            for key, obj in sorted(self._objects.items())
            if obj["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers")
        ]
        for key in done:
            if key in self._objects:
                self._remove(key)
        return [key[3] for key in done]

    def bookmark(self) -> None:
        """A BOOKMARK with the current resourceVersion on every open watch."""
        self.hub.bookmark(self._version)

    def compact(self) -> None:
        """Forget the history: a watch from an older resourceVersion now gets a 410."""
        self.hub.compact(self._version)

    def close_watches(self, *, expired: bool = False) -> None:
        """End every open watch, after a 410 ERROR event when `expired`."""
        last = expired_event(self._version, self._version) if expired else None
        self.hub.end_all(last)

    # -- requests --------------------------------------------------------------------------

    def _count(self, method: str, path: str) -> None:
        self.requests += 1
        self.calls[method] += 1
        self.log.append((method, path))
        for failure in self.failures:
            if failure.method in (method, "*") and path.startswith(failure.path_prefix):
                if failure.remaining is not None:
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self.failures.remove(failure)
                raise failure.error

    def _selector(self, text: str | None) -> builtins.list[Requirement]:
        try:
            return parse_selector(text)
        except SelectorError as error:
            raise bad_request(str(error)) from None

    def _out(self, obj: Json) -> Json:
        return copy.deepcopy(obj)

    def _key_of(self, where: str | Json) -> Key:
        if isinstance(where, str):
            return parse_path(where, None, self.cluster_scoped).key()
        meta = where["metadata"]
        group = str(where["apiVersion"]).rpartition("/")[0]
        plural = plural_of(str(where["kind"]))
        namespace = "" if plural in self.cluster_scoped else meta.get("namespace", "default")
        return (group, plural, namespace, meta["name"])

    def _current(self, target: Target) -> Json:
        if target.subresource not in (None, "status") or (
            target.subresource == "status" and target.plural not in self.status_subresources
        ):
            raise api_error(404, "NotFound", "the server could not find the requested resource")
        obj = self._objects.get(target.key())
        if obj is None:
            raise not_found(target, target.name or "")
        return obj

    def _list(self, target: Target) -> Json:
        if target.subresource is not None:
            raise api_error(404, "NotFound", "the server could not find the requested resource")
        requirements = self._selector(target.param("labelSelector"))
        watcher = Watcher(target, requirements)
        items = []
        for key, obj in sorted(self._objects.items()):
            if watcher.covers(key) and selects(requirements, obj["metadata"].get("labels")):
                items.append(_without(obj, "kind", "apiVersion") if target.builtin else obj)
        return {
            "kind": f"{target.kind}List",
            "apiVersion": target.api_version,
            "metadata": {"resourceVersion": str(self._version)},
            "items": items,
        }

    def _check_kind(self, target: Target, obj: Json) -> None:
        """Fill kind and apiVersion from the path; 400 when the body names another kind."""
        if obj.setdefault("kind", target.kind) != target.kind:
            raise bad_request(f"the kind {obj['kind']!r} does not match the path {target.plural}")
        group = str(obj.setdefault("apiVersion", target.api_version)).rpartition("/")[0]
        if group != target.group:
            raise bad_request(f"the apiVersion {obj['apiVersion']!r} does not match the path")

    def _check_namespace(self, target: Target, meta: Json) -> None:
        if target.namespace is None:
            meta.pop("namespace", None)
            return
        if meta.setdefault("namespace", target.namespace) != target.namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the"
                " request"
            )

    def _create(self, target: Target, body: Any) -> Json:
        if target.name is not None or (
            target.namespace is None and target.plural not in self.cluster_scoped
        ):
            raise api_error(405, "MethodNotAllowed", "the server does not allow this method")
        if not isinstance(body, dict) or not isinstance(body.setdefault("metadata", {}), dict):
            raise bad_request("the body of a create must be an object with metadata")
        obj, meta = body, body["metadata"]
        self._check_kind(target, obj)
        self._check_namespace(target, meta)
        if meta.get("resourceVersion"):
            message = "resourceVersion should not be set on objects to be created"
            raise api_error(500, "InternalError", message)
        namespace_key = ("", "namespaces", "", target.namespace or "")
        if self.require_namespaces and target.namespace and namespace_key not in self._objects:
            raise api_error(404, "NotFound", f'namespaces "{target.namespace}" not found')
        if not meta.get("name"):
            if not meta.get("generateName"):
                problem = "Required value: name or generateName is required"
                raise invalid(target, "", "metadata.name", problem)
            meta["name"] = self._generated_name(target, str(meta["generateName"]))
        validate_metadata(target, meta)
        if target.key(meta["name"]) in self._objects:
            raise already_exists(target, meta["name"])
        for field in SYSTEM_FIELDS:
            meta.pop(field, None)
        self._stamp_new(obj, target)
        if target.plural in self.status_subresources:
            obj.pop("status", None)
            if target.plural == "pods":
                obj["status"] = {"phase": "Pending"}
            elif target.plural == "services":
                obj["status"] = {"loadBalancer": {}}
        return self._write(target.key(meta["name"]), obj)

    def _generated_name(self, target: Target, prefix: str) -> str:
        while True:
            name = prefix[:58] + "".join(self._random.choice(NAME_CHARS) for _ in range(5))
            if target.key(name) not in self._objects:
                return name

    def _stamp_new(self, obj: Json, target: Target) -> None:
        """The fields the apiserver sets on a new object, where `obj` has none."""
        meta = obj["metadata"]
        if not meta.get("uid"):
            meta["uid"] = str(uuid.UUID(int=self._random.getrandbits(128), version=4))
        meta.setdefault("creationTimestamp", _timestamp(self.now()))
        meta.setdefault("generation", 1)
        if target.namespace is not None:
            meta["namespace"] = target.namespace

    def _spec_changed(self, target: Target, old: Json, new: Json) -> bool:
        ignored = (
            ("metadata", "status") if target.plural in self.status_subresources else ("metadata",)
        )
        return _without(old, *ignored) != _without(new, *ignored)

    def _patch(self, target: Target, body: Any, content_type: str) -> Json:
        kind = content_type.split(";")[0].strip()
        if kind == "application/merge-patch+json":
            if not isinstance(body, dict):
                raise bad_request("a merge patch must be a JSON object")
            return self._update(target, lambda current: merge_patch(current, body), put=False)
        if kind == "application/json-patch+json":

            def apply(current: Json) -> Any:
                try:
                    return json_patch(current, body)
                except PatchError as error:
                    if error.status == 400:
                        raise bad_request(str(error)) from None
                    message = "the server rejected our request due to an error in our request"
                    cause = {"reason": "UnexpectedServerResponse", "message": str(error)}
                    raise api_error(422, "Invalid", message, {"causes": [cause]}) from None

            return self._update(target, apply, put=False)
        raise api_error(
            415, "UnsupportedMediaType", f"the fake apiserver does not apply {kind} patches"
        )

    def _update(self, target: Target, change: Callable[[Json], Any], *, put: bool) -> Json:
        current = self._current(target)
        name = target.name or ""
        new = change(copy.deepcopy(current))
        if not isinstance(new, dict) or not isinstance(new.get("metadata", {}), dict):
            raise bad_request("the object must be a JSON object with metadata")
        meta = new.setdefault("metadata", {})
        old_meta = current["metadata"]
        version = meta.get("resourceVersion")
        if version:
            if str(version) != old_meta["resourceVersion"]:
                raise conflict(target, name, MODIFIED_MESSAGE)
        elif put and (not target.builtin or target.plural in CONDITIONAL_PUT_ONLY):
            problem = "Invalid value: 0x0: must be specified for an update"
            raise invalid(target, name, "metadata.resourceVersion", problem)
        if meta.get("uid") and meta["uid"] != old_meta["uid"]:
            why = (
                f"Precondition failed: UID in precondition: {old_meta['uid']},"
                f" UID in object meta: {meta['uid']}"
            )
            raise conflict(target, name, why)
        if meta.get("name", "") != name:
            raise bad_request(
                f"the name of the object ({meta.get('name', '')}) does not match the name on"
                f" the URL ({name})"
            )
        self._check_kind(target, new)
        self._check_namespace(target, meta)
        if target.subresource == "status":
            status = new.get("status")
            new = _without(current, "status")
            if status is not None:
                new["status"] = status
            meta = new["metadata"] = copy.deepcopy(old_meta)
        elif target.plural in self.status_subresources:
            new = _without(new, "status")
            if "status" in current:
                new["status"] = current["status"]
        validate_metadata(target, meta)
        for field in ("uid", "creationTimestamp", "deletionTimestamp", "generation"):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
            if added:
                problem = "Forbidden: no new finalizers can be added if the object is being deleted"
                raise invalid(target, name, "metadata.finalizers", problem)
        if new == current:
            return current  # a no-op: no new resourceVersion, no watch event
        if self._spec_changed(target, current, new):
            meta["generation"] = int(meta.get("generation") or 0) + 1
        if old_meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._remove(target.key())
            return new
        return self._write(target.key(), new)

    def _delete_request(self, target: Target, options: Any) -> Json:
        current = self._current(target)
        if target.subresource is not None:
            raise api_error(405, "MethodNotAllowed", "the server does not allow this method")
        options = options if isinstance(options, dict) else {}
        meta = current["metadata"]
        preconditions = options.get("preconditions") or {}
        for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            wanted = preconditions.get(field)
            if wanted and wanted != meta.get(field):
                why = (
                    f"Precondition failed: {label} in precondition: {wanted}, {label} in object"
                    f" meta: {meta.get(field)}"
                )
                raise conflict(target, target.name or "", why)
        policy = str(options.get("propagationPolicy") or "Background")
        if policy not in ("Background", "Foreground", "Orphan"):
            problem = f'Unsupported value: "{policy}"'
            raise invalid(target, target.name or "", "propagationPolicy", problem)
        grace = options.get("gracePeriodSeconds")
        after = self._delete(target.key(), policy, grace)
        if after is not None:
            return after
        if target.plural in RETURNS_DELETED_OBJECT:
            return current
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": meta["name"], "group": target.group, "kind": target.plural},
        }

    # -- the store ---------------------------------------------------------------------------

    def _write(self, key: Key, obj: Json) -> Json:
        """Store `obj` under a new resourceVersion and tell the watches."""
        previous = self._objects.get(key)
        self._version += 1
        obj["metadata"]["resourceVersion"] = str(self._version)
        self._objects[key] = obj
        kind = "ADDED" if previous is None else "MODIFIED"
        self.hub.record(Change(self._version, kind, key, copy.deepcopy(obj), previous))
        return obj

    def _delete(self, key: Key, policy: str, grace: Any = None) -> Json | None:
        """Delete as the apiserver and the garbage collector would; the object if it stays."""
        obj = copy.deepcopy(self._objects[key])
        meta = obj["metadata"]
        if policy == "Orphan":
            for dependent_key in self._dependents(meta["uid"]):
                self._drop_owner(dependent_key, meta["uid"])
        if policy == "Foreground":
            for dependent_key in self._dependents(meta["uid"]):
                if dependent_key in self._objects:
                    self._delete(dependent_key, "Background")
            if self._dependents(meta["uid"]) and "foregroundDeletion" not in meta.get(
                "finalizers", []
            ):
                meta.setdefault("finalizers", []).append("foregroundDeletion")
        if meta.get("deletionTimestamp"):  # already terminating
            return self._write(key, obj) if obj != self._objects[key] else self._objects[key]
        if meta.get("finalizers"):
            meta["deletionTimestamp"] = _timestamp(self.now())
            meta["deletionGracePeriodSeconds"] = 0
            return self._write(key, obj)
        seconds = self._grace_seconds(key, obj, grace)
        if seconds:
            meta["deletionTimestamp"] = _timestamp(self.now() + timedelta(seconds=seconds))
            meta["deletionGracePeriodSeconds"] = seconds
            return self._write(key, obj)
        self._remove(key)
        return None

    def _grace_seconds(self, key: Key, pod: Json, grace: Any) -> int:
        """A pod on a node, not yet finished, terminates gracefully (under `graceful_pods`)."""
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        if (
            not self.graceful_pods
            or key[1] != "pods"
            or not spec.get("nodeName")
            or status.get("phase") in ("Succeeded", "Failed")
        ):
            return 0
        return int(grace if grace is not None else spec.get("terminationGracePeriodSeconds", 30))

    def _remove(self, key: Key) -> None:
        """Remove the object, then collect its garbage: dependents whose every owner is gone
        are deleted, the others lose the dangling reference."""
        previous = self._objects.pop(key)
        self._version += 1
        self.hub.record(Change(self._version, "DELETED", key, previous, previous))
        uid = previous["metadata"]["uid"]
        for dependent_key in self._dependents(uid):
            if dependent_key not in self._objects:
                continue
            refs = self._objects[dependent_key]["metadata"]["ownerReferences"]
            if any(self._uid_exists(ref.get("uid")) for ref in refs if ref.get("uid") != uid):
                self._drop_owner(dependent_key, uid)
            else:
                self._delete(dependent_key, "Background")
        for owner_ref in previous["metadata"].get("ownerReferences") or ():
            self._finish_foreground(owner_ref.get("uid"))

    def _finish_foreground(self, owner_uid: str | None) -> None:
        for key, obj in builtins.list(self._objects.items()):
            finalizers = obj["metadata"].get("finalizers") or []
            if obj["metadata"]["uid"] != owner_uid or "foregroundDeletion" not in finalizers:
                continue
            if not self._dependents(owner_uid):
                rest = [f for f in finalizers if f != "foregroundDeletion"]
                if rest:
                    updated = copy.deepcopy(obj)
                    updated["metadata"]["finalizers"] = rest
                    self._write(key, updated)
                else:
                    self._remove(key)

    def _dependents(self, uid: str) -> builtins.list[Key]:
        return [
            key
            for key, obj in sorted(self._objects.items())
            if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or ())
        ]

    def _uid_exists(self, uid: str | None) -> bool:
        return any(obj["metadata"]["uid"] == uid for obj in self._objects.values())

    def _drop_owner(self, key: Key, uid: str) -> None:
        obj = copy.deepcopy(self._objects[key])
        refs = [r for r in obj["metadata"]["ownerReferences"] if r.get("uid") != uid]
        if refs:
            obj["metadata"]["ownerReferences"] = refs
        else:
            del obj["metadata"]["ownerReferences"]
        self._write(key, obj)
