"""Leases and membership on the real Redis: acquire, renew, release, expiry, epochs."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from agent.cluster.keys import Keys
from agent.cluster.leases import Lease, LeaseStore
from agent.cluster.membership import Membership

pytestmark = pytest.mark.redis


async def test_acquire_only_a_free_shard_and_bump_the_epoch(
    rclient: aioredis.Redis, keys: Keys
) -> None:
    a = LeaseStore(rclient, keys, "a", ttl=5.0)
    b = LeaseStore(rclient, keys, "b", ttl=5.0)
    first = await a.acquire(3)
    assert first is not None
    assert (first.shard, first.agent_id) == (3, "a")
    assert first.epoch >= time.time() * 1000 - 60_000  # seeded from the Redis clock (ms)
    assert await b.acquire(3) is None  # held: never taken over
    assert await a.acquire(3) is None  # not even by its holder (no silent re-acquire)
    assert await rclient.get(keys.lease(3)) == f"a|{first.epoch}"
    assert 4000 < await rclient.pttl(keys.lease(3)) <= 5000
    assert await a.release(first)
    second = await b.acquire(3)
    assert second is not None
    assert (second.shard, second.agent_id) == (3, "b")
    assert second.epoch > first.epoch  # the next owner carries a larger epoch
    assert await a.acquire(4) is not None  # epochs are per shard


async def test_epochs_keep_growing_when_the_counter_is_lost(
    rclient: aioredis.Redis, keys: Keys
) -> None:
    a = LeaseStore(rclient, keys, "a", ttl=5.0)
    stamped = []
    for _ in range(3):  # back-to-back acquisitions within one millisecond still grow
        lease = await a.acquire(6)
        assert lease is not None
        stamped.append(lease.epoch)
        assert await a.release(lease)
    assert stamped == sorted(set(stamped))
    await rclient.delete(*await rclient.keys(f"{keys.prefix}*"))  # a flush of this cluster's keys
    await asyncio.sleep(0.01)  # the epoch is at least the Redis clock in ms, and the clock moved on
    after = await a.acquire(6)
    assert after is not None
    assert after.epoch > stamped[-1]


async def test_renew_extends_only_own_leases(rclient: aioredis.Redis, keys: Keys) -> None:
    a = LeaseStore(rclient, keys, "a", ttl=1.0)
    b = LeaseStore(rclient, keys, "b", ttl=1.0)
    mine = await a.acquire(0)
    theirs = await b.acquire(1)
    assert mine is not None
    assert theirs is not None
    a.ttl_ms = 60_000
    stale = Lease(1, "a", theirs.epoch)  # a pretending to hold shard 1
    assert await a.renew([mine, stale]) == [True, False]
    assert await rclient.pttl(keys.lease(0)) > 50_000
    assert await rclient.pttl(keys.lease(1)) <= 1000
    assert await a.renew([]) == []


async def test_release_never_frees_a_successors_lease(rclient: aioredis.Redis, keys: Keys) -> None:
    a = LeaseStore(rclient, keys, "a", ttl=0.3)
    b = LeaseStore(rclient, keys, "b", ttl=5.0)
    old = await a.acquire(7)
    assert old is not None
    await asyncio.sleep(0.5)  # expired
    assert await rclient.exists(keys.lease(7)) == 0
    new = await b.acquire(7)
    assert new is not None
    assert new.epoch > old.epoch
    assert not await a.release(old)  # late release by the old owner: no effect
    assert await a.renew([old]) == [False]
    assert await rclient.get(keys.lease(7)) == f"b|{new.epoch}"


async def test_holders_lists_held_shards(rclient: aioredis.Redis, keys: Keys) -> None:
    a = LeaseStore(rclient, keys, "agent:with|bar", ttl=5.0)
    await a.acquire(2)
    await a.acquire(5)
    held = await a.holders(8)
    assert sorted(held) == [2, 5]
    assert held[2].agent_id == "agent:with|bar"
    assert held[2].epoch == int((await rclient.get(keys.lease(2))).rsplit("|", 1)[1])
    assert 0 < held[5].ttl_ms <= 5000


async def test_membership_beat_expiry_and_leave(rclient: aioredis.Redis, keys: Keys) -> None:
    a = Membership(rclient, keys, "a", ttl=0.4)
    b = Membership(rclient, keys, "b", ttl=10.0)
    await a.beat({"devices": [1, 2]})
    await b.beat({"devices": []})
    live = await b.live()
    assert sorted(live) == ["a", "b"]
    assert live["a"]["devices"] == [1, 2]
    assert "beat_at" in live["a"]
    await asyncio.sleep(0.6)
    assert sorted(await b.live()) == ["b"]  # a stopped beating
    assert await rclient.smembers(keys.members) == {"b"}  # and was pruned
    await b.leave()
    assert await b.live() == {}
