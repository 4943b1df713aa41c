"""A watch-fed cache of one resource: the objects by uid, indexed by (namespace, name) and by
the uid of their controlling owner.

The reconcilers read from stores instead of asking the apiserver on every pass. A store is
fed by an informer (`core/informer.py`) or by kopf's watch of the primary kinds, and by the
reconcilers' own writes (`put` the object the apiserver answered with). It never goes back in
time: an object whose resourceVersion is older than the one held is ignored (the apiserver's
versions are etcd revisions, which increase), so a late watch event cannot undo a write the
reconciler just made. Listeners hear every change, with the object before and after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Json = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)
Listener = Callable[[Json | None, Json | None], None]  # (before, after); after None: deleted


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, Mapping) else {}


def key_of(obj: Mapping[str, Any]) -> Key:
    m = meta(obj)
    return (str(m.get("namespace") or ""), str(m.get("name") or ""))


def uid_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("uid") or "")


def owner_uids(obj: Mapping[str, Any]) -> list[str]:
    refs = meta(obj).get("ownerReferences")
    if not isinstance(refs, list):
        return []
    return [str(r["uid"]) for r in refs if isinstance(r, Mapping) and r.get("uid")]


def slim(obj: Json) -> Json:
    """`obj` without `metadata.managedFields` (server-side apply's bookkeeping, often the
    largest part of a pod, read by no reconciler), as controller-runtime's
    TransformStripManagedFields does; the object itself is not changed."""
    m = obj.get("metadata")
    if isinstance(m, Mapping) and "managedFields" in m:
        return {**obj, "metadata": {k: v for k, v in m.items() if k != "managedFields"}}
    return obj


def _version(obj: Mapping[str, Any]) -> int | None:
    try:
        return int(str(meta(obj).get("resourceVersion")))
    except ValueError:
        return None


def newer_or_same(incoming: Mapping[str, Any], held: Mapping[str, Any]) -> bool:
    """Whether `incoming` is not older than `held` (unknown versions count as newer)."""
    a, b = _version(incoming), _version(held)
    return a is None or b is None or a >= b


class Store:
    def __init__(self, name: str) -> None:
        self.name = name
        self._by_uid: dict[str, Json] = {}
        self._by_key: dict[Key, str] = {}
        self._by_owner: dict[str, set[str]] = {}
        self._listeners: list[Listener] = []
        self.synced = asyncio.Event()

    def __len__(self) -> int:
        return len(self._by_uid)

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def get(self, namespace: str, name: str) -> Json | None:
        uid = self._by_key.get((namespace, name))
        return self._by_uid.get(uid) if uid is not None else None

    def by_uid(self, uid: str) -> Json | None:
        return self._by_uid.get(uid)

    def owned_by(self, uid: str) -> list[Json]:
        return [self._by_uid[u] for u in sorted(self._by_owner.get(uid, ())) if u in self._by_uid]

    def objects(self) -> list[Json]:
        return list(self._by_uid.values())

    def put(self, obj: Json) -> bool:
        """Add or update `obj` (unless older than the copy held); whether it changed."""
        uid = uid_of(obj)
        if not uid:
            return False
        obj = slim(obj)
        before = self._by_uid.get(uid)
        if before is not None and not newer_or_same(obj, before):
            return False
        key = key_of(obj)
        stale = self._by_key.get(key)
        if stale is not None and stale != uid:
            self._drop(stale)  # the same name now belongs to a new object
        self._unindex(uid, before)
        self._by_uid[uid] = obj
        self._by_key[key] = uid
        for owner in owner_uids(obj):
            self._by_owner.setdefault(owner, set()).add(uid)
        self._notify(before, obj)
        return True

    def delete(self, obj: Mapping[str, Any]) -> bool:
        """Forget `obj` (a DELETED event); whether it was held."""
        return self._drop(uid_of(obj)) is not None

    def replace(self, objs: Iterable[Json], namespace: str | None = None) -> None:
        """A fresh listing (of one namespace, or of all): what it lacks was deleted meanwhile,
        the rest is put."""
        listed = {uid_of(o): o for o in objs if uid_of(o)}
        for uid, held in list(self._by_uid.items()):
            if uid not in listed and (namespace is None or key_of(held)[0] == namespace):
                self._drop(uid)
        for obj in listed.values():
            self.put(obj)

    def _drop(self, uid: str) -> Json | None:
        before = self._by_uid.pop(uid, None)
        if before is None:
            return None
        self._unindex(uid, before)
        self._notify(before, None)
        return before

    def _unindex(self, uid: str, before: Json | None) -> None:
        if before is None:
            return
        key = key_of(before)
        if self._by_key.get(key) == uid:
            del self._by_key[key]
        for owner in owner_uids(before):
            members = self._by_owner.get(owner)
            if members is not None:
                members.discard(uid)
                if not members:
                    del self._by_owner[owner]

    def _notify(self, before: Json | None, after: Json | None) -> None:
        for listener in self._listeners:
            listener(before, after)
