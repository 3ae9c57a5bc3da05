"""One agent's part of the cluster: beat, hold its share of the shard leases, fence itself.

Three loops run while the agent runs:

- beat: every lease/5 s, the membership key and one renewal of every held lease. A lease
  Redis reports as no longer ours is given up at once.
- watchdog: a lease not renewed for lease/2 s (Redis unreachable, or this process stalled)
  is given up *by this agent*: its sessions stop (panels disconnected) while at least half
  the TTL is left, so nobody else can have acquired it yet.
- balance: each live agent's quota comes from `shards.quotas` over the live members. Above
  quota, the extra shards are given up (sessions stopped first, then the lease released);
  below it, free shards (key absent) are acquired in this agent's preference order.

Taking a shard: fence its command rows with the new epoch (`fencing.take_over`), claim the
stream entries the old owner left, then start the sessions. Giving one up: stop the sessions
and flush their events, stop reading the stream, then release the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from agent.dbthread import DbThread

from . import fencing
from .keys import Keys
from .leases import Lease, LeaseStore
from .membership import Membership
from .shards import preference, quotas, shard_of
from .streams import ShardStreams

logger = logging.getLogger("commcenter.cluster")


class Host(Protocol):
    """What the coordinator needs from the agent (ModernCommCenter)."""

    db: DbThread

    def device_ids(self) -> list[int]:
        """Every configured device, served here or not."""

    def refresh(self) -> None:
        """Start and stop sessions to match `serves()`."""

    async def release_devices(self, device_ids: list[int]) -> None:
        """Stop these sessions (panels disconnected) and store their buffered events."""


class ClusterConfigError(Exception):
    """The agents of one Redis disagree on the cluster setup (e.g. the shard count)."""


class Coordinator:
    """Membership, leases and rebalancing for one agent (see the module docstring)."""

    def __init__(
        self,
        client: aioredis.Redis,
        streams: ShardStreams,
        *,
        keys: Keys,
        agent_id: str,
        shards: int,
        lease_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis, self.streams, self._keys = client, streams, keys
        self.agent_id, self.shards, self.lease_seconds = agent_id, shards, lease_seconds
        self.renew_every = lease_seconds / 5
        self.fence_after = lease_seconds / 2
        self.balance_every = min(1.0, lease_seconds / 10)
        self.leases = LeaseStore(client, keys, agent_id, lease_seconds)
        self.membership = Membership(client, keys, agent_id, lease_seconds)
        self._clock = clock
        self.held: dict[int, Lease] = {}  # leases held (also while being taken or given up)
        self.active: set[int] = set()  # shards whose devices are served
        self._renewed: dict[int, float] = {}  # shard -> clock when the last good renewal was sent
        self._busy: set[int] = set()  # shards being taken or given up
        self._preference = preference(agent_id, shards)
        self._host: Host | None = None
        self.takeovers: list[dict[str, Any]] = []  # shard, epoch, seconds (for status/bench)
        self._tasks: set[asyncio.Task[None]] = set()  # spawned give-ups, kept alive

    # -- what the agent asks --------------------------------------------------------------------
    def shard(self, device_id: int) -> int:
        return shard_of(device_id, self.shards)

    def serves(self, device_id: int) -> bool:
        return self.shard(device_id) in self.active

    def epoch_of(self, device_id: int) -> int | None:
        shard = self.shard(device_id)
        lease = self.held.get(shard)
        return lease.epoch if lease is not None and shard in self.active else None

    # -- lifecycle ------------------------------------------------------------------------------
    async def check_config(self) -> None:
        """Record the shard count, or refuse to start when the cluster uses another one."""
        await self._redis.hsetnx(self._keys.config, "shards", self.shards)
        recorded = int(await self._redis.hget(self._keys.config, "shards") or self.shards)
        if recorded != self.shards:
            raise ClusterConfigError(
                f"this Redis runs a cluster of {recorded} shards, this agent is set to "
                f"{self.shards} (cluster_shards must be the same on every agent)"
            )

    async def run(self, host: Host) -> None:
        """Run the loops until cancelled."""
        self._host = host
        loops = [
            asyncio.create_task(self._beat_loop(), name="cluster-beat"),
            asyncio.create_task(self._watchdog(), name="cluster-watchdog"),
            asyncio.create_task(self._balance_loop(), name="cluster-balance"),
            asyncio.create_task(self.streams.run(), name="cluster-streams"),
        ]
        try:
            await asyncio.gather(*loops)
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)

    async def shutdown(self) -> None:
        """After the sessions stopped and the events are stored: release everything, leave."""
        for shard in list(self.held):
            self.active.discard(shard)
            self.streams.drop(shard)
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(3):
                for lease in list(self.held.values()):
                    await self.leases.release(lease)
                await self.membership.leave()
        self.held.clear()
        with contextlib.suppress(RedisError, OSError):
            await self._redis.aclose()

    def info(self) -> dict[str, Any]:
        """What the membership key carries (read by `status`)."""
        return {
            "pid": os.getpid(),
            "shards": sorted(self.active),
            "epochs": {str(s): lease.epoch for s, lease in sorted(self.held.items())},
            "devices": sorted(d for d in self._devices() if self.serves(d)),
        }

    # -- loops ----------------------------------------------------------------------------------
    async def _beat_loop(self) -> None:
        while True:
            await self._beat_once()
            await asyncio.sleep(self.renew_every)

    async def _beat_once(self) -> None:
        sent = self._clock()
        leases = [self.held[s] for s in sorted(self.held)]
        try:
            await self.membership.beat(self.info())
            results = await self.leases.renew(leases)
        except (RedisError, OSError) as exc:
            logger.warning("cluster: cannot reach Redis to renew %d leases: %s", len(leases), exc)
            return
        lost = []
        for lease, ok in zip(leases, results, strict=True):
            if ok:
                self._renewed[lease.shard] = sent
            elif self.held.get(lease.shard) == lease:
                lost.append(lease.shard)
        if lost:
            logger.error("cluster: leases of shards %s lost; stopping their panels", lost)
            self._spawn_give_up(lost, release=False)

    async def _watchdog(self) -> None:
        while True:
            now = self._clock()
            overdue = [
                shard
                for shard, renewed in self._renewed.items()
                if now - renewed > self.fence_after and shard in self.held
            ]
            if overdue:
                logger.error(
                    "cluster: shards %s not renewed for %.1f s; fencing itself (stopping their "
                    "panels before the leases can expire)",
                    overdue,
                    self.fence_after,
                )
                self._spawn_give_up(overdue, release=True)
            await asyncio.sleep(min(0.2, self.renew_every / 2))

    async def _balance_loop(self) -> None:
        await asyncio.sleep(self.renew_every)  # let the first beats of the others arrive
        while True:
            try:
                await self._balance_once()
            except (RedisError, OSError) as exc:
                logger.debug("cluster: balance skipped, Redis unreachable: %s", exc)
            await asyncio.sleep(self.balance_every)

    async def _balance_once(self) -> None:
        live = await self.membership.live()
        if self.agent_id not in live:
            return  # our own beat is not visible: we are the one cut off
        quota = quotas(live, self.shards)[self.agent_id]
        if len(self.held) > quota:
            settled = sorted((s for s in self.held if s not in self._busy), key=self._rank)
            await self._give_up(settled[quota - len(self.held) :], release=True)
            return
        if len(self.held) == quota:
            return
        holders = await self.leases.holders(self.shards)
        taken: list[Lease] = []
        sent = self._clock()
        for shard in self._preference:
            if len(self.held) + len(taken) >= quota:
                break
            if shard in holders or shard in self.held:
                continue
            lease = await self.leases.acquire(shard)
            if lease is not None:
                taken.append(lease)
        if taken:
            await self._take(taken, sent)

    # -- taking and giving up -------------------------------------------------------------------
    async def _take(self, leases: list[Lease], sent: float) -> None:
        """Serve newly acquired shards: fence their rows, claim their streams, start sessions."""
        host = self._host
        if host is None:
            raise RuntimeError("coordinator not running")
        started = self._clock()
        shards = [lease.shard for lease in leases]
        for lease in leases:
            self.held[lease.shard] = lease
            self._renewed[lease.shard] = sent  # each TTL started no earlier than this
        self._busy.update(shards)
        try:
            devices = self._devices()
            plan = [([d for d in devices if self.shard(d) == x.shard], x.epoch) for x in leases]
            failed, requeued = await host.db.run(fencing.take_over_many, plan)
            claimed = 0
            for shard in shards:
                claimed += await self.streams.claim(shard)
        except Exception:
            logger.exception("cluster: taking shards %s failed; giving them back", shards)
            self._busy.difference_update(shards)
            await self._give_up(shards, release=True)
            return
        self._busy.difference_update(shards)
        self.active.update(shards)
        host.refresh()
        took = self._clock() - started
        for lease in leases:
            self.takeovers.append({"shard": lease.shard, "epoch": lease.epoch, "seconds": took})
        del self.takeovers[:-100]  # the recent ones are enough
        logger.info(
            "cluster: shards %s taken (epochs %s; %d devices; %d commands claimed, %d outcome "
            "unknown, %d requeued) in %.2f s",
            shards,
            [lease.epoch for lease in leases],
            sum(len(ids) for ids, _ in plan),
            claimed,
            failed,
            requeued,
            took,
        )

    def _spawn_give_up(self, shards: list[int], *, release: bool) -> None:
        free = [s for s in shards if s not in self._busy]
        if not free:
            return
        task = asyncio.get_running_loop().create_task(self._give_up(free, release=release))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _give_up(self, shards: list[int], *, release: bool) -> None:
        """Stop the shards' sessions and store their events, stop reading, release the leases."""
        leases = [self.held[s] for s in shards if s in self.held and s not in self._busy]
        if not leases:
            return
        mine = {lease.shard for lease in leases}
        self._busy.update(mine)
        try:
            self.active.difference_update(mine)
            for shard in mine:
                self._renewed.pop(shard, None)
            devices = [d for d in self._devices() if self.shard(d) in mine]
            if self._host is not None and devices:
                await self._host.release_devices(devices)
            for shard in mine:
                self.streams.drop(shard)
            if release:
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    async with asyncio.timeout(self.renew_every):
                        for lease in leases:
                            await self.leases.release(lease)
            logger.info("cluster: shards %s given up (%d devices)", sorted(mine), len(devices))
        finally:
            for lease in leases:
                if self.held.get(lease.shard) == lease:
                    del self.held[lease.shard]
            self._busy.difference_update(mine)

    def _rank(self, shard: int) -> int:
        return self._preference.index(shard)

    def _devices(self) -> list[int]:
        return self._host.device_ids() if self._host is not None else []
