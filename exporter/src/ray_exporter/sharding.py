"""Which objects this exporter instance serves when a fleet is split across pods.

With `--total-shards M --shard N`, an object belongs to shard N when the 64-bit
FNV-1a hash of its UID (UTF-8 bytes) modulo M is N, the scheme kube-state-metrics
uses. The hash depends only on the UID, so an object stays on the same shard for
its whole life and across restarts, and every object is on exactly one shard.
"""

from __future__ import annotations

from dataclasses import dataclass

FNV64_OFFSET = 0xCBF29CE484222325
FNV64_PRIME = 0x100000001B3
MASK64 = 0xFFFFFFFFFFFFFFFF


def fnv1a_64(data: bytes) -> int:
    """The 64-bit FNV-1a hash of `data`."""
    value = FNV64_OFFSET
    for byte in data:
        value = ((value ^ byte) * FNV64_PRIME) & MASK64
    return value


@dataclass(frozen=True)
class Shard:
    """This instance's shard: `index` in `0..total-1`."""

    index: int = 0
    total: int = 1

    def __post_init__(self) -> None:
        if self.total < 1 or not 0 <= self.index < self.total:
            raise ValueError(f"shard {self.index} is not in 0..{self.total - 1}")

    def owns(self, key: str) -> bool:
        """Whether the object with this UID (store key) belongs to this shard."""
        if self.total == 1:
            return True
        return fnv1a_64(key.encode("utf-8", "surrogatepass")) % self.total == self.index
