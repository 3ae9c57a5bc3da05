"""Command queue and heartbeat backends (memory or Redis) behind the ports in ``base``.

Plain asyncio, never Django. ``build_backends`` is the only place that picks an
implementation; everything else depends on the ``CommandQueue`` / ``Heartbeat`` Protocols.
"""

from __future__ import annotations

import logging
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
from .redis import DEFAULT_PREFIX, RedisHeartbeat, RedisQueue, check_redis_url, plaintext_remote

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
    "check_redis_url",
]

logger = logging.getLogger(__name__)


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
    TLS files and options come as redis-py URL options (``?ssl_ca_certs=...``, see
    ``check_redis_url``); *redis_options* go to ``redis.asyncio.Redis.from_url``. Raise
    ValueError on bad input (the message never contains the URL). A plain-text ``redis://``
    URL to a host other than this machine logs one warning.
    """
    if kind == "memory":
        return Backends(MemoryCommandQueue(), MemoryHeartbeat())
    if kind == "redis":
        if not url:
            raise ValueError("the redis backend needs a URL (redis://host:6379/0)")
        check_redis_url(url)
        where = plaintext_remote(url)
        if where is not None:  # once per build, i.e. once at agent start
            logger.warning(
                "Redis URL %s is plain text to a non-local host: credentials and commands "
                "cross the network unencrypted; use rediss:// (TLS)",
                where,
            )
        return Backends(
            RedisQueue.from_url(url, prefix=prefix, **redis_options),
            RedisHeartbeat.from_url(url, prefix=prefix, **redis_options),
        )
    raise ValueError(f"unknown backend kind {kind!r} (expected 'memory' or 'redis')")
