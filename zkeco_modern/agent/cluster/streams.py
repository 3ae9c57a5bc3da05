"""Commands on one Redis Stream per shard, read by the shard's lease holder.

``ShardStreams`` is the agent's `CommandQueue` in cluster mode. ``put`` (the feeder) and
`publish.publish_command` (the web side) append through one Lua script that de-duplicates by
command id, so a command has at most one entry in its stream at a time. The lease holder
reads its shards through the consumer group ``agents`` (XREADGROUP): a read entry stays in
the group's pending list until the outcome is recorded (``ack``: XACK + XDEL). A new owner
first claims every pending entry of the shard (XAUTOCLAIM, min idle 0: the old owner is
fenced by then), so an entry read by an agent that died is delivered again, never lost. A
redelivered command that already ran is stopped by the row's state and epoch (`fencing`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agent.backends.base import BackendUnavailable, CommandEnvelope

from .keys import GROUP, Keys

logger = logging.getLogger("commcenter.cluster")

# KEYS: ids set, stream; ARGV: command id, envelope JSON. 1 if appended, 0 if already there.
PUBLISH: Final = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 'id', ARGV[1], 'envelope', ARGV[2])
return 1
"""

_ACK: Final = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('SREM', KEYS[2], ARGV[3])
return 0
"""

_POLL: Final = 0.2  # seconds between reads when nothing came
_RESCAN_EVERY: Final = 25  # reads between re-reads of this consumer's own pending list
_BATCH: Final = 200


def _order(envelope: CommandEnvelope) -> tuple[int, int, float, int]:
    # Immediate first, then higher priority, then oldest: the queue's documented order.
    return (
        0 if envelope.immediate else 1,
        -envelope.priority,
        envelope.enqueued_at,
        envelope.command_id,
    )


class ShardStreams:
    """`CommandQueue` over the shard streams; `run()` reads the shards this agent holds."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        agent_id: str,
        shard_of: Callable[[int], int],
    ) -> None:
        self._redis, self._keys, self.agent_id = client, keys, agent_id
        self._shard_of = shard_of
        self._publish = client.register_script(PUBLISH)
        self._ack = client.register_script(_ACK)
        self._owned: set[int] = set()
        self._buffers: dict[int, list[CommandEnvelope]] = {}  # device -> waiting, best first
        self._wake: dict[int, asyncio.Event] = {}
        self._entries: dict[int, tuple[int, str]] = {}  # command id -> (shard, entry id)
        self._inflight: dict[int, CommandEnvelope] = {}
        self.rejected = 0  # unreadable entries, logged and acknowledged
        self._tasks: set[asyncio.Task[None]] = set()

    # -- CommandQueue ---------------------------------------------------------------------------
    async def put(self, envelope: CommandEnvelope) -> bool:
        shard = self._shard_of(envelope.device_id)
        async with _mapped("put"):
            added = await self._publish(
                keys=[self._keys.ids(shard), self._keys.stream(shard)],
                args=[envelope.command_id, envelope.to_json()],
            )
        return bool(added)

    async def get(self, device_id: int, timeout: float) -> CommandEnvelope | None:
        wake = self._wake.setdefault(device_id, asyncio.Event())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        while True:
            buffer = self._buffers.get(device_id)
            if buffer:
                envelope = buffer.pop(0)
                self._inflight[envelope.command_id] = envelope
                return envelope
            wake.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                async with asyncio.timeout(remaining):
                    await wake.wait()
            except TimeoutError:
                return None

    async def ack(self, envelope: CommandEnvelope) -> None:
        self._inflight.pop(envelope.command_id, None)
        entry = self._entries.get(envelope.command_id)
        if entry is None:
            return
        shard, entry_id = entry
        async with _mapped("ack"):
            await self._ack(
                keys=[self._keys.stream(shard), self._keys.ids(shard)],
                args=[GROUP, entry_id, envelope.command_id],
            )
        self._entries.pop(envelope.command_id, None)

    async def release(self, envelope: CommandEnvelope) -> None:
        if self._inflight.pop(envelope.command_id, None) is not None:
            self._insert(envelope)

    async def recover(self, device_id: int | None = None) -> int:  # noqa: ARG002
        return 0  # a new owner claims the shard's pending entries in `claim()` instead

    async def depth(self, device_id: int) -> int:
        return len(self._buffers.get(device_id, ()))

    async def in_flight(self, device_id: int) -> list[CommandEnvelope]:
        return [e for e in self._inflight.values() if e.device_id == device_id]

    async def purge(self, device_id: int) -> int:
        dropped = [*self._buffers.pop(device_id, []), *await self.in_flight(device_id)]
        for envelope in dropped:
            await self.ack(envelope)
        return len(dropped)

    async def close(self) -> None:
        await self._redis.aclose()

    # -- ownership ------------------------------------------------------------------------------
    async def claim(self, shard: int) -> int:
        """Start reading *shard*: take over every entry pending in its group; returns how many."""
        stream = self._keys.stream(shard)
        claimed = 0
        async with _mapped("claim"):
            try:
                await self._redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            cursor = "0-0"
            while True:
                reply: Any = await self._redis.xautoclaim(
                    stream, GROUP, self.agent_id, min_idle_time=0, start_id=cursor, count=_BATCH
                )
                cursor, entries = reply[0], reply[1]
                for entry_id, fields in entries:
                    claimed += self._take(shard, entry_id, fields)
                if cursor in ("0-0", b"0-0"):
                    break
        self._owned.add(shard)
        return claimed

    def drop(self, shard: int) -> None:
        """Stop reading *shard*; what it left unacknowledged stays pending for the next owner."""
        self._owned.discard(shard)
        for device_id in [d for d in self._buffers if self._shard_of(d) == shard]:
            del self._buffers[device_id]
        for command_id in [c for c, (s, _) in self._entries.items() if s == shard]:
            del self._entries[command_id]
            self._inflight.pop(command_id, None)

    async def run(self) -> None:
        """Read new entries of the held shards until cancelled (errors: wait and retry).

        Polls without BLOCK: a blocking XREADGROUP sometimes waited out its whole timeout
        with entries ready (redis-py 8 asyncio, Redis 7.0), and a poll every 0.2 s costs
        nothing. Every few seconds it also re-reads its own pending list (id 0), so an entry
        delivered to this consumer but never buffered here cannot be stranded.
        """
        rounds = 0
        while True:
            shards = sorted(self._owned)
            if not shards:
                await asyncio.sleep(_POLL)
                continue
            rounds += 1
            since = "0" if rounds % _RESCAN_EVERY == 0 else ">"
            try:
                replies: Any = await self._redis.xreadgroup(
                    GROUP,
                    self.agent_id,
                    {self._keys.stream(s): since for s in shards},
                    count=_BATCH,
                )
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                logger.debug("stream read failed: %s", exc)
                await asyncio.sleep(1.0)
                continue
            except ResponseError as exc:  # NOGROUP: a stream deleted meanwhile; claim recreates
                logger.warning("stream read refused: %s", exc)
                await asyncio.sleep(1.0)
                continue
            got = 0
            for stream, entries in replies or []:
                shard = int(str(stream).rsplit(":", 1)[1])
                for entry_id, fields in entries:
                    if shard in self._owned and fields:  # else released meanwhile, or deleted
                        got += self._take(shard, entry_id, fields)
            if not got:
                await asyncio.sleep(_POLL)

    # -- internals ------------------------------------------------------------------------------
    def _take(self, shard: int, entry_id: str, fields: dict[str, Any] | None) -> int:
        try:
            envelope = CommandEnvelope.from_json((fields or {})["envelope"])
        except (KeyError, ValueError) as exc:
            self.rejected += 1
            logger.error(  # noqa: TRY400 (a bad entry, not a bug here: no traceback)
                "shard %s: unreadable stream entry %s dropped: %s", shard, entry_id, exc
            )
            task = asyncio.get_running_loop().create_task(self._drop_entry(shard, entry_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return 0
        if envelope.command_id in self._entries:
            return 0  # already buffered or running here
        self._entries[envelope.command_id] = (shard, entry_id)
        self._insert(envelope)
        return 1

    async def _drop_entry(self, shard: int, entry_id: str) -> None:
        try:
            async with _mapped("ack"):
                await self._ack(
                    keys=[self._keys.stream(shard), self._keys.ids(shard)],
                    args=[GROUP, entry_id, ""],
                )
        except BackendUnavailable as exc:
            logger.warning("could not drop entry %s: %s", entry_id, exc)

    def _insert(self, envelope: CommandEnvelope) -> None:
        buffer = self._buffers.setdefault(envelope.device_id, [])
        buffer.append(envelope)
        buffer.sort(key=_order)
        self._wake.setdefault(envelope.device_id, asyncio.Event()).set()


class _mapped:  # noqa: N801 (used like a function: `async with _mapped("put")`)
    """Redis connection errors as BackendUnavailable, like the other Redis backends."""

    def __init__(self, what: str) -> None:
        self.what = what

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object
    ) -> None:
        if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):
            raise BackendUnavailable(
                f"Redis failed during {self.what}: {type(exc).__name__}"
            ) from exc
