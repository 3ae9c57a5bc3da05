"""Command queue and heartbeat backends (memory or Redis) behind the ports in ``base``.

Plain asyncio, never Django. ``build_backends`` is the only place that picks an
implementation; everything else depends on the ``CommandQueue`` / ``Heartbeat`` Protocols.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .base import (
    BackendUnavailable,
    CommandEnvelope,
    CommandQueue,
    DeviceStatusRecord,
    Heartbeat,
)
from .memory import MemoryCommandQueue, MemoryHeartbeat
from .redis import DEFAULT_PREFIX, RedisHeartbeat, RedisQueue

__all__ = [
    "DEFAULT_PREFIX",
    "BackendUnavailable",
    "Backends",
    "CommandEnvelope",
    "CommandQueue",
    "DeviceStatusRecord",
    "Heartbeat",
    "MemoryCommandQueue",
    "MemoryHeartbeat",
    "RedisHeartbeat",
    "RedisQueue",
    "build_backends",
]


@dataclass(frozen=True, slots=True)
class Backends:
    """The queue and the heartbeat the agent runs on."""

    queue: CommandQueue
    heartbeat: Heartbeat

    async def close(self) -> None:
        """Close both (the queue first: consumers must have stopped)."""
        try:
            await self.queue.close()
        finally:
            await self.heartbeat.close()


def build_backends(
    kind: Literal["memory", "redis"],
    url: str | None = None,
    *,
    prefix: str = DEFAULT_PREFIX,
    **redis_options: Any,
) -> Backends:
    """Build the backends of *kind*; ``redis`` needs *url* (``redis://`` or ``rediss://``).

    Nothing connects here: Redis problems show up as ``BackendUnavailable`` on first use.
    *redis_options* go to ``redis.asyncio.Redis.from_url``. Raise ValueError on bad input.
    """
    if kind == "memory":
        return Backends(MemoryCommandQueue(), MemoryHeartbeat())
    if kind == "redis":
        if not url:
            raise ValueError("the redis backend needs a URL (redis://host:6379/0)")
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("a Redis URL starts with redis://, rediss:// or unix://")
        return Backends(
            RedisQueue.from_url(url, prefix=prefix, **redis_options),
            RedisHeartbeat.from_url(url, prefix=prefix, **redis_options),
        )
    raise ValueError(f"unknown backend kind {kind!r} (expected 'memory' or 'redis')")
