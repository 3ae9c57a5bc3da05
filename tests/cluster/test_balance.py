"""Coordinators in one process on the real Redis: even spread, rebalancing, self-fencing.

The host is a stand-in that records which devices it was told to serve and to release (the
sessions and the database are covered by test_fencing.py and test_multi_agent.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from agent.cluster.coordinator import ClusterConfigError, Coordinator
from agent.cluster.keys import Keys
from agent.cluster.shards import shard_of
from agent.cluster.streams import ShardStreams
from faultproxy import FaultProxy
from faultproxy.proxy import Direction

from .rig import REDIS_URL

pytestmark = pytest.mark.redis
SHARDS = 16
LEASE = 2.0
DEVICES = list(range(1, 49))


class FakeDb:
    async def run(self, fn: Any, *args: Any) -> tuple[int, int]:
        return 0, 0  # fencing.take_over_many: nothing left running by an old owner


class FakeHost:
    def __init__(self) -> None:
        self.db = FakeDb()
        self.released: list[tuple[float, list[int]]] = []
        self.coordinator: Coordinator | None = None
        self.check_release: Any = None

    def device_ids(self) -> list[int]:
        return DEVICES

    def refresh(self) -> None:
        pass

    async def release_devices(self, device_ids: list[int]) -> None:
        if self.check_release is not None:
            await self.check_release(device_ids)
        self.released.append((time.monotonic(), device_ids))


class Node:
    def __init__(self, name: str, keys: Keys, url: str = REDIS_URL) -> None:
        self.client = aioredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=0.4, socket_connect_timeout=0.4
        )
        stream_client = aioredis.Redis.from_url(url, decode_responses=True, socket_timeout=2)
        self.streams = ShardStreams(stream_client, keys, name, lambda d: shard_of(d, SHARDS))
        self.coordinator = Coordinator(
            self.client, self.streams, keys=keys, agent_id=name, shards=SHARDS, lease_seconds=LEASE
        )
        self.host = FakeHost()
        self.task: asyncio.Task[None] | None = None
        self.closed = False

    def start(self) -> None:
        self.task = asyncio.create_task(self.coordinator.run(self.host))

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
            await self.coordinator.shutdown()  # releases, leaves, closes the lease client
        if not self.closed:
            self.closed = True
            await self.client.aclose()
            await self.streams.close()


@contextlib.asynccontextmanager
async def nodes(keys: Keys, *names: str) -> AsyncIterator[dict[str, Node]]:
    made = {name: Node(name, keys) for name in names}
    try:
        yield made
    finally:
        for node in made.values():
            await node.stop()


async def held_by(client: aioredis.Redis, keys: Keys) -> dict[str, int]:
    counts: dict[str, int] = {}
    for shard in range(SHARDS):
        value = await client.get(keys.lease(shard))
        if value:
            agent = value.rpartition("|")[0]
            counts[agent] = counts.get(agent, 0) + 1
    return counts


async def until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_three_agents_spread_evenly_then_rebalance(
    rclient: aioredis.Redis, keys: Keys
) -> None:
    async with nodes(keys, "a", "b", "c", "d") as agents:
        for name in "abc":
            agents[name].start()

        async def even(names: str) -> bool:
            counts = await held_by(rclient, keys)
            return (
                sorted(counts) == sorted(names)
                and sum(counts.values()) == SHARDS
                and max(counts.values()) - min(counts.values()) <= 1
            )

        await until(lambda: even("abc"), 20, "a, b, c even")

        async def all_served() -> bool:  # a shard is served once its take-over step is done
            return sum(len(agents[n].coordinator.active) for n in "abc") == SHARDS

        await until(all_served, 20, "every held shard served")
        # What each serves matches what Redis says it holds, and nobody serves a shard twice.
        served = [agents[n].coordinator.active for n in "abc"]
        assert sum(len(s) for s in served) == SHARDS
        assert len(set().union(*served)) == SHARDS
        assert all(
            agents[n].coordinator.serves(d)
            for n in "abc"
            for d in DEVICES
            if shard_of(d, SHARDS) in agents[n].coordinator.active
        )

        await agents["a"].stop()  # clean stop: releases at once
        await until(lambda: even("bc"), 20, "b, c even after a left")
        agents["d"].start()
        await until(lambda: even("bcd"), 20, "b, c, d even after d joined")
        # Whoever gave shards away stopped their devices first.
        assert agents["b"].host.released or agents["c"].host.released


async def test_a_dead_agents_shards_are_taken_after_the_lease_expires(
    rclient: aioredis.Redis, keys: Keys
) -> None:
    async with nodes(keys, "a", "b") as agents:
        agents["a"].start()
        await until(lambda: _count(rclient, keys, "a", SHARDS), 20, "a holds everything")
        before = {s: lease.epoch for s, lease in agents["a"].coordinator.held.items()}
        # "Kill" a: stop its loops without releasing anything (as SIGKILL would).
        task = agents["a"].task
        assert task is not None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        agents["a"].task = None
        killed = time.monotonic()
        agents["b"].start()
        await until(lambda: _count(rclient, keys, "b", SHARDS), 20, "b took everything")
        waited = time.monotonic() - killed
        assert waited >= LEASE * 0.5  # it waited for the leases to run out (no early grab)
        epochs = {s: lease.epoch for s, lease in agents["b"].coordinator.held.items()}
        assert sorted(epochs) == sorted(before)
        assert all(epochs[s] > before[s] for s in before)  # each taken under a larger epoch


async def _count(client: aioredis.Redis, keys: Keys, agent: str, expected: int) -> bool:
    return (await held_by(client, keys)).get(agent, 0) == expected


async def test_cut_off_agent_stops_its_devices_before_its_leases_expire(
    rclient: aioredis.Redis, keys: Keys
) -> None:
    parsed = rclient.connection_pool.connection_kwargs
    proxy = FaultProxy("127.0.0.1", 0, parsed.get("host", "127.0.0.1"), parsed.get("port", 6379))
    await proxy.start()
    url = f"redis://127.0.0.1:{proxy.port}/{parsed.get('db', 0)}"
    victim = Node("victim", keys, url)
    seen: list[tuple[str, int]] = []

    async def check(device_ids: list[int]) -> None:
        # Called while the victim stops its sessions: its leases must still be alive and its
        # own, so nobody else can be serving these devices yet.
        for shard in {shard_of(d, SHARDS) for d in device_ids}:
            value = await rclient.get(keys.lease(shard))
            seen.append((value or "", await rclient.pttl(keys.lease(shard))))

    victim.host.check_release = check
    other = Node("other", keys)
    try:
        victim.start()
        await until(lambda: _count(rclient, keys, "victim", SHARDS), 20, "victim holds all")
        other.start()
        await until(lambda: _count(rclient, keys, "victim", SHARDS // 2), 20, "split in two")
        proxy.set_blackhole(True, Direction.BOTH)
        await until(lambda: _count(rclient, keys, "other", SHARDS), 30, "other took everything")
        assert victim.coordinator.active == set()
        assert seen, "the victim never stopped its devices"
        assert all(value.startswith("victim|") and ttl > 0 for value, ttl in seen), seen
        assert min(ttl for _, ttl in seen) > 200  # a margin, not a photo finish
        proxy.set_blackhole(False, Direction.BOTH)
        await until(lambda: _count(rclient, keys, "victim", SHARDS // 2), 30, "victim back")
    finally:
        await other.stop()
        await victim.stop()
        await proxy.stop()


async def test_a_different_shard_count_is_refused(rclient: aioredis.Redis, keys: Keys) -> None:
    a = Node("a", keys)
    await a.coordinator.check_config()
    b = Coordinator(
        a.client, a.streams, keys=keys, agent_id="b", shards=SHARDS * 2, lease_seconds=LEASE
    )
    with pytest.raises(ClusterConfigError, match="16 shards"):
        await b.check_config()
    await a.stop()
