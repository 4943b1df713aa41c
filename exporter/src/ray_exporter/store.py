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

- the payload of each format is cached and served as is while nothing changed
  (`generation` counts changes; an event that leaves an object's lines as they
  were is not a change);
- objects are kept in sorted chunks (`chunks`) that cache their joined lines
  and their deflated form, so a change re-joins and re-compresses one chunk;
- a payload is a sequence of those cached pieces, written to the socket one
  after the other, never copied into one large buffer.

Thread safety: one lock guards the maps; the text of dirty chunks is joined and
compressed outside it, so watch events are not held up by a large scrape.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from ray_exporter.chunks import Chunk, ChunkedOrder, deflate
from ray_exporter.exposition import Family, Format
from ray_exporter.families import Rendered, Resource
from ray_exporter.sharding import Shard


@dataclass(frozen=True)
class Payload:
    """The objects' part of a scrape: pieces to write in order."""

    generation: int
    pieces: tuple[bytes, ...]

    @property
    def size(self) -> int:
        return sum(len(piece) for piece in self.pieces)

    def joined(self) -> bytes:
        return b"".join(self.pieces)


@dataclass(frozen=True)
class DeflatedPayload:
    """The same part as concatenable raw-deflate segments, with what a gzip trailer needs."""

    generation: int
    segments: tuple[bytes, ...]
    crc32: int
    size: int


@dataclass
class _Snapshot:
    """The chunks of every resource at one generation, with the text each had then."""

    generation: int
    chunks: dict[str, list[Chunk]]
    versions: dict[int, int] = field(default_factory=dict)
    blocks: dict[int, tuple[bytes, ...]] = field(default_factory=dict)

    def all_chunks(self) -> list[Chunk]:
        return [chunk for chunks in self.chunks.values() for chunk in chunks]


@dataclass
class _Table:
    """The objects of one resource and their chunked order."""

    resource: Resource
    objects: dict[str, Rendered] = field(default_factory=dict)
    order: ChunkedOrder = field(default_factory=ChunkedOrder)


class MetricsStore:
    """Rendered lines of every object this shard serves, and the scrape payloads built from them."""

    def __init__(
        self, resources: tuple[Resource, ...], families: tuple[Family, ...], shard: Shard
    ) -> None:
        self._shard = shard
        self._tables = {resource.plural: _Table(resource) for resource in resources}
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()
        self._generation = 0
        self._payloads: dict[Format, Payload] = {}
        self._deflated: dict[Format, DeflatedPayload] = {}
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
        self._headers = {fmt: tuple(family.header(fmt) for family in families) for fmt in Format}
        self._deflated_headers = {
            fmt: tuple(deflate(header) for header in headers)
            for fmt, headers in self._headers.items()
        }

    # -- updates ------------------------------------------------------------------

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
            table.order.remove(held.sort_key)
            self._generation += 1
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
                table.order.remove(held.sort_key)
            if stale:
                self._generation += 1
            updated = sum(self._put_locked(table, item) for item in incoming.values())
            return updated, len(stale)

    def _put_locked(self, table: _Table, rendered: Rendered) -> bool:
        held = table.objects.get(rendered.key)
        table.objects[rendered.key] = rendered
        if held is not None and held.sort_key == rendered.sort_key:
            if held.lines == rendered.lines:
                return False
            table.order.touch(rendered.sort_key)
        else:
            if held is not None:
                table.order.remove(held.sort_key)
            table.order.insert(rendered.sort_key)
        self._generation += 1
        return True

    # -- scrapes ------------------------------------------------------------------

    def exposition(self, fmt: Format) -> Payload:
        """The objects' part of a scrape in `fmt`; cached while nothing changed."""
        with self._lock:
            cached = self._payloads.get(fmt)
            if cached is not None and cached.generation == self._generation:
                return cached
        with self._build_lock:
            return self._build(fmt)[0]

    def deflated(self, fmt: Format) -> DeflatedPayload:
        """The objects' part as concatenable raw-deflate segments; cached while nothing changed."""
        with self._lock:
            cached = self._deflated.get(fmt)
            if cached is not None and cached.generation == self._generation:
                return cached
        with self._build_lock:
            payload, snapshot = self._build(fmt)
            with self._lock:
                ready = {
                    id(chunk): chunk.deflated
                    for chunk in snapshot.all_chunks()
                    if chunk.deflated is not None and chunk.version == snapshot.versions[id(chunk)]
                }
            for chunk in snapshot.all_chunks():
                if id(chunk) not in ready:
                    ready[id(chunk)] = tuple(deflate(block) for block in snapshot.blocks[id(chunk)])
            with self._lock:
                for chunk in snapshot.all_chunks():
                    if chunk.version == snapshot.versions[id(chunk)]:
                        chunk.deflated = ready[id(chunk)]
            segments = self._assemble(self._deflated_headers[fmt], ready, snapshot.chunks)
            crc = 0
            for piece in payload.pieces:
                crc = zlib.crc32(piece, crc)
            result = DeflatedPayload(payload.generation, segments, crc, payload.size)
            with self._lock:
                if self._generation == payload.generation:
                    self._deflated[fmt] = result
            return result

    def _build(self, fmt: Format) -> tuple[Payload, _Snapshot]:
        """The payload in `fmt` and the snapshot of chunks (with their text) it was made of."""
        with self._lock:
            snapshot = _Snapshot(
                self._generation,
                {plural: list(table.order.chunks) for plural, table in self._tables.items()},
            )
            todo = []
            for plural, chunks in snapshot.chunks.items():
                table = self._tables[plural]
                for chunk in chunks:
                    snapshot.versions[id(chunk)] = chunk.version
                    if chunk.blocks is None:
                        entries = [table.objects[key] for _, _, key in chunk.keys]
                        todo.append((len(table.resource.families), chunk, entries))
                    else:
                        snapshot.blocks[id(chunk)] = chunk.blocks
        for width, chunk, entries in todo:
            snapshot.blocks[id(chunk)] = tuple(
                b"".join([entry.lines[position] for entry in entries]) for position in range(width)
            )
        with self._lock:
            for _, chunk, _ in todo:
                if chunk.version == snapshot.versions[id(chunk)]:
                    chunk.blocks = snapshot.blocks[id(chunk)]
            cached = self._payloads.get(fmt)
            if cached is not None and cached.generation == snapshot.generation:
                return cached, snapshot
        pieces = self._assemble(self._headers[fmt], snapshot.blocks, snapshot.chunks)
        payload = Payload(snapshot.generation, pieces)
        with self._lock:
            if self._generation == snapshot.generation:
                self._payloads[fmt] = payload
        return payload, snapshot

    def _assemble(
        self,
        headers: tuple[bytes, ...],
        parts: dict[int, tuple[bytes, ...]],
        chunks: dict[str, list[Chunk]],
    ) -> tuple[bytes, ...]:
        """Headers and chunk parts in scrape order: family by family, resource by resource."""
        pieces: list[bytes] = []
        for header, (_family, sources) in zip(headers, self._layout, strict=True):
            pieces.append(header)
            for plural, position in sources:
                for chunk in chunks[plural]:
                    part = parts[id(chunk)][position]
                    if part:
                        pieces.append(part)
        return tuple(pieces)
