"""Shard leases on Redis: ``SET NX PX`` to acquire, owner-checked Lua to renew and release.

A lease value is ``"<agent>|<epoch>"``. The epoch comes from the shard's own counter, bumped
on every acquisition and never below the Redis server's clock in ms, so a later owner always
carries a larger number, even after the counter was lost: it is the fencing
token written with every command outcome (`fencing`). Nothing here takes a lease that is
held: a shard changes hands only after its holder released it or its TTL ran out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import redis.asyncio as aioredis

from .keys import Keys

# The epoch is max(counter + 1, Redis server time in ms): it still grows when the counter is
# gone (a flush, a restart without persistence, a failover to a replica that missed the last
# INCR), so a new owner never carries an epoch below one already stamped on command rows.
_ACQUIRE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch = tonumber(redis.call('GET', KEYS[2]) or '0') + 1
if epoch < now then epoch = now end
if not redis.call('SET', KEYS[1], ARGV[1] .. '|' .. epoch, 'NX', 'PX', ARGV[2]) then
  return false
end
redis.call('SET', KEYS[2], epoch)
return epoch
"""

# KEYS: lease keys; ARGV[1] = ttl ms, ARGV[i + 1] = the value KEYS[i] must still hold.
_RENEW: Final = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i + 1] then
    redis.call('PEXPIRE', key, ARGV[1])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""

_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class Lease:
    """A held lease: which shard, under which fencing epoch."""

    shard: int
    agent_id: str
    epoch: int

    @property
    def value(self) -> str:
        return f"{self.agent_id}|{self.epoch}"


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a shard right now, as Redis says."""

    agent_id: str
    epoch: int
    ttl_ms: int


class LeaseStore:
    """Acquire, renew, release and list shard leases (connection errors propagate)."""

    def __init__(self, client: aioredis.Redis, keys: Keys, agent_id: str, ttl: float) -> None:
        self._redis, self._keys, self.agent_id = client, keys, agent_id
        self.ttl_ms = max(1, round(ttl * 1000))
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    async def acquire(self, shard: int) -> Lease | None:
        """The lease if the shard was free (key absent) and is now ours; None if it is held."""
        epoch = await self._acquire(
            keys=[self._keys.lease(shard), self._keys.epoch(shard)],
            args=[self.agent_id, self.ttl_ms],
        )
        return None if epoch is None else Lease(shard, self.agent_id, int(epoch))

    async def renew(self, leases: list[Lease]) -> list[bool]:
        """Extend each lease by the TTL if it is still ours; one round trip for all."""
        if not leases:
            return []
        flags = await self._renew(
            keys=[self._keys.lease(lease.shard) for lease in leases],
            args=[self.ttl_ms, *(lease.value for lease in leases)],
        )
        return [bool(flag) for flag in flags]

    async def release(self, lease: Lease) -> bool:
        """Delete the lease if it is still ours (a late release never frees a successor's)."""
        return bool(await self._release(keys=[self._keys.lease(lease.shard)], args=[lease.value]))

    async def holders(self, shards: int) -> dict[int, Holder]:
        """Every held shard -> its holder (free shards are absent)."""
        return await read_holders(self._redis, self._keys, shards)


async def read_holders(client: aioredis.Redis, keys: Keys, shards: int) -> dict[int, Holder]:
    """Every held shard -> its holder, read in one pipeline."""
    async with client.pipeline(transaction=False) as pipe:
        for shard in range(shards):
            pipe.get(keys.lease(shard))
            pipe.pttl(keys.lease(shard))
        flat = await pipe.execute()
    found: dict[int, Holder] = {}
    for shard in range(shards):
        value, ttl = flat[2 * shard], flat[2 * shard + 1]
        if value:
            agent, _, epoch = str(value).rpartition("|")
            found[shard] = Holder(agent, int(epoch), int(ttl))
    return found
