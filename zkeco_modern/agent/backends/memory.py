"""In-process backends: the default for one agent process, and the reference for tests.

State lives in this process only, so "at-least-once across a restart" reduces to
:meth:`MemoryCommandQueue.recover`; everything else matches the Redis backends exactly.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .base import CommandEnvelope, DeviceStatusRecord

__all__ = ["MemoryCommandQueue", "MemoryHeartbeat"]

# (0 immediate | 1 queued, -priority, 0 released-to-head | 1 normal, sequence)
_Key = tuple[int, int, int, int]


class MemoryCommandQueue:
    """:class:`~.base.CommandQueue` on per-device heaps; ``get`` waits on a Condition."""

    def __init__(self) -> None:
        self._devices: dict[int, _DeviceQueue] = {}
        self._sequence = itertools.count(1)
        self._closed = False

    async def put(self, envelope: CommandEnvelope) -> bool:
        queue = self._queue(envelope.device_id)
        async with queue.ready:
            if envelope.command_id in queue.ids:
                return False
            queue.ids.add(envelope.command_id)
            key = (_class(envelope), -envelope.priority, 1, next(self._sequence))
            heapq.heappush(queue.pending, (key, envelope))
            queue.ready.notify_all()
            return True

    async def get(self, device_id: int, timeout: float) -> CommandEnvelope | None:
        queue = self._queue(device_id)
        async with queue.ready:
            if not queue.pending and timeout > 0 and not self._closed:
                try:
                    async with asyncio.timeout(timeout):
                        await queue.ready.wait_for(lambda: bool(queue.pending) or self._closed)
                except TimeoutError:
                    return None
            if not queue.pending or self._closed:
                return None
            key, envelope = heapq.heappop(queue.pending)
            queue.in_flight[envelope.command_id] = (key, envelope)
            return envelope

    async def ack(self, envelope: CommandEnvelope) -> None:
        queue = self._queue(envelope.device_id)
        if queue.in_flight.pop(envelope.command_id, None) is not None:
            queue.ids.discard(envelope.command_id)

    async def release(self, envelope: CommandEnvelope) -> None:
        queue = self._queue(envelope.device_id)
        async with queue.ready:
            entry = queue.in_flight.pop(envelope.command_id, None)
            if entry is None:
                return
            (klass, priority, _, _), held = entry
            key = (klass, priority, 0, -next(self._sequence))  # later releases go first
            heapq.heappush(queue.pending, (key, held))
            queue.ready.notify_all()

    async def recover(self, device_id: int | None = None) -> int:
        ids = list(self._devices) if device_id is None else [device_id]
        moved = 0
        for each in ids:
            queue = self._queue(each)
            async with queue.ready:
                for entry in queue.in_flight.values():
                    heapq.heappush(queue.pending, entry)
                moved += len(queue.in_flight)
                if queue.in_flight:
                    queue.ready.notify_all()
                queue.in_flight.clear()
        return moved

    async def depth(self, device_id: int) -> int:
        return len(self._queue(device_id).pending)

    async def in_flight(self, device_id: int) -> list[CommandEnvelope]:
        return [envelope for _, envelope in sorted(self._queue(device_id).in_flight.values())]

    async def purge(self, device_id: int) -> int:
        queue = self._queue(device_id)
        dropped = len(queue.pending) + len(queue.in_flight)
        queue.pending.clear()
        queue.in_flight.clear()
        queue.ids.clear()
        return dropped

    async def close(self) -> None:
        """Wake every waiting ``get`` (it returns None); later calls see an empty queue."""
        self._closed = True
        for queue in self._devices.values():
            async with queue.ready:
                queue.ready.notify_all()

    def __repr__(self) -> str:
        return f"<MemoryCommandQueue devices={len(self._devices)}>"

    def _queue(self, device_id: int) -> _DeviceQueue:
        queue = self._devices.get(device_id)
        if queue is None:
            queue = self._devices[device_id] = _DeviceQueue()
        return queue


class MemoryHeartbeat:
    """:class:`~.base.Heartbeat` on dicts with expiry times taken from *clock* (epoch s).

    Expiry mirrors the Redis keys: a status expires when its agent's beat does (each beat
    extends it), and one written while its agent is not alive waits up to
    ``orphan_ttl`` seconds for the agent's next beat.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.time, orphan_ttl: float = 300.0
    ) -> None:
        self._clock = clock
        self._orphan_ttl = orphan_ttl
        self._agents: dict[str, tuple[float, dict[str, Any]]] = {}  # id -> (expires_at, info)
        self._status: dict[int, _Status] = {}

    async def beat(self, agent_id: str, ttl: float, info: Mapping[str, Any]) -> None:
        if ttl <= 0:
            raise ValueError(f"ttl must be positive, got {ttl}")
        now = self._clock()
        # A JSON round trip, so that what comes back is what Redis would give back.
        stored = {**json.loads(json.dumps(dict(info))), "beat_at": now}
        self._agents[agent_id] = (now + ttl, stored)
        for entry in self._status.values():
            if entry.agent_id == agent_id and entry.expires_at > now:
                entry.expires_at = now + ttl

    async def alive(self, agent_id: str) -> bool:
        return self._expiry(agent_id) is not None

    async def agents(self) -> dict[str, dict[str, Any]]:
        return {
            agent_id: dict(info)
            for agent_id, (_, info) in list(self._agents.items())
            if self._expiry(agent_id) is not None
        }

    async def set_device_status(
        self, agent_id: str, device_id: int, status: DeviceStatusRecord
    ) -> None:
        expires_at = self._expiry(agent_id) or self._clock() + self._orphan_ttl
        self._status[device_id] = _Status(agent_id, status, expires_at)

    async def device_status(self, device_id: int) -> DeviceStatusRecord | None:
        entry = self._status.get(device_id)
        if entry is None:
            return None
        if entry.expires_at <= self._clock():
            del self._status[device_id]
            return None
        return entry.status if self._expiry(entry.agent_id) is not None else None

    async def all_device_status(self) -> dict[int, DeviceStatusRecord]:
        found = {device_id: await self.device_status(device_id) for device_id in list(self._status)}
        return {device_id: status for device_id, status in found.items() if status is not None}

    async def clear_device_status(self, device_id: int) -> None:
        self._status.pop(device_id, None)

    async def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"<MemoryHeartbeat agents={len(self._agents)} devices={len(self._status)}>"

    def _expiry(self, agent_id: str) -> float | None:
        """When the live agent expires; None (and forgotten) if it is not alive."""
        entry = self._agents.get(agent_id)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._agents[agent_id]
            return None
        return entry[0]


@dataclass(slots=True)
class _Status:
    agent_id: str
    status: DeviceStatusRecord
    expires_at: float


@dataclass(slots=True)
class _DeviceQueue:
    pending: list[tuple[_Key, CommandEnvelope]] = field(default_factory=list)
    in_flight: dict[int, tuple[_Key, CommandEnvelope]] = field(default_factory=dict)
    ids: set[int] = field(default_factory=set)
    ready: asyncio.Condition = field(default_factory=asyncio.Condition)


def _class(envelope: CommandEnvelope) -> int:
    return 0 if envelope.immediate else 1
