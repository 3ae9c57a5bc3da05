"""Which shard a device belongs to, and how many shards each live agent should hold.

Both are pure and deterministic: every agent (and the web side enqueuing a command) computes
the same answers from the same inputs, in any process and any Python version.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable


def shard_of(device_id: int, shards: int) -> int:
    """The shard of *device_id*: CRC-32 of its decimal id, modulo *shards*.

    CRC-32 rather than ``hash()``: Python salts ``hash()`` of text per process.
    """
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    return zlib.crc32(str(int(device_id)).encode("ascii")) % shards


def quotas(agents: Iterable[str], shards: int) -> dict[str, int]:
    """Target shard count per agent: an even split, the remainder to the first ids in order.

    Every agent that sees the same live set computes the same quotas, so nobody waits for a
    leader. The quotas always add up to *shards*.
    """
    ordered = sorted(set(agents))
    if not ordered:
        return {}
    base, extra = divmod(shards, len(ordered))
    return {agent: base + (1 if i < extra else 0) for i, agent in enumerate(ordered)}


def preference(agent_id: str, shards: int) -> list[int]:
    """The order in which *agent_id* tries free shards (rendezvous hashing).

    Different agents prefer different shards, so concurrent joiners rarely race for the same
    key, and an agent that comes back tends to get its old shards (warm caches, same panels).
    """
    return sorted(range(shards), key=lambda s: zlib.crc32(f"{agent_id}/{s}".encode()), reverse=True)
