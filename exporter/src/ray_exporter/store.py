"""The metrics store: pre-rendered exposition lines per object, concatenated at scrape.

Shaped like kube-state-metrics' metrics store. Watch events put or delete one
object's `Rendered` lines (rendered by the pure family functions before the
store is touched); a relist replaces every object of a resource (within a
namespace, when watching a list of namespaces) in one step, so objects deleted
while the watch was down vanish and none is held twice.

A scrape writes each family's `# HELP`/`# TYPE` once, then that family's lines
of every object, objects ordered by namespace, name and UID, so the output for
the same objects is byte-identical whichever process renders it and in whatever
order the events came. Work at scrape time is bounded by what changed:

- the body of each format is cached and served as is while nothing changed
  (`generation` counts changes; an event that leaves an object's lines as they
  were is not a change);
- per resource, the joined lines of each family are cached and rebuilt only
  for resources that changed;
- the order is kept sorted on every insert and delete, never sorted at scrape.

Thread safety: one lock guards the maps; scrapes copy references under it and
join bytes outside it, so watch events are not held up by a large scrape.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from ray_exporter.exposition import Family, Format
from ray_exporter.families import Rendered, Resource
from ray_exporter.sharding import Shard

OrderKey = tuple[str, str, str]


@dataclass
class _Table:
    """The objects of one resource, their sorted order and the cached family blocks."""

    resource: Resource
    objects: dict[str, Rendered] = field(default_factory=dict)
    order: list[OrderKey] = field(default_factory=list)
    changes: int = 0
    blocks: tuple[bytes, ...] = ()
    blocks_at: int = -1

    def insert(self, rendered: Rendered) -> None:
        bisect.insort(self.order, rendered.sort_key)

    def remove(self, rendered: Rendered) -> None:
        index = bisect.bisect_left(self.order, rendered.sort_key)
        if index < len(self.order) and self.order[index] == rendered.sort_key:
            del self.order[index]


class MetricsStore:
    """Rendered lines of every object this shard serves, and the scrape body built from them."""

    def __init__(
        self, resources: tuple[Resource, ...], families: tuple[Family, ...], shard: Shard
    ) -> None:
        self._shard = shard
        self._families = families
        self._tables = {resource.plural: _Table(resource) for resource in resources}
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()
        self._generation = 0
        self._bodies: dict[Format, tuple[int, bytes]] = {}
        # For each family in scrape order: (resource plural, index of the family in it).
        self._layout: list[tuple[Family, list[tuple[str, int]]]] = []
        for family in families:
            sources = [
                (resource.plural, position)
                for resource in resources
                for position, (candidate, _) in enumerate(resource.families)
                if candidate.name == family.name
            ]
            self._layout.append((family, sources))
        known = {family.name for family in families}
        for resource in resources:
            for family, _ in resource.families:
                if family.name not in known:
                    raise ValueError(f"family {family.name} is not in the scrape order")

    @property
    def generation(self) -> int:
        """How many changes the store has seen; equal generations mean equal output."""
        with self._lock:
            return self._generation

    def owns(self, key: str) -> bool:
        """Whether the object with this key belongs to this exporter's shard."""
        return self._shard.owns(key)

    def get(self, plural: str, key: str) -> Rendered | None:
        """What the store holds for an object, if anything."""
        with self._lock:
            return self._tables[plural].objects.get(key)

    def count(self, plural: str) -> int:
        """How many objects of a resource the store holds."""
        with self._lock:
            return len(self._tables[plural].objects)

    def put(self, plural: str, rendered: Rendered) -> bool:
        """Add or update one object; answer whether the exposition changed."""
        if not rendered.key or not self._shard.owns(rendered.key):
            return False
        with self._lock:
            return self._put_locked(self._tables[plural], rendered)

    def delete(self, plural: str, key: str) -> bool:
        """Remove one object and all its series; answer whether it was held."""
        with self._lock:
            table = self._tables[plural]
            held = table.objects.pop(key, None)
            if held is None:
                return False
            table.remove(held)
            self._changed(table)
            return True

    def replace(
        self, plural: str, rendered: Iterable[Rendered], namespace: str | None = None
    ) -> tuple[int, int]:
        """Make the store hold exactly `rendered` for a resource (in one namespace, if given).

        Returns how many objects were added or updated and how many removed.
        """
        incoming = {item.key: item for item in rendered if item.key and self._shard.owns(item.key)}
        with self._lock:
            table = self._tables[plural]
            stale = [
                held
                for key, held in table.objects.items()
                if key not in incoming and (namespace is None or held.namespace == namespace)
            ]
            for held in stale:
                del table.objects[held.key]
                table.remove(held)
            if stale:
                self._changed(table)
            updated = sum(self._put_locked(table, item) for item in incoming.values())
            return updated, len(stale)

    def _put_locked(self, table: _Table, rendered: Rendered) -> bool:
        held = table.objects.get(rendered.key)
        table.objects[rendered.key] = rendered
        if held is not None and held.sort_key == rendered.sort_key:
            if held.lines == rendered.lines:
                return False
        else:
            if held is not None:
                table.remove(held)
            table.insert(rendered)
        self._changed(table)
        return True

    def _changed(self, table: _Table) -> None:
        table.changes += 1
        self._generation += 1

    def exposition(self, fmt: Format) -> tuple[int, bytes]:
        """The objects' part of a scrape in `fmt`, and the generation it reflects.

        Served from cache when nothing changed since it was built.
        """
        with self._lock:
            cached = self._bodies.get(fmt)
            if cached is not None and cached[0] == self._generation:
                return cached
        with self._build_lock:
            return self._build(fmt)

    def _build(self, fmt: Format) -> tuple[int, bytes]:
        work: dict[str, tuple[int, list[Rendered]]] = {}
        blocks: dict[str, tuple[bytes, ...]] = {}
        with self._lock:
            generation = self._generation
            cached = self._bodies.get(fmt)
            if cached is not None and cached[0] == generation:
                return cached
            for plural, table in self._tables.items():
                if table.blocks_at == table.changes:
                    blocks[plural] = table.blocks
                else:
                    entries = [table.objects[key] for _, _, key in table.order]
                    work[plural] = (table.changes, entries)
        for plural, (_, entries) in work.items():
            width = len(self._tables[plural].resource.families)
            blocks[plural] = tuple(
                b"".join([entry.lines[position] for entry in entries]) for position in range(width)
            )
        parts: list[bytes] = []
        for family, sources in self._layout:
            parts.append(family.header(fmt))
            parts.extend(blocks[plural][position] for plural, position in sources)
        body = b"".join(parts)
        with self._lock:
            for plural, (changes, _) in work.items():
                table = self._tables[plural]
                if table.changes == changes:
                    table.blocks, table.blocks_at = blocks[plural], changes
            if self._generation == generation:
                self._bodies[fmt] = (generation, body)
        return generation, body
