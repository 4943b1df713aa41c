"""The chunked order and the chunk-cached payloads agree with a brute-force rebuild."""

from __future__ import annotations

import random
import zlib

from exporter_objects import raycluster, rayjob
from hypothesis import given, settings
from hypothesis import strategies as st

from ray_exporter.chunks import CHUNK_SIZE, ChunkedOrder
from ray_exporter.exposition import Format
from ray_exporter.families import Rendered, render
from ray_exporter.rayclusters import RAYCLUSTERS
from ray_exporter.rayjobs import RAYJOBS
from ray_exporter.resources import FAMILY_ORDER, RESOURCES
from ray_exporter.sharding import Shard
from ray_exporter.store import MetricsStore

KEYS = st.tuples(
    st.sampled_from(["a", "b", "c"]), st.text("xyz", max_size=4), st.text("01", max_size=3)
)


@settings(max_examples=60)
@given(st.lists(st.tuples(st.sampled_from(["insert", "remove", "touch"]), KEYS), max_size=3000))
def test_chunked_order_stays_sorted_and_bounded(
    operations: list[tuple[str, tuple[str, str, str]]],
) -> None:
    order = ChunkedOrder()
    model: set[tuple[str, str, str]] = set()
    for operation, key in operations:
        if operation == "insert" and key not in model:
            order.insert(key)
            model.add(key)
        elif operation == "remove":
            order.remove(key)
            model.discard(key)
        else:
            order.touch(key)
    assert order.keys() == sorted(model)
    assert order.firsts == [chunk.keys[0] for chunk in order.chunks]
    assert all(0 < len(chunk.keys) <= 2 * CHUNK_SIZE for chunk in order.chunks)


def test_payloads_match_a_full_rebuild_through_many_changes() -> None:
    rng = random.Random(7)
    store = MetricsStore(RESOURCES, FAMILY_ORDER, Shard())
    held: dict[tuple[str, str], Rendered] = {}
    for step in range(40):
        for _ in range(rng.choice([1, 5, 300])):
            index = rng.randrange(3 * CHUNK_SIZE * 2)
            plural = "rayclusters" if index % 2 else "rayjobs"
            name = f"o{index:05d}"
            if rng.random() < 0.25:
                store.delete(plural, f"uid-{name}")
                held.pop((plural, name), None)
                continue
            if plural == "rayclusters":
                obj = raycluster(name, namespace=f"ns{index % 3}", generation=rng.randrange(1, 4))
                rendered = render(RAYCLUSTERS, obj)
            else:
                status = {"jobDeploymentStatus": rng.choice(["Running", "Complete", ""])}
                rendered = render(RAYJOBS, rayjob(name, namespace=f"ns{index % 3}", status=status))
            store.put(plural, rendered)
            held[(plural, name)] = rendered
        expected = expected_text(held)
        assert store.exposition(Format.TEXT).joined() == expected, step
        if step % 4 == 0:
            deflated = store.deflated(Format.TEXT)
            stream = b"".join(deflated.segments) + zlib.compressobj(1, zlib.DEFLATED, -15).flush()
            assert zlib.decompress(stream, -15) == expected
            assert deflated.crc32 == zlib.crc32(expected)
            assert deflated.size == len(expected)


def expected_text(held: dict[tuple[str, str], Rendered]) -> bytes:
    """The exposition built from scratch: every family, objects sorted, no caches."""
    parts: list[bytes] = []
    for family in FAMILY_ORDER:
        parts.append(family.header(Format.TEXT))
        for resource in RESOURCES:
            positions = [i for i, (f, _) in enumerate(resource.families) if f.name == family.name]
            if not positions:
                continue
            items = sorted(
                (rendered for (plural, _), rendered in held.items() if plural == resource.plural),
                key=lambda rendered: rendered.sort_key,
            )
            parts.extend(item.lines[positions[0]] for item in items)
    return b"".join(parts)
