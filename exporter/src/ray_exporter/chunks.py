"""The sorted order of one resource's objects, cut into chunks that cache their text.

Objects are kept sorted by (namespace, name, key) in a list of chunks of
roughly `CHUNK_SIZE` objects (a sorted list of sorted lists). Each chunk caches
the joined exposition lines of its objects for every family, and the same
text compressed as raw deflate. Adding, changing or removing an object marks
only its chunk dirty, so a scrape after a few changes re-joins and
re-compresses a few chunks instead of the whole fleet, and the order is never
sorted at scrape time.

Not thread-safe by itself: the store calls it under its lock.
"""

from __future__ import annotations

import bisect
import zlib
from dataclasses import dataclass, field

OrderKey = tuple[str, str, str]
CHUNK_SIZE = 256
DEFLATE_LEVEL = 1


def deflate(data: bytes) -> bytes:
    """`data` as raw deflate ending in a sync flush: byte-aligned, not final, so that
    such segments can be concatenated into one deflate stream."""
    if not data:
        return b""
    compressor = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


@dataclass(eq=False)
class Chunk:
    """Consecutive objects in sort order, with their text per family once built."""

    keys: list[OrderKey]
    version: int = 0
    blocks: tuple[bytes, ...] | None = None
    deflated: tuple[bytes, ...] | None = None

    def dirty(self) -> None:
        self.version += 1
        self.blocks = None
        self.deflated = None


@dataclass
class ChunkedOrder:
    """Sorted order keys split into chunks; `firsts` holds each chunk's first key."""

    chunks: list[Chunk] = field(default_factory=list)
    firsts: list[OrderKey] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(chunk.keys) for chunk in self.chunks)

    def keys(self) -> list[OrderKey]:
        return [key for chunk in self.chunks for key in chunk.keys]

    def _locate(self, key: OrderKey) -> int:
        return max(bisect.bisect_right(self.firsts, key) - 1, 0)

    def insert(self, key: OrderKey) -> None:
        if not self.chunks:
            self.chunks.append(Chunk([key]))
            self.firsts.append(key)
            return
        index = self._locate(key)
        chunk = self.chunks[index]
        bisect.insort(chunk.keys, key)
        self.firsts[index] = chunk.keys[0]
        chunk.dirty()
        if len(chunk.keys) > 2 * CHUNK_SIZE:
            half = len(chunk.keys) // 2
            tail = Chunk(chunk.keys[half:])
            del chunk.keys[half:]
            self.chunks.insert(index + 1, tail)
            self.firsts.insert(index + 1, tail.keys[0])

    def remove(self, key: OrderKey) -> None:
        if not self.chunks:
            return
        index = self._locate(key)
        chunk = self.chunks[index]
        position = bisect.bisect_left(chunk.keys, key)
        if position == len(chunk.keys) or chunk.keys[position] != key:
            return
        del chunk.keys[position]
        chunk.dirty()
        if not chunk.keys:
            del self.chunks[index]
            del self.firsts[index]
            return
        self.firsts[index] = chunk.keys[0]
        if len(chunk.keys) < CHUNK_SIZE // 4 and len(self.chunks) > 1:
            self._merge(index)

    def _merge(self, index: int) -> None:
        """Fold a small chunk into a neighbour, keeping chunks reasonably full."""
        into = index - 1 if index > 0 else index
        first, second = self.chunks[into], self.chunks[into + 1]
        first.keys.extend(second.keys)
        first.dirty()
        del self.chunks[into + 1]
        del self.firsts[into + 1]
        if len(first.keys) > 2 * CHUNK_SIZE:
            half = len(first.keys) // 2
            tail = Chunk(first.keys[half:])
            del first.keys[half:]
            self.chunks.insert(into + 1, tail)
            self.firsts.insert(into + 1, tail.keys[0])

    def touch(self, key: OrderKey) -> None:
        """The object with this key changed its lines: its chunk must be rebuilt."""
        if self.chunks:
            self.chunks[self._locate(key)].dirty()
