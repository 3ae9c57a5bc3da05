"""Agent membership: each agent's key with a TTL; live agents are those with a fresh beat."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Final

import redis.asyncio as aioredis

from .keys import Keys


class Membership:
    """Beat for one agent and list the live ones (connection errors propagate)."""

    def __init__(self, client: aioredis.Redis, keys: Keys, agent_id: str, ttl: float) -> None:
        self._redis, self._keys, self.agent_id = client, keys, agent_id
        self.ttl_ms = max(1, round(ttl * 1000))

    async def beat(self, info: Mapping[str, Any]) -> None:
        """Mark this agent alive for the TTL, with *info* (JSON values) and the beat time."""
        payload = json.dumps({**info, "beat_at": time.time()}, separators=(",", ":"))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._keys.member(self.agent_id), payload, px=self.ttl_ms)
            pipe.sadd(self._keys.members, self.agent_id)
            await pipe.execute()

    async def leave(self) -> None:
        """Drop this agent's key at once (clean stop), so the others rebalance without waiting."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._keys.member(self.agent_id))
            pipe.srem(self._keys.members, self.agent_id)
            await pipe.execute()

    async def live(self) -> dict[str, dict[str, Any]]:
        """Live agent id -> the info of its last beat."""
        return await read_members(self._redis, self._keys)


# Atomic, so an agent beating right now is never pruned by a reader that saw it expire.
LIVE_MEMBERS: Final = """
local out = {}
for _, agent in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local value = redis.call('GET', ARGV[1] .. agent)
  if value then
    out[#out + 1] = agent; out[#out + 1] = value
  else
    redis.call('SREM', KEYS[1], agent)
  end
end
return out
"""


async def read_members(client: aioredis.Redis, keys: Keys) -> dict[str, dict[str, Any]]:
    """Live agent id -> its info; ids whose key expired are pruned from the index."""
    flat = await client.eval(LIVE_MEMBERS, 1, keys.members, keys.base + "member:")
    return parse_members(flat)


def parse_members(flat: list[Any]) -> dict[str, dict[str, Any]]:
    """The LIVE_MEMBERS reply as agent id -> info."""
    return {
        str(agent): json.loads(value) for agent, value in zip(flat[0::2], flat[1::2], strict=True)
    }
