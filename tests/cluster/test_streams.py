"""Shard streams on the real Redis: publish once, read by the holder, claimed by a successor."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from agent.backends.base import CommandEnvelope
from agent.cluster.keys import GROUP, Keys
from agent.cluster.shards import shard_of
from agent.cluster.streams import ShardStreams

from .rig import REDIS_URL

pytestmark = pytest.mark.redis
SHARDS = 8


@contextlib.asynccontextmanager
async def streams(keys: Keys, name: str) -> AsyncIterator[ShardStreams]:
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    queue = ShardStreams(client, keys, name, lambda d: shard_of(d, SHARDS))
    reader = asyncio.create_task(queue.run())
    try:
        yield queue
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await queue.close()


def envelope(command_id: int, device_id: int = 1, **extra: object) -> CommandEnvelope:
    return CommandEnvelope(
        command_id=command_id, device_id=device_id, content="DATA COUNT user", **extra
    )  # type: ignore[arg-type]


async def test_put_is_deduplicated_and_read_in_queue_order(
    rclient: aioredis.Redis, keys: Keys
) -> None:
    shard = shard_of(1, SHARDS)
    async with streams(keys, "a") as queue:
        assert await queue.put(envelope(10, enqueued_at=1.0))
        assert not await queue.put(envelope(10, enqueued_at=1.0))  # already in the stream
        assert await queue.put(envelope(11, priority=5, enqueued_at=2.0))
        assert await queue.put(envelope(12, immediate=True, enqueued_at=3.0))
        assert await queue.get(1, timeout=0.2) is None  # shard not held: nothing is read
        assert await queue.claim(shard) == 0  # nothing pending yet; new entries come by reading
        got = [await queue.get(1, timeout=5) for _ in range(3)]
        assert [e.command_id for e in got if e] == [12, 11, 10]  # immediate, priority, FIFO
        for item in got:
            assert item is not None
            await queue.ack(item)
        assert await rclient.xlen(keys.stream(shard)) == 0  # acked entries are deleted
        assert await rclient.scard(keys.ids(shard)) == 0
        assert await queue.put(envelope(10))  # after the ack the id may come again


async def test_a_new_owner_claims_what_the_old_one_left(
    rclient: aioredis.Redis, keys: Keys
) -> None:
    shard = shard_of(2, SHARDS)
    async with streams(keys, "old") as old:
        await old.claim(shard)
        await old.put(envelope(20, device_id=2))
        await old.put(envelope(21, device_id=2))
        first = await old.get(2, timeout=5)
        assert first is not None
        assert first.command_id == 20
        # "old" dies here: 20 taken (in flight) and 21 read into its buffer, neither acked.
        pending = await rclient.xpending(keys.stream(shard), GROUP)
        assert pending["pending"] == 2
    async with streams(keys, "new") as new:
        assert await new.claim(shard) == 2
        got = [await new.get(2, timeout=1) for _ in range(2)]
        assert sorted(e.command_id for e in got if e) == [20, 21]
        info = await rclient.xpending_range(keys.stream(shard), GROUP, "-", "+", 10)
        assert {row["consumer"] for row in info} == {"new"}
        new.drop(shard)  # given up: the entries stay pending for the next owner
        assert await new.get(2, timeout=0.1) is None
    assert (await rclient.xpending(keys.stream(shard), GROUP))["pending"] == 2


async def test_an_unreadable_entry_is_counted_and_dropped(
    rclient: aioredis.Redis, keys: Keys
) -> None:
    shard = shard_of(3, SHARDS)
    async with streams(keys, "a") as queue:
        await queue.claim(shard)
        await rclient.xadd(keys.stream(shard), {"id": "1", "envelope": "not json"})
        for _ in range(100):
            if queue.rejected:
                break
            await asyncio.sleep(0.05)
        assert queue.rejected == 1
        for _ in range(50):
            if await rclient.xlen(keys.stream(shard)) == 0:
                break
            await asyncio.sleep(0.05)
        assert await rclient.xlen(keys.stream(shard)) == 0
